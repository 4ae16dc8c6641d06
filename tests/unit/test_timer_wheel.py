"""TimerWheel: many deadlines on one loop timer, never early, at most one tick late."""

from __future__ import annotations

import asyncio

from whirlwind.node import TimerWheel


class Item:
    def __init__(self, fired: asyncio.Queue[tuple[Item, float, float]], deadline: float) -> None:
        self.fired = fired
        self.deadline = deadline

    def on_timer(self, now: float) -> None:
        self.fired.put_nowait((self, now, asyncio.get_running_loop().time()))


async def test_deadlines_fire_in_order_not_early() -> None:
    loop = asyncio.get_running_loop()
    wheel = TimerWheel(loop, tick=0.01)
    fired: asyncio.Queue[tuple[Item, float, float]] = asyncio.Queue()
    start = loop.time()
    items = [Item(fired, start + d) for d in (0.05, 0.01, 0.03, 0.03)]
    for item in items:
        wheel.schedule(item, item.deadline)
    got = []
    async with asyncio.timeout(2):
        for _ in items:
            item, now, real = await fired.get()
            assert now >= item.deadline  # the protocol sees its deadline reached
            assert real >= item.deadline - 0.002  # the loop may run a timer 1 ms early
            assert real <= item.deadline + 0.2
            got.append(item.deadline)
    assert got == sorted(got)


async def test_cancelled_deadline_does_not_fire() -> None:
    loop = asyncio.get_running_loop()
    wheel = TimerWheel(loop, tick=0.01)
    fired: asyncio.Queue[tuple[Item, float, float]] = asyncio.Queue()
    cancelled = Item(fired, loop.time() + 0.02)
    kept = Item(fired, loop.time() + 0.05)
    token = wheel.schedule(cancelled, cancelled.deadline)
    wheel.schedule(kept, kept.deadline)
    wheel.cancel(cancelled, token)
    async with asyncio.timeout(2):
        item, _, _ = await fired.get()
    assert item is kept and fired.empty()
