"""The server's own Python cost per connection and per API request, without sockets.

Requests go through the real front door (``web.HTTPProtocol``), the real WebSocket
connection, client and node, but into a fake transport that only collects what is
written: no syscalls, so what is left is our Python, steady enough to compare changes
(the referee's figures include the kernel's share, about as much again).

    python scripts/bench_inprocess.py connect -n 5000     # handshake + connect + subscribe
    python scripts/bench_inprocess.py publish -n 50000    # POST /api/publish, keep-alive

Run it pinned (``taskset -c 0``) and take the best of a few runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from typing import Any

import jwt

from whirlwind.app import GC_THRESHOLDS, build
from whirlwind.config.load import load_config
from whirlwind.web import HTTPProtocol, HTTPServer

SECRET = "bench-inprocess-secret-0123456789abcdef"
CONFIG = {
    "client": {"token": {"hmac_secret_key": SECRET}, "allowed_origins": ["*"]},
    "http_api": {"key": "k"},
    "channel": {"without_namespace": {"allow_subscribe_for_client": True}},
    "log": {"level": "error"},
}


class FakeTransport:
    """Collects writes; enough of an asyncio transport for the front door."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.protocol: Any = None

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 0

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None: ...


def client_frame(payload: bytes) -> bytes:
    """A masked text frame, as a client sends it."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + masked


async def front_door(path: str) -> HTTPServer:
    with open(path, "w") as f:
        json.dump(CONFIG, f)
    server = build(load_config(path, env={}, flags={}).config)
    await server.node.start()
    return HTTPServer(server.routes, asyncio.get_running_loop(), eager=server.node.eager)


async def connect(n: int, http: HTTPServer) -> None:
    upgrade = (
        b"GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    exp = int(time.time()) + 3600
    connects = [
        client_frame(
            json.dumps(
                {"id": 1, "connect": {"token": jwt.encode({"sub": str(i), "exp": exp}, SECRET)}}
            ).encode()
        )
        for i in range(n)
    ]
    subscribe = client_frame(b'{"id":2,"subscribe":{"channel":"bench"}}')
    transports = []
    gc.collect()
    gc.freeze()  # as `whirlwind serve` does after startup
    start = time.perf_counter()
    for frame in connects:
        transport = FakeTransport()
        protocol = HTTPProtocol(http)
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(upgrade)
        transport.protocol.data_received(frame)
        await asyncio.sleep(0)  # the flush round with the connect reply
        transport.protocol.data_received(subscribe)
        await asyncio.sleep(0)
        transports.append(transport)
    elapsed = time.perf_counter() - start
    done = sum(1 for t in transports if any(b'"id":2' in out for out in t.out))
    assert done == n, f"only {done} of {n} subscribed"
    print(f"connect: {elapsed / n * 1e6:.1f} µs of Python per connection ({n} connections)")


async def publish(n: int, http: HTTPServer) -> None:
    body = b'{"channel":"bench","data":{"text":"' + b"x" * 100 + b'"}}'
    request = (
        b"POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\n"
        b"Content-Length: %d\r\nContent-Type: application/json\r\nX-Api-Key: k\r\n\r\n%s"
    ) % (len(body), body)
    transport = FakeTransport()
    protocol = HTTPProtocol(http)
    protocol.connection_made(transport)  # type: ignore[arg-type]
    for _ in range(1000):  # warm up
        protocol.data_received(request)
    transport.out.clear()
    start = time.perf_counter()
    for _ in range(n):
        protocol.data_received(request)
    elapsed = time.perf_counter() - start
    assert len(transport.out) == n and b'{"result":{}}' in transport.out[-1]
    print(f"publish: {elapsed / n * 1e6:.1f} µs of Python per request ({n} requests)")


async def main(args: argparse.Namespace) -> None:
    http = await front_door(f"/tmp/whirlwind-bench-inprocess-{os.getpid()}.json")
    await (connect if args.what == "connect" else publish)(args.n, http)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["connect", "publish"])
    parser.add_argument("-n", type=int, default=5000)
    import uvloop

    gc.set_threshold(*GC_THRESHOLDS)  # as `whirlwind serve` runs
    uvloop.run(main(parser.parse_args()))
