"""The memory broker: one node, history kept in this process (lost on restart).

Semantics follow ``centrifugal/centrifuge broker_memory.go``: every channel stream has an
epoch and a top offset; publications beyond ``history_size`` or older than ``history_ttl``
are dropped; the stream meta (epoch and top offset) expires ``history_meta_ttl`` after the
last publication, after which a new epoch starts. Time comes from an injected clock, so
tests expire history without sleeping.
"""

from __future__ import annotations

import secrets
import string
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from whirlwind.broker.base import (
    BrokerEventHandler,
    HistoryOptions,
    HistoryResult,
    PublishOptions,
    PublishResult,
)
from whirlwind.errors import InvalidState, UnrecoverablePosition
from whirlwind.protocol.messages import ClientInfo, Publication, StreamPosition

_EPOCH_ALPHABET = string.ascii_letters

_NO_POSITION: Final = StreamPosition()
_NOT_STORED: Final = PublishResult(position=_NO_POSITION)


def new_epoch() -> str:
    """A new random stream epoch: 8 letters, as Centrifugo makes them."""
    return "".join(secrets.choice(_EPOCH_ALPHABET) for _ in range(8))


@dataclass(slots=True)
class _Stream:
    epoch: str
    top: int = 0
    items: deque[tuple[float, Publication]] = field(default_factory=deque)
    meta_expires: float = float("inf")
    version: int = 0
    version_epoch: str = ""
    latest: Publication | None = None
    """The channel's last publication, with or without history: the next one's delta base."""


class MemoryBroker:
    """Single-node broker with in-memory history streams."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._handler: BrokerEventHandler | None = None
        self._streams: dict[str, _Stream] = {}
        self._idempotency: dict[tuple[str, str], tuple[float, PublishResult]] = {}

    def register_handler(self, handler: BrokerEventHandler) -> None:
        """Set the node's handler."""
        self._handler = handler

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    async def subscribe(self, channel: str) -> None:
        """Every channel of this process is delivered; nothing to do."""

    async def unsubscribe(self, channel: str) -> None:
        """Nothing to do."""

    def _stream(self, channel: str, now: float, create: bool) -> _Stream | None:
        stream = self._streams.get(channel)
        if stream is not None and now >= stream.meta_expires:
            del self._streams[channel]
            stream = None
        if stream is None and create:
            stream = _Stream(epoch=new_epoch())
            self._streams[channel] = stream
        return stream

    @staticmethod
    def _trim(stream: _Stream, now: float, size: int) -> None:
        items = stream.items
        while items and (len(items) > size or items[0][0] <= now):
            items.popleft()

    async def publish(self, channel: str, data: bytes, options: PublishOptions) -> PublishResult:
        """Store (when history is on) and deliver a publication."""
        return self.publish_nowait(channel, data, options)

    def publish_nowait(self, channel: str, data: bytes, options: PublishOptions) -> PublishResult:
        """Synchronous :meth:`publish`: the memory broker never waits."""
        handler = self._handler
        if handler is None:
            raise InvalidState("broker has no handler")
        if options.idempotency_key or options.use_history:
            return self._publish_stored(handler, channel, data, options)
        # Nothing to store (the common case): only the delta base of a channel with a
        # stream moves, as in _publish_stored.
        publication = Publication(data=data, info=options.info, tags=options.tags)
        prev = None
        tracked = self._streams.get(channel)
        if tracked is not None:
            if options.delta:
                prev = tracked.latest
            tracked.latest = publication
        handler.handle_publication(
            channel, publication, _NO_POSITION, delta=options.delta, prev_publication=prev
        )
        return _NOT_STORED

    def _publish_stored(
        self,
        handler: BrokerEventHandler,
        channel: str,
        data: bytes,
        options: PublishOptions,
    ) -> PublishResult:
        """:meth:`publish_nowait` into history or with an idempotency key."""
        now = self._clock()
        key = (channel, options.idempotency_key) if options.idempotency_key else None
        if key is not None:
            cached = self._idempotency.get(key)
            if cached is not None:
                if cached[0] > now:
                    return cached[1]
                del self._idempotency[key]
        stream = self._stream(channel, now, create=True) if options.use_history else None
        if options.version and stream is not None:
            # Server-api §9.1.2: with history on, drop updates that are not newer.
            if options.version_epoch == stream.version_epoch and options.version <= stream.version:
                return PublishResult(
                    position=StreamPosition(offset=stream.top, epoch=stream.epoch),
                    suppressed=True,
                )
            stream.version = options.version
            stream.version_epoch = options.version_epoch
        offset = 0
        position = _NO_POSITION
        if options.use_history and stream is not None:
            stream.top += 1
            offset = stream.top
            meta_ttl = max(options.history_meta_ttl, options.history_ttl)
            stream.meta_expires = now + meta_ttl if meta_ttl > 0 else float("inf")
            position = StreamPosition(offset=offset, epoch=stream.epoch)
        publication = Publication(data=data, info=options.info, offset=offset, tags=options.tags)
        prev = None
        # Centrifugo's brokers hand the node the previous publication of a delta
        # publication (client-protocol §15). Every publication of a channel with a stream
        # moves the base, one kept out of history too: it reached the subscribers all
        # the same, and a delta against anything else would not decode.
        tracked = stream if stream is not None else self._streams.get(channel)
        if tracked is not None:
            if options.delta:
                prev = tracked.latest
            tracked.latest = publication
        if options.use_history and stream is not None:
            stream.items.append((now + options.history_ttl, publication))
            self._trim(stream, now, options.history_size)
        result = PublishResult(position=position)
        if key is not None:
            self._idempotency[key] = (now + options.idempotent_result_ttl, result)
        handler.handle_publication(
            channel, publication, position, delta=options.delta, prev_publication=prev
        )
        return result

    async def publish_join(self, channel: str, info: ClientInfo) -> None:
        """Deliver a join to this node."""
        if self._handler is not None:
            self._handler.handle_join(channel, info)

    async def publish_leave(self, channel: str, info: ClientInfo) -> None:
        """Deliver a leave to this node."""
        if self._handler is not None:
            self._handler.handle_leave(channel, info)

    async def history(self, channel: str, options: HistoryOptions) -> HistoryResult:
        """Read the stream; semantics of client-protocol.md §5.7."""
        return self.history_nowait(channel, options)

    def history_nowait(self, channel: str, options: HistoryOptions) -> HistoryResult:
        """Synchronous :meth:`history`."""
        now = self._clock()
        stream = self._stream(channel, now, create=True)
        assert stream is not None
        if options.meta_ttl > 0 and stream.meta_expires == float("inf") and not stream.top:
            stream.meta_expires = now + options.meta_ttl
        position = StreamPosition(offset=stream.top, epoch=stream.epoch)
        since = options.since
        if since is not None and since.epoch and since.epoch != stream.epoch:
            raise UnrecoverablePosition(channel)
        if options.limit == 0:
            return HistoryResult(publications=[], position=position)
        items = [pub for expires, pub in stream.items if expires > now]
        if options.reverse:
            items.reverse()
            if since is not None:
                items = [p for p in items if p.offset < since.offset]
        elif since is not None:
            items = [p for p in items if p.offset > since.offset]
        if options.limit > 0:
            items = items[: options.limit]
        return HistoryResult(publications=items, position=position)

    async def remove_history(self, channel: str) -> None:
        """Drop the publications, keep epoch and top offset."""
        stream = self._streams.get(channel)
        if stream is not None:
            stream.items.clear()

    def statistics(self) -> dict[str, int]:
        """Counts for ``info``: streams and idempotency entries held."""
        return {"streams": len(self._streams), "idempotency_keys": len(self._idempotency)}
