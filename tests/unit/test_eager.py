"""run_eagerly: finish in place when possible, else a task that behaves like any other."""

from __future__ import annotations

import asyncio

import pytest

from whirlwind.eager import run_eagerly


async def test_a_coroutine_that_never_waits_returns_its_value_without_a_task() -> None:
    async def quick() -> int:
        return 42

    tasks_before = len(asyncio.all_tasks())
    assert run_eagerly(asyncio.get_running_loop(), quick()) == 42
    assert len(asyncio.all_tasks()) == tasks_before


async def test_an_error_before_the_first_wait_reaches_the_caller() -> None:
    async def broken() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        run_eagerly(asyncio.get_running_loop(), broken())


async def test_a_coroutine_that_waits_goes_on_in_a_task() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    steps: list[str] = []

    async def slow() -> int:
        steps.append("started")
        value = await gate
        steps.append("resumed")
        await asyncio.sleep(0)  # a bare yield to the loop, too
        return value + 1

    task = run_eagerly(loop, slow())
    assert isinstance(task, asyncio.Task)
    assert steps == ["started"]  # ran up to its first wait in place
    gate.set_result(1)
    assert await task == 2
    assert steps == ["started", "resumed"]


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    never: asyncio.Future[None] = loop.create_future()
    cleaned = asyncio.Event()

    async def waits_forever() -> None:
        try:
            await never
        finally:
            cleaned.set()

    task = run_eagerly(loop, waits_forever())
    assert isinstance(task, asyncio.Task)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned.is_set()


async def test_an_error_after_a_wait_is_the_tasks() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()

    async def fails_later() -> None:
        await gate
        raise RuntimeError("later")

    task = run_eagerly(loop, fails_later())
    assert isinstance(task, asyncio.Task)
    gate.set_result(None)
    with pytest.raises(RuntimeError, match="later"):
        await task
