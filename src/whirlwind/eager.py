"""Eager coroutines: run until the first real wait, and only then become a task.

Python 3.12's ``eager_task_factory`` does this; we support 3.11. With the memory engine
most request handlers and client commands finish without ever waiting, and finishing
them in the callback that received them saves a task and a loop round each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def run_eagerly(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
) -> T | asyncio.Task[T]:
    """Step ``coro``; its result if it finished, else a task that runs the rest.

    An exception raised before the first wait propagates to the caller. Only for
    coroutines that do not look for their task before they first wait: until then
    ``asyncio.current_task()`` is None (or the caller's task), which breaks
    ``asyncio.timeout``, aiohttp's client and redis-py. Callers opt in where they know
    (``Node.eager``).
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    return loop.create_task(_finish(coro, waiting_on))


class _Resume:
    """Awaits the rest of a coroutine that was started outside a task and then waited."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        value = self._waiting_on
        while True:
            try:
                sent = yield value  # the future the coroutine waits on, to the task
            except BaseException as exc:  # cancellation included: hand it down
                try:
                    value = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as done:
                    return done.value


async def _finish(coro: Coroutine[Any, Any, T], waiting_on: Any) -> T:
    result: T = await _Resume(coro, waiting_on)
    return result
