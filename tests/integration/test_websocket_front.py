"""The HTTP front door and the WebSocket transport as real clients see them
(client-protocol.md §1.2–§1.5): plain HTTP answers on the WebSocket path, permessage-deflate
negotiated and inflated when ``websocket.compression`` is on, and declined when it is off;
TLS from ``http_server.tls``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from certificates import make_certificates
from harness import (
    RunningServer,
    ServerFactory,
    deep_merge,
    default_config,
    free_port,
)
from websockets.asyncio.client import ClientConnection

TIMEOUT = 10.0


def http_request(server: RunningServer, method: str, path: str, **headers: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


async def connect(ws: ClientConnection, token: str, data: Any = None) -> dict[str, Any]:
    command: dict[str, Any] = {"id": 1, "connect": {"token": token}}
    if data is not None:
        command["connect"]["data"] = data
    await ws.send(json.dumps(command))
    async with asyncio.timeout(TIMEOUT):
        while True:
            for line in str(await ws.recv()).splitlines():
                message = json.loads(line)
                if message.get("id") == 1:
                    return message  # type: ignore[no-any-return]


async def test_plain_http_on_the_websocket_path(server: RunningServer) -> None:
    status, body = await asyncio.to_thread(http_request, server, "GET", "/connection/websocket")
    assert status == 400 and "upgrade" in body.lower()
    status, _ = await asyncio.to_thread(http_request, server, "POST", "/connection/websocket")
    assert status == 405
    status, _ = await asyncio.to_thread(
        http_request,
        server,
        "GET",
        "/connection/websocket",
        Connection="Upgrade",
        Upgrade="websocket",
        **{"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "8"},
    )
    assert status == 426
    status, _ = await asyncio.to_thread(http_request, server, "GET", "/no/such/path")
    assert status == 404


async def test_compressed_client_messages_are_inflated(server_factory: ServerFactory) -> None:
    """``websocket.compression: true``: the extension is accepted and a client's deflated
    messages (the ``websockets`` client compresses what it sends) are read; replies go out
    uncompressed, which the extension allows."""
    with server_factory({"websocket": {"compression": True}}) as srv:
        async with websockets.connect(srv.ws_url, compression="deflate", proxy=None) as ws:
            assert ws.response is not None
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert extensions.startswith("permessage-deflate")
            big = {"text": "whirlwind " * 2000}  # 20 KB that deflates to almost nothing
            reply = await connect(ws, srv.token("42"), data=big)
            assert reply["connect"]["client"]
            # A second compressed message on the same connection (context takeover).
            await ws.send(json.dumps({"id": 2, "subscribe": {"channel": "news"}}))
            async with asyncio.timeout(TIMEOUT):
                while True:
                    frames = [json.loads(x) for x in str(await ws.recv()).splitlines()]
                    if any(f.get("id") == 2 for f in frames):
                        break


async def test_compression_is_declined_when_off(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url, compression="deflate", proxy=None) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        reply = await connect(ws, server.token("42"))
        assert reply["connect"]["client"]


# ---- admission (client.connection_limit, client.connection_rate_limit) -------------------


async def open_ws(server: RunningServer) -> ClientConnection | int:
    """A WebSocket whose handshake succeeded, or the HTTP status that refused it."""
    try:
        return await websockets.connect(
            server.ws_url, open_timeout=TIMEOUT, ping_interval=None, proxy=None
        )
    except websockets.exceptions.InvalidStatus as exc:
        assert exc.response.body is not None
        assert b"limit reached" in exc.response.body, exc.response.body
        return exc.response.status_code


async def received(ws: ClientConnection, data: dict[str, Any]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            for line in str(await ws.recv()).splitlines():
                if json.loads(line).get("push", {}).get("pub", {}).get("data") == data:
                    return


async def test_node_connection_limit_refuses_the_handshake_with_503(
    server_factory: ServerFactory,
) -> None:
    """Centrifugo v6 answers 503 before the upgrade (internal/middleware/connlimit.go); the
    connections already open are untouched, and one closing makes room."""
    with server_factory({"client": {"connection_limit": 2}}) as srv:
        first, second = await open_ws(srv), await open_ws(srv)
        assert not isinstance(first, int) and not isinstance(second, int)
        for ws in (first, second):
            assert "connect" in await connect(ws, srv.token("42"))
            await ws.send(json.dumps({"id": 2, "subscribe": {"channel": "news"}}))
        assert await open_ws(srv) == 503
        assert await open_ws(srv) == 503
        await asyncio.to_thread(srv.api, "publish", {"channel": "news", "data": {"n": 1}})
        await received(first, {"n": 1})
        await received(second, {"n": 1})
        await first.close()
        async with asyncio.timeout(TIMEOUT):  # until the server has seen the close
            while isinstance(third := await open_ws(srv), int):
                await asyncio.sleep(0.05)
        assert "connect" in await connect(third, srv.token("43"))
        await third.close()
        await second.close()
        assert "node connection limit reached (2 connections)" in srv.log()


async def test_connection_rate_limit_refuses_the_handshake_with_503(
    server_factory: ServerFactory,
) -> None:
    with server_factory({"client": {"connection_rate_limit": 1}}) as srv:
        first = await open_ws(srv)
        assert not isinstance(first, int)
        assert await open_ws(srv) == 503  # within the second: the bucket holds one
        assert "connect" in await connect(first, srv.token("42"))
        await first.close()
        assert "connection rate limit reached (1 new connections/s)" in srv.log()


# ---- TLS (http_server.tls) ----------------------------------------------------------------


async def test_tls_on_the_main_port(server_factory: ServerFactory, tmp_path: Path) -> None:
    """``http_server.tls``: WebSocket over TLS on the main port (certificate from a file,
    key as raw PEM); ``tls_external`` keeps the internal port (API, health) plain."""
    certs = make_certificates()
    cert_path = tmp_path / "server.pem"
    cert_path.write_bytes(certs.server_cert)
    internal = free_port()
    overrides = {
        "http_server": {
            "tls": {
                "enabled": True,
                "cert_pem": str(cert_path),
                "key_pem": certs.server_key.decode(),
            },
            "tls_external": True,
            "internal_port": internal,
        }
    }
    with server_factory(overrides) as srv:
        trust = ssl.create_default_context(cadata=certs.ca_cert.decode())
        url = f"wss://localhost:{srv.port}/connection/websocket"
        async with websockets.connect(url, ssl=trust, proxy=None) as ws:
            reply = await connect(ws, srv.token("42"))
            assert reply["connect"]["client"]
        # Plain WebSocket on the TLS port is refused at the TLS layer.
        with pytest.raises((OSError, websockets.exceptions.InvalidMessage, asyncio.TimeoutError)):
            async with asyncio.timeout(TIMEOUT):
                await websockets.connect(srv.ws_url, proxy=None, open_timeout=TIMEOUT)
        assert "(TLS)" in srv.log()


def test_unreadable_tls_material_fails_at_start(tmp_path: Path) -> None:
    """A bad ``http_server.tls`` stops the server with one line naming the key, exit 1."""
    config = deep_merge(
        default_config(),
        {"http_server": {"tls": {"enabled": True, "cert_pem": str(tmp_path / "missing.pem")}}},
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "whirlwind",
            "serve",
            "--config",
            str(path),
            "--http_server.port",
            str(free_port()),
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    output = (done.stdout + done.stderr).decode()
    assert "http_server.tls.cert_pem" in output
    assert "Traceback" not in output
