"""The HTTP/1.1 front door of every port: a small server on httptools (llhttp).

Why our own and not aiohttp's: on the benchmark's one core, a py-spy profile of a server
API publish showed about 60 % of the time in aiohttp's request and response machinery,
and a WebSocket connection cost aiohttp a handler task, a reader and a response object
(docs/performance.md). Here a request is parsed by httptools' callbacks into a plain
:class:`Request`, routed by exact path, and answered with bytes built in one go; a
WebSocket upgrade hands the socket to a protocol object of the transport's own
(:class:`Upgrade`), so an open connection costs no task at all.

What a production front door needs and this does: keep-alive and pipelining (answered in
order), ``Expect: 100-continue``, limits on the request head (431) and on bodies (each
route's own, 413), a deadline for reading a request and for idle keep-alive connections
(one sweep a second for all of them, not a timer each), 400 on a malformed request,
405 with ``Allow``, HEAD for GET routes, and a graceful close that lets requests in
flight finish.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final, cast
from urllib.parse import parse_qs

import httptools

from whirlwind.eager import run_eagerly

logger = logging.getLogger("whirlwind.http")

MAX_HEAD_SIZE: Final = 64 * 1024
"""Request line plus headers; beyond: 431."""
DEFAULT_MAX_BODY: Final = 64 * 1024
"""Body limit of a route that names none."""
REQUEST_TIMEOUT: Final = 60.0
"""Seconds to receive a whole request once it has begun."""
KEEPALIVE_TIMEOUT: Final = 75.0
"""Seconds an idle keep-alive connection is kept (aiohttp's and nginx's default)."""
LINGER_TIMEOUT: Final = 2.0
"""Seconds to keep reading (and dropping) after answering a bad request."""
_MAX_PIPELINED: Final = 32
"""Parsed requests waiting behind a running one before reading pauses."""


class Headers(dict[str, str]):
    """Request headers: keys lower-cased, lookups case-insensitive; repeats joined by ``,``."""

    __slots__ = ()

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)


# Request and Response spell out __init__: a compiled module's dataclass still gets
# the interpreted __init__ that dataclasses generates (about 1 µs each, 14 % of an API
# publish's Python), where a written one is compiled.


@dataclass(slots=True, init=False)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query_string: str
    headers: Headers
    body: bytes
    body_too_large: bool
    """The body passed the route's limit and was dropped (``body`` is empty)."""
    _query: dict[str, str] | None

    def __init__(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: Headers,
        body: bytes,
        body_too_large: bool = False,
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.body_too_large = body_too_large
        self._query = None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, the first value of each."""
        if self._query is None:
            self._query = {k: v[0] for k, v in parse_qs(self.query_string).items()}
        return self._query


@dataclass(slots=True, init=False)
class Response:
    """A whole response; ``content_type`` is added as a header when set."""

    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...]

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers

    @classmethod
    def json(cls, body: bytes, status: int = 200) -> Response:
        """An ``application/json`` response."""
        return cls(status, body, "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        """A ``text/plain`` response."""
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    @classmethod
    def method_not_allowed(cls, allow: str) -> Response:
        """405 naming the methods the path takes."""
        return cls(405, b"405: Method Not Allowed", "text/plain", (("Allow", allow),))


class Upgrade:
    """A handler's answer that takes the connection over (a WebSocket handshake).

    ``head`` is the 101 response, written as is; then the socket belongs to the protocol
    ``protocol_factory`` builds, which gets ``connection_made`` and any bytes that came
    after the request.
    """

    __slots__ = ("head", "protocol_factory")

    def __init__(
        self, head: bytes, protocol_factory: Callable[[asyncio.Transport], asyncio.Protocol]
    ) -> None:
        self.head = head
        self.protocol_factory = protocol_factory


Result = Response | Upgrade
Handler = Callable[[Request], Result | Coroutine[Any, Any, Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """A path's handler, the HTTP methods it takes (None: any) and its body limit."""

    handler: Handler
    methods: frozenset[str] | None = None
    max_body: int = DEFAULT_MAX_BODY
    answers_too_large: bool = False
    """The handler answers a too-large body itself (after its own checks); else 413."""


@dataclass(slots=True)
class Routes:
    """Exact-path routing (every path the server knows is fixed by config)."""

    table: dict[str, Route] = field(default_factory=dict)

    def add(self, path: str, route: Route) -> None:
        """Mount ``route`` at ``path``; a path mounted twice is a programming error."""
        if path in self.table:
            raise ValueError(f"route {path!r} is mounted twice")
        self.table[path] = route

    def get(self, path: str, handler: Handler) -> None:
        """Mount a GET (and HEAD) route."""
        self.add(path, Route(handler, frozenset(("GET", "HEAD"))))


_REASONS: Final = {s.value: s.phrase for s in HTTPStatus}
_date_cache: list[Any] = [0, b""]


def _date() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True).encode()
    return _date_cache[1]  # type: ignore[no-any-return]


_STATUS_LINES: Final = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, r.encode()) for code, r in _REASONS.items()
}
_content_type_lines: dict[str, bytes] = {}
_METHOD_NAMES: Final = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")}


def encode_response(response: Response, *, keep_alive: bool, head: bool = False) -> bytes:
    """The bytes of ``response``: status line, headers, body (none for HEAD)."""
    status = response.status
    status_line = _STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status
    extra = b""
    content_type = response.content_type
    if content_type is not None:
        extra = _content_type_lines.get(content_type) or _content_type_lines.setdefault(
            content_type, b"Content-Type: %s\r\n" % content_type.encode()
        )
    if response.headers:
        extra += "".join(f"{name}: {value}\r\n" for name, value in response.headers).encode()
    if not keep_alive:
        extra += b"Connection: close\r\n"
    body = response.body
    return b"%sDate: %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status_line,
        _date(),
        len(body),
        extra,
        b"" if head else body,
    )


_NOT_FOUND: Final = Response.text("404: Not Found", 404)
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class HTTPServer:
    """Serves ``routes`` on one listening socket; :meth:`close` shuts it down gracefully."""

    def __init__(
        self, routes: Routes, loop: asyncio.AbstractEventLoop, *, eager: bool = False
    ) -> None:
        self.routes = routes
        self.loop = loop
        self.eager = eager
        """Run async handlers eagerly (``eager.py``) instead of in a task each."""
        self.request_timeout = REQUEST_TIMEOUT
        self.keepalive_timeout = KEEPALIVE_TIMEOUT
        self.connections: set[HTTPProtocol] = set()
        """Connections still speaking HTTP (an upgraded one leaves the set)."""
        self.closing = False
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(
        self,
        host: str | None,
        port: int,
        *,
        backlog: int = 4096,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        """Listen on ``host:port`` (all interfaces when ``host`` is empty), TLS with ``ssl``."""
        self._server = await self.loop.create_server(
            lambda: HTTPProtocol(self),
            host or None,
            port,
            backlog=backlog,
            reuse_address=True,
            ssl=ssl,
            ssl_handshake_timeout=10.0 if ssl is not None else None,
        )
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets (tests read the bound port from them)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    def stop_listening(self) -> None:
        """Refuse new connections; requests on open ones go on."""
        self.closing = True
        if self._server is not None:
            self._server.close()

    async def close(self, timeout: float) -> None:
        """Stop listening, close idle connections, give busy ones ``timeout`` to finish."""
        self.stop_listening()
        for conn in list(self.connections):
            if not conn.busy:
                conn.close()
        deadline = self.loop.time() + timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)  # polling a handful of in-flight requests at shutdown
        for conn in list(self.connections):
            conn.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in [c for c in self.connections if c.deadline < now]:
            conn.timed_out()
        self._sweeper = self.loop.call_later(1.0, self._sweep)


class HTTPProtocol(asyncio.Protocol):
    """One HTTP connection: httptools callbacks build requests, handled one at a time."""

    __slots__ = (
        "_body",
        "_body_size",
        "_completed_in_read",
        "_discarding",
        "_head_raw",
        "_head_size",
        "_headers",
        "_in_head",
        "_parser",
        "_path",
        "_paused",
        "_pending",
        "_query",
        "_raw_headers",
        "_route",
        "_too_large",
        "_transport",
        "_upgrade_rest",
        "_url",
        "_waiting",
        "busy",
        "deadline",
        "server",
    )

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        """None once the connection is upgraded or lost: the parser's callbacks are bound
        to this protocol, and the cycle would otherwise leave both to the cyclic GC."""
        self._url = b""
        self._path = ""
        self._query = ""
        self._headers: Headers = Headers()
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._in_head = False
        self._head_raw = 0
        self._completed_in_read = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False
        self._route: Route | None = None
        self._pending: deque[tuple[Request, Route | None, bool]] = deque()
        self._upgrade_rest: bytes | None = None
        self._waiting = False
        """A handler of ours is running as a task; later requests wait behind it."""
        self._paused = False
        self._discarding = False
        """Answered and half-closed: what the client still sends is dropped (lingering)."""
        self.busy = False
        """A request is being handled (or is queued)."""
        self.deadline = server.loop.time() + server.keepalive_timeout

    # ------------------------------------------------------------ asyncio side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._transport = None
        self._parser = None

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        parser = self._parser
        if parser is None:
            return
        self._completed_in_read = False
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade_rest = data[upgrade.args[0] :]
        except httptools.HttpParserError as exc:
            status = 431 if self._head_size > MAX_HEAD_SIZE else 400
            self._fail(status, f"bad HTTP request: {exc}")
            return
        if self._in_head and not self._completed_in_read:
            # llhttp reports a header only once it is complete, so a header that never
            # ends is seen only here: count the reads that hold nothing but this head
            # (one that also ended a pipelined request is left out: never over-count).
            self._head_raw += len(data)
            if self._head_raw > MAX_HEAD_SIZE:
                self._fail(431, "bad HTTP request: request head over 64 KiB")
                return
        self._run()

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()

    def timed_out(self) -> None:
        """Called by the server's sweep once :attr:`deadline` has passed."""
        if self.busy:
            return
        self.close()

    # ------------------------------------------------------------ httptools side

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_raw = 0
        self._url = b""
        self._raw_headers = []
        self._head_size = 0
        self._body = []
        self._body_size = 0
        self._too_large = False
        self._route = None
        self.deadline = self.server.loop.time() + self.server.request_timeout

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > MAX_HEAD_SIZE:
            raise httptools.HttpParserError("request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD_SIZE:
            raise httptools.HttpParserError("request headers too large")
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        pairs = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in self._raw_headers
        ]
        headers = self._headers = Headers(pairs)
        if len(headers) < len(pairs):  # a repeated header: join the values (RFC 9110 §5.3)
            headers.clear()
            for key, text in pairs:
                previous = dict.get(headers, key)
                dict.__setitem__(headers, key, text if previous is None else f"{previous}, {text}")
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            raise httptools.HttpParserError("invalid request target") from None
        self._path = url.path.decode("utf-8", "replace")
        query: bytes | None = cast(Any, url).query  # None when absent (the stub says bytes)
        self._query = query.decode("utf-8", "replace") if query else ""
        self._route = self.server.routes.table.get(self._path)
        if (
            dict.get(self._headers, "expect", "").lower() == "100-continue"
            and self._transport is not None
        ):
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._body_size += len(body)
        limit = self._route.max_body if self._route is not None else DEFAULT_MAX_BODY
        if self._body_size > limit:
            self._too_large = True
            self._body = []
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._completed_in_read = True
        parser = self._parser
        assert parser is not None  # called back from inside feed_data
        method = parser.get_method()
        request = Request(
            method=_METHOD_NAMES.get(method) or method.decode(),
            path=self._path,
            query_string=self._query,
            headers=self._headers,
            body=b"".join(self._body) if self._body else b"",
            body_too_large=self._too_large,
        )
        self._pending.append((request, self._route, parser.should_keep_alive()))
        self.busy = True
        if len(self._pending) > _MAX_PIPELINED and self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    # ------------------------------------------------------------ handling

    def _run(self) -> None:
        """Handle queued requests in order until one needs to wait."""
        if self._waiting:
            return  # _task_done carries on
        while self._pending and self._transport is not None and not self._discarding:
            request, route, keep_alive = self._pending[0]
            result = self._dispatch(request, route)
            if isinstance(result, Upgrade):
                self._pending.clear()
                self._upgrade(result)
                return
            if isinstance(result, Response):
                response = result
            else:
                try:
                    if self.server.eager:
                        done = run_eagerly(self.server.loop, result)
                    else:
                        done = self.server.loop.create_task(result)
                except Exception:
                    logger.exception("error handling %s %s", request.method, request.path)
                    done = Response.text("Internal Server Error", 500)
                if isinstance(done, asyncio.Task):
                    self._waiting = True
                    done.add_done_callback(self._task_done)
                    return
                response = done
            self._pending.popleft()
            self._respond(request, response, keep_alive)
        if not self._pending:
            self.busy = False
        if self._paused and self._transport is not None and len(self._pending) <= _MAX_PIPELINED:
            self._paused = False
            self._transport.resume_reading()

    def _dispatch(
        self, request: Request, route: Route | None
    ) -> Result | Coroutine[Any, Any, Response]:
        if route is None:
            return _NOT_FOUND
        if route.methods is not None and request.method not in route.methods:
            allow = ", ".join(sorted(route.methods))
            return Response.method_not_allowed(allow)
        if request.body_too_large and not route.answers_too_large:
            return Response.text(f"request body over {route.max_body} bytes", 413)
        try:
            return route.handler(request)
        except Exception:
            logger.exception("error handling %s %s", request.method, request.path)
            return Response.text("Internal Server Error", 500)

    def _task_done(self, task: asyncio.Task[Response]) -> None:
        self._waiting = False
        if not self._pending:  # pragma: no cover - the connection was reset meanwhile
            return
        request, _, keep_alive = self._pending.popleft()
        if task.cancelled():
            response = Response.text("Service Unavailable", 503)
        elif (exc := task.exception()) is not None:
            logger.error("error handling %s %s", request.method, request.path, exc_info=exc)
            response = Response.text("Internal Server Error", 500)
        else:
            response = task.result()
        self._respond(request, response, keep_alive)
        self._run()

    def _respond(self, request: Request, response: Response, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        keep_alive = (
            keep_alive
            and not self.server.closing
            and not request.body_too_large
            and self._upgrade_rest is None  # an Upgrade we did not take: llhttp stops here
        )
        transport.write(
            encode_response(response, keep_alive=keep_alive, head=request.method == "HEAD")
        )
        if not keep_alive:
            if request.body_too_large:
                self._linger()
            else:
                transport.close()
                self._transport = None
            return
        self.deadline = self.server.loop.time() + self.server.keepalive_timeout

    def _upgrade(self, upgrade: Upgrade) -> None:
        transport = self._transport
        assert transport is not None
        self.server.connections.discard(self)
        self._transport = None
        self._parser = None
        transport.write(upgrade.head)
        protocol = upgrade.protocol_factory(transport)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        rest = self._upgrade_rest
        if rest:
            protocol.data_received(rest)

    def _fail(self, status: int, message: str) -> None:
        logger.info("%s", message)
        transport = self._transport
        if transport is None:
            return
        response = Response.text(HTTPStatus(status).phrase, status)
        transport.write(encode_response(response, keep_alive=False))
        self._linger()

    def _linger(self) -> None:
        """Close after an error answer without losing it to a TCP reset.

        Closing a socket with unread input makes the kernel send RST, and the client may
        then never read our answer. So: send FIN, drop whatever else arrives, and let the
        sweep close the connection after :data:`LINGER_TIMEOUT` (or the client first).
        """
        transport = self._transport
        assert transport is not None
        self._pending.clear()
        self.busy = False
        self._discarding = True
        self.deadline = self.server.loop.time() + LINGER_TIMEOUT
        if transport.can_write_eof():
            transport.write_eof()
        else:  # pragma: no cover - TCP transports can
            transport.close()
        if self._paused:
            self._paused = False
            transport.resume_reading()
