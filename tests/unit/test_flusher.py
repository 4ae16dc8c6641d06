"""Flusher: rounds on the next iteration when idle; when saturated, wait for quiet."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any, cast

from whirlwind.node import Flusher


class FakeLoop:
    """time(), call_soon() and call_later() on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0

    def time(self) -> float:
        return self.now

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.call_later(0.0, callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (self.now + delay, self._seq, callback))

    def step(self) -> float:
        """Run the next callback; returns the time it ran at."""
        when, _, callback = heapq.heappop(self._timers)
        self.now = max(self.now, when)
        callback()
        return when

    @property
    def idle(self) -> bool:
        return not self._timers


class Work:
    """Stands in for the hub: a counter of queued publications, rounds that take time."""

    def __init__(self, loop: FakeLoop, round_seconds: float) -> None:
        self.loop = loop
        self.count = 0
        self.round_seconds = round_seconds
        self.rounds: list[tuple[float, int]] = []
        """(start time, work count) of every round."""

    def round(self) -> None:
        self.rounds.append((self.loop.now, self.count))
        self.loop.now += self.round_seconds


def make(round_seconds: float) -> tuple[FakeLoop, Flusher, Work]:
    loop = FakeLoop()
    flusher = Flusher(cast(asyncio.AbstractEventLoop, cast(Any, loop)), max_delay=0.05)
    work = Work(loop, round_seconds)
    flusher.before_round = work.round
    flusher.work = lambda: work.count
    return loop, flusher, work


def test_an_idle_server_runs_the_round_on_the_next_iteration() -> None:
    loop, flusher, work = make(round_seconds=0.001)
    for at in (0.0, 0.5, 1.0):  # rounds far apart: not saturated
        loop.now = 100.0 + at
        work.count += 1
        flusher.schedule()
        assert loop.step() == 100.0 + at
    assert [start for start, _ in work.rounds] == [100.0, 100.5, 101.0]


def test_a_saturated_server_waits_until_publishers_go_quiet() -> None:
    loop, flusher, work = make(round_seconds=0.02)
    work.count += 1
    flusher.schedule()
    loop.step()  # round 1 at 100.0, takes 20 ms
    work.count += 1
    flusher.schedule()  # right after: saturated (all the time between rounds spent writing)
    loop.step()  # round 2, immediately: nothing measured yet to call it saturated
    # Round 2 was back to back with round 1: the next one waits for quiet.
    work.count += 1
    flusher.schedule()
    started = loop.now
    quiet = max(Flusher.QUIET, 0.02 * Flusher.QUIET_FRACTION)
    # Publications keep arriving before every check: the round is postponed each time.
    for _ in range(3):
        work.count += 1
        loop.step()
        assert len(work.rounds) == 2
    loop.step()  # nothing new since the last check: the round runs
    assert len(work.rounds) == 3
    start, count = work.rounds[-1]
    assert count == work.count
    assert abs(start - (started + 4 * quiet)) < 1e-9


def test_a_saturated_wait_is_bounded_by_the_last_round() -> None:
    loop, flusher, work = make(round_seconds=0.02)
    for _ in range(2):
        work.count += 1
        flusher.schedule()
        loop.step()
    work.count += 1
    flusher.schedule()
    started = loop.now
    while len(work.rounds) < 3:
        work.count += 1  # a publisher that never stops
        loop.step()
    waited = work.rounds[-1][0] - started
    assert 0.02 - Flusher.QUIET <= waited <= 0.02 + 1e-9  # about one round's length, no more
