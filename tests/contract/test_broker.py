"""Broker and PresenceManager contract: one suite, every implementation.

Only the memory engine exists so far; Redis and NATS join the ``broker`` fixture's params.
Time is injected: TTLs expire by moving a fake clock, never by sleeping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from whirlwind.broker.base import HistoryOptions, PublishOptions
from whirlwind.broker.memory import MemoryBroker
from whirlwind.errors import UnrecoverablePosition
from whirlwind.presence.memory import MemoryPresenceManager
from whirlwind.protocol.messages import ClientInfo, Publication, StreamPosition


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingHandler:
    """A BrokerEventHandler that records what it receives."""

    publications: list[tuple[str, Publication, StreamPosition]] = field(default_factory=list)
    deltas: list[tuple[bool, Publication | None]] = field(default_factory=list)
    """``delta`` and ``prev_publication`` of each publication, in order."""
    joins: list[tuple[str, ClientInfo]] = field(default_factory=list)
    leaves: list[tuple[str, ClientInfo]] = field(default_factory=list)

    def handle_publication(
        self,
        channel: str,
        publication: Publication,
        position: StreamPosition,
        *,
        delta: bool = False,
        prev_publication: Publication | None = None,
    ) -> None:
        self.publications.append((channel, publication, position))
        self.deltas.append((delta, prev_publication))

    def handle_join(self, channel: str, info: ClientInfo) -> None:
        self.joins.append((channel, info))

    def handle_leave(self, channel: str, info: ClientInfo) -> None:
        self.leaves.append((channel, info))


HISTORY = PublishOptions(history_size=3, history_ttl=60, history_meta_ttl=3600)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory"])
async def broker(request: pytest.FixtureRequest, clock: FakeClock):
    impl = MemoryBroker(clock=clock)
    handler = RecordingHandler()
    impl.register_handler(handler)
    await impl.start()
    await impl.subscribe("c")
    yield impl, handler
    await impl.close()


async def test_offsets_increase_by_one_and_deliver(broker) -> None:
    impl, handler = broker
    r1 = await impl.publish("c", b'{"n":1}', HISTORY)
    r2 = await impl.publish("c", b'{"n":2}', HISTORY)
    assert (r1.position.offset, r2.position.offset) == (1, 2)
    assert r1.position.epoch == r2.position.epoch != ""
    assert [p.offset for _, p, _ in handler.publications] == [1, 2]
    assert [p.data for _, p, _ in handler.publications] == [b'{"n":1}', b'{"n":2}']


async def test_without_history_no_offset(broker) -> None:
    impl, handler = broker
    result = await impl.publish("c", b"{}", PublishOptions())
    assert result.position == StreamPosition()
    assert handler.publications[0][1].offset == 0


async def test_delta_publication_comes_with_the_previous_one(broker) -> None:
    """Client-protocol §15: the node gets the delta base (centrifuge ``prevPub``)."""
    impl, handler = broker
    delta = dataclasses.replace(HISTORY, delta=True)
    await impl.publish("c", b'{"n":1}', delta)
    await impl.publish("c", b'{"n":2}', delta)
    await impl.publish("c", b'{"n":3}', HISTORY)
    await impl.publish("c", b'{"n":4}', dataclasses.replace(delta, history_size=0))
    await impl.publish("c", b'{"n":5}', delta)
    pubs = [p for _, p, _ in handler.publications]
    assert [(flag, prev and prev.data) for flag, prev in handler.deltas] == [
        (True, None),
        (True, b'{"n":1}'),
        (False, None),
        (True, b'{"n":3}'),
        (True, b'{"n":4}'),  # a publication kept out of history moves the base all the same
    ]
    # The flag travels beside the publication: stored and delivered data is never a delta.
    assert not any(p.delta for p in pubs)
    history = await impl.history("c", HistoryOptions(limit=-1))
    assert not any(p.delta for p in history.publications)


async def test_history_trimmed_to_size(broker) -> None:
    impl, _ = broker
    for n in range(5):
        await impl.publish("c", b'{"n":%d}' % n, HISTORY)
    history = await impl.history("c", HistoryOptions(limit=-1))
    assert [p.offset for p in history.publications] == [3, 4, 5]
    assert history.position.offset == 5


async def test_history_ttl_expires_with_clock(broker, clock: FakeClock) -> None:
    impl, _ = broker
    await impl.publish("c", b"1", HISTORY)
    clock.now += 30
    await impl.publish("c", b"2", HISTORY)
    clock.now += 31
    history = await impl.history("c", HistoryOptions(limit=-1))
    assert [p.offset for p in history.publications] == [2]


async def test_meta_ttl_expiry_changes_epoch(broker, clock: FakeClock) -> None:
    impl, _ = broker
    first = await impl.publish("c", b"1", HISTORY)
    clock.now += 3601
    second = await impl.publish("c", b"2", HISTORY)
    assert second.position.epoch != first.position.epoch
    assert second.position.offset == 1


async def test_meta_ttl_counts_from_the_last_publication(broker, clock: FakeClock) -> None:
    """A stream in use keeps its epoch; one idle for history_meta_ttl starts a new one,
    which a reader sees as a new epoch with offsets from 0 (recovery then fails, §13)."""
    impl, _ = broker
    first = await impl.publish("c", b"1", HISTORY)
    clock.now += 3000
    second = await impl.publish("c", b"2", HISTORY)
    clock.now += 3000
    kept = await impl.history("c", HistoryOptions(meta_ttl=3600))
    assert second.position.epoch == first.position.epoch == kept.position.epoch
    assert kept.position.offset == 2
    clock.now += 601
    recreated = await impl.history("c", HistoryOptions(limit=-1, meta_ttl=3600))
    assert recreated.position.epoch != first.position.epoch
    assert recreated.position.offset == 0 and recreated.publications == []


async def test_history_since_limit_reverse(broker) -> None:
    impl, _ = broker
    opts = PublishOptions(history_size=10, history_ttl=60)
    for n in range(5):
        await impl.publish("c", b"%d" % n, opts)
    since = await impl.history("c", HistoryOptions(since=StreamPosition(offset=2), limit=-1))
    assert [p.offset for p in since.publications] == [3, 4, 5]
    limited = await impl.history("c", HistoryOptions(limit=2))
    assert [p.offset for p in limited.publications] == [1, 2]
    reverse = await impl.history("c", HistoryOptions(limit=2, reverse=True))
    assert [p.offset for p in reverse.publications] == [5, 4]
    rsince = await impl.history(
        "c", HistoryOptions(since=StreamPosition(offset=3), limit=-1, reverse=True)
    )
    assert [p.offset for p in rsince.publications] == [2, 1]
    none = await impl.history("c", HistoryOptions(limit=0))
    assert none.publications == [] and none.position.offset == 5


async def test_history_wrong_epoch_is_unrecoverable(broker) -> None:
    impl, _ = broker
    await impl.publish("c", b"1", HISTORY)
    with pytest.raises(UnrecoverablePosition):
        await impl.history("c", HistoryOptions(since=StreamPosition(offset=1, epoch="nope")))


async def test_idempotent_publish_returns_first_result(broker) -> None:
    impl, handler = broker
    opts = PublishOptions(history_size=10, history_ttl=60, idempotency_key="k1")
    first = await impl.publish("c", b"1", opts)
    again = await impl.publish("c", b"1", opts)
    assert again == first
    assert len(handler.publications) == 1


async def test_stale_version_suppressed(broker) -> None:
    impl, handler = broker
    await impl.publish("c", b"1", PublishOptions(history_size=10, history_ttl=60, version=2))
    result = await impl.publish(
        "c", b"0", PublishOptions(history_size=10, history_ttl=60, version=1)
    )
    assert result.suppressed and result.position.offset == 1
    assert len(handler.publications) == 1
    newer_epoch = PublishOptions(history_size=10, history_ttl=60, version=1, version_epoch="e2")
    assert not (await impl.publish("c", b"2", newer_epoch)).suppressed


async def test_version_ignored_without_history(broker) -> None:
    """Server-api §9.1.2: version filtering needs history."""
    impl, handler = broker
    await impl.publish("c", b"1", PublishOptions(version=2))
    result = await impl.publish("c", b"0", PublishOptions(version=1))
    assert not result.suppressed and len(handler.publications) == 2


async def test_remove_history_keeps_position(broker) -> None:
    impl, _ = broker
    await impl.publish("c", b"1", HISTORY)
    await impl.remove_history("c")
    history = await impl.history("c", HistoryOptions(limit=-1))
    assert history.publications == [] and history.position.offset == 1


async def test_join_leave_delivered(broker) -> None:
    impl, handler = broker
    info = ClientInfo(user="u", client="c1")
    await impl.publish_join("c", info)
    await impl.publish_leave("c", info)
    assert handler.joins == [("c", info)] and handler.leaves == [("c", info)]


@pytest.fixture(params=["memory"])
async def presence(request: pytest.FixtureRequest, clock: FakeClock):
    impl = MemoryPresenceManager(ttl=60, clock=clock)
    yield impl
    await impl.close()


async def test_presence_add_remove_stats(presence) -> None:
    a = ClientInfo(user="u1", client="a")
    b = ClientInfo(user="u1", client="b")
    await presence.add_presence("c", "a", a)
    await presence.add_presence("c", "b", b)
    assert await presence.presence("c") == {"a": a, "b": b}
    stats = await presence.presence_stats("c")
    assert (stats.num_clients, stats.num_users) == (2, 1)
    await presence.remove_presence("c", "a", "u1")
    assert await presence.presence("c") == {"b": b}


async def test_presence_expires_without_refresh(presence, clock: FakeClock) -> None:
    await presence.add_presence("c", "a", ClientInfo(user="u", client="a"))
    clock.now += 30
    await presence.add_presence("c", "b", ClientInfo(user="v", client="b"))
    clock.now += 31
    assert list(await presence.presence("c")) == ["b"]


async def test_presence_refreshed_in_time_stays(presence, clock: FakeClock) -> None:
    """A connection refreshes its entry every presence_update_interval (< ttl): it stays;
    once refreshes stop (a node gone without cleaning up) it expires, stats follow."""
    a = ClientInfo(user="u", client="a")
    await presence.add_presence("c", "a", a)
    await presence.add_presence("c", "b", ClientInfo(user="v", client="b"))
    for _ in range(5):
        clock.now += 27
        await presence.add_presence("c", "a", a)
    assert await presence.presence("c") == {"a": a}
    stats = await presence.presence_stats("c")
    assert (stats.num_clients, stats.num_users) == (1, 1)
    clock.now += 60
    assert await presence.presence("c") == {}
    stats = await presence.presence_stats("c")
    assert (stats.num_clients, stats.num_users) == (0, 0)


async def test_idempotency_window_expires(broker, clock: FakeClock) -> None:
    """The idempotency cache lasts `idempotent_result_ttl` (channel.idempotent_result_ttl)."""
    impl, handler = broker
    opts = PublishOptions(
        history_size=10, history_ttl=600, idempotency_key="k2", idempotent_result_ttl=30
    )
    first = await impl.publish("c", b"1", opts)
    clock.now += 29
    assert await impl.publish("c", b"1", opts) == first
    clock.now += 2
    again = await impl.publish("c", b"1", opts)
    assert again.position.offset == first.position.offset + 1
    assert len(handler.publications) == 2
