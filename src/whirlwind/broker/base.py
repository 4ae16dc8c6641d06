"""Broker: PUB/SUB between nodes plus each channel's history stream.

Mirrors ``centrifugal/centrifuge broker.go``: a node publishes through the broker, and the
broker calls the node's :class:`BrokerEventHandler` for every publication, join and leave of
the channels the node subscribed to. Memory, Redis and NATS implement the same Protocol; the
contract tests in ``tests/contract`` run one suite against each.

History semantics (client-protocol.md §13, §5.7): offsets start at 1 and increase by one per
publication of a channel; the epoch changes whenever the stream is lost or recreated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from whirlwind.protocol.messages import ClientInfo, Publication, StreamPosition


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishOptions:
    """How one publication is stored and delivered (server-api.md ``publish``)."""

    info: ClientInfo | None = None
    tags: dict[str, str] | None = None
    history_size: int = 0
    """Publications kept in the stream; history is on when size and ttl are > 0."""
    history_ttl: float = 0.0
    """Seconds a publication stays in history."""
    history_meta_ttl: float = 0.0
    """Seconds the stream's meta (top offset, epoch) outlives its last publication."""
    idempotency_key: str = ""
    idempotent_result_ttl: float = 300.0
    delta: bool = False
    """Deliver as a fossil delta against the previous publication where negotiated (§15)."""
    version: int = 0
    version_epoch: str = ""

    @property
    def use_history(self) -> bool:
        """Whether the publication goes into the channel's history stream."""
        return self.history_size > 0 and self.history_ttl > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """Where a publication landed; ``suppressed`` when dropped as a stale version."""

    position: StreamPosition
    suppressed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryOptions:
    """A history query (client-protocol.md §5.7): ``limit`` < 0 means all, 0 none."""

    since: StreamPosition | None = None
    limit: int = 0
    reverse: bool = False
    meta_ttl: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryResult:
    """Publications and the stream's current top position."""

    publications: list[Publication]
    position: StreamPosition


class BrokerEventHandler(Protocol):
    """What a node does with what its broker receives."""

    def handle_publication(
        self,
        channel: str,
        publication: Publication,
        position: StreamPosition,
        *,
        delta: bool = False,
        prev_publication: Publication | None = None,
    ) -> None:
        """A publication arrived in ``channel``.

        Args:
            delta: the publisher marked it for delta compression (client-protocol §15).
            prev_publication: the channel's publication before this one, the base of its
                delta (``prevPub`` in centrifuge ``broker.go``); None when the broker does
                not have it (then subscribers get the payload in full).
        """
        ...

    def handle_join(self, channel: str, info: ClientInfo) -> None:
        """Someone subscribed to ``channel`` on some node."""
        ...

    def handle_leave(self, channel: str, info: ClientInfo) -> None:
        """Someone unsubscribed from ``channel`` on some node."""
        ...


class Broker(Protocol):
    """PUB/SUB and history. Implementations map their client's errors to BrokerUnavailable."""

    def register_handler(self, handler: BrokerEventHandler) -> None:
        """Set the node's handler; called once before :meth:`start`."""
        ...

    async def start(self) -> None:
        """Connect and start delivering events."""
        ...

    async def close(self) -> None:
        """Stop delivering events and release connections."""
        ...

    async def subscribe(self, channel: str) -> None:
        """Start receiving ``channel``'s events on this node."""
        ...

    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving ``channel``'s events on this node."""
        ...

    async def publish(self, channel: str, data: bytes, options: PublishOptions) -> PublishResult:
        """Publish ``data`` to every node subscribed to ``channel`` (and into history)."""
        ...

    async def publish_join(self, channel: str, info: ClientInfo) -> None:
        """Tell every node that ``info`` joined ``channel``."""
        ...

    async def publish_leave(self, channel: str, info: ClientInfo) -> None:
        """Tell every node that ``info`` left ``channel``."""
        ...

    async def history(self, channel: str, options: HistoryOptions) -> HistoryResult:
        """Read ``channel``'s stream.

        Raises:
            UnrecoverablePosition: ``options.since.epoch`` is set and differs from the epoch.
        """
        ...

    async def remove_history(self, channel: str) -> None:
        """Drop ``channel``'s publications (the top offset and epoch are kept)."""
        ...
