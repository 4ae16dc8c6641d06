"""Recovery and positioning decisions, sans I/O (client-protocol.md §13, §5.2).

The driver reads the channel's stream (one broker call, built by :func:`history_query`);
everything decided from what it read lives here, so it can be tested against the real
memory broker without an event loop.

Rules:

* Stream mode (§13 steps 1–4, ``isStreamRecovered`` in centrifuge ``client.go``): read the
  publications strictly after the client's offset, at most
  ``client.recovery_max_publication_limit`` of them, and the top. Recovered iff the
  client's epoch is empty or the current one, and either nothing is newer and the top is
  the client's offset, or the first read offset is the client's offset + 1 and the last is
  the top (a capped read ends below the top: not recovered). Recovered → the publications,
  and the client's own offset as ``offset`` (the SDK advances through the publications);
  not recovered → no publications, the top as ``offset``.
* Cache mode (§13 step 7, ``isCacheRecovered``): read only the latest publication.
  Recovered when it is still the top of the stream — it is then returned, unless the
  client is exactly at the top already (same epoch and offset, nothing to send) — or when
  the stream has none and the client is exactly at the top.
* A client that sent ``flag & 2`` (reject unrecovered: getState users) gets error 112
  instead of ``recovered: false`` (§13 step 4): :func:`rejects_unrecovered`.
* Merge (§5.2, §13 step 6, ``recovery.MergePublications``): publications that reached the
  subscriber while it was subscribing follow the reply only where they continue it: same
  epoch, next offset. Older ones (already in the reply or before it) are dropped; a
  missing offset or another epoch is a gap — the subscriber has lost its place and must be
  told (unsubscribe 2500 / disconnect 3010), never skipped silently.
* A stream cursor (:func:`follows`) is the same rule for live publications: the next
  publication of a positioned channel must be the next offset of the same epoch.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from whirlwind.broker.base import HistoryOptions, HistoryResult
from whirlwind.protocol.messages import Publication, StreamPosition, SubscribeResult

FLAG_REJECT_UNRECOVERED: Final = 2
"""``SubscribeRequest.flag`` bit: answer 112 rather than ``recovered: false`` (§5.2)."""

T = TypeVar("T")


class RecoveryMode(enum.Enum):
    """How a recoverable subscription catches up (``force_recovery_mode``)."""

    STREAM = "stream"
    """Replay every missed publication."""
    CACHE = "cache"
    """Deliver only the latest publication."""

    @classmethod
    def from_option(cls, value: str) -> RecoveryMode:
        """The mode of a namespace's ``force_recovery_mode`` ("" means stream)."""
        return cls.CACHE if value == "cache" else cls.STREAM


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovery:
    """What a recovering subscribe replies."""

    recovered: bool
    publications: tuple[Publication, ...] = ()
    """Publications to send in the reply, oldest first (empty unless recovered)."""
    position: StreamPosition
    """The reply's ``offset`` and ``epoch``."""

    def result(self, *, recoverable: bool = True) -> SubscribeResult:
        """The subscribe result of this recovery (positioned, ``was_recovering``)."""
        return SubscribeResult(
            recoverable=recoverable,
            epoch=self.position.epoch,
            publications=self.publications,
            recovered=self.recovered,
            offset=self.position.offset,
            positioned=True,
            was_recovering=True,
        )


def history_query(
    mode: RecoveryMode, since: StreamPosition, *, limit: int, meta_ttl: float
) -> HistoryOptions:
    """The history read a recovery from ``since`` needs (§13 step 1).

    ``limit`` is ``client.recovery_max_publication_limit``; 0 or less reads without a cap.
    The epoch is not sent to the broker: a different epoch is an unrecovered position
    (decided by :func:`recover`), not a broker error.
    """
    if mode is RecoveryMode.CACHE:
        return HistoryOptions(limit=1, reverse=True, meta_ttl=meta_ttl)
    return HistoryOptions(
        since=StreamPosition(offset=since.offset),
        limit=limit if limit > 0 else -1,
        meta_ttl=meta_ttl,
    )


def recover_stream(
    since: StreamPosition, publications: Sequence[Publication], top: StreamPosition
) -> Recovery:
    """Stream mode: replay what followed ``since`` if the stream still has all of it.

    Args:
        since: the client's last seen position (``recover``, ``offset``, ``epoch``).
        publications: the read after ``since.offset``, oldest first, possibly capped.
        top: the stream's current position.
    """
    same_epoch = not since.epoch or since.epoch == top.epoch
    if publications:
        continuous = (
            publications[0].offset == since.offset + 1 and publications[-1].offset == top.offset
        )
    else:
        continuous = top.offset == since.offset
    if same_epoch and continuous:
        return Recovery(
            recovered=True,
            publications=tuple(publications),
            position=StreamPosition(offset=since.offset, epoch=top.epoch),
        )
    return Recovery(recovered=False, position=top)


def recover_cache(
    since: StreamPosition, latest: Publication | None, top: StreamPosition
) -> Recovery:
    """Cache mode: hand over the latest publication if it is still the top (§13 step 7)."""
    at_top = since.offset > 0 and since.offset == top.offset and since.epoch == top.epoch
    if latest is None or latest.offset != top.offset:
        # Nothing cached (expired, removed, never published): recovered only if the
        # client has the top already.
        if at_top:
            return Recovery(recovered=True, position=since)
        return Recovery(recovered=False, position=top)
    if at_top:
        return Recovery(recovered=True, position=since)
    return Recovery(
        recovered=True,
        publications=(latest,),
        position=StreamPosition(offset=since.offset, epoch=top.epoch),
    )


def recover(mode: RecoveryMode, since: StreamPosition, history: HistoryResult) -> Recovery:
    """Decide a recovery from the read :func:`history_query` asked for."""
    if mode is RecoveryMode.CACHE:
        latest = history.publications[0] if history.publications else None
        return recover_cache(since, latest, history.position)
    return recover_stream(since, history.publications, history.position)


def rejects_unrecovered(flag: int) -> bool:
    """Whether the client wants error 112 instead of ``recovered: false`` (§13 step 4)."""
    return bool(flag & FLAG_REJECT_UNRECOVERED)


def reply_end(result: SubscribeResult) -> StreamPosition:
    """Where a subscriber is once it has applied ``result`` and its publications."""
    offset = result.publications[-1].offset if result.publications else result.offset
    return StreamPosition(offset=offset, epoch=result.epoch)


def follows(position: StreamPosition, offset: int, epoch: str) -> bool:
    """Whether a publication at ``offset``/``epoch`` is the next one after ``position``."""
    return epoch == position.epoch and offset == position.offset + 1


@dataclass(slots=True)
class Merge(Generic[T]):
    """Buffered publications to deliver after the reply, and where that leaves the subscriber."""

    deliver: list[T] = field(default_factory=list)
    position: StreamPosition | None = None
    """The subscriber's position after ``deliver`` (None when not positioned)."""
    gap: bool = False
    """A buffered publication does not continue the stream: insufficient state."""


def merge_buffered(
    start: StreamPosition | None, held: Iterable[tuple[Publication, str, T]]
) -> Merge[T]:
    """Merge the publications buffered during a subscribe with its reply (§5.2).

    Args:
        start: the subscriber's position after the reply (:func:`reply_end`); None for a
            subscription that is not positioned — everything buffered is delivered.
        held: ``(publication, epoch, item)`` in arrival order; ``item`` is what to deliver.

    Returns:
        The items to deliver, in order, up to the first gap (none after it).
    """
    merged: Merge[T] = Merge(position=start)
    position = start
    for publication, epoch, item in held:
        offset = publication.offset
        if position is None or offset == 0:
            # Not positioned, or a publication outside the stream (no history).
            merged.deliver.append(item)
            continue
        if epoch == position.epoch and offset <= position.offset:
            continue  # in the reply already, or older than the position it gave
        if not follows(position, offset, epoch):
            merged.gap = True
            break
        position = StreamPosition(offset=offset, epoch=epoch)
        merged.deliver.append(item)
    merged.position = position
    return merged
