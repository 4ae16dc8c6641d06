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
