"""HTTPServer on a real socket, spoken to in raw bytes (keep-alive, pipelining, limits).

Every test starts the server on 127.0.0.1:0 in its own event loop; a client is a pair of
asyncio streams. Waits are on events and EOFs under a timeout, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from whirlwind import web
from whirlwind.web import (
    Headers,
    HTTPProtocol,
    HTTPServer,
    Request,
    Response,
    Route,
    Routes,
    Upgrade,
    encode_response,
)

WAIT = 2.0
"""Seconds any single expected event may take before the test fails."""
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"


class EchoProtocol(asyncio.Protocol):
    """What an upgraded connection becomes: writes back whatever it receives."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.made = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made = True

    def data_received(self, data: bytes) -> None:
        assert self.made, "data before connection_made"
        self.transport.write(data)


class App:
    """The handlers, with the events a test holds to control the slow one."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.slow_calls = 0
        self.requests: list[Request] = []

    def sync(self, request: Request) -> Response:
        self.requests.append(request)
        return Response.text(
            f"sync {request.method} {request.path} {sorted(request.query.items())}"
        )

    async def slow(self, request: Request) -> Response:
        self.slow_calls += 1
        self.started.set()
        await self.release.wait()
        return Response.text("slow")

    def echo(self, request: Request) -> Response:
        return Response(200, request.body, "application/octet-stream")

    def too_large(self, request: Request) -> Response:
        return Response.text(f"too large: {request.body_too_large}", 422)

    def get(self, request: Request) -> Response:
        return Response.json(b'{"status":"ok"}')

    def header(self, request: Request) -> Response:
        return Response.text(request.headers.get("X-Thing", "none"))

    def boom(self, request: Request) -> Response:
        raise RuntimeError("boom")

    async def async_boom(self, request: Request) -> Response:
        raise RuntimeError("async boom")

    def upgrade(self, request: Request) -> Upgrade:
        return Upgrade(SWITCHING, EchoProtocol)


def build_routes(app: App) -> Routes:
    routes = Routes()
    routes.add("/sync", Route(app.sync))
    routes.add("/slow", Route(app.slow))
    routes.add("/echo", Route(app.echo, frozenset(("POST", "PUT"))))
    routes.add("/small", Route(app.echo, max_body=16))
    routes.add("/small-self", Route(app.too_large, max_body=16, answers_too_large=True))
    routes.add("/header", Route(app.header))
    routes.add("/boom", Route(app.boom))
    routes.add("/async-boom", Route(app.async_boom))
    routes.add("/ws", Route(app.upgrade, frozenset(("GET",))))
    routes.get("/get", app.get)
    return routes


@pytest.fixture
def app() -> App:
    return App()


@pytest.fixture(params=[False, True], ids=["tasks", "eager"])
async def server(app: App, request: pytest.FixtureRequest) -> AsyncIterator[HTTPServer]:
    """Both ways of running async handlers: a task each, or eagerly (eager.py)."""
    srv = HTTPServer(build_routes(app), asyncio.get_running_loop(), eager=request.param)
    await srv.start("127.0.0.1", 0)
    yield srv
    app.release.set()
    await srv.close(0.5)


Connect = Callable[[], Awaitable["Client"]]


@pytest.fixture
async def connect(server: HTTPServer) -> AsyncIterator[Connect]:
    """Opens client connections to ``server``; closes them all at the end."""
    clients: list[Client] = []

    async def open_one() -> Client:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        clients.append(Client(reader, writer))
        return clients[-1]

    yield open_one
    for client in clients:
        client.writer.close()
    for client in clients:
        with contextlib.suppress(OSError):
            await client.writer.wait_closed()


async def settle(connect: Connect) -> None:
    """A round trip on a new connection: bytes written before it have been read by then.

    Over loopback a write is in the server's socket before ``write`` returns, and the
    loop reads every ready socket in one pass, so by the time this answer is back, the
    server has had ``data_received`` for what other connections sent before.
    """
    other = await connect()
    assert (await other.request(get("/get"))).status == 200
    other.writer.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One raw TCP connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def answer(self, *, head: bool = False) -> Answer:
        """Read one response (``head``: the answer to a HEAD request, so no body)."""
        async with asyncio.timeout(WAIT):
            raw = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *lines = raw.decode("latin-1").split("\r\n")[:-2]
            version, status, _ = status_line.split(" ", 2)
            assert version == "HTTP/1.1"
            headers: dict[str, str] = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = 0 if head else int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length)
        return Answer(int(status), headers, body)

    async def request(self, raw: bytes) -> Answer:
        self.send(raw)
        return await self.answer()

    async def eof(self) -> None:
        """Wait until the server closes the connection (nothing else may arrive)."""
        async with asyncio.timeout(WAIT):
            rest = await self.reader.read()
        assert rest == b"", f"unexpected bytes before EOF: {rest[:200]!r}"


def get(path: str, *extra: str, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *extra, "", ""]
    return "\r\n".join(lines).encode()


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = get(path, f"Content-Length: {len(body)}", *extra, method="POST")
    return head + body


# ------------------------------------------------------------ plain requests


async def test_keep_alive_serves_several_requests_on_one_connection(
    connect: Connect,
    server: HTTPServer,
) -> None:
    client = await connect()
    first = await client.request(get("/sync?a=1&b=2&a=3"))
    assert first.status == 200
    assert first.body == b"sync GET /sync [('a', '1'), ('b', '2')]"
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert "connection" not in first.headers
    assert "date" in first.headers
    second = await client.request(post("/echo", b"hello body"))
    assert (second.status, second.body) == (200, b"hello body")
    third = await client.request(get("/get"))
    assert (third.status, third.body) == (200, b'{"status":"ok"}')
    assert third.headers["content-type"] == "application/json"
    assert len(server.connections) == 1


async def test_headers_are_case_insensitive(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    answer = await client.request(get("/header", "x-THING: value"))
    assert answer.body == b"value"


async def test_repeated_headers_are_joined(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    answer = await client.request(get("/header", "X-Thing: 1", "x-thing: 2"))
    assert answer.body == b"1, 2"


async def test_request_split_over_many_writes(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    raw = post("/echo", b"0123456789")
    for i in range(len(raw)):
        client.send(raw[i : i + 1])
        await client.writer.drain()
    answer = await client.answer()
    assert answer.body == b"0123456789"


async def test_http_1_0_closes_after_the_answer(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    answer = await client.request(b"GET /sync HTTP/1.0\r\n\r\n")
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    await client.eof()


async def test_connection_close_closes_after_the_answer(
    connect: Connect, server: HTTPServer
) -> None:
    client = await connect()
    answer = await client.request(get("/sync", "Connection: close"))
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    await client.eof()


async def test_expect_100_continue_is_answered_before_the_body(
    connect: Connect, server: HTTPServer
) -> None:
    client = await connect()
    client.send(get("/echo", "Content-Length: 5", "Expect: 100-continue", method="POST"))
    async with asyncio.timeout(WAIT):
        interim = await client.reader.readuntil(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.send(b"hello")
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"hello")


async def test_chunked_request_body(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    client.send(get("/echo", "Transfer-Encoding: chunked", method="POST"))
    client.send(b"5\r\nhello\r\n")
    client.send(b"6\r\n world\r\n0\r\n\r\n")
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"hello world")
    # The connection is still usable afterwards.
    assert (await client.request(get("/get"))).status == 200


async def test_head_on_get_route_has_length_but_no_body(
    connect: Connect, server: HTTPServer
) -> None:
    client = await connect()
    # HEAD then GET in one write: were a body sent after the HEAD answer, the GET answer
    # would not start right after the head.
    client.send(get("/get", method="HEAD") + get("/get"))
    head = await client.answer(head=True)
    assert head.status == 200
    assert head.headers["content-length"] == str(len(b'{"status":"ok"}'))
    full = await client.answer()
    assert full.body == b'{"status":"ok"}'


async def test_unknown_path_is_404(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    answer = await client.request(get("/nope"))
    assert answer.status == 404
    assert (await client.request(get("/get"))).status == 200  # still keep-alive


async def test_wrong_method_is_405_with_allow(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    answer = await client.request(post("/get", b"x"))
    assert answer.status == 405
    assert answer.headers["allow"] == "GET, HEAD"
    answer = await client.request(get("/echo"))
    assert answer.status == 405
    assert answer.headers["allow"] == "POST, PUT"


async def test_body_over_route_limit_is_413_and_closes(
    connect: Connect, server: HTTPServer
) -> None:
    client = await connect()
    assert (await client.request(post("/small", b"x" * 16))).body == b"x" * 16
    answer = await client.request(post("/small", b"x" * 17))
    assert answer.status == 413
    assert answer.headers["connection"] == "close"
    await client.eof()


async def test_chunked_body_over_route_limit_is_413(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    client.send(get("/small", "Transfer-Encoding: chunked", method="POST"))
    client.send(b"a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n")
    answer = await client.answer()
    assert answer.status == 413
    await client.eof()


async def test_route_answering_too_large_itself(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    answer = await client.request(post("/small-self", b"x" * 17))
    assert (answer.status, answer.body) == (422, b"too large: True")
    await client.eof()


async def test_head_over_64k_is_431(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    headers = [f"X-Header-{i}: {'v' * 100}" for i in range(700)]  # ~80 KiB
    client.send(get("/sync", *headers))
    answer = await client.answer()
    assert answer.status == 431
    await client.eof()


async def test_single_header_over_64k_is_431(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    client.send(get("/sync", "X-Big: " + "b" * 70_000))
    answer = await client.answer()
    assert answer.status == 431
    await client.eof()


async def test_unterminated_header_over_64k_is_431(connect: Connect, server: HTTPServer) -> None:
    """A header that never ends must not be buffered without bound until the deadline.

    Just over the limit, so the server has read everything when it answers (closing with
    unread bytes would reset the connection and lose the answer).
    """
    client = await connect()
    start = b"GET /sync HTTP/1.1\r\nX-Big: "
    client.send(start + b"b" * (web.MAX_HEAD_SIZE + 64 - len(start)))
    answer = await client.answer()
    assert answer.status == 431
    await client.eof()


async def test_431_is_not_lost_while_the_client_still_sends(
    connect: Connect, server: HTTPServer
) -> None:
    """The server keeps reading (and dropping) after answering, so no TCP reset eats
    the answer when the client sends far more than the limit."""
    client = await connect()
    client.send(b"GET /sync HTTP/1.1\r\nX-Big: " + b"b" * 1_000_000)
    answer = await client.answer()
    assert answer.status == 431
    await client.eof()


async def test_head_under_64k_in_pieces_is_accepted(connect: Connect, server: HTTPServer) -> None:
    """A 48 KiB head that arrives in three reads is counted once, not once per read."""
    client = await connect()
    headers = [f"X-Header-{i:03d}: {'v' * 100}" for i in range(400)]
    raw = get("/sync", *headers)
    assert 40_000 < len(raw) < web.MAX_HEAD_SIZE
    third = len(raw) // 3
    for piece in (raw[:third], raw[third : 2 * third]):
        client.send(piece)
        await settle(connect)
    client.send(raw[2 * third :])
    answer = await client.answer()
    assert answer.status == 200
    assert (await client.request(get("/get"))).status == 200


async def test_request_line_over_64k_is_431(connect: Connect, server: HTTPServer) -> None:
    client = await connect()
    client.send(get("/sync?q=" + "a" * 70_000))
    answer = await client.answer()
    assert answer.status == 431
    await client.eof()


@pytest.mark.parametrize(
    "garbage",
    [
        b"GARBAGE\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
        b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ],
)
async def test_malformed_request_is_400_and_closes(
    connect: Connect, server: HTTPServer, garbage: bytes
) -> None:
    client = await connect()
    client.send(garbage)
    answer = await client.answer()
    assert answer.status == 400
    assert answer.headers["connection"] == "close"
    await client.eof()


async def test_handler_errors_are_500_and_serving_goes_on(
    connect: Connect, server: HTTPServer
) -> None:
    client = await connect()
    assert (await client.request(get("/boom"))).status == 500
    assert (await client.request(get("/async-boom"))).status == 500
    assert (await client.request(get("/sync"))).status == 200
    other = await connect()
    assert (await other.request(get("/get"))).status == 200


# ------------------------------------------------------------ pipelining


async def test_pipelined_answers_come_in_order(
    connect: Connect, server: HTTPServer, app: App
) -> None:
    """A slow (async) first request holds back the fast second one's answer."""
    client = await connect()
    client.send(get("/slow") + get("/sync") + get("/get"))
    async with asyncio.timeout(WAIT):
        await app.started.wait()
    app.release.set()
    assert (await client.answer()).body == b"slow"
    assert (await client.answer()).body.startswith(b"sync GET /sync")
    assert (await client.answer()).body == b'{"status":"ok"}'
    assert app.slow_calls == 1


async def test_request_arriving_while_async_handler_runs(
    connect: Connect, server: HTTPServer, app: App
) -> None:
    """Bytes that come while a handler task runs must not start that request again."""
    client = await connect()
    client.send(get("/slow"))
    async with asyncio.timeout(WAIT):
        await app.started.wait()
    client.send(get("/sync"))
    await settle(connect)
    app.release.set()
    assert (await client.answer()).body == b"slow"
    assert (await client.answer()).body.startswith(b"sync GET /sync")
    assert app.slow_calls == 1, f"the slow handler ran {app.slow_calls} times for one request"


async def test_many_pipelined_sync_requests_then_more(connect: Connect, server: HTTPServer) -> None:
    """Past the pipelining limit reading pauses; it must resume once answers are out."""
    client = await connect()
    count = 2 * 32 + 5
    client.send(b"".join(get(f"/sync?i={i}") for i in range(count)))
    for i in range(count):
        answer = await client.answer()
        assert answer.body == f"sync GET /sync [('i', '{i}')]".encode()
    client.send(get("/get"))
    try:
        answer = await client.answer()
    except TimeoutError:
        pytest.fail("no answer after a burst of pipelined requests: reading stays paused")
    assert answer.status == 200


async def test_many_pipelined_async_requests(
    connect: Connect, server: HTTPServer, app: App
) -> None:
    client = await connect()
    count = 40
    client.send(get("/slow") * count)
    async with asyncio.timeout(WAIT):
        await app.started.wait()
    app.release.set()
    for _ in range(count):
        assert (await client.answer()).body == b"slow"
    assert app.slow_calls == count
    assert (await client.request(get("/get"))).status == 200


# ------------------------------------------------------------ upgrade


async def test_upgrade_hands_the_socket_over_with_early_bytes(
    connect: Connect, server: HTTPServer
) -> None:
    client = await connect()
    client.send(get("/ws", "Connection: Upgrade", "Upgrade: echo") + b"early bytes")
    async with asyncio.timeout(WAIT):
        head = await client.reader.readuntil(b"\r\n\r\n")
        assert head == SWITCHING
        assert await client.reader.readexactly(11) == b"early bytes"
        client.send(b"later")
        assert await client.reader.readexactly(5) == b"later"
    assert not server.connections  # an upgraded connection leaves the HTTP set


async def test_upgrade_header_on_plain_route_answers_and_closes(
    connect: Connect, server: HTTPServer
) -> None:
    client = await connect()
    answer = await client.request(get("/sync", "Connection: Upgrade", "Upgrade: h2c"))
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    await client.eof()


# ------------------------------------------------------------ shutdown and deadlines


async def test_close_finishes_requests_in_flight(
    connect: Connect, server: HTTPServer, app: App
) -> None:
    """close(): idle connections go at once, new ones are refused, busy ones finish."""
    port = server.sockets[0].getsockname()[1]
    idle = await connect()
    assert (await idle.request(get("/get"))).status == 200
    busy = await connect()
    busy.send(get("/slow"))
    async with asyncio.timeout(WAIT):
        await app.started.wait()
    closing = asyncio.create_task(server.close(WAIT))
    await idle.eof()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert not closing.done()
    app.release.set()
    answer = await busy.answer()
    assert answer.body == b"slow"
    assert answer.headers["connection"] == "close"
    await busy.eof()
    async with asyncio.timeout(WAIT):
        await closing
    assert not server.connections


async def test_close_drops_requests_still_running_at_the_timeout(
    connect: Connect, server: HTTPServer, app: App
) -> None:
    busy = await connect()
    busy.send(get("/slow"))
    async with asyncio.timeout(WAIT):
        await app.started.wait()
        await server.close(0.1)
    await busy.eof()
    assert not server.connections


async def test_deadlines_close_idle_and_slow_connections(
    connect: Connect, server: HTTPServer, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep closes idle keep-alive and half-sent requests, never a busy one."""
    server.keepalive_timeout = server.request_timeout = 0.05
    after_request = await connect()
    assert (await after_request.request(get("/get"))).status == 200
    silent = await connect()
    half_sent = await connect()
    half_sent.send(b"GET /sync HTTP/1.1\r\nHost: te")
    busy = await connect()
    busy.send(get("/slow"))
    async with asyncio.timeout(WAIT):
        await app.started.wait()
    await after_request.eof()
    await silent.eof()
    await half_sent.eof()
    # A sweep has run (the others are gone) and spared the connection in a handler.
    app.release.set()
    assert (await busy.answer()).body == b"slow"
    await busy.eof()  # idle again, past the (tiny) keep-alive deadline at the next sweep


# ------------------------------------------------------------ pieces


def test_headers_lookups_ignore_case() -> None:
    headers = Headers({"content-type": "text/plain"})
    assert headers["Content-Type"] == "text/plain"
    assert "CONTENT-TYPE" in headers
    assert headers.get("Content-type") == "text/plain"
    assert headers.get("missing", "default") == "default"
    not_a_name: object = 1
    assert not_a_name not in headers


def test_routes_refuse_a_path_mounted_twice() -> None:
    routes = Routes()
    routes.get("/a", lambda request: Response())
    with pytest.raises(ValueError, match="twice"):
        routes.get("/a", lambda request: Response())


def test_encode_response() -> None:
    response = Response(201, b"abc", "text/plain", (("X-One", "1"),))
    data = encode_response(response, keep_alive=False)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 201 Created"
    assert b"Content-Length: 3" in lines
    assert b"Content-Type: text/plain" in lines
    assert b"X-One: 1" in lines
    assert b"Connection: close" in lines
    assert body == b"abc"
    head_only = encode_response(response, keep_alive=True, head=True)
    assert head_only.endswith(b"\r\n\r\n")
    assert b"Content-Length: 3" in head_only
    assert b"Connection" not in head_only


def test_request_query_takes_first_values() -> None:
    request = Request("GET", "/", "a=1&b=x%20y&a=2", Headers(), b"")
    assert request.query == {"a": "1", "b": "x y"}


# ------------------------------------------------------------ memory


class RecordingTransport:
    """Just enough of an asyncio transport to drive a protocol by hand."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def test_finished_connections_leave_no_cycle_for_the_gc(server: HTTPServer) -> None:
    """A served or upgraded connection is freed by reference counting alone: the
    parser's callbacks are bound to the protocol, and that cycle cost every WebSocket
    connect a share of the cyclic GC's time."""
    gc.collect()
    gc.disable()
    try:
        served = RecordingTransport()
        protocol = HTTPProtocol(server)
        protocol.connection_made(served)  # type: ignore[arg-type]
        protocol.data_received(get("/get"))
        protocol.connection_lost(None)
        upgraded = RecordingTransport()
        protocol = HTTPProtocol(server)
        protocol.connection_made(upgraded)  # type: ignore[arg-type]
        protocol.data_received(get("/ws", "Connection: Upgrade", "Upgrade: echo") + b"hi")
        del protocol
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, HTTPProtocol)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert b"200 OK" in served.out[0]
    assert upgraded.out == [SWITCHING, b"hi"]
    assert left == []
