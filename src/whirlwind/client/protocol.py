"""ClientProtocol: the state machine of one client connection, sans I/O.

Bytes and time go in, decisions come out (STYLE.md §2): the driver feeds frames with
:meth:`ClientProtocol.receive_frame` and the loop's clock as ``now``, performs
:meth:`events_received`, sends :meth:`data_to_send` and closes the transport when
:attr:`close_requested` is set.

Rules (client-protocol.md):

* ``connect`` MUST be the first command; anything else first, or a second ``connect``, is
  disconnect 3501 (§5.1). After a failed connect the rest of the frame is dropped and any
  later command is 3501.
* Commands of a connection are processed strictly in order, one at a time (§1.2, §6).
* An empty command is a pong (§7); a command with id 0 other than ``send`` is 3501 (§6).
* Pings every ``ping_interval``; no pong within ``pong_timeout`` → 3012 (§7). No connect
  within ``stale_close_delay`` → 3502. Connection expiry + ``expired_close_delay`` → 3005;
  subscription expiry + ``expired_sub_close_delay`` → unsubscribe 2501 (client-side) or
  disconnect 3006 (server-side) (§12.4, §12.5).
* The outgoing queue is bounded by ``queue_max_size`` bytes; overflow → 3008 slow (§6).
* Positioned subscriptions (§13) are checked every ``channel_position_check_delay``: the
  driver compares each stream top with what the channel was sent; two failed checks in a
  row (one may be a publication in flight) or a gap seen on delivery → the subscription
  lost its place: unsubscribe 2500 (client-side, the SDK resubscribes and recovers) or
  disconnect 3010 (server-side). Never a silent skip.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from whirlwind import codes
from whirlwind.codes import Disconnect, Error
from whirlwind.errors import InvalidState, ProtocolError
from whirlwind.protocol.base import Codec
from whirlwind.protocol.messages import (
    Command,
    ConnectRequest,
    ConnectResult,
    PingRequest,
    Push,
    RefreshRequest,
    RefreshResult,
    Result,
    SendRequest,
    SubRefreshRequest,
    SubRefreshResult,
    SubscribeRequest,
    SubscribeResult,
    UnsubscribePush,
    UnsubscribeRequest,
)

from .events import (
    ClientEvent,
    CommandReceived,
    InsufficientState,
    PositionCheckDue,
    PresenceDue,
    SubscriptionExpired,
)
from .queue import OutgoingQueue


class ClientState(enum.Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"
    """Waiting for (or performing) the connect command."""
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolSettings:
    """The ``client.*`` options the state machine needs (channels-config.md §5.3), seconds."""

    ping_interval: float = 25.0
    """Server ping period; 0 or less disables pings."""
    pong_timeout: float = 8.0
    """Wait for a pong after a ping; 0 disables the check."""
    stale_close_delay: float = 10.0
    expired_close_delay: float = 25.0
    expired_sub_close_delay: float = 25.0
    presence_update_interval: float = 27.0
    channel_position_check_delay: float = 40.0
    """Period of the positioning check (§13); 0 or less disables it."""
    channel_limit: int = 128
    queue_max_size: int = 1_048_576
    """Bytes of queued output before the client is disconnected as slow."""

    def advertised_ping(self) -> tuple[int, bool]:
        """``ConnectResult.ping`` and ``pong``: the ping period in whole seconds and
        whether pongs are expected; ``(0, False)`` with pings disabled (§7)."""
        if self.ping_interval > 0:
            return int(self.ping_interval), self.pong_timeout > 0
        return 0, False


@dataclass(slots=True, init=False)
class _Subscription:
    # A written __init__: mypyc compiles it, not the one dataclasses generates.
    server_side: bool
    deadline: float | None  # absolute close deadline (expiry + grace), loop time
    positioned: bool
    position_failures: int

    def __init__(self, *, server_side: bool, deadline: float | None, positioned: bool) -> None:
        self.server_side = server_side
        self.deadline = deadline
        self.positioned = positioned
        self.position_failures = 0


_ANY_TIME = float("inf")

MAX_POSITION_CHECK_FAILURES = 2
"""Failed position checks in a row that end a subscription (centrifuge ``client.go``)."""


class ClientProtocol:
    """One connection's protocol state machine."""

    __slots__ = (
        "_closing",
        "_connect_failed",
        "_connecting_subs",
        "_events",
        "_expire_deadline",
        "_inflight",
        "_pending",
        "_ping_at",
        "_pong_deadline",
        "_position_check_at",
        "_presence_at",
        "_stale_deadline",
        "close_detail",
        "close_requested",
        "codec",
        "queue",
        "settings",
        "state",
        "subscriptions",
    )

    def __init__(self, *, codec: Codec, settings: ProtocolSettings, now: float) -> None:
        self.codec = codec
        self.settings = settings
        self.state = ClientState.CONNECTING
        self.close_requested: Disconnect | None = None
        """Set once: the driver must flush :meth:`data_to_send` and close with it."""
        self.close_detail = ""
        """Why the connection was closed, for logs."""
        self.subscriptions: dict[str, _Subscription] = {}
        self._connecting_subs = 0
        self._events: list[ClientEvent] = []
        self.queue = OutgoingQueue(settings.queue_max_size)
        """Encoded output; the driver's fan-out path appends to it directly."""
        # A list, not a deque: it is almost always empty and a deque costs ~600 bytes.
        self._pending: list[Command] = []
        self._inflight: Command | None = None
        self._connect_failed = False
        self._closing = False
        self._stale_deadline = now + settings.stale_close_delay
        self._ping_at = _ANY_TIME
        self._pong_deadline = _ANY_TIME
        self._expire_deadline = _ANY_TIME
        self._presence_at = _ANY_TIME
        self._position_check_at = _ANY_TIME

    # ------------------------------------------------------------------ input

    def receive_frame(self, data: bytes, now: float) -> None:
        """Take one transport frame (a batch of commands)."""
        if self.state is ClientState.CLOSED:
            return
        try:
            commands = self.codec.decode_commands(data)
        except ProtocolError as exc:
            self.close(exc.disconnect, detail=str(exc))
            return
        self._pending.extend(commands)
        self._pump(now)

    def _pump(self, now: float) -> None:
        """Process pending commands until one needs the driver."""
        while self._pending and self._inflight is None and self.state is not ClientState.CLOSED:
            self._process(self._pending.pop(0), now)

    def _process(self, command: Command, now: float) -> None:
        request = command.request
        if request is None:
            if command.id:
                self.close(codes.DISCONNECT_BAD_REQUEST, detail="unknown command")
                return
            # Client-protocol §7: an empty command is a pong.
            self._pong_deadline = _ANY_TIME
            return
        if command.id == 0 and not isinstance(request, SendRequest):
            # Client-protocol §6: only send and pong come without id.
            self.close(codes.DISCONNECT_BAD_REQUEST, detail="command without id")
            return
        if self.state is ClientState.CONNECTING:
            if self._connect_failed or not isinstance(request, ConnectRequest):
                self.close(codes.DISCONNECT_BAD_REQUEST, detail="command before connect")
                return
        elif isinstance(request, ConnectRequest):
            self.close(codes.DISCONNECT_BAD_REQUEST, detail="second connect")
            return
        match request:
            case PingRequest():
                # Client-protocol §5.12: Centrifugo answers the ping command with 108.
                self._reply_error(command.id, codes.ERROR_NOT_AVAILABLE)
                return
            case SubscribeRequest():
                if not request.channel:
                    self.close(codes.DISCONNECT_BAD_REQUEST, detail="subscribe: empty channel")
                    return
                error = self._check_subscribe(request)
                if error is not None:
                    self._reply_error(command.id, error)
                    return
            case UnsubscribeRequest():
                if not request.channel:
                    self.close(codes.DISCONNECT_BAD_REQUEST, detail="unsubscribe: empty channel")
                    return
            case RefreshRequest():
                if not request.token:
                    self.close(codes.DISCONNECT_BAD_REQUEST, detail="refresh: empty token")
                    return
            case SubRefreshRequest():
                if not request.channel:
                    self.close(codes.DISCONNECT_BAD_REQUEST, detail="sub_refresh: empty channel")
                    return
                sub = self.subscriptions.get(request.channel)
                if sub is None or sub.server_side:
                    self._reply_error(command.id, codes.ERROR_PERMISSION_DENIED)
                    return
                if not request.token:
                    self._reply_error(command.id, codes.ERROR_BAD_REQUEST)
                    return
            case _:
                pass
        self._inflight = command
        self._events.append(CommandReceived(command))

    def _check_subscribe(self, request: SubscribeRequest) -> Error | None:
        if request.channel in self.subscriptions:
            return codes.ERROR_ALREADY_SUBSCRIBED
        if len(self.subscriptions) >= self.settings.channel_limit:
            return codes.ERROR_LIMIT_EXCEEDED
        return None

    # --------------------------------------------------------------- outcomes

    def _take_inflight(self, command_id: int) -> Command:
        command = self._inflight
        if command is None or command.id != command_id:
            raise InvalidState(f"command {command_id} is not in flight")
        self._inflight = None
        return command

    def connect_succeeded(
        self,
        command_id: int,
        result: ConnectResult,
        *,
        ttl: float | None,
        server_subs: dict[str, float | None],
        now: float,
        spread: float = 1.0,
    ) -> None:
        """The connect command was accepted.

        Args:
            command_id: the connect command's id.
            result: the reply (``ping``/``pong`` are filled in here from the settings).
            ttl: seconds until the connection expires, None when it never does.
            server_subs: server-side subscriptions made at connect → their ttl or None;
                ``result.subs`` says which are positioned.
            now: the loop time.
            spread: in [0, 1]: the first ping and the first presence update come after
                ``(1 + spread) / 2`` of their period, so between half of it and all of it.
                The driver passes a random number, as centrifuge does (``client.go``
                ``addPingUpdate``/``addPresenceUpdate``), so that clients that reconnected
                together do not ping together; the later ones keep the full period.
        """
        if self.state is ClientState.CLOSED:
            self._inflight = None
            return
        self._take_inflight(command_id)
        self.state = ClientState.CONNECTED
        settings = self.settings
        ping = settings.ping_interval
        advertised = settings.advertised_ping()
        if (result.ping, result.pong) != advertised:
            # The client builds its reply with these already (a replace costs ~8 µs).
            result = dataclasses.replace(result, ping=advertised[0], pong=advertised[1])
        first = (1.0 + spread) / 2
        if ping > 0:
            self._ping_at = now + ping * first
        if ttl is not None:
            self._expire_deadline = now + ttl + settings.expired_close_delay
        for channel, sub_ttl in server_subs.items():
            deadline = None if sub_ttl is None else now + sub_ttl + settings.expired_sub_close_delay
            sub_result = result.subs.get(channel)
            positioned = sub_result is not None and sub_result.positioned
            self.subscriptions[channel] = _Subscription(
                server_side=True, deadline=deadline, positioned=positioned
            )
            if positioned:
                self._arm_position_check(now)
        if settings.presence_update_interval > 0:
            self._presence_at = now + settings.presence_update_interval * first
        self._send(self.codec.encode_result(command_id, result))
        self._pump(now)

    def subscribe_succeeded(
        self, command_id: int, result: SubscribeResult, *, ttl: float | None, now: float
    ) -> None:
        """The subscribe command was accepted; the reply goes out before any push (§5.2)."""
        if self.state is ClientState.CLOSED:
            self._inflight = None
            return
        command = self._take_inflight(command_id)
        assert isinstance(command.request, SubscribeRequest)
        deadline = None if ttl is None else now + ttl + self.settings.expired_sub_close_delay
        self.subscriptions[command.request.channel] = _Subscription(
            server_side=False, deadline=deadline, positioned=result.positioned
        )
        if result.positioned:
            self._arm_position_check(now)
        self._send(self.codec.encode_result(command_id, result))
        self._pump(now)

    def command_succeeded(self, command_id: int, result: Result, *, now: float) -> None:
        """Any other command succeeded: reply with ``result`` and go on.

        ``refresh`` and ``sub_refresh`` results re-arm the expiry from their ``ttl``;
        ``unsubscribe`` forgets the subscription.
        """
        if self.state is ClientState.CLOSED:
            self._inflight = None
            return
        command = self._take_inflight(command_id)
        request = command.request
        if isinstance(request, UnsubscribeRequest):
            sub = self.subscriptions.get(request.channel)
            if sub is not None and not sub.server_side:
                del self.subscriptions[request.channel]
        elif isinstance(request, RefreshRequest) and isinstance(result, RefreshResult):
            self._expire_deadline = (
                now + result.ttl + self.settings.expired_close_delay
                if result.expires
                else _ANY_TIME
            )
        elif isinstance(request, SubRefreshRequest) and isinstance(result, SubRefreshResult):
            sub = self.subscriptions.get(request.channel)
            if sub is not None:
                sub.deadline = (
                    now + result.ttl + self.settings.expired_sub_close_delay
                    if result.expires
                    else None
                )
        if command.id:
            self._send(self.codec.encode_result(command_id, result))
        self._pump(now)

    def command_failed(self, command_id: int, error: Error, *, now: float) -> None:
        """The command in flight failed with an error reply."""
        if self.state is ClientState.CLOSED:
            self._inflight = None
            return
        command = self._take_inflight(command_id)
        if isinstance(command.request, ConnectRequest):
            # Client-protocol §5.1: after a failed connect, drop the rest of the frame.
            self._connect_failed = True
            self._pending.clear()
        self._reply_error(command_id, error)
        self._pump(now)

    def command_done(self, command_id: int, *, now: float) -> None:
        """A command without reply (``send``) was handled."""
        if self.state is ClientState.CLOSED:
            self._inflight = None
            return
        self._take_inflight(command_id)
        self._pump(now)

    # ------------------------------------------------------- server initiated

    def add_server_subscription(
        self, channel: str, ttl: float | None, now: float, *, positioned: bool = False
    ) -> bool:
        """Register a server-side subscription made at runtime (server API ``subscribe``).

        Returns False when the client is already subscribed to ``channel``.
        """
        if channel in self.subscriptions or self.state is not ClientState.CONNECTED:
            return False
        deadline = None if ttl is None else now + ttl + self.settings.expired_sub_close_delay
        self.subscriptions[channel] = _Subscription(
            server_side=True, deadline=deadline, positioned=positioned
        )
        if positioned:
            self._arm_position_check(now)
        return True

    def set_expiry(self, ttl: float | None, now: float) -> None:
        """Set (or clear, with None) the connection's expiry from the server side."""
        if ttl is None:
            self._expire_deadline = _ANY_TIME
        else:
            self._expire_deadline = now + ttl + self.settings.expired_close_delay

    def remove_subscription(self, channel: str, unsubscribe: codes.Unsubscribe | None) -> bool:
        """Forget ``channel``; with ``unsubscribe``, tell the client with a push (§4.5)."""
        if self.subscriptions.pop(channel, None) is None:
            return False
        if unsubscribe is not None:
            self.send_push(
                Push(
                    channel=channel,
                    body=UnsubscribePush(code=unsubscribe.code, reason=unsubscribe.reason),
                )
            )
        return True

    def insufficient_state(self, channel: str) -> None:
        """``channel``'s subscription lost its place in the stream (§13, §9, §10).

        Client-side: unsubscribe 2500 and an :class:`InsufficientState` event for the
        driver; server-side: disconnect 3010 (the SDK reconnects and recovers).
        """
        sub = self.subscriptions.get(channel)
        if sub is None or self.state is not ClientState.CONNECTED:
            return
        if sub.server_side:
            self.close(codes.DISCONNECT_INSUFFICIENT_STATE, detail=f"position lost in {channel}")
            return
        self.remove_subscription(channel, codes.UNSUBSCRIBE_INSUFFICIENT_STATE)
        self._events.append(InsufficientState(channel))

    def position_checked(self, channel: str, *, valid: bool) -> None:
        """The driver compared ``channel``'s stream top with what it was sent (§13).

        ``MAX_POSITION_CHECK_FAILURES`` failures in a row: :meth:`insufficient_state`.
        """
        sub = self.subscriptions.get(channel)
        if sub is None or not sub.positioned:
            return
        if valid:
            sub.position_failures = 0
            return
        sub.position_failures += 1
        if sub.position_failures >= MAX_POSITION_CHECK_FAILURES:
            self.insufficient_state(channel)

    def _arm_position_check(self, now: float) -> None:
        delay = self.settings.channel_position_check_delay
        if delay > 0 and self._position_check_at == _ANY_TIME:
            self._position_check_at = now + delay

    def send_push(self, push: Push) -> None:
        """Queue a push for this client."""
        if self.state is ClientState.CLOSED:
            return
        self._send(self.codec.encode_push(push))

    def enqueue(self, message: bytes) -> bool:
        """Queue an already encoded message (the fan-out path). False when closed."""
        if self.queue.push(message):
            return True
        if not self.queue.closed:
            self.overflow()
        return False

    def close(self, disconnect: Disconnect, *, detail: str = "") -> None:
        """Close the connection with ``disconnect`` (only the first call counts).

        ``detail`` says why, for the log line (never sent to the client).
        """
        if self.state is ClientState.CLOSED:
            return
        self.state = ClientState.CLOSED
        self.queue.closed = True
        self.close_requested = disconnect
        self.close_detail = detail
        self._pending.clear()

    def _send(self, message: bytes) -> None:
        if not self.queue.push(message) and not self.queue.closed:
            self.overflow()

    def overflow(self) -> None:
        """The outgoing queue went over its limit: disconnect 3008 (client-protocol §6).

        What the client did not read is dropped rather than written to a socket that is
        not draining.
        """
        self.queue.clear()
        self.close(codes.DISCONNECT_SLOW, detail="outgoing queue overflow")

    def _reply_error(self, command_id: int, error: Error) -> None:
        self._send(self.codec.encode_error(command_id, error))

    # ----------------------------------------------------------------- output

    def events_received(self) -> list[ClientEvent]:
        """Return and forget the events produced since the last call."""
        events = self._events
        if events:
            self._events = []
        return events

    def data_to_send(self) -> list[bytes]:
        """Return and forget the encoded messages queued since the last call."""
        return self.queue.take()

    @property
    def has_data_to_send(self) -> bool:
        """Whether messages are queued."""
        return bool(self.queue.messages)

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """The loop time at which :meth:`handle_timer` must run next, or None."""
        if self.state is ClientState.CLOSED:
            return None
        if self.state is ClientState.CONNECTING:
            return self._stale_deadline
        deadline = min(
            self._ping_at,
            self._pong_deadline,
            self._expire_deadline,
            self._presence_at,
            self._position_check_at,
        )
        for sub in self.subscriptions.values():
            if sub.deadline is not None and sub.deadline < deadline:
                deadline = sub.deadline
        return None if deadline == _ANY_TIME else deadline

    def handle_timer(self, now: float) -> None:
        """Act on every deadline that has passed."""
        if self.state is ClientState.CLOSED:
            return
        if self.state is ClientState.CONNECTING:
            if now >= self._stale_deadline:
                self.close(codes.DISCONNECT_STALE)
            return
        if now >= self._pong_deadline:
            self.close(codes.DISCONNECT_NO_PONG)
            return
        if now >= self._expire_deadline:
            self.close(codes.DISCONNECT_EXPIRED)
            return
        for channel, sub in list(self.subscriptions.items()):
            if sub.deadline is not None and now >= sub.deadline:
                if sub.server_side:
                    self.close(codes.DISCONNECT_SUB_EXPIRED)
                    return
                self.remove_subscription(channel, codes.UNSUBSCRIBE_EXPIRED)
                self._events.append(SubscriptionExpired(channel))
        if now >= self._ping_at:
            settings = self.settings
            self._send(self.codec.encode_ping())
            self._ping_at = now + settings.ping_interval
            if settings.pong_timeout > 0 and self._pong_deadline == _ANY_TIME:
                self._pong_deadline = now + settings.pong_timeout
        if now >= self._presence_at:
            self._presence_at = now + self.settings.presence_update_interval
            if self.subscriptions:
                self._events.append(PresenceDue())
        if now >= self._position_check_at:
            positioned = tuple(ch for ch, sub in self.subscriptions.items() if sub.positioned)
            if positioned:
                self._position_check_at = now + self.settings.channel_position_check_delay
                self._events.append(PositionCheckDue(positioned))
            else:
                self._position_check_at = _ANY_TIME
