"""The composition root: builds the node, mounts every HTTP endpoint, runs and stops.

Only this module and ``cli.py`` import everything (STYLE.md §1). One HTTP front door
(``web.py``) serves the WebSocket transport, the server API and the operational endpoints
on the same port (client-protocol.md §1.1, channels-config.md §5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import whirlwind
from whirlwind.api.executor import Executor
from whirlwind.api.http import add_api_routes
from whirlwind.broker.memory import MemoryBroker
from whirlwind.client.client import Client
from whirlwind.config.schema import Config
from whirlwind.node import Node
from whirlwind.presence.memory import MemoryPresenceManager
from whirlwind.protocol.json_codec import JSON_CODEC
from whirlwind.protocol.protobuf_codec import PROTOBUF_CODEC
from whirlwind.tls import server_ssl_context
from whirlwind.transports.admission import Admission
from whirlwind.transports.origin import OriginChecker
from whirlwind.transports.websocket import Handshake, WebSocketConnection, handshake
from whirlwind.transports.ws_frames import FrameReader
from whirlwind.web import HTTPServer, Request, Response, Route, Routes, Upgrade

if TYPE_CHECKING:
    from whirlwind.api.grpc import GRPCAPIServer

logger = logging.getLogger("whirlwind.node")


def websocket_route(node: Node, origins: OriginChecker, open_: set[WebSocketConnection]) -> Route:
    """The ``/connection/websocket`` route (client-protocol.md §1.2–§1.5)."""
    config = node.config.websocket
    loop = node.loop
    admission = Admission(
        connection_limit=node.config.client.connection_limit,
        connection_rate_limit=node.config.client.connection_rate_limit,
        now=loop.time(),
    )

    def handle(request: Request) -> Response | Upgrade:
        refusal = admission.refusal(len(open_), loop.time())
        if refusal is not None:
            return Response.text(refusal, 503)
        origin = request.headers.get("origin")
        if not origins.allowed(origin):
            logger.info("request origin not allowed: %s", origin)
            return Response.text("origin not allowed", 403)
        if node.shutting_down:
            return Response.text("shutting down", 503)
        accepted = handshake(request, compression=config.compression)
        if not isinstance(accepted, Handshake):
            logger.info("bad websocket handshake: %s", accepted.body.decode(errors="replace"))
            return accepted
        binary = accepted.binary
        reader = FrameReader(
            config.message_size_limit,
            deflate=accepted.deflate,
            max_inflated=config.decompressed_message_size_limit,
        )
        headers = request.headers

        def connect(transport: asyncio.Transport) -> WebSocketConnection:
            conn = WebSocketConnection(transport, reader, binary=binary, loop=loop, open_=open_)
            conn.client = Client(
                node, conn, PROTOBUF_CODEC if binary else JSON_CODEC, headers=headers
            )
            return conn

        return Upgrade(accepted.head, connect)

    return Route(handle, frozenset(("GET",)))


def health(request: Request) -> Response:
    """``GET /health`` → 200 ``{}`` (channels-config.md §5.7)."""
    return Response.json(b"{}")


@dataclass(slots=True)
class Server:
    """A built server: its node and the routes of each port."""

    node: Node
    routes: Routes
    internal_routes: Routes | None = None
    """Served on ``http_server.internal_port`` when one is configured."""
    grpc_api: GRPCAPIServer | None = None
    websockets: set[WebSocketConnection] = field(default_factory=set)
    """Open WebSocket connections (waited for at shutdown)."""


def build(config: Config, loop: asyncio.AbstractEventLoop | None = None) -> Server:
    """Build the node and the routes for ``config`` (the memory engine)."""
    loop = loop or asyncio.get_running_loop()
    broker = MemoryBroker()
    presence = MemoryPresenceManager(ttl=config.engine.redis.presence_ttl)
    node = Node(config=config, broker=broker, presence=presence, loop=loop)
    client = config.client
    node.eager = not (
        client.token.jwks_public_endpoint
        or (client.subscription_token.enabled and client.subscription_token.jwks_public_endpoint)
    )  # the memory engine never needs a current task; JWKS fetches (aiohttp) do
    routes = Routes()
    websockets: set[WebSocketConnection] = set()
    origins = OriginChecker(config.client.allowed_origins)
    if not config.websocket.disabled:
        routes.add(config.websocket.handler_prefix, websocket_route(node, origins, websockets))
    # Channels-config §5.2: with an internal port, the API and the operational endpoints
    # move there; `http_api.external` keeps the API on the main port as well.
    http = config.http_server
    internal: Routes | None = None
    if http.internal_port is not None and http.internal_port != http.port:
        internal = Routes()
    ops = internal or routes
    if config.health.enabled:
        ops.get(config.health.handler_prefix, health)
    executor = Executor(node)  # one server API, two fronts
    if not config.http_api.disabled:
        add_api_routes(ops, executor, config.http_api)
        if internal is not None and config.http_api.external:
            add_api_routes(routes, executor, config.http_api)
    # The GRPC API listens on its own port (server-api.md §12).
    grpc_api: GRPCAPIServer | None = None
    if config.grpc_api.enabled:
        # Imported only when enabled: grpcio costs ~13 MB of RSS and start-up time.
        from whirlwind.api.grpc import GRPCAPIServer

        grpc_api = GRPCAPIServer(executor, config.grpc_api)
    return Server(
        node=node, routes=routes, internal_routes=internal, grpc_api=grpc_api, websockets=websockets
    )


async def serve(
    config: Config, *, ready: asyncio.Event | None = None, freeze_startup: bool = False
) -> None:
    """Run the server until SIGINT or SIGTERM, then shut down gracefully.

    Shutdown order (STYLE.md §7): stop accepting, disconnect clients with 3001 so they
    reconnect elsewhere, let requests in flight finish, drain, close the broker.

    With ``freeze_startup`` (a server process of its own), what start-up built (modules,
    config, routes: some 50,000 objects) is moved out of the GC's reach once serving, so
    no later full collection walks it again.
    """
    loop = asyncio.get_running_loop()
    main_tls, internal_tls = _tls_contexts(config)  # bad TLS material: fail before starting
    server = build(config, loop)
    node = server.node
    await node.start()
    if server.grpc_api is not None:
        await server.grpc_api.start()
    http = config.http_server
    main = HTTPServer(server.routes, loop, eager=node.eager)
    await main.start(http.address, http.port, ssl=main_tls)
    fronts = [main]
    if server.internal_routes is not None:
        internal = HTTPServer(server.internal_routes, loop, eager=node.eager)
        address = http.internal_address if http.internal_address is not None else http.address
        await internal.start(address, http.internal_port or 0, ssl=internal_tls)
        fronts.append(internal)
        logger.info(
            "internal endpoints on %s:%s%s",
            address or "0.0.0.0",
            http.internal_port,
            " (TLS)" if internal_tls is not None else "",
        )
    if config.pid_file:
        with open(config.pid_file, "w") as f:
            f.write(str(os.getpid()))
    logger.info(
        "serving on %s:%s%s (engine %s, node %s, %s)",
        http.address or "0.0.0.0",
        http.port,
        " (TLS)" if main_tls is not None else "",
        config.engine.type,
        node.name,
        "compiled" if whirlwind.compiled() else "pure Python",
    )
    if freeze_startup:
        gc.collect()
        gc.freeze()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        logger.info("shutting down")
        timeout = config.shutdown.timeout
        for front in fronts:
            front.stop_listening()
        if server.grpc_api is not None:
            await server.grpc_api.stop(grace=timeout)
        await node.shutdown()
        await asyncio.gather(*(front.close(timeout) for front in fronts))
        await _wait_closed(server.websockets, loop.time() + timeout)
        logger.info("stopped")


def _tls_contexts(config: Config) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """TLS of the main and the internal port (channels-config.md §5.2).

    ``http_server.tls`` serves the main port, and the internal one too unless
    ``tls_external`` keeps TLS to the external endpoints; ``internal_tls`` gives the
    internal port its own.
    """
    http = config.http_server
    main = server_ssl_context(http.tls, "http_server.tls") if http.tls.enabled else None
    internal: ssl.SSLContext | None
    if http.internal_tls.enabled:
        internal = server_ssl_context(http.internal_tls, "http_server.internal_tls")
    elif not http.tls_external:
        internal = main
    else:
        internal = None
    return main, internal


async def _wait_closed(websockets: set[WebSocketConnection], deadline: float) -> None:
    """Give clients until ``deadline`` to answer our close frames, then drop the rest."""
    loop = asyncio.get_running_loop()
    while websockets and loop.time() < deadline:
        await asyncio.sleep(0.05)  # a bounded wait at exit; close replies arrive in ms
    for conn in list(websockets):
        conn.abort()


GC_THRESHOLDS: Final = (20_000, 20, 10)
"""The cyclic GC's thresholds for a server process (Python's are 700, 10, 10).

Every connection leaves a dozen or more tracked objects alive, and each collection walks
its generation at memory speed (about 0.7 µs an object on the reference VM): young
collections every 20,000 allocations took the in-process connect path from 334 to 296 µs
(median of seven; docs/performance.md)."""


def run(config: Config) -> None:
    """Run :func:`serve` on uvloop when available, with the GC tuned for a server."""
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        asyncio.run(serve(config, freeze_startup=True))
        return
    uvloop.run(serve(config, freeze_startup=True))
