"""Node: the Hub, the Broker and the PresenceManager of one Whirlwind process.

Mirrors ``centrifugal/centrifuge node.go``: the node publishes through its broker, receives
every publication, join and leave back as the broker's event handler and fans them out
through the hub. It also owns what all connections share: the channel rules, the token
verifiers and the flusher that writes every client's queued output once per loop turn.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from whirlwind import __version__, codes
from whirlwind.auth.tokens import SubscriptionOverride, TokenVerifier
from whirlwind.broker.base import Broker, PublishOptions, PublishResult
from whirlwind.channels import ChannelRules, ResolvedChannel
from whirlwind.client.protocol import ProtocolSettings
from whirlwind.codes import Disconnect
from whirlwind.errors import InvalidState
from whirlwind.hub import Hub
from whirlwind.presence.base import PresenceManager
from whirlwind.protocol.messages import ClientInfo, Publication, StreamPosition

if TYPE_CHECKING:
    from whirlwind.client.client import Client
    from whirlwind.config.schema import Config

logger = logging.getLogger("whirlwind.node")

VERSION = f"{__version__} Whirlwind"
"""Server version string sent in connect replies (informational, client-protocol.md §5.1)."""


class Flushable(Protocol):
    """A connection with queued output."""

    def flush(self) -> None:
        """Write everything queued as one frame."""
        ...


class Flusher:
    """Writes queued output in rounds: channel batches first, then every dirty client.

    Coalescing: everything queued since the last round leaves in one frame per client
    (JSON lines joined by ``\n``, Protobuf messages concatenated). A round runs on the next
    loop iteration, so all input read in this one is joined.

    Under saturation (more than ``SATURATED`` of the time between two rounds is spent
    writing), the next round waits for the publishers to go quiet: it runs once no new
    work has arrived for ``QUIET`` seconds, or after as long as the last round took (at
    most ``max_delay``). Each write costs one syscall per subscriber whatever it carries,
    so a fuller round is cheaper per message; and publishers that wait for their reply
    before sending again (HTTP keep-alive) get their next request in before the round
    instead of after it. A server that is not saturated does not wait, so its latency is
    not traded away.
    """

    __slots__ = (
        "_deadline",
        "_delay",
        "_dirty",
        "_last_start",
        "_loop",
        "_quiet",
        "_scheduled",
        "_seen",
        "_wait_started",
        "before_round",
        "max_delay",
        "work",
    )

    DELAY_FRACTION: ClassVar[float] = 1.0
    """When saturated, wait at most this fraction of the last round's duration."""
    SATURATED: ClassVar[float] = 0.5
    """Share of the time between two rounds spent writing above which we are saturated."""
    QUIET: ClassVar[float] = 0.001
    """A saturated round runs once no work has arrived for this long (seconds)…"""
    QUIET_FRACTION: ClassVar[float] = 0.05
    """…or for this fraction of the last round's duration, if that is longer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_delay: float = 0.05) -> None:
        self._loop = loop
        self._dirty: list[Flushable] = []
        self._scheduled = False
        self._delay = 0.0
        """The longest wait before the next round; 0: run it on the next iteration."""
        self._last_start = 0.0
        self._wait_started = 0.0
        self._deadline = 0.0
        self._seen = 0
        self._quiet = self.QUIET
        self.max_delay = max_delay
        """Upper bound of the added wait, seconds (0 disables it)."""
        self.before_round: Callable[[], None] = lambda: None
        """Runs first in every round: the hub writes its channel batches."""
        self.work: Callable[[], int] = lambda: 0
        """A count that grows as work is queued (the hub's publications batched)."""

    def add(self, client: Flushable) -> None:
        """Flush ``client`` in the next round; the caller adds it once per round."""
        self._dirty.append(client)
        if not self._scheduled:
            self.schedule()

    def schedule(self) -> None:
        """Run a round soon even if no client is dirty yet."""
        if self._scheduled:
            return
        self._scheduled = True
        if self._delay > 0.0001:
            now = self._loop.time()
            self._wait_started = now
            self._deadline = now + self._delay
            self._seen = self.work() + len(self._dirty)
            self._loop.call_later(self._quiet, self._when_quiet)
        else:
            self._wait_started = 0.0
            self._loop.call_soon(self._flush)

    def _when_quiet(self) -> None:
        seen = self.work() + len(self._dirty)
        if seen != self._seen and self._loop.time() + self._quiet < self._deadline:
            self._seen = seen  # still arriving: give the publishers another moment
            self._loop.call_later(self._quiet, self._when_quiet)
            return
        self._flush()

    def _flush(self) -> None:
        self._scheduled = False
        started = self._loop.time()
        try:
            self.before_round()
        except Exception:
            logger.exception("channel flush failed")
        dirty = self._dirty
        self._dirty = []
        for client in dirty:
            try:
                client.flush()
            except Exception:
                logger.exception("flush failed")
        spent = self._loop.time() - started
        # The wait we added ourselves does not count as idle time.
        waited = started - self._wait_started if self._wait_started else 0.0
        period = started - self._last_start - waited
        self._last_start = started
        if period > 0 and spent / period > self.SATURATED:
            self._delay = min(self.max_delay, spent * self.DELAY_FRACTION)
            self._quiet = max(self.QUIET, spent * self.QUIET_FRACTION)
        else:
            self._delay = 0.0


class Timed(Protocol):
    """Something with deadlines on the wheel."""

    def on_timer(self, now: float) -> None:
        """A deadline it asked for has come; ``now`` is at or after that deadline."""
        ...


class TimerWheel:
    """The deadlines of every connection (pings, pong waits, expiries) on one loop timer.

    A loop ``TimerHandle`` per connection costs a few hundred bytes and a heap entry; here a
    connection costs a set entry in the slot of its next deadline. Deadlines are rounded up
    to ``tick`` seconds: a ping or a timeout may come up to one tick late, never early.
    """

    __slots__ = ("_armed", "_handle", "_heap", "_loop", "_slots", "tick")

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = 0.1) -> None:
        self._loop = loop
        self.tick = tick
        self._slots: dict[int, set[Timed]] = {}
        self._heap: list[int] = []
        self._handle: asyncio.TimerHandle | None = None
        self._armed: int | None = None

    def schedule(self, item: Timed, deadline: float) -> int:
        """Call ``item.on_timer()`` at ``deadline`` (loop time); returns a cancel token."""
        slot = math.ceil(deadline / self.tick)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            heapq.heappush(self._heap, slot)
        members.add(item)
        if self._armed is None or slot < self._armed:
            self._arm(slot)
        return slot

    def cancel(self, item: Timed, token: int) -> None:
        """Forget ``item``'s deadline scheduled as ``token``."""
        members = self._slots.get(token)
        if members is not None:
            members.discard(item)

    def _arm(self, slot: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = slot
        self._handle = self._loop.call_at(slot * self.tick, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed = None
        # The loop may run a timer a millisecond early; a slot that is due within that
        # margin fires now, with its own time as `now` so its deadlines are all reached.
        now_slot = math.floor((self._loop.time() + 0.001) / self.tick)
        heap = self._heap
        while heap and heap[0] <= now_slot:
            slot = heapq.heappop(heap)
            members = self._slots.pop(slot, None)
            now = max(self._loop.time(), slot * self.tick)
            for item in members or ():
                try:
                    item.on_timer(now)
                except Exception:
                    logger.exception("timer callback failed")
        while heap and not self._slots.get(heap[0]):
            self._slots.pop(heapq.heappop(heap), None)
        if heap:
            self._arm(heap[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelPublishOptions:
    """Per-call options of :meth:`Node.publish` beyond what the namespace decides."""

    info: ClientInfo | None = None
    tags: dict[str, str] | None = None
    skip_history: bool = False
    idempotency_key: str = ""
    delta: bool | None = None
    version: int = 0
    version_epoch: str = ""


class Node:
    """One Whirlwind process."""

    def __init__(
        self,
        *,
        config: Config,
        broker: Broker,
        presence: PresenceManager,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.id = str(uuid.uuid4())
        self.name = config.node.name or f"{socket.gethostname()}_{config.http_server.port}"
        self.version = VERSION
        self.loop = loop
        self.clock = clock
        """Wall clock (Unix seconds) for token expiry."""
        self.started_at = clock()
        self.flusher = Flusher(loop)
        self.timers = TimerWheel(loop)
        self.hub = Hub(schedule_flush=self.flusher.schedule)
        self.flusher.before_round = self.hub.flush_channels
        self.flusher.work = self.hub.batched
        self.rules = ChannelRules(config.channel)
        self.broker = broker
        self.presence = presence
        client = config.client
        self.connection_verifier = TokenVerifier(
            client.token, insecure_skip_signature=client.insecure_skip_token_signature_verify
        )
        if client.subscription_token.enabled:
            self.subscription_verifier = TokenVerifier(
                client.subscription_token.settings(),
                insecure_skip_signature=client.insecure_skip_token_signature_verify,
            )
        else:
            self.subscription_verifier = self.connection_verifier
        self.protocol_settings = ProtocolSettings(
            ping_interval=client.ping_interval,
            pong_timeout=client.pong_timeout,
            stale_close_delay=client.stale_close_delay,
            expired_close_delay=client.expired_close_delay,
            expired_sub_close_delay=client.expired_sub_close_delay,
            presence_update_interval=client.presence_update_interval,
            channel_position_check_delay=client.channel_position_check_delay,
            channel_limit=client.channel_limit,
            queue_max_size=client.queue_max_size,
        )
        self.eager = False
        """Client commands and API handlers may run eagerly (``eager.py``): set by whoever
        builds the node when nothing they await needs a current task (the memory engine
        and no JWKS: aiohttp, redis and ``asyncio.timeout`` call ``current_task()``)."""
        self._shutting_down = False
        self._tasks: set[asyncio.Task[None]] = set()
        # A broker that never waits (the memory broker) also publishes synchronously.
        self._publish_nowait: Callable[[str, bytes, PublishOptions], PublishResult] | None = (
            getattr(broker, "publish_nowait", None)
        )
        broker.register_handler(self)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in a task owned by the node (awaited at shutdown, errors logged)."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("node task failed", exc_info=task.exception())

    async def start(self) -> None:
        """Start the broker."""
        await self.broker.start()
        logger.info("node started", extra={"node": self.name, "node_id": self.id})

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shutdown` has begun: no new connections are accepted."""
        return self._shutting_down

    async def shutdown(self, disconnect: Disconnect = codes.DISCONNECT_SHUTDOWN) -> None:
        """Disconnect every client with 3001 (they reconnect elsewhere), then close."""
        self._shutting_down = True
        clients = list(self.hub.clients())
        logger.info("shutting down: disconnecting %d clients", len(clients))
        for client in clients:
            disconnect_fn = getattr(client, "disconnect", None)
            if disconnect_fn is not None:
                disconnect_fn(disconnect)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self.broker.close()
        await self.presence.close()

    # ------------------------------------------------------ broker event handler

    def handle_publication(
        self,
        channel: str,
        publication: Publication,
        position: StreamPosition,
        *,
        delta: bool = False,
        prev_publication: Publication | None = None,
    ) -> None:
        """Fan a publication out to this node's subscribers."""
        if position.offset:
            # Client-protocol §13: positioned subscribers must not skip a gap.
            self.hub.advance_position(channel, position)
        self.hub.broadcast_publication(
            channel, publication, delta=delta, prev_publication=prev_publication
        )

    def handle_join(self, channel: str, info: ClientInfo) -> None:
        """Fan a join out."""
        self.hub.broadcast_join(channel, info)

    def handle_leave(self, channel: str, info: ClientInfo) -> None:
        """Fan a leave out."""
        self.hub.broadcast_leave(channel, info)

    # -------------------------------------------------------------- operations

    def publish_options(
        self, resolved: ResolvedChannel, options: ChannelPublishOptions
    ) -> PublishOptions:
        """Combine a namespace's history settings with one call's options."""
        ns = resolved.options
        use_history = resolved.history_enabled and not options.skip_history
        return PublishOptions(
            info=options.info,
            tags=options.tags,
            history_size=ns.history_size if use_history else 0,
            history_ttl=ns.history_ttl if use_history else 0.0,
            history_meta_ttl=resolved.history_meta_ttl,
            idempotency_key=options.idempotency_key,
            idempotent_result_ttl=self.config.channel.idempotent_result_ttl,
            delta=ns.delta_publish if options.delta is None else options.delta,
            version=options.version,
            version_epoch=options.version_epoch,
        )

    async def publish(
        self, resolved: ResolvedChannel, data: bytes, options: ChannelPublishOptions
    ) -> PublishResult:
        """Publish ``data`` into a resolved channel."""
        return await self.broker.publish(
            resolved.name, data, self.publish_options(resolved, options)
        )

    @property
    def publishes_nowait(self) -> bool:
        """Whether the broker publishes without waiting, so :meth:`publish_nowait` works."""
        return self._publish_nowait is not None

    def publish_nowait(self, channel: str, data: bytes, options: PublishOptions) -> PublishResult:
        """:meth:`publish` through a broker that never waits (no coroutine on the way).

        Args:
            options: already combined by :meth:`publish_options`, which callers publishing
                many times into one channel may compute once.

        Raises:
            InvalidState: the broker waits (:attr:`publishes_nowait` is false).
        """
        publish = self._publish_nowait
        if publish is None:
            raise InvalidState(f"{type(self.broker).__name__} has no synchronous publish")
        return publish(channel, data, options)

    # ---------------------------------------------------- connected clients

    def user_clients(self, user: str, client_id: str = "", session: str = "") -> list[Client]:
        """This node's connections of ``user``, optionally only one client or session."""
        from whirlwind.client.client import Client

        return [
            c
            for c in self.hub.user_clients(user)
            if isinstance(c, Client)
            and (not client_id or c.client_id == client_id)
            and (not session or c.session == session)
        ]

    async def subscribe_user(
        self,
        user: str,
        channel: str,
        *,
        client_id: str = "",
        session: str = "",
        expire_at: int | None = None,
        info: bytes = b"",
        data: bytes = b"",
        recover_since: StreamPosition | None = None,
        override: SubscriptionOverride | None = None,
    ) -> None:
        """Server-side subscribe every matching connection (server-api §9.3)."""
        for client in self.user_clients(user, client_id, session):
            await client.server_subscribe(
                channel,
                expire_at=expire_at,
                info=info,
                data=data,
                recover_since=recover_since,
                override=override,
            )

    async def unsubscribe_user(
        self, user: str, channel: str, *, client_id: str = "", session: str = ""
    ) -> None:
        """Unsubscribe every matching connection (server-api §9.4)."""
        for client in self.user_clients(user, client_id, session):
            await client.server_unsubscribe(channel)

    def disconnect_user(
        self,
        user: str,
        disconnect: Disconnect = codes.DISCONNECT_FORCE_NO_RECONNECT,
        *,
        client_id: str = "",
        session: str = "",
        whitelist: tuple[str, ...] = (),
    ) -> None:
        """Disconnect every matching connection but the whitelisted (server-api §9.5)."""
        for client in self.user_clients(user, client_id, session):
            if client.client_id not in whitelist:
                client.disconnect(disconnect)

    def refresh_user(
        self,
        user: str,
        *,
        client_id: str = "",
        session: str = "",
        expired: bool = False,
        expire_at: int | None = None,
        info: bytes | None = None,
    ) -> None:
        """Refresh every matching connection (server-api §9.6)."""
        for client in self.user_clients(user, client_id, session):
            client.server_refresh(expired=expired, expire_at=expire_at, info=info)

    def statistics(self) -> dict[str, float]:
        """Numbers for ``info`` and metrics."""
        hub = self.hub
        return {
            "num_clients": hub.num_clients,
            "num_users": hub.num_users,
            "num_subs": hub.num_subscriptions,
            "num_channels": hub.num_channels,
            "uptime": int(self.clock() - self.started_at),
        }
