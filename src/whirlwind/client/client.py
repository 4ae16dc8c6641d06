"""Client: the asyncio driver of one connection's :class:`ClientProtocol`.

It moves things between the state machine and the world (STYLE.md §2): frames in, the
loop's clock as ``now``, events performed against the node (tokens, channels, broker,
presence), outcomes reported back, queued output flushed by the node's flusher, one timer
armed at the protocol's next deadline.

Subscribe ordering (client-protocol.md §5.2): from the moment a subscriber is in the hub
until its reply is queued, publications of that channel are held in a buffer; after the
reply they are released, minus those the reply already carried (by offset), so nothing is
lost or duplicated between recovery and the live stream (``pubSubSync`` in centrifuge).
What to recover and how to merge is decided in :mod:`whirlwind.recovery`; a positioned
subscription that loses its place (a gap, a new epoch, a failed position check) is ended
with unsubscribe 2500 or disconnect 3010 (§13), never skipped silently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from whirlwind import codes, recovery
from whirlwind.auth.tokens import NO_OVERRIDE, SubscriptionOverride
from whirlwind.broker.base import HistoryOptions
from whirlwind.channels import ResolvedChannel
from whirlwind.client.events import (
    ClientEvent,
    CommandReceived,
    InsufficientState,
    PositionCheckDue,
    PresenceDue,
    SubscriptionExpired,
)
from whirlwind.client.protocol import ClientProtocol, ClientState
from whirlwind.client.subscription import Subscription
from whirlwind.client.subscription import decide as decide_subscription
from whirlwind.codes import Disconnect, Error
from whirlwind.eager import run_eagerly
from whirlwind.errors import InvalidToken, TokenExpired, UnrecoverablePosition
from whirlwind.hub import FrameCache, delta_chain
from whirlwind.protocol import messages as m
from whirlwind.protocol.base import Codec
from whirlwind.recovery import RecoveryMode
from whirlwind.transports.base import Transport

if TYPE_CHECKING:
    from whirlwind.node import Node

logger = logging.getLogger("whirlwind.client")

_MAX_TTL = 365 * 24 * 3600  # client-protocol.md §12.4: ttl capped at one year


def new_client_id() -> str:
    """A random (version 4) UUID string: the client id (client-protocol §5.1).

    ``str(uuid.uuid4())`` costs several microseconds, mostly in ``UUID.__init__``'s checks;
    this is one ``os.urandom`` and a format, which matters at thousands of connects/s.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Fail(Exception):
    """Internal: end the command in flight with an error reply or a disconnect."""

    def __init__(self, outcome: Error | Disconnect, detail: str = "") -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class Client:
    """One connected client."""

    __slots__ = (
        "_buffering",
        "_cleanup_started",
        "_client_id",
        "_codec",
        "_conn_info",
        "_dirty",
        "_headers",
        "_in_after",
        "_loop",
        "_proto",
        "_queue",
        "_subs",
        "_tasks",
        "_timer",
        "_timer_at",
        "_user",
        "node",
        "session",
        "transport",
    )

    def __init__(
        self,
        node: Node,
        transport: Transport,
        codec: Codec,
        *,
        headers: Mapping[str, str] | None = None,
        session: str = "",
    ) -> None:
        self.node = node
        self.session = session
        """Emulation session id ("" on WebSocket)."""
        self.transport = transport
        self._codec = codec
        self._client_id = new_client_id()
        self._user = ""
        self._conn_info = b""
        self._headers = headers or {}
        self._loop = node.loop
        self._proto = ClientProtocol(
            codec=codec, settings=node.protocol_settings, now=self._loop.time()
        )
        self._queue = self._proto.queue
        self._dirty = False
        self._timer: int | None = None
        """Token of the deadline on the node's timer wheel."""
        self._timer_at: float | None = None
        self._subs: dict[str, Subscription] = {}
        self._buffering: dict[str, list[tuple[m.Publication, str, bytes]]] = {}
        """Publications held while subscribing, with their stream epoch."""
        self._tasks: set[asyncio.Task[None]] | None = None
        """Tasks of commands in flight; created on first use (most of the time none)."""
        self._cleanup_started = False
        self._in_after = False
        """Inside :meth:`_after`'s event loop (a command finished eagerly re-enters it)."""
        self._after()

    # ------------------------------------------------------------ identity

    @property
    def client_id(self) -> str:
        """The connection id (a UUID), sent as ``client`` in the connect reply."""
        return self._client_id

    @property
    def user(self) -> str:
        """The authenticated user id, "" for anonymous."""
        return self._user

    @property
    def codec(self) -> Codec:
        """The codec this connection speaks."""
        return self._codec

    @property
    def state(self) -> ClientState:
        """The protocol state."""
        return self._proto.state

    def channels(self) -> list[str]:
        """Channels this connection is subscribed to."""
        return list(self._subs)

    def info(self, chan_info: bytes = b"") -> m.ClientInfo:
        """This connection as ClientInfo (presence, join/leave, publications)."""
        return m.ClientInfo(
            user=self._user, client=self._client_id, conn_info=self._conn_info, chan_info=chan_info
        )

    # ------------------------------------------------------- transport side

    def receive(self, data: bytes) -> None:
        """A frame arrived from the transport."""
        self._proto.receive_frame(data, self._loop.time())
        self._after()

    def connection_lost(self) -> None:
        """The transport is gone (closed by the peer or by us)."""
        if self._proto.state is not ClientState.CLOSED:
            self._proto.close(codes.DISCONNECT_CONNECTION_CLOSED)
        self._begin_cleanup()

    def disconnect(self, disconnect: Disconnect) -> None:
        """Close this connection with ``disconnect`` (server API, shutdown, limits)."""
        self._proto.close(disconnect)
        self._after()

    # ------------------------------------------------------- server initiated

    async def server_subscribe(
        self,
        channel: str,
        *,
        expire_at: int | None = None,
        info: bytes = b"",
        data: bytes = b"",
        recover_since: m.StreamPosition | None = None,
        override: SubscriptionOverride | None = None,
    ) -> None:
        """Subscribe this connection server-side (server API ``subscribe``, §14).

        The client gets a ``subscribe`` push, then recovered publications (when
        ``recover_since`` is given and the stream still has them), then live ones.
        """
        node = self.node
        proto = self._proto
        if proto.state is not ClientState.CONNECTED or channel in self._subs:
            return
        resolved = node.rules.resolve(channel)
        if resolved is None:
            return
        ttl: float | None = None
        if expire_at:
            ttl = expire_at - node.clock()
            if ttl <= 0:
                return
        sub = self._sub_options(
            resolved,
            server_side=True,
            override=override or NO_OVERRIDE,
            chan_info=info,
        )
        if not proto.add_server_subscription(
            channel, ttl, self._loop.time(), positioned=sub.positioned
        ):
            return
        hint = None
        if recover_since is not None:
            hint = m.SubscribeRequest(
                channel=channel,
                recover=True,
                offset=recover_since.offset,
                epoch=recover_since.epoch,
            )
        try:
            result = await self._attach(channel, sub, hint)
        except _Fail:
            proto.remove_subscription(channel, None)
            return
        proto.send_push(
            m.Push(
                channel=channel,
                body=m.SubscribePush(
                    recoverable=result.recoverable,
                    epoch=result.epoch,
                    offset=result.offset,
                    positioned=result.positioned,
                    data=data,
                ),
            )
        )
        for publication in result.publications:
            self.deliver(self._codec.encode_publication(channel, publication))
        await self._after_attach(channel, result)
        self._after()

    async def server_unsubscribe(self, channel: str) -> None:
        """Unsubscribe server-side: the client gets unsubscribe 2000 (server-api §9.4)."""
        if channel not in self._subs:
            return
        self._proto.remove_subscription(channel, codes.UNSUBSCRIBE_SERVER)
        await self._detach(channel)
        self._after()

    def server_refresh(
        self, *, expired: bool = False, expire_at: int | None = None, info: bytes | None = None
    ) -> None:
        """Server API ``refresh``: expire now (3005), move the expiry, replace the info."""
        if expired:
            self.disconnect(codes.DISCONNECT_EXPIRED)
            return
        if info is not None:
            self._conn_info = info
        if expire_at:
            self._proto.set_expiry(expire_at - self.node.clock(), self._loop.time())
        self._after()

    # ------------------------------------------------------------- hub side

    def deliver(self, message: bytes) -> None:
        """Queue an encoded push; never blocks (the fan-out path)."""
        if not self._proto.enqueue(message) and self._proto.close_requested is None:
            return
        if not self._dirty:
            # The flusher writes it (or closes the connection after an overflow), once.
            self._dirty = True
            self.node.flusher.add(self)

    def deliver_publication(self, channel: str, publication: m.Publication, message: bytes) -> None:
        """A publication while subscribing: held until the reply, then merged (§5.2)."""
        held = self._buffering.get(channel)
        if held is not None:
            # The hub moved the channel's position to this publication's already.
            position = self.node.hub.position(channel)
            held.append((publication, position.epoch if position is not None else "", message))
        else:
            self.deliver(message)

    def insufficient_state(self, channel: str) -> None:
        """The hub saw ``channel``'s stream skip ahead of this subscriber (§13).

        Called during fan-out: the subscription ends (unsubscribe 2500 or disconnect 3010)
        and it leaves the hub before this returns.
        """
        if channel in self._buffering:
            return  # still subscribing: the merge after its reply decides
        self._proto.insufficient_state(channel)
        self._after()

    def deliver_batch(self, payload: bytes, frames: FrameCache) -> None:
        """Write a channel's joined payload: the fan-out hot path, once per subscriber.

        The frame is shared by every subscriber on the same kind of transport. When
        this client has output queued already, the payload joins its queue to keep order.
        """
        queue = self._queue
        if queue.closed:
            return
        if queue.messages:
            queue.messages.append(payload)
            queue.size += len(payload)
            if queue.size > queue.limit:
                self._proto.overflow()
            if not self._dirty:
                self._dirty = True
                self.node.flusher.add(self)
            return
        transport = self.transport
        key = transport.frame_key
        frame = frames.get(key)
        if frame is None:
            frame = frames[key] = transport.encode_frame(payload)
        transport.write_frame(frame)
        if transport.write_buffer_size() > queue.limit:
            self._proto.close(codes.DISCONNECT_SLOW, detail="socket write buffer full")
            if not self._dirty:
                self._dirty = True
                self.node.flusher.add(self)

    def flush(self) -> None:
        """Write everything queued as one frame (called by the node's flusher)."""
        self._dirty = False
        proto = self._proto
        messages = proto.data_to_send()
        if messages:
            self.transport.write(self._codec.join(messages))
            if self.transport.write_buffer_size() > proto.settings.queue_max_size:
                proto.close(codes.DISCONNECT_SLOW, detail="socket write buffer full")
        if proto.close_requested is not None and not self._cleanup_started:
            self._after()

    # ------------------------------------------------------------- plumbing

    def _after(self) -> None:
        proto = self._proto
        if self._in_after:
            return  # the outer call below picks up the new events (commands run eagerly)
        self._in_after = True
        try:
            while events := proto.events_received():
                for event in events:
                    self._perform(event)
        finally:
            self._in_after = False
        if proto.close_requested is not None:
            self._close_transport(proto.close_requested)
            return
        if proto.has_data_to_send and not self._dirty:
            self._dirty = True
            self.node.flusher.add(self)
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self._proto.next_deadline()
        if deadline == self._timer_at:
            return
        timers = self.node.timers
        if self._timer is not None:
            timers.cancel(self, self._timer)
        self._timer_at = deadline
        self._timer = None if deadline is None else timers.schedule(self, deadline)

    def on_timer(self, now: float) -> None:
        """The node's timer wheel: a deadline of the protocol has come."""
        self._timer = None
        self._timer_at = None
        self._proto.handle_timer(now)
        self._after()

    def _close_transport(self, disconnect: Disconnect) -> None:
        if self._cleanup_started:
            return
        messages = self._proto.data_to_send()
        if messages:
            self.transport.write(self._codec.join(messages))
        level = logging.INFO if disconnect.code not in (3000, 3001) else logging.DEBUG
        if logger.isEnabledFor(level):
            detail = self._proto.close_detail
            logger.log(
                level,
                "client disconnected: %s %s%s",
                disconnect.code,
                disconnect.reason,
                f" ({detail})" if detail else "",
                extra={"client": self._client_id, "user": self._user},
            )
        self.transport.close(disconnect)
        self._begin_cleanup()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in a task, or eagerly when the node allows (``Node.eager``)."""
        if self.node.eager:
            task = run_eagerly(self._loop, coro)
            if task is None:
                return
        else:
            task = self._loop.create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        tasks = self._tasks
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                self._tasks = None

    def _perform(self, event: ClientEvent) -> None:
        match event:
            case CommandReceived(command):
                self._spawn(self._run_command(command))
            case SubscriptionExpired(channel):
                self._spawn(self._detach(channel))
            case PresenceDue():
                self._spawn(self._update_presence())
            case PositionCheckDue(channels):
                self._spawn(self._check_positions(channels))
            case InsufficientState(channel):
                # Out of the hub now (the fan-out in progress must skip it); the rest is
                # the node's, so that closing this client does not cancel it.
                left = self._leave_hub(channel)
                if left is not None:
                    self.node.spawn(self._after_leave(channel, *left))

    def _begin_cleanup(self) -> None:
        if self._cleanup_started:
            return
        self._cleanup_started = True
        if self._timer is not None:
            self.node.timers.cancel(self, self._timer)
            self._timer = None
        for task in list(self._tasks or ()):
            task.cancel()
        self.node.spawn(self._cleanup())

    async def _cleanup(self) -> None:
        """Leave every channel and the hub."""
        for channel in list(self._subs):
            await self._detach(channel)
        self.node.hub.remove_client(self)

    # ------------------------------------------------------------- commands

    async def _run_command(self, command: m.Command) -> None:
        proto = self._proto
        try:
            await self._dispatch(command)
        except _Fail as fail:
            if isinstance(fail.outcome, Error):
                proto.command_failed(command.id, fail.outcome, now=self._loop.time())
            else:
                proto.close(fail.outcome, detail=fail.detail)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "error handling command", extra={"client": self._client_id, "user": self._user}
            )
            if isinstance(command.request, m.ConnectRequest):
                proto.close(codes.DISCONNECT_SERVER_ERROR)
            else:
                proto.command_failed(command.id, codes.ERROR_INTERNAL, now=self._loop.time())
        self._after()

    async def _dispatch(self, command: m.Command) -> None:
        request = command.request
        cid = command.id
        match request:
            case m.ConnectRequest():
                await self._connect(cid, request)
            case m.SubscribeRequest():
                await self._subscribe(cid, request)
            case m.UnsubscribeRequest():
                await self._unsubscribe(cid, request)
            case m.PublishRequest():
                await self._publish(cid, request)
            case m.PresenceRequest():
                await self._presence(cid, request)
            case m.PresenceStatsRequest():
                await self._presence_stats(cid, request)
            case m.HistoryRequest():
                await self._history(cid, request)
            case m.RPCRequest():
                await self._rpc(cid, request)
            case m.RefreshRequest():
                await self._refresh(cid, request)
            case m.SubRefreshRequest():
                await self._sub_refresh(cid, request)
            case m.SendRequest():
                # Client-protocol §5.9: Centrifugo OSS has no message handler → 3508.
                raise _Fail(codes.DISCONNECT_NOT_AVAILABLE, "no send handler")
            case _:
                raise _Fail(codes.DISCONNECT_BAD_REQUEST, "unexpected command")

    def _reply(self, command_id: int, result: m.Result) -> None:
        self._proto.command_succeeded(command_id, result, now=self._loop.time())

    # connect -------------------------------------------------------------

    async def _connect(self, cid: int, req: m.ConnectRequest) -> None:
        node = self.node
        cfg = node.config.client
        if node.shutting_down:
            raise _Fail(codes.DISCONNECT_SHUTDOWN)
        now = node.clock()
        user = ""
        expire_at: int | None = None
        channels: list[str] = []
        token_subs: dict[str, Any] = {}
        if req.token:
            try:
                token = await node.connection_verifier.verify_connection_token(
                    req.token, now=now, ignore_expiry=cfg.insecure
                )
            except TokenExpired as expired:
                raise _Fail(codes.ERROR_TOKEN_EXPIRED, str(expired)) from expired
            except InvalidToken as invalid:
                raise _Fail(codes.DISCONNECT_INVALID_TOKEN, str(invalid)) from invalid
            if not token.user and cfg.disallow_anonymous_connection_tokens:
                raise _Fail(codes.DISCONNECT_PERMISSION_DENIED, "anonymous token")
            user = token.user
            expire_at = token.expire_at
            self._conn_info = token.info
            # Centrifugo uses the `subs` claim when present and ignores `channels` then.
            token_subs = dict(token.subs)
            channels.extend(token.subs if token.subs else token.channels)
        elif cfg.user_id_http_header and self._headers.get(cfg.user_id_http_header):
            user = self._headers[cfg.user_id_http_header]
        elif not (cfg.allow_anonymous_connect_without_token or cfg.insecure):
            # Channels-config §4.1 step 4: no credentials → 3501.
            raise _Fail(codes.DISCONNECT_BAD_REQUEST, "credentials not found")
        ttl: float | None = None
        reply_ttl = 0
        if expire_at is not None and not cfg.insecure:
            ttl = expire_at - now
            if ttl <= 0:
                raise _Fail(codes.ERROR_EXPIRED)
            reply_ttl = _reply_ttl(expire_at, now)
        hub = node.hub
        # The node-wide client.connection_limit is checked at the transport's door
        # (transports/admission.py), as Centrifugo does: 503 before the upgrade.
        if (
            cfg.user_connection_limit
            and user
            and len(hub.user_clients(user)) >= cfg.user_connection_limit
        ):
            raise _Fail(codes.DISCONNECT_CONNECTION_LIMIT, "user connection limit")
        personal = cfg.subscribe_to_user_personal_channel
        if personal.enabled and user:
            personal_channel = node.rules.personal_channel(
                personal.personal_channel_namespace, user
            )
            if personal.single_connection:
                for other in hub.user_clients(user):
                    other_disconnect = getattr(other, "disconnect", None)
                    if other_disconnect is not None:
                        other_disconnect(codes.DISCONNECT_CONNECTION_LIMIT)
            if personal_channel not in channels:
                channels.append(personal_channel)
        if len(channels) > node.protocol_settings.channel_limit:
            raise _Fail(codes.DISCONNECT_CHANNEL_LIMIT)
        self._user = user
        hub.add_client(self)
        results: dict[str, m.SubscribeResult] = {}
        server_subs: dict[str, float | None] = {}
        attached: list[str] = []
        try:
            for channel in channels:
                resolved = node.rules.resolve(channel)
                if resolved is None:
                    raise _Fail(codes.DISCONNECT_BAD_REQUEST, f"unknown namespace: {channel}")
                opts = token_subs.get(channel)
                override = opts.override if opts is not None else NO_OVERRIDE
                sub = self._sub_options(
                    resolved,
                    server_side=True,
                    override=override,
                    chan_info=opts.info if opts is not None else b"",
                )
                hint = req.subs.get(channel)
                results[channel] = await self._attach(channel, sub, hint)
                attached.append(channel)
                if opts is not None and opts.data:
                    results[channel] = _with_data(results[channel], opts.data)
                server_subs[channel] = None
        except BaseException:
            for channel in attached:
                self._buffering.pop(channel, None)
                await self._detach(channel)
            raise
        ping, pong = self._proto.settings.advertised_ping()
        result = m.ConnectResult(
            client=self._client_id,
            version=node.version,
            expires=ttl is not None,
            ttl=reply_ttl,
            subs=results,
            ping=ping,
            pong=pong,
            time=int(now * 1000) if cfg.connect_include_server_time else 0,
        )
        self._proto.connect_succeeded(
            cid,
            result,
            ttl=ttl,
            server_subs=server_subs,
            now=self._loop.time(),
            spread=random.random(),  # spreads the first ping (not security)
        )
        for channel in attached:
            await self._after_attach(channel, results[channel])

    # subscribe -----------------------------------------------------------

    def _resolve(self, channel: str) -> ResolvedChannel:
        resolved = self.node.rules.resolve(channel)
        if resolved is None:
            raise _Fail(codes.ERROR_UNKNOWN_CHANNEL)
        error = self.node.rules.check_name(resolved)
        if error is not None:
            raise _Fail(error)
        return resolved

    def _sub_options(
        self,
        resolved: ResolvedChannel,
        *,
        server_side: bool,
        override: SubscriptionOverride,
        chan_info: bytes,
        req: m.SubscribeRequest | None = None,
    ) -> Subscription:
        return decide_subscription(
            self.node.rules,
            resolved,
            user=self._user,
            insecure=self.node.config.client.insecure,
            server_side=server_side,
            override=override,
            chan_info=chan_info,
            req=req,
        )

    async def _subscribe(self, cid: int, req: m.SubscribeRequest) -> None:
        node = self.node
        rules = node.rules
        cfg = node.config.client
        resolved = self._resolve(req.channel)
        if req.type != 0:
            # Map / shared-poll subscriptions are not supported (client-protocol §16).
            raise _Fail(codes.ERROR_PERMISSION_DENIED)
        if req.delta and req.delta != "fossil":
            raise _Fail(codes.DISCONNECT_BAD_REQUEST, f"unknown delta type {req.delta!r}")
        if req.has_tags_filter and not resolved.options.allow_tags_filter:
            raise _Fail(codes.ERROR_BAD_REQUEST)
        override = NO_OVERRIDE
        chan_info = b""
        data = b""
        ttl: float | None = None
        reply_ttl = 0
        if req.token:
            now = node.clock()
            try:
                token = await node.subscription_verifier.verify_subscription_token(
                    req.token, now=now, ignore_expiry=cfg.insecure
                )
            except TokenExpired as expired:
                raise _Fail(codes.ERROR_TOKEN_EXPIRED, str(expired)) from expired
            except InvalidToken as invalid:
                logger.info(
                    "invalid subscription token: %s",
                    invalid,
                    extra={"client": self._client_id, "user": self._user, "channel": req.channel},
                )
                raise _Fail(codes.ERROR_PERMISSION_DENIED, str(invalid)) from invalid
            if (
                token.channel != req.channel
                or token.user != self._user
                or (token.client and token.client != self._client_id)
            ):
                raise _Fail(codes.DISCONNECT_INVALID_TOKEN, "subscription token mismatch")
            if token.expire_at is not None and not cfg.insecure:
                ttl = token.expire_at - now
                if ttl <= 0:
                    raise _Fail(codes.ERROR_EXPIRED)
                reply_ttl = _reply_ttl(token.expire_at, now)
            override = token.override
            chan_info = token.info
            data = token.data
        elif not rules.can_subscribe(
            resolved, user=self._user, client_id=self._client_id, insecure=cfg.insecure
        ):
            raise _Fail(codes.ERROR_PERMISSION_DENIED)
        sub = self._sub_options(
            resolved, server_side=False, override=override, chan_info=chan_info, req=req
        )
        result = await self._attach(req.channel, sub, req)
        if sub.delta:
            # Client-protocol §15: recovered publications form a chain, first in full.
            result = dataclasses.replace(
                result, delta=True, publications=delta_chain(self._codec, result.publications)
            )
        if ttl is not None:
            result = _with_expiry(result, reply_ttl)
        if data:
            result = _with_data(result, data)
        self._proto.subscribe_succeeded(cid, result, ttl=ttl, now=self._loop.time())
        await self._after_attach(req.channel, result)

    async def _attach(
        self, channel: str, sub: Subscription, req: m.SubscribeRequest | None
    ) -> m.SubscribeResult:
        """Join the hub (buffering), read the stream position and recover (§13)."""
        node = self.node
        self._buffering[channel] = []
        self._subs[channel] = sub
        first = node.hub.add_subscriber(
            channel,
            self,
            join_leave=sub.push_join_leave,
            pending=True,
            delta=sub.delta,
            positioned=sub.positioned,
        )
        try:
            if first:
                await node.broker.subscribe(channel)
            return await self._position(channel, sub, req)
        except BaseException:
            self._buffering.pop(channel, None)
            await self._detach(channel)
            raise

    async def _position(
        self, channel: str, sub: Subscription, req: m.SubscribeRequest | None
    ) -> m.SubscribeResult:
        """Client-protocol §13: the stream position, and recovery when asked for."""
        node = self.node
        recover = req is not None and req.recover
        if not sub.positioned:
            return m.SubscribeResult(was_recovering=recover)
        options = sub.resolved.options
        meta_ttl = sub.resolved.history_meta_ttl
        mode = RecoveryMode.from_option(options.force_recovery_mode)
        if sub.recoverable and mode is RecoveryMode.CACHE and options.auto_cache_recovery:
            # auto_cache_recover (Centrifugo v6.8.3): every subscribe gets the latest
            # publication, as if the client had sent `recover: true` (an empty `since`).
            recover = True
        if not (recover and sub.recoverable):
            top = (
                await node.broker.history(channel, HistoryOptions(limit=0, meta_ttl=meta_ttl))
            ).position
            return m.SubscribeResult(
                recoverable=sub.recoverable,
                epoch=top.epoch,
                offset=top.offset,
                positioned=True,
                was_recovering=recover,
            )
        since = m.StreamPosition()
        if req is not None and req.recover:
            since = m.StreamPosition(offset=req.offset, epoch=req.epoch)
        query = recovery.history_query(
            mode,
            since,
            limit=node.config.client.recovery_max_publication_limit,
            meta_ttl=meta_ttl,
        )
        outcome = recovery.recover(mode, since, await node.broker.history(channel, query))
        if not outcome.recovered and req is not None and recovery.rejects_unrecovered(req.flag):
            # Client-protocol §13 step 4: getState users want 112, not recovered:false.
            raise _Fail(codes.ERROR_UNRECOVERABLE_POSITION)
        return outcome.result()

    async def _after_attach(self, channel: str, result: m.SubscribeResult) -> None:
        """Release buffered publications after the reply; then presence and join."""
        held = self._buffering.pop(channel, None) or []
        sub = self._subs.get(channel)
        if sub is None:
            return
        position = recovery.reply_end(result) if sub.positioned else None
        if held:  # usually nothing was published during the subscribe
            merged = recovery.merge_buffered(position, held)
            for message in merged.deliver:
                self.deliver(message)
            if merged.gap:
                # Client-protocol §5.2/§13: the stream moved on during the subscribe in a
                # way the reply cannot be continued from.
                self._proto.insufficient_state(channel)
                self._after()
                return
            position = merged.position
        self.node.hub.activate_subscriber(channel, self, position)
        sub.joined = True
        if sub.presence or sub.emit_join_leave:
            info = self.info(sub.chan_info)
            if sub.presence:
                await self.node.presence.add_presence(channel, self._client_id, info)
            if sub.emit_join_leave:
                await self.node.broker.publish_join(channel, info)

    def _leave_hub(self, channel: str) -> tuple[Subscription, bool] | None:
        """Forget ``channel`` here and in the hub; the subscription and whether it was
        the channel's last subscriber on this node."""
        sub = self._subs.pop(channel, None)
        self._buffering.pop(channel, None)
        if sub is None:
            return None
        return sub, self.node.hub.remove_subscriber(channel, self)

    async def _detach(self, channel: str) -> None:
        """Leave ``channel``: hub, broker, presence, leave event."""
        left = self._leave_hub(channel)
        if left is not None:
            await self._after_leave(channel, *left)

    async def _after_leave(self, channel: str, sub: Subscription, last: bool) -> None:
        node = self.node
        if last:
            await node.broker.unsubscribe(channel)
        if sub.presence:
            await node.presence.remove_presence(channel, self._client_id, self._user)
        if sub.emit_join_leave and sub.joined:
            await node.broker.publish_leave(channel, self.info(sub.chan_info))

    async def _check_positions(self, channels: tuple[str, ...]) -> None:
        """Compare each positioned channel's stream top with what it was sent (§13)."""
        node = self.node
        for channel in channels:
            sub = self._subs.get(channel)
            if sub is None or not sub.positioned or channel in self._buffering:
                continue
            try:
                history = await node.broker.history(
                    channel, HistoryOptions(limit=0, meta_ttl=sub.resolved.history_meta_ttl)
                )
            except Exception:
                # As centrifuge: an unavailable broker is no evidence of a gap.
                logger.exception(
                    "position check failed",
                    extra={"client": self._client_id, "user": self._user, "channel": channel},
                )
                continue
            sent = node.hub.position(channel)
            if self._subs.get(channel) is not sub or sent is None:
                continue
            self._proto.position_checked(channel, valid=history.position == sent)
        self._after()

    async def _update_presence(self) -> None:
        for channel, sub in list(self._subs.items()):
            if sub.presence:
                await self.node.presence.add_presence(
                    channel, self._client_id, self.info(sub.chan_info)
                )

    async def _unsubscribe(self, cid: int, req: m.UnsubscribeRequest) -> None:
        sub = self._subs.get(req.channel)
        if sub is not None and not sub.server_side:
            await self._detach(req.channel)
        # Client-protocol §5.3: unsubscribing always succeeds.
        self._reply(cid, m.UnsubscribeResult())

    # publish, presence, history, rpc ------------------------------------------

    async def _publish(self, cid: int, req: m.PublishRequest) -> None:
        node = self.node
        resolved = self._resolve(req.channel)
        error = node.rules.check_data(resolved, req.data)
        if error is not None:
            raise _Fail(error)
        if req.type != 0:
            raise _Fail(codes.ERROR_PERMISSION_DENIED)
        sub = self._subs.get(req.channel)
        if not node.rules.can_publish(
            resolved,
            user=self._user,
            subscribed=sub is not None,
            insecure=node.config.client.insecure,
        ):
            raise _Fail(codes.ERROR_PERMISSION_DENIED)
        from whirlwind.node import ChannelPublishOptions

        info = self.info(sub.chan_info if sub is not None else b"")
        await node.publish(resolved, req.data, ChannelPublishOptions(info=info))
        self._reply(cid, m.PublishResult())

    def _check_presence(self, channel: str) -> None:
        node = self.node
        resolved = self._resolve(channel)
        if not resolved.options.presence:
            raise _Fail(codes.ERROR_NOT_AVAILABLE)
        if not node.rules.can_presence(
            resolved,
            user=self._user,
            subscribed=channel in self._subs,
            insecure=node.config.client.insecure,
        ):
            raise _Fail(codes.ERROR_PERMISSION_DENIED)

    async def _presence(self, cid: int, req: m.PresenceRequest) -> None:
        self._check_presence(req.channel)
        presence = await self.node.presence.presence(req.channel)
        self._reply(cid, m.PresenceResult(presence=presence))

    async def _presence_stats(self, cid: int, req: m.PresenceStatsRequest) -> None:
        self._check_presence(req.channel)
        stats = await self.node.presence.presence_stats(req.channel)
        self._reply(
            cid, m.PresenceStatsResult(num_clients=stats.num_clients, num_users=stats.num_users)
        )

    async def _history(self, cid: int, req: m.HistoryRequest) -> None:
        node = self.node
        resolved = self._resolve(req.channel)
        if not resolved.history_enabled:
            raise _Fail(codes.ERROR_NOT_AVAILABLE)
        if not node.rules.can_history(
            resolved,
            user=self._user,
            subscribed=req.channel in self._subs,
            insecure=node.config.client.insecure,
        ):
            raise _Fail(codes.ERROR_PERMISSION_DENIED)
        if req.reverse and req.since is not None and req.since.offset == 0:
            raise _Fail(codes.ERROR_BAD_REQUEST)
        cap = node.config.client.history_max_publication_limit
        limit = req.limit
        if limit < 0 or (cap > 0 and limit > cap):
            limit = cap if cap > 0 else -1
        try:
            history = await node.broker.history(
                req.channel,
                HistoryOptions(
                    since=req.since,
                    limit=limit,
                    reverse=req.reverse,
                    meta_ttl=resolved.history_meta_ttl,
                ),
            )
        except UnrecoverablePosition as exc:
            raise _Fail(codes.ERROR_UNRECOVERABLE_POSITION) from exc
        self._reply(
            cid,
            m.HistoryResult(
                publications=tuple(history.publications),
                epoch=history.position.epoch,
                offset=history.position.offset,
            ),
        )

    async def _rpc(self, cid: int, req: m.RPCRequest) -> None:
        ping = self.node.config.rpc.ping
        if ping.enabled:
            if req.method == ping.method:
                self._reply(cid, m.RPCResult())
                return
            # Centrifugo OnRPC with a handler but no proxy: method not found.
            raise _Fail(codes.ERROR_METHOD_NOT_FOUND)
        # No RPC handler registered at all: centrifuge answers "not available" (108).
        raise _Fail(codes.ERROR_NOT_AVAILABLE)

    # refresh ----------------------------------------------------------------

    async def _refresh(self, cid: int, req: m.RefreshRequest) -> None:
        node = self.node
        now = node.clock()
        try:
            token = await node.connection_verifier.verify_connection_token(req.token, now=now)
        except TokenExpired as expired:
            # Client-protocol §5.10: an expired refresh token → 3005.
            raise _Fail(codes.DISCONNECT_EXPIRED, str(expired)) from expired
        except InvalidToken as invalid:
            raise _Fail(codes.DISCONNECT_INVALID_TOKEN, str(invalid)) from invalid
        if token.user != self._user:
            raise _Fail(codes.DISCONNECT_INVALID_TOKEN, "refresh token user mismatch")
        self._conn_info = token.info
        if token.expire_at is None:
            self._reply(cid, m.RefreshResult())
            return
        ttl = token.expire_at - now
        if ttl <= 0:
            raise _Fail(codes.DISCONNECT_EXPIRED)
        self._reply(cid, m.RefreshResult(expires=True, ttl=_reply_ttl(token.expire_at, now)))

    async def _sub_refresh(self, cid: int, req: m.SubRefreshRequest) -> None:
        node = self.node
        now = node.clock()
        try:
            token = await node.subscription_verifier.verify_subscription_token(req.token, now=now)
        except TokenExpired as expired:
            # Client-protocol §5.11: Whirlwind answers 109 for an expired token.
            raise _Fail(codes.ERROR_TOKEN_EXPIRED, str(expired)) from expired
        except InvalidToken as invalid:
            raise _Fail(codes.DISCONNECT_INVALID_TOKEN, str(invalid)) from invalid
        if (
            token.channel != req.channel
            or token.user != self._user
            or (token.client and token.client != self._client_id)
        ):
            raise _Fail(codes.DISCONNECT_INVALID_TOKEN, "subscription token mismatch")
        sub = self._subs.get(req.channel)
        if sub is not None and token.info:
            sub.chan_info = token.info
        if token.expire_at is None:
            self._reply(cid, m.SubRefreshResult())
            return
        ttl = token.expire_at - now
        if ttl <= 0:
            raise _Fail(codes.ERROR_EXPIRED)
        self._reply(cid, m.SubRefreshResult(expires=True, ttl=_reply_ttl(token.expire_at, now)))


def _reply_ttl(expire_at: int, now: float) -> int:
    """A reply's ``ttl``: whole seconds from the current Unix second to ``expire_at``, as
    Centrifuge counts them (``ExpireAt - time.Now().Unix()``), capped at one year.

    Counting from ``now`` itself would give one second less, and 0 for a token that still
    has most of a second left, which makes the SDK refresh at once."""
    return min(expire_at - int(now), _MAX_TTL)


def _with_expiry(result: m.SubscribeResult, ttl: int) -> m.SubscribeResult:
    import dataclasses

    return dataclasses.replace(result, expires=True, ttl=ttl)


def _with_data(result: m.SubscribeResult, data: bytes) -> m.SubscribeResult:
    import dataclasses

    return dataclasses.replace(result, data=data)
