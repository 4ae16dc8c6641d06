"""In-process benchmark of the server API's execution path (no HTTP).

Times what happens after a request body has arrived, the way the HTTP front runs it:
``json_mapping.loads`` → ``Executor.call`` → ``json_mapping.dumps`` / ``encode``, for a
``batch`` of publishes and for a single ``publish``, against a node built like
``whirlwind.app.build`` (memory engine, default config, no subscribers); then the GRPC
front's mapping (``protobuf_mapping``) around the same batch.

Usage: ``python scripts/bench_api_exec.py [--batch-size 100] [--seconds 2] [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson

from whirlwind.api import json_mapping
from whirlwind.api import types as t
from whirlwind.api.executor import Executor
from whirlwind.broker.memory import MemoryBroker
from whirlwind.config.schema import Config
from whirlwind.node import Node
from whirlwind.presence.memory import MemoryPresenceManager


def build_executor(loop: asyncio.AbstractEventLoop) -> Executor:
    """A node with the memory engine and the default config, as ``app.build`` makes it."""
    config = Config()
    node = Node(
        config=config,
        broker=MemoryBroker(),
        presence=MemoryPresenceManager(ttl=config.engine.redis.presence_ttl),
        loop=loop,
    )
    return Executor(node)


def batch_body(size: int) -> bytes:
    """A ``batch`` of ``size`` publishes into ``bench`` with data ``{"n": i}``."""
    commands = [{"publish": {"channel": "bench", "data": {"n": i}}} for i in range(size)]
    return orjson.dumps({"commands": commands})


async def time_loop(step: Callable[[], Awaitable[bytes]], seconds: float) -> tuple[int, float]:
    """Run ``step`` for about ``seconds`` of CPU time; returns (calls, CPU seconds).

    CPU time of this process, not wall time: the machine may be shared, and a benchmark
    preempted half of the time would report half the speed.
    """
    calls = 0
    chunk = 50
    started = time.process_time()
    deadline = started + seconds
    while True:
        for _ in range(chunk):
            await step()
        calls += chunk
        now = time.process_time()
        if now >= deadline:
            return calls, now - started


async def main(batch_size: int, seconds: float) -> None:
    """Print CPU µs per call and publications/s for the batch and the single publish."""
    executor = build_executor(asyncio.get_running_loop())
    loads, dumps, encode = json_mapping.loads, json_mapping.dumps, json_mapping.encode
    call = executor.call
    body = batch_body(batch_size)
    single = b'{"channel":"bench","data":{"n":1}}'

    async def batch_step() -> bytes:
        result = await call("batch", loads(t.BatchRequest, body))
        return dumps(result)

    async def publish_step() -> bytes:
        result = await call("publish", loads(t.PublishRequest, single))
        return orjson.dumps({"result": encode(result)})

    # Sanity: what the HTTP front would answer.
    reply = await batch_step()
    assert reply.count(b'"publish":{}') == batch_size, reply[:200]
    assert await publish_step() == b'{"result":{}}'
    for step in (batch_step, publish_step):  # warm up
        await time_loop(step, min(0.3, seconds))

    async def measure(step: Callable[[], Awaitable[bytes]]) -> tuple[float, float]:
        """CPU µs per call and calls per CPU second."""
        calls, elapsed = await time_loop(step, seconds)
        return elapsed / calls * 1e6, calls / elapsed

    per_batch, rate = await measure(batch_step)
    print(
        f"batch of {batch_size} publishes: {per_batch:8.1f} µs/batch "
        f"{per_batch / batch_size:6.2f} µs/publication "
        f"{rate * batch_size:10,.0f} publications/s"
    )
    per_call, rate = await measure(publish_step)
    print(f"single publish:            {per_call:8.2f} µs/call {rate:10,.0f} calls/s")

    # The GRPC front's share: protobuf message → dataclasses → executor → protobuf.
    from whirlwind.api import api_pb2, protobuf_mapping

    message = api_pb2.BatchRequest.FromString(
        api_pb2.BatchRequest(
            commands=[
                api_pb2.Command(
                    publish=api_pb2.PublishRequest(channel="bench", data=b'{"n":%d}' % i)
                )
                for i in range(batch_size)
            ]
        ).SerializeToString()
    )

    async def grpc_step() -> bytes:
        result = await call("batch", protobuf_mapping.decode(t.BatchRequest, message))
        return protobuf_mapping.encode(result, api_pb2.BatchResponse()).SerializeToString()

    await time_loop(grpc_step, min(0.3, seconds))
    per_batch, rate = await measure(grpc_step)
    print(
        f"GRPC batch (no transport): {per_batch:8.1f} µs/batch "
        f"{rate * batch_size:10,.0f} publications/s"
    )


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0)
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse()
    asyncio.run(main(args.batch_size, args.seconds))
