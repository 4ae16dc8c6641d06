"""The composition root: builds the node, mounts every HTTP endpoint, runs and stops.

Only this module and ``cli.py`` import everything (STYLE.md §1). One aiohttp application
serves the WebSocket transport, the server API and the operational endpoints on the same
port (client-protocol.md §1.1, channels-config.md §5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from whirlwind.api.executor import Executor
from whirlwind.api.http import add_api_routes
from whirlwind.broker.memory import MemoryBroker
from whirlwind.client.client import Client
from whirlwind.config.schema import Config
from whirlwind.node import Node
from whirlwind.presence.memory import MemoryPresenceManager
from whirlwind.protocol.json_codec import JSON_CODEC
from whirlwind.protocol.protobuf_codec import PROTOBUF_CODEC
from whirlwind.transports.origin import OriginChecker
from whirlwind.transports.websocket import WebSocketTransport

if TYPE_CHECKING:
    from whirlwind.api.grpc import GRPCAPIServer

logger = logging.getLogger("whirlwind.node")
access_logger = logging.getLogger("whirlwind.access")

NODE_KEY = web.AppKey("node", Node)
_PROTOBUF_SUBPROTOCOL = "centrifuge-protobuf"


def _wants_protobuf(request: web.Request, ws: web.WebSocketResponse) -> bool:
    # Client-protocol §1.3: the subprotocol, or ?format=protobuf / ?cf_protocol=protobuf.
    if ws.ws_protocol == _PROTOBUF_SUBPROTOCOL:
        return True
    query = request.query
    return query.get("format") == "protobuf" or query.get("cf_protocol") == "protobuf"


def websocket_handler(
    node: Node, origins: OriginChecker
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The ``/connection/websocket`` handler (client-protocol.md §1.2–§1.5)."""
    config = node.config.websocket
    tasks: set[asyncio.Task[None]] = set()

    async def handle(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not origins.allowed(origin):
            logger.info("request origin not allowed: %s", origin)
            raise web.HTTPForbidden(text="origin not allowed")
        if node.shutting_down:
            raise web.HTTPServiceUnavailable(text="shutting down")
        ws = web.WebSocketResponse(
            protocols=(_PROTOBUF_SUBPROTOCOL, "centrifuge-json"),
            autoping=True,
            max_msg_size=config.message_size_limit,
            compress=config.compression,
        )
        await ws.prepare(request)
        raw = request.transport
        if raw is None:  # pragma: no cover - the peer left during the handshake
            return ws
        binary = _wants_protobuf(request, ws)
        transport = WebSocketTransport(ws, raw, binary=binary, tasks=tasks)
        client = Client(
            node, transport, PROTOBUF_CODEC if binary else JSON_CODEC, headers=request.headers
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    client.receive(msg.data.encode())
                elif msg.type is WSMsgType.BINARY:
                    client.receive(msg.data)
                elif msg.type is WSMsgType.ERROR:
                    logger.info(
                        "websocket error: %s",
                        msg.data,
                        extra={"client": client.client_id, "user": client.user},
                    )
        finally:
            client.connection_lost()
        return ws

    return handle


async def health(request: web.Request) -> web.Response:
    """``GET /health`` → 200 ``{}`` (channels-config.md §5.7)."""
    return web.json_response({})


@dataclass(slots=True)
class Server:
    """A built application and its node."""

    app: web.Application
    node: Node
    grpc_api: GRPCAPIServer | None = None
    internal_app: web.Application | None = None
    """Served on ``http_server.internal_port`` when one is configured."""


def build(config: Config, loop: asyncio.AbstractEventLoop | None = None) -> Server:
    """Build the node and the aiohttp application for ``config`` (the memory engine)."""
    loop = loop or asyncio.get_running_loop()
    broker = MemoryBroker()
    presence = MemoryPresenceManager(ttl=config.engine.redis.presence_ttl)
    node = Node(config=config, broker=broker, presence=presence, loop=loop)
    app = web.Application(client_max_size=1024**2 * 10)
    app[NODE_KEY] = node
    origins = OriginChecker(config.client.allowed_origins)
    if not config.websocket.disabled:
        app.router.add_get(config.websocket.handler_prefix, websocket_handler(node, origins))
    # Channels-config §5.2: with an internal port, the API and the operational endpoints
    # move there; `http_api.external` keeps the API on the main port as well.
    http = config.http_server
    internal_app: web.Application | None = None
    if http.internal_port is not None and http.internal_port != http.port:
        internal_app = web.Application(client_max_size=1024**2 * 10)
        internal_app[NODE_KEY] = node
    ops_app = internal_app or app
    if config.health.enabled:
        ops_app.router.add_get(config.health.handler_prefix, health)
    executor = Executor(node)  # one server API, two fronts
    if not config.http_api.disabled:
        add_api_routes(ops_app, executor, config.http_api)
        if internal_app is not None and config.http_api.external:
            add_api_routes(app, executor, config.http_api)
    # The GRPC API listens on its own port (server-api.md §12).
    grpc_api: GRPCAPIServer | None = None
    if config.grpc_api.enabled:
        # Imported only when enabled: grpcio costs ~13 MB of RSS and start-up time.
        from whirlwind.api.grpc import GRPCAPIServer

        grpc_api = GRPCAPIServer(executor, config.grpc_api)

    async def on_startup(_: web.Application) -> None:
        await node.start()
        if grpc_api is not None:
            await grpc_api.start()

    async def on_shutdown(_: web.Application) -> None:
        if grpc_api is not None:
            await grpc_api.stop(grace=config.shutdown.timeout)
        await node.shutdown()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return Server(app=app, node=node, grpc_api=grpc_api, internal_app=internal_app)


async def serve(config: Config, *, ready: asyncio.Event | None = None) -> None:
    """Run the server until SIGINT or SIGTERM, then shut down gracefully.

    Shutdown order (STYLE.md §7): stop accepting, disconnect clients with 3001 so they
    reconnect elsewhere, drain, close the broker.
    """
    loop = asyncio.get_running_loop()
    server = build(config, loop)
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=config.shutdown.timeout)
    await runner.setup()
    http = config.http_server
    site = web.TCPSite(runner, http.address or None, http.port, backlog=4096)
    await site.start()
    internal_runner: web.AppRunner | None = None
    if server.internal_app is not None:
        internal_runner = web.AppRunner(server.internal_app, access_log=None)
        await internal_runner.setup()
        address = http.internal_address if http.internal_address is not None else http.address
        await web.TCPSite(internal_runner, address or None, http.internal_port).start()
        logger.info("internal endpoints on %s:%s", address or "0.0.0.0", http.internal_port)
    if config.pid_file:
        with open(config.pid_file, "w") as f:
            f.write(str(os.getpid()))
    logger.info(
        "serving on %s:%s (engine %s, node %s)",
        http.address or "0.0.0.0",
        http.port,
        config.engine.type,
        server.node.name,
    )
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
        await runner.cleanup()
        if internal_runner is not None:
            await internal_runner.cleanup()
        logger.info("stopped")


def run(config: Config) -> None:
    """Run :func:`serve` on uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        asyncio.run(serve(config))
        return
    uvloop.run(serve(config))
