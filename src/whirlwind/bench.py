"""``whirlwind bench``: a load generator for Centrifugo-compatible servers.

Like ``redis-benchmark`` or ``nats bench``: N clients connect to a WebSocket URL (protocol v2
JSON, one JWT per client or a shared token), subscribe to one channel, and publications go
through the server HTTP API (``POST /api/publish``) or a client connection's ``publish``
command, at a fixed rate or as fast as a closed loop allows. It reports the connect rate,
delivered messages per second, publish→receive latency percentiles and errors.

Hold mode (``--hold SECONDS``) publishes nothing: the clients stay connected and idle,
answering the server's pings, and the run reports the connections dropped, the pings
answered and, given the server's pid, its RSS growth per connection.

Cheap enough to keep up with a fast server from one process: subscribers are raw asyncio
protocols with a minimal WebSocket client (server frames are unmasked, client frames use
the all-zero mask), a frame's publications are counted with ``bytes.count`` and only the
last one of each frame is parsed (its ``seq`` and ``ts``), so the per-message work is done
in C. No task per connection: a fixed pool of workers connects, and an idle subscriber
costs its protocol object and transport. Every run is bounded in time and stops by itself.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import math
import os
import re
import resource
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO, cast

import aiohttp
import orjson

from whirlwind.auth.tokens import make_token
from whirlwind.transports.ws_frames import frame_length

_DIGITS = re.compile(rb"\d+")
_PUB = b'"pub":'
_SEQ = b'"seq":'
_TS = b'"ts":'
_PONG = b'"pong":true'
_FD_RESERVE = 64
"""Descriptors kept for everything but the clients (stdio, publishers, the event loop)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchOptions:
    """What to run."""

    url: str = "ws://127.0.0.1:8000/connection/websocket"
    """Subscriber WebSocket endpoint."""
    api: str = "http://127.0.0.1:8000/api"
    """Server API base URL (publishing with ``publish_via="api"``)."""
    api_key: str = ""
    token: str = ""
    """One connection token for every client."""
    token_secret: str = ""
    """HMAC secret: mint an HS256 token per client (``sub`` = client index)."""
    clients: int = 1000
    channel: str = "bench"
    rate: float = 0.0
    """Publications per second; 0: as fast as the in-flight window allows."""
    inflight: int = 64
    """Max mode: publications not yet delivered to every subscriber."""
    duration: float = 10.0
    """Measurement window, seconds."""
    warmup: float = 1.0
    payload: int = 100
    """Approximate payload size in bytes."""
    pub_conns: int = 16
    """Concurrent publishers (HTTP keep-alive connections)."""
    publish_via: str = "api"
    """``api`` or ``client`` (a client connection's publish command)."""
    connect_concurrency: int = 200
    sources: tuple[str, ...] = ()
    """Local addresses to spread connections over (127.0.0.2, …: ~28k ports each)."""
    timeout: float = 10.0
    """Connect/handshake timeout per client and the API request timeout."""
    hold: float = 0.0
    """Hold mode: keep the clients idle this many seconds instead of publishing."""
    server_pid: int | None = None
    """Server process whose RSS is read from ``/proc`` before connecting and after holding."""


@dataclass(slots=True)
class BenchResult:
    """What a run measured; ``--json`` prints it."""

    clients: int = 0
    connected: int = 0
    connect_errors: int = 0
    connect_seconds: float = 0.0
    connect_rate: float = 0.0
    window_seconds: float = 0.0
    published: int = 0
    publish_rate: float = 0.0
    publish_errors: int = 0
    delivered: int = 0
    delivered_per_second: float = 0.0
    delivered_pct: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    disconnects: int = 0
    """Connections closed by the server (a close frame or EOF) after subscribing."""
    hold_seconds: float = 0.0
    pings_answered: int = 0
    """Protocol pings (``{}``) answered with a pong, from connecting to the end of the run."""
    clients_pinged: int = 0
    """Clients that answered at least one ping."""
    server_rss_baseline_kb: int | None = None
    server_rss_connected_kb: int | None = None
    server_rss_end_kb: int | None = None
    kb_per_connection: float | None = None
    """(server RSS at the end − baseline) / connections still open at the end."""
    bench_rss_kb: int | None = None
    """This process's own RSS at the end of the run."""
    errors: list[str] = field(default_factory=list)


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final, masked client frame with the all-zero mask (RFC 6455 §5.3)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


def parse_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Remove and return the complete server frames at the head of ``buffer``.

    Server frames are unmasked. Fragmented messages are not reassembled (Centrifugo-style
    servers send whole messages); continuation frames are returned with opcode 0.
    """
    frames: list[tuple[int, bytes]] = []
    pos = 0
    size = len(buffer)
    while (sizes := frame_length(buffer, pos)) is not None:
        head, length = sizes
        opcode = buffer[pos] & 0x0F
        end = pos + head + length
        if end > size:
            break
        frames.append((opcode, bytes(buffer[pos + head : end])))
        pos = end
    if pos:
        del buffer[:pos]
    return frames


def _number_after(data: bytes, key: bytes, start: int) -> int | None:
    at = data.find(key, start)
    if at < 0:
        return None
    match = _DIGITS.match(data, at + len(key))
    return int(match.group()) if match else None


class _Stats:
    """Counters shared by every subscriber (one event loop: no locks)."""

    __slots__ = ("delivered", "disconnects", "errors", "latencies", "pings", "sample")

    def __init__(self) -> None:
        self.delivered = 0
        self.disconnects = 0
        self.pings = 0
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.sample = False
        """Whether latencies are being recorded (the measurement window)."""


class _Subscriber(asyncio.Protocol):
    """One raw WebSocket client: connect, subscribe, count publications, answer pings.

    Slotted and trimmed after the handshake: hold mode keeps 100,000 of them.
    """

    __slots__ = (
        "_buffer",
        "_commands",
        "_host",
        "_open",
        "_path",
        "_pong",
        "_stats",
        "last_seq",
        "pings",
        "ready",
        "transport",
    )

    def __init__(self, stats: _Stats, host: str, path: str, commands: bytes) -> None:
        self._stats = stats
        self._host = host
        self._path = path
        self._commands = commands
        self._buffer = bytearray()
        self._open = False
        self._pong = False
        """Whether the connect reply asked for pongs (``"pong": true``)."""
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_seq = -1
        self.pings = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET {self._path} HTTP/1.1\r\nHost: {self._host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if b" 101 " not in status:
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            self._open = True
            assert self.transport is not None
            self.transport.write(_frame(self._commands))
            self._commands = b""
        for opcode, payload in parse_frames(buffer):
            if opcode == 0x1 or opcode == 0x0:
                self._text(payload)
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._fail(f"closed by server: {code} {payload[2:].decode(errors='replace')}")
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(_frame(payload, 0xA))

    def _text(self, payload: bytes) -> None:
        stats = self._stats
        count = payload.count(_PUB)
        if count:
            stats.delivered += count
            last = payload.rfind(_PUB)
            seq = _number_after(payload, _SEQ, last)
            if seq is not None:
                self.last_seq = seq
            if stats.sample:
                ts = _number_after(payload, _TS, last)
                if ts is not None:
                    stats.latencies.append((time.time_ns() - ts) / 1e6)
        # Client protocol §7: a ping is an empty reply; answer it with an empty command when
        # the connect reply had "pong": true.
        if self._pong and (
            payload == b"{}" or payload.endswith(b"\n{}") or payload.startswith(b"{}\n")
        ):
            assert self.transport is not None
            self.transport.write(_frame(b"{}"))
            self.pings += 1
            stats.pings += 1
        if not self.ready.done():
            if _PONG in payload:
                self._pong = True
            if b'"error"' in payload:
                self._fail(f"refused: {payload[:200].decode(errors='replace')}")
            elif b'"subscribe":{' in payload or b'"subscribe":{}' in payload:
                self.ready.set_result(None)

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        elif len(self._stats.errors) < 20:
            self._stats.errors.append(reason)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ready.done():
            self._stats.disconnects += 1
        else:
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))


class _HTTPPublisher(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection posting to the API, one request at a time.

    Cheaper than a general client: the request head is built once, the reply is only
    checked for its status line and for an ``error`` object.
    """

    def __init__(self, head: bytes) -> None:
        self._head = head
        self._buffer = bytearray()
        self._waiter: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    async def post(self, body: bytes) -> bytes:
        """Send one request and return the reply body."""
        assert self.transport is not None
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
        reply: bytes = await waiter
        return reply

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = bytes(buffer[:end]).lower().split(b"\r\n")
        length = 0
        for line in lines[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
        if len(buffer) < end + 4 + length:
            return
        status = lines[0]
        body = bytes(buffer[end + 4 : end + 4 + length])
        del buffer[: end + 4 + length]
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if b" 200 " in status:
                waiter.set_result(body)
            else:
                waiter.set_exception(RuntimeError(f"{status.decode()}: {body[:200]!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"API connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)


class Bench:
    """One benchmark run."""

    def __init__(self, options: BenchOptions, progress: TextIO | None = sys.stderr) -> None:
        self.options = options
        self.progress = progress
        self.stats = _Stats()
        self.subscribers: list[_Subscriber] = []
        self.result = BenchResult(clients=options.clients)
        self._seq = 0
        self._published = 0
        self._closers: list[Callable[[], Any]] = []

    def _token(self, index: int) -> str:
        options = self.options
        if options.token_secret:
            claims = {"sub": str(index), "exp": int(time.time()) + 3600}
            return make_token(options.token_secret, claims)
        return options.token

    def _commands(self, index: int) -> bytes:
        connect: dict[str, Any] = {"id": 1, "connect": {"name": "whirlwind-bench"}}
        token = self._token(index)
        if token:
            connect["connect"]["token"] = token
        subscribe = {"id": 2, "subscribe": {"channel": self.options.channel}}
        return orjson.dumps(connect) + b"\n" + orjson.dumps(subscribe)

    async def _connect_one(self, index: int) -> None:
        options = self.options
        url = urllib.parse.urlsplit(options.url)
        path = url.path + (f"?{url.query}" if url.query else "")
        local = (options.sources[index % len(options.sources)], 0) if options.sources else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(options.timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Subscriber(self.stats, url.netloc, path or "/", self._commands(index)),
                    url.hostname or "127.0.0.1",
                    url.port or 80,
                    local_addr=local,
                )
                await protocol.ready
        except (OSError, TimeoutError, ConnectionError) as exc:
            self.result.connect_errors += 1
            if len(self.result.errors) < 20:
                self.result.errors.append(f"client {index}: {exc or type(exc).__name__}")
            return
        self.subscribers.append(protocol)

    async def connect(self) -> None:
        """Connect and subscribe every client, ``connect_concurrency`` at a time."""
        options = self.options
        started = time.perf_counter()
        indices = iter(range(options.clients))

        async def worker() -> None:
            # One shared iterator: each worker takes the next client when it is free.
            for index in indices:
                await self._connect_one(index)

        async def report() -> None:
            while True:
                await asyncio.sleep(1.0)
                elapsed = time.perf_counter() - started
                self._say(
                    f"{elapsed:5.1f}s connected {len(self.subscribers):,}/{options.clients:,} "
                    f"({len(self.subscribers) / elapsed:,.0f}/s, "
                    f"{self.result.connect_errors} errors)"
                )

        reporter = asyncio.create_task(report())
        try:
            await asyncio.gather(
                *(
                    worker()
                    for _ in range(max(1, min(options.connect_concurrency, options.clients)))
                )
            )
        finally:
            reporter.cancel()
        result = self.result
        result.connected = len(self.subscribers)
        result.connect_seconds = time.perf_counter() - started
        result.connect_rate = result.connected / max(result.connect_seconds, 1e-9)

    def _data(self) -> dict[str, Any]:
        self._seq += 1
        data = {"seq": self._seq, "ts": time.time_ns(), "pad": ""}
        pad = self.options.payload - len(orjson.dumps(data))
        if pad > 0:
            data["pad"] = "x" * pad
        return data

    def _watermark(self) -> int:
        return min((s.last_seq for s in self.subscribers), default=0)

    async def _publisher(
        self, publish: Callable[[dict[str, Any]], Any], deadline: float, slots: asyncio.Queue[None]
    ) -> None:
        while time.perf_counter() < deadline:
            await slots.get()
            try:
                await publish(self._data())
                self._published += 1
            except (aiohttp.ClientError, TimeoutError, OSError, RuntimeError) as exc:
                self.result.publish_errors += 1
                if len(self.result.errors) < 20:
                    self.result.errors.append(f"publish: {exc}")

    async def _api_publish(self) -> Callable[..., Any]:
        options = self.options
        url = urllib.parse.urlsplit(options.api.rstrip("/") + "/publish")
        head = (
            f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"X-API-Key: {options.api_key}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        loop = asyncio.get_running_loop()
        idle: asyncio.Queue[_HTTPPublisher] = asyncio.Queue()
        for _ in range(max(1, options.pub_conns)):
            transport, protocol = await loop.create_connection(
                lambda: _HTTPPublisher(head), url.hostname or "127.0.0.1", url.port or 80
            )
            self._closers.append(transport.close)
            idle.put_nowait(protocol)
        channel = options.channel

        async def publish(data: dict[str, Any]) -> None:
            connection = await idle.get()
            try:
                async with asyncio.timeout(options.timeout):
                    reply = await connection.post(orjson.dumps({"channel": channel, "data": data}))
            finally:
                idle.put_nowait(connection)
            if reply.startswith(b'{"error"'):
                raise RuntimeError(f"API error: {reply[:200]!r}")

        return publish

    async def _client_publish(self) -> Callable[..., Any]:
        options = self.options
        url = options.url
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(url)
        connect: dict[str, Any] = {"id": 1, "connect": {"name": "whirlwind-bench-publisher"}}
        token = self._token(options.clients)
        if token:
            connect["connect"]["token"] = token
        await ws.send_str(orjson.dumps(connect).decode())
        await ws.receive(timeout=options.timeout)
        counter = iter(range(2, 2**31))
        self._closers.append(session.close)
        self._closers.append(ws.close)

        async def publish(data: dict[str, Any]) -> None:
            command = {"id": next(counter), "publish": {"channel": options.channel, "data": data}}
            await ws.send_str(orjson.dumps(command).decode())

        return publish

    async def run(self) -> BenchResult:
        """Connect, then publish for warm-up plus the window (or hold), and measure."""
        options = self.options
        result = self.result
        result.server_rss_baseline_kb = self._server_rss()
        await self.connect()
        result.server_rss_connected_kb = self._server_rss()
        self._say(
            f"connected {result.connected}/{options.clients} in {result.connect_seconds:.1f}s "
            f"({result.connect_rate:,.0f}/s, {result.connect_errors} errors)"
        )
        if not self.subscribers:
            return result
        if options.hold > 0:
            try:
                await self._hold()
            finally:
                self._close_subscribers()
            return result
        if options.publish_via == "client":
            publish = await self._client_publish()
        else:
            publish = await self._api_publish()
        try:
            await self._measure(publish)
        finally:
            for close in self._closers:
                closed = close()
                if asyncio.iscoroutine(closed):
                    await closed
        self._close_subscribers()
        return result

    def _close_subscribers(self) -> None:
        for subscriber in self.subscribers:
            if subscriber.transport is not None:
                subscriber.transport.close()

    def _server_rss(self) -> int | None:
        pid = self.options.server_pid
        return None if pid is None else read_rss_kb(pid)

    async def _hold(self) -> None:
        """Keep every client idle for ``hold`` seconds; pings are answered as they come."""
        options = self.options
        stats = self.stats
        result = self.result
        start = time.perf_counter()
        deadline = start + options.hold
        # Enough lines to follow a long hold without flooding the terminal.
        every = 1.0 if options.hold <= 20 else 10.0
        while (now := time.perf_counter()) < deadline:
            await asyncio.sleep(min(every, deadline - now))
            rss = self._server_rss()
            self._say(
                f"{time.perf_counter() - start:5.1f}s hold: "
                f"{result.connected - stats.disconnects:,} open, {stats.disconnects} dropped, "
                f"{stats.pings:,} pings answered"
                + ("" if rss is None else f", server RSS {rss / 1024:,.1f} MB")
            )
        result.hold_seconds = time.perf_counter() - start
        result.disconnects = stats.disconnects
        result.pings_answered = stats.pings
        result.clients_pinged = sum(1 for s in self.subscribers if s.pings)
        result.server_rss_end_kb = self._server_rss()
        result.bench_rss_kb = read_rss_kb(os.getpid())
        held = result.connected - result.disconnects
        if result.server_rss_end_kb is not None and result.server_rss_baseline_kb is not None:
            growth = result.server_rss_end_kb - result.server_rss_baseline_kb
            result.kb_per_connection = round(growth / held, 2) if held else None
        result.errors.extend(stats.errors)

    async def _measure(self, publish: Callable[..., Any]) -> None:
        options = self.options
        stats = self.stats
        result = self.result
        slots: asyncio.Queue[None] = asyncio.Queue()
        start = time.perf_counter()
        window_start = start + options.warmup
        deadline = window_start + options.duration
        workers = [
            asyncio.create_task(self._publisher(publish, deadline, slots))
            for _ in range(max(1, options.pub_conns if options.publish_via == "api" else 1))
        ]
        issued = 0
        delivered_at_start = 0
        published_at_start = 0
        last_report = start
        last_delivered = 0
        window_open = False
        try:
            while (now := time.perf_counter()) < deadline:
                if not window_open and now >= window_start:
                    window_open = True
                    stats.sample = True
                    delivered_at_start = stats.delivered
                    published_at_start = self._published
                if options.rate > 0:
                    due = int((now - start) * options.rate)
                    while issued < due:
                        slots.put_nowait(None)
                        issued += 1
                else:
                    allowed = self._watermark() + options.inflight
                    while issued < allowed:
                        slots.put_nowait(None)
                        issued += 1
                if now - last_report >= 1.0:
                    rate = (stats.delivered - last_delivered) / (now - last_report)
                    self._say(
                        f"{now - start:5.1f}s delivered {rate:>12,.0f}/s  "
                        f"published {self._published:,}  errors {result.publish_errors}"
                    )
                    last_report = now
                    last_delivered = stats.delivered
                await asyncio.sleep(0.002)
        finally:
            stats.sample = False
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        window = time.perf_counter() - window_start
        result.window_seconds = window
        result.published = self._published - published_at_start
        result.publish_rate = result.published / window
        result.delivered = stats.delivered - delivered_at_start
        result.delivered_per_second = result.delivered / window
        expected = result.published * len(self.subscribers)
        result.delivered_pct = 100.0 * result.delivered / expected if expected else 0.0
        result.latency_ms = percentiles(stats.latencies)
        result.disconnects = stats.disconnects
        result.errors.extend(stats.errors)

    def _say(self, line: str) -> None:
        if self.progress is not None:
            print(line, file=self.progress, flush=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p90, p99, p99.9 and max of ``samples`` (empty dict without samples)."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


def read_rss_kb(pid: int) -> int | None:
    """A process's resident set size in KiB (``VmRSS`` in ``/proc/PID/status``).

    Returns:
        None when the process is gone or ``/proc`` is unavailable.
    """
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def parse_source_addresses(text: str) -> tuple[str, ...]:
    """Expand ``127.0.0.2-127.0.0.9`` ranges and comma lists into addresses.

    Raises:
        ValueError: an address is malformed or a range runs backwards.
    """
    addresses: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        low = ipaddress.ip_address(first.strip())
        high = ipaddress.ip_address(last.strip()) if last else low
        if high.version != low.version or int(high) < int(low):
            raise ValueError(f"bad address range: {part}")
        addresses.extend(str(low + offset) for offset in range(int(high) - int(low) + 1))
    return tuple(addresses)


def raise_open_files_limit() -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to the hard limit; return the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _ephemeral_ports() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low, high = map(int, ports.read().split())
    except (OSError, ValueError):
        return 28232  # Linux's default range, 32768-60999
    return high - low + 1


def capacity_problems(options: BenchOptions) -> list[str]:
    """Why this process cannot open ``options.clients`` connections (empty: it can).

    Raises the open-files soft limit to the hard limit first: each client is a descriptor,
    and each source address offers one ephemeral port range.
    """
    problems: list[str] = []
    limit = raise_open_files_limit()
    needed = options.clients + _FD_RESERVE
    if needed > limit:
        problems.append(
            f"{options.clients:,} clients need about {needed:,} open files but this process "
            f"may open {limit:,} (RLIMIT_NOFILE hard limit); raise it (`ulimit -Hn`, needs "
            "root or CAP_SYS_RESOURCE) or split the clients over several bench processes"
        )
    ports = _ephemeral_ports()
    per_address = math.ceil(options.clients / max(1, len(options.sources)))
    if per_address > ports:
        problems.append(
            f"{per_address:,} connections per source address exceed the {ports:,} ephemeral "
            "ports of one address; spread them with --source-addresses "
            "(e.g. 127.0.0.2-127.0.0.9)"
        )
    return problems


def summary_table(result: BenchResult) -> str:
    """The human summary printed at the end of a run (publish or hold mode)."""
    rows = [
        ("clients connected", f"{result.connected:,} / {result.clients:,}"),
        ("connect rate", f"{result.connect_rate:,.0f} /s ({result.connect_errors} errors)"),
    ]
    if result.hold_seconds:
        rows += _hold_rows(result)
    else:
        rows += _publish_rows(result)
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _hold_rows(result: BenchResult) -> list[tuple[str, str]]:
    def mb(kb: int | None) -> str:
        return "n/a" if kb is None else f"{kb / 1024:,.1f} MB"

    per_connection = result.kb_per_connection
    return [
        ("held idle", f"{result.hold_seconds:.0f} s"),
        ("dropped", str(result.disconnects)),
        (
            "pings answered",
            f"{result.pings_answered:,} ({result.clients_pinged:,} clients pinged)",
        ),
        ("server RSS baseline", mb(result.server_rss_baseline_kb)),
        ("server RSS connected", mb(result.server_rss_connected_kb)),
        ("server RSS end", mb(result.server_rss_end_kb)),
        ("KB per connection", "n/a" if per_connection is None else f"{per_connection:.2f}"),
        ("bench RSS", mb(result.bench_rss_kb)),
    ]


def _publish_rows(result: BenchResult) -> list[tuple[str, str]]:
    lat = result.latency_ms
    return [
        ("publications", f"{result.published:,} ({result.publish_rate:,.1f} /s)"),
        ("delivered", f"{result.delivered_per_second:,.0f} msgs/s"),
        ("delivered %", f"{result.delivered_pct:.2f}"),
        (
            "latency ms",
            " ".join(f"{k}={v}" for k, v in lat.items()) if lat else "n/a",
        ),
        ("publish errors", str(result.publish_errors)),
        ("disconnects", str(result.disconnects)),
    ]


def run_bench(options: BenchOptions, *, as_json: bool = False, out: TextIO = sys.stdout) -> int:
    """Run one benchmark (on uvloop when available) and print the result; exit status."""
    problems = capacity_problems(options)
    if problems:
        for problem in problems:
            sys.stderr.write(f"error: {problem}\n")
        return 2
    bench = Bench(options, progress=sys.stderr)
    try:
        import uvloop

        result = uvloop.run(bench.run())
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        result = asyncio.run(bench.run())
    if as_json:
        out.write(orjson.dumps(asdict(result)).decode() + "\n")
    else:
        out.write(summary_table(result) + "\n")
        for error in result.errors[:5]:
            out.write(f"error: {error}\n")
    if options.hold > 0:
        return 0 if result.connected and not result.disconnects else 1
    return 0 if result.connected and not result.publish_errors else 1
