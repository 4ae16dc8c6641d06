"""Recovery decisions (client-protocol.md §13, §5.2) alone and against the real MemoryBroker.

The property tests play any interleaving of publishes, trims (``history_size``), TTL expiry
and stream recreation (``history_meta_ttl``) on an injected clock, with clients that
disconnect, reconnect with their last seen position, and get publications while they
subscribe (before and after the history read). Whatever happens, a client either gets
every publication after its position exactly once and in order, or is told it cannot
(``recovered: false``, error 112 with ``flag & 2``, or a gap: unsubscribe 2500). It is told
so only when the stream really lacks something: the broker is checked against an
independent model of what it retains.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from whirlwind.broker.base import HistoryOptions, PublishOptions
from whirlwind.broker.memory import MemoryBroker
from whirlwind.protocol.messages import ClientInfo, Publication, StreamPosition, SubscribeResult
from whirlwind.recovery import (
    FLAG_REJECT_UNRECOVERED,
    Recovery,
    RecoveryMode,
    follows,
    history_query,
    merge_buffered,
    recover,
    recover_cache,
    recover_stream,
    rejects_unrecovered,
    reply_end,
)

CHANNEL = "c"


def pubs(*offsets: int) -> list[Publication]:
    return [Publication(data=b"%d" % o, offset=o) for o in offsets]


def at(offset: int, epoch: str = "E") -> StreamPosition:
    return StreamPosition(offset=offset, epoch=epoch)


# ---------------------------------------------------------------------------
# stream mode (§13 steps 1–4)


def test_stream_recovered_with_missed_publications() -> None:
    """TV1/TV2: recovered → the publications and the client's own offset."""
    outcome = recover_stream(at(5), pubs(6, 7), at(7))
    assert outcome == Recovery(recovered=True, publications=tuple(pubs(6, 7)), position=at(5))
    assert outcome.result() == SubscribeResult(
        recoverable=True,
        epoch="E",
        publications=tuple(pubs(6, 7)),
        recovered=True,
        offset=5,
        positioned=True,
        was_recovering=True,
    )


def test_stream_recovered_with_nothing_missed() -> None:
    assert recover_stream(at(4, "E2"), [], at(4, "E2")) == Recovery(
        recovered=True, position=at(4, "E2")
    )


@pytest.mark.parametrize(
    ("since", "read", "top"),
    [
        pytest.param(at(4, "E2"), [], at(9, "Zq7t"), id="epoch-changed"),
        pytest.param(at(4), pubs(5, 6), at(9), id="capped-read-ends-below-top"),
        pytest.param(at(4), pubs(7, 8, 9), at(9), id="oldest-missed-trimmed"),
        pytest.param(at(4), [], at(9), id="all-missed-expired"),
        pytest.param(at(12), [], at(9), id="offset-beyond-top"),
        pytest.param(at(2, "old"), pubs(3, 4), at(4), id="same-offsets-other-epoch"),
    ],
)
def test_stream_not_recovered(
    since: StreamPosition, read: list[Publication], top: StreamPosition
) -> None:
    """Not recovered → no publications, the top as offset and epoch (TV2)."""
    assert recover_stream(since, read, top) == Recovery(recovered=False, position=top)


def test_empty_epoch_means_any_epoch() -> None:
    """§13 step 2: a request without epoch (e.g. `since` without one) is not checked."""
    assert recover_stream(at(1, ""), pubs(2), at(2, "E")).recovered


def test_flag_2_rejects_unrecovered() -> None:
    assert rejects_unrecovered(3) and rejects_unrecovered(FLAG_REJECT_UNRECOVERED)
    assert not rejects_unrecovered(1) and not rejects_unrecovered(0)


def test_history_queries() -> None:
    assert history_query(RecoveryMode.STREAM, at(4, "E"), limit=300, meta_ttl=60) == (
        HistoryOptions(since=StreamPosition(offset=4), limit=300, meta_ttl=60)
    )
    assert history_query(RecoveryMode.STREAM, at(4), limit=0, meta_ttl=0).limit == -1
    assert history_query(RecoveryMode.CACHE, at(4), limit=300, meta_ttl=60) == (
        HistoryOptions(limit=1, reverse=True, meta_ttl=60)
    )
    assert RecoveryMode.from_option("cache") is RecoveryMode.CACHE
    assert RecoveryMode.from_option("") is RecoveryMode.STREAM
    assert RecoveryMode.from_option("stream") is RecoveryMode.STREAM


# ---------------------------------------------------------------------------
# cache mode (§13 step 7)


def test_cache_returns_the_latest_publication() -> None:
    (latest,) = pubs(10)
    outcome = recover_cache(at(3, "old"), latest, at(10))
    assert outcome == Recovery(recovered=True, publications=(latest,), position=at(3))
    assert reply_end(outcome.result()) == at(10)


def test_cache_client_at_top_gets_nothing_but_is_recovered() -> None:
    (latest,) = pubs(10)
    assert recover_cache(at(10), latest, at(10)) == Recovery(recovered=True, position=at(10))
    assert recover_cache(at(10), None, at(10)) == Recovery(recovered=True, position=at(10))


def test_cache_without_latest_is_not_recovered() -> None:
    assert recover_cache(at(0, ""), None, at(0)) == Recovery(recovered=False, position=at(0))
    assert recover_cache(at(3), None, at(10)) == Recovery(recovered=False, position=at(10))
    (older,) = pubs(9)  # the top itself is gone
    assert not recover_cache(at(3), older, at(10)).recovered


# ---------------------------------------------------------------------------
# merge of what arrived while subscribing (§5.2, §13 step 6)


def held(*items: tuple[int, str]) -> list[tuple[Publication, str, int]]:
    return [(Publication(offset=o), epoch, o) for o, epoch in items]


def test_merge_drops_what_the_reply_has_and_keeps_the_rest() -> None:
    merged = merge_buffered(at(7), held((6, "E"), (7, "E"), (8, "E"), (9, "E")))
    assert (merged.deliver, merged.position, merged.gap) == ([8, 9], at(9), False)


def test_merge_stops_at_a_gap() -> None:
    merged = merge_buffered(at(7), held((8, "E"), (10, "E"), (11, "E")))
    assert (merged.deliver, merged.position, merged.gap) == ([8], at(8), True)


def test_merge_new_epoch_is_a_gap() -> None:
    merged = merge_buffered(at(7), held((1, "F")))
    assert (merged.deliver, merged.gap) == ([], True)


def test_merge_without_positioning_delivers_everything() -> None:
    merged = merge_buffered(None, held((3, "E"), (1, "F")))
    assert (merged.deliver, merged.position, merged.gap) == ([3, 1], None, False)


def test_merge_publications_outside_history_pass() -> None:
    """A skip_history publication has no offset: it neither moves nor breaks the position."""
    merged = merge_buffered(at(7), held((0, "E"), (8, "E")))
    assert (merged.deliver, merged.position, merged.gap) == ([0, 8], at(8), False)


def test_reply_end_and_follows() -> None:
    assert reply_end(SubscribeResult(offset=5, epoch="E", publications=tuple(pubs(6)))) == at(6)
    assert reply_end(SubscribeResult(offset=5, epoch="E")) == at(5)
    assert follows(at(5), 6, "E")
    assert not follows(at(5), 7, "E") and not follows(at(5), 6, "F") and not follows(at(5), 5, "E")


# ---------------------------------------------------------------------------
# properties against the real MemoryBroker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Delivery:
    """Where the broker sends publications: the clients of the model."""

    clients: list[Client] = field(default_factory=list)

    def handle_publication(
        self,
        channel: str,
        publication: Publication,
        position: StreamPosition,
        *,
        delta: bool = False,
        prev_publication: Publication | None = None,
    ) -> None:
        for client in self.clients:
            client.receive(publication, position)

    def handle_join(self, channel: str, info: ClientInfo) -> None:
        pass

    def handle_leave(self, channel: str, info: ClientInfo) -> None:
        pass


@dataclass
class Retention:
    """An independent model of what the stream must still hold (channels-config §3)."""

    size: int
    ttl: float
    published: dict[str, list[float]] = field(default_factory=dict)
    """Publish times by epoch, offset n at index n - 1."""

    def record(self, position: StreamPosition, now: float) -> None:
        times = self.published.setdefault(position.epoch, [])
        assert position.offset == len(times) + 1, "offsets increase by one per epoch"
        times.append(now)

    def can_recover(self, since: StreamPosition, top: StreamPosition, now: float, cap: int) -> bool:
        """Whether every publication after ``since`` up to ``top`` is retrievable."""
        if since.epoch != top.epoch or since.offset > top.offset:
            return False
        missed = range(since.offset + 1, top.offset + 1)
        if len(missed) > cap:
            return False
        times = self.published.get(top.epoch, [])
        return all(
            offset > top.offset - self.size and times[offset - 1] + self.ttl > now
            for offset in missed
        )


@dataclass
class Client:
    """A subscriber as the SDK sees it: what it received, and what it was told."""

    world: World
    reject_unrecovered: bool
    position: StreamPosition | None = None
    """The last position it knows; None before its first subscribe."""
    connected: bool = False
    subscribing: list[tuple[Publication, str, Publication]] | None = None
    received: list[tuple[str, int]] = field(default_factory=list)
    segments: list[list[tuple[str, int]]] = field(default_factory=lambda: [[]])
    """``received`` split where the client was told it lost continuity."""
    told: int = 0

    def tell_lost(self) -> None:
        self.told += 1
        self.segments.append([])

    def take(self, publication: Publication, epoch: str) -> None:
        item = (epoch, publication.offset)
        self.received.append(item)
        self.segments[-1].append(item)
        self.position = StreamPosition(offset=publication.offset, epoch=epoch)

    def receive(self, publication: Publication, position: StreamPosition) -> None:
        if self.subscribing is not None:
            self.subscribing.append((publication, position.epoch, publication))
            return
        if not self.connected:
            return
        assert self.position is not None
        if follows(self.position, position.offset, position.epoch):
            self.take(publication, position.epoch)
        else:
            # The hub's rule (hub.advance_position): unsubscribe 2500, the SDK resubscribes.
            event("live publication after a gap: told")
            self.connected = False
            self.tell_lost()

    def subscribe(self, before: int, after: int, pause: float = 0.0) -> None:
        """Subscribe (recovering from its position if it has one), as Client._attach does,
        with ``before`` publications arriving before the history read, ``after`` after it
        and ``pause`` seconds later (the reply is not sent yet)."""
        world = self.world
        self.subscribing = []
        world.publish(before)
        since = self.position
        if since is None:
            top = world.read_top()
            result = SubscribeResult(offset=top.offset, epoch=top.epoch, positioned=True)
        else:
            history = world.broker.history_nowait(
                CHANNEL,
                history_query(
                    RecoveryMode.STREAM,
                    since,
                    limit=world.cap,
                    meta_ttl=world.options.history_meta_ttl,
                ),
            )
            world.top = history.position
            expected = world.retention.can_recover(
                since, history.position, world.clock.now, world.cap
            )
            outcome = recover(RecoveryMode.STREAM, since, history)
            assert outcome.recovered == expected, (since, history.position)
            missed = history.position.offset - since.offset
            event(f"recovered={outcome.recovered} missed={min(max(missed, -1), 1)}")
            if not outcome.recovered:
                self.tell_lost()
                if self.reject_unrecovered:
                    # Error 112: getState loads the state anew, the SDK subscribes from it.
                    self.subscribing = None
                    self.position = None
                    self.subscribe(0, after, pause)
                    return
            result = outcome.result()
        world.clock.now += pause
        world.publish(after)
        held, self.subscribing = self.subscribing, None
        for publication in result.publications:
            self.take(publication, result.epoch)
        self.position = reply_end(result)
        merged = merge_buffered(self.position, held)
        for publication in merged.deliver:
            assert merged.position is not None
            self.take(publication, merged.position.epoch)
        assert merged.position is not None
        self.position = merged.position
        self.connected = not merged.gap
        if held:
            event(f"publications while subscribing, gap={merged.gap}")
        if merged.gap:
            self.tell_lost()
            return
        # Caught up: nothing published so far went past it.
        assert self.position == world.top, (self.position, world.top)
        for other in world.delivery.clients:
            if other is not self and other.connected:
                assert other.position is not None
                if other.position.epoch != self.position.epoch:
                    # The hub's rule (hub.activate_subscriber): a subscriber in a recreated
                    # stream means the others lost theirs.
                    other.connected = False
                    other.tell_lost()


@dataclass
class World:
    clock: FakeClock
    broker: MemoryBroker
    options: PublishOptions
    retention: Retention
    cap: int
    delivery: Delivery
    top: StreamPosition = field(default_factory=StreamPosition)
    """The stream's top as last seen by a publish or a read."""

    def read_top(self) -> StreamPosition:
        self.top = self.broker.history_nowait(CHANNEL, self.query(limit=0)).position
        return self.top

    def query(self, limit: int) -> HistoryOptions:
        return HistoryOptions(limit=limit, meta_ttl=self.options.history_meta_ttl)

    def publish(self, count: int) -> None:
        for _ in range(count):
            result = self.broker.publish_nowait(CHANNEL, b"{}", self.options)
            self.retention.record(result.position, self.clock.now)
            self.top = result.position


ops = st.one_of(
    st.tuples(st.just("publish"), st.integers(1, 8)),
    st.tuples(st.just("burst"), st.integers(20, 70)),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 3.0, 11.0, 31.0])),
    st.tuples(st.just("drop"), st.integers(0, 1)),
    st.tuples(st.just("drop"), st.integers(0, 1)),
    st.tuples(
        st.just("subscribe"),
        st.integers(0, 1),
        st.integers(0, 3),
        st.integers(0, 3),
        st.sampled_from([0.0, 0.0, 0.0, 40.0]),
    ),
    st.tuples(
        st.just("subscribe"),
        st.integers(0, 1),
        st.integers(0, 3),
        st.integers(0, 3),
        st.just(0.0),
    ),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(1, 80),
    ttl=st.sampled_from([5.0, 10.0, 60.0]),
    meta_extra=st.sampled_from([0.0, 20.0, 3600.0]),
    cap=st.integers(1, 60),
    flags=st.tuples(st.booleans(), st.booleans()),
    script=st.lists(ops, max_size=40),
)
def test_stream_recovery_never_loses_or_repeats_silently(
    size: int,
    ttl: float,
    meta_extra: float,
    cap: int,
    flags: tuple[bool, bool],
    script: list[tuple[object, ...]],
) -> None:
    clock = FakeClock()
    broker = MemoryBroker(clock=clock)
    delivery = Delivery()
    broker.register_handler(delivery)
    options = PublishOptions(history_size=size, history_ttl=ttl, history_meta_ttl=ttl + meta_extra)
    world = World(clock, broker, options, Retention(size, ttl), cap, delivery)
    clients = [Client(world, reject_unrecovered=flag) for flag in flags]
    delivery.clients.extend(clients)
    for client in clients:
        client.subscribe(0, 0)
    for op in script:
        match op:
            case ("publish" | "burst", int(count)):
                world.publish(count)
            case ("wait", float(seconds)):
                clock.now += seconds
            case ("drop", int(index)):
                clients[index].connected = False
            case ("subscribe", int(index), int(before), int(after), float(pause)):
                if not clients[index].connected:
                    clients[index].subscribe(before, after, pause)
    for client in clients:
        for segment in client.segments:
            # Continuity between two "told" events: one epoch, consecutive offsets.
            for (epoch_a, offset_a), (epoch_b, offset_b) in itertools.pairwise(segment):
                assert (epoch_b, offset_b) == (epoch_a, offset_a + 1), segment
        if client.connected:
            # Live and caught up: nothing published since went past it.
            assert client.position == world.top


@settings(max_examples=50, deadline=None)
@given(missed=st.integers(0, 400), since=st.integers(0, 20))
def test_recovery_cap_of_300(missed: int, since: int) -> None:
    """client.recovery_max_publication_limit (300): one more missed → recovered false."""
    clock = FakeClock()
    broker = MemoryBroker(clock=clock)
    broker.register_handler(Delivery())
    options = PublishOptions(history_size=1000, history_ttl=300)
    for _ in range(since):
        broker.publish_nowait(CHANNEL, b"{}", options)
    epoch = broker.history_nowait(CHANNEL, HistoryOptions()).position.epoch
    for _ in range(missed):
        broker.publish_nowait(CHANNEL, b"{}", options)
    position = at(since, epoch)
    history = broker.history_nowait(
        CHANNEL, history_query(RecoveryMode.STREAM, position, limit=300, meta_ttl=0)
    )
    outcome = recover(RecoveryMode.STREAM, position, history)
    assert outcome.recovered == (missed <= 300)
    if outcome.recovered:
        assert [p.offset for p in outcome.publications] == list(
            range(since + 1, since + missed + 1)
        )
    else:
        assert outcome.publications == () and outcome.position == at(since + missed, epoch)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 5),
    script=st.lists(
        st.one_of(
            st.tuples(st.just("publish"), st.integers(1, 5)),
            st.tuples(st.just("wait"), st.sampled_from([1.0, 6.0, 30.0])),
        ),
        max_size=20,
    ),
    since=st.integers(0, 30),
)
def test_cache_recovery_is_the_latest_publication(
    size: int, script: list[tuple[str, float]], since: int
) -> None:
    """Cache mode: the latest publication when it is still the top, whatever came before."""
    clock = FakeClock()
    broker = MemoryBroker(clock=clock)
    broker.register_handler(Delivery())
    options = PublishOptions(history_size=size, history_ttl=5, history_meta_ttl=20)
    last: tuple[float, int] | None = None
    for kind, value in script:
        if kind == "publish":
            for _ in range(int(value)):
                result = broker.publish_nowait(CHANNEL, b"%d" % since, options)
                last = (clock.now, result.position.offset)
        else:
            clock.now += value
    history = broker.history_nowait(
        CHANNEL, history_query(RecoveryMode.CACHE, at(since, ""), limit=300, meta_ttl=20)
    )
    top = history.position
    outcome = recover(RecoveryMode.CACHE, at(since, ""), history)
    alive = last is not None and last[0] + 5 > clock.now and last[1] == top.offset
    assert outcome.recovered == alive
    if alive:
        assert last is not None
        assert [p.offset for p in outcome.publications] == [last[1]]
        assert reply_end(outcome.result()) == top
    else:
        assert outcome.publications == () and outcome.position == top
