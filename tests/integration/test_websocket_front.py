"""The HTTP front door and the WebSocket transport as real clients see them
(client-protocol.md §1.2–§1.5): plain HTTP answers on the WebSocket path, permessage-deflate
negotiated and inflated when ``websocket.compression`` is on, and declined when it is off.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any

import websockets
from harness import RunningServer, ServerFactory
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
