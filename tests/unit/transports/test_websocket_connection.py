"""WebSocketConnection behind a real HTTPServer: handshake, messages, ping, close codes.

The client side is raw bytes over asyncio streams (masked frames built here); the
connection's client is a fake that records what it receives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from whirlwind.codes import Disconnect
from whirlwind.transports.websocket import (
    Handshake,
    WebSocketConnection,
    accept_key,
    handshake,
)
from whirlwind.transports.ws_frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
)
from whirlwind.web import HTTPServer, Request, Response, Route, Routes, Upgrade

WAIT = 2.0
MAX_SIZE = 1000


class FakeClient:
    """Stands in for whirlwind.client.Client: records messages and the connection loss."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.lost = asyncio.Event()

    @property
    def client_id(self) -> str:
        return "client-1"

    @property
    def user(self) -> str:
        return "user-1"

    def receive(self, data: bytes) -> None:
        self.received.put_nowait(data)

    def connection_lost(self) -> None:
        self.lost.set()


class Endpoint:
    """The WebSocket route, keeping each connection and its fake client."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.open: set[WebSocketConnection] = set()
        self.connections: asyncio.Queue[tuple[WebSocketConnection, FakeClient]] = asyncio.Queue()

    def handle(self, request: Request) -> Response | Upgrade:
        accepted = handshake(request, compression=True)
        if not isinstance(accepted, Handshake):
            return accepted
        reader = FrameReader(MAX_SIZE, deflate=accepted.deflate)
        binary = accepted.binary

        def connect(transport: asyncio.Transport) -> WebSocketConnection:
            conn = WebSocketConnection(
                transport, reader, binary=binary, loop=self.loop, open_=self.open
            )
            client = FakeClient()
            conn.client = client
            self.connections.put_nowait((conn, client))
            return conn

        return Upgrade(accepted.head, connect)


class WSClient:
    """A raw WebSocket client: masked frames out, unmasked frames in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, opcode: int, payload: bytes = b"", *, rsv: int = 0, masked: bool = True) -> None:
        n = len(payload)
        first = 0x80 | rsv | opcode
        bit = 0x80 if masked else 0
        if n < 126:
            head = bytes((first, bit | n))
        elif n < 65536:
            head = bytes((first, bit | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((first, bit | 127)) + n.to_bytes(8, "big")
        if not masked:
            self.writer.write(head + payload)
            return
        mask = os.urandom(4)
        self.writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def frame(self) -> tuple[int, bytes]:
        """One server frame: it must be final and unmasked."""
        async with asyncio.timeout(WAIT):
            b0, b1 = await self.reader.readexactly(2)
            assert b0 & 0x80, "server frames are never fragmented"
            assert not b1 & 0x80, "server frames are never masked"
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            return b0 & 0x0F, await self.reader.readexactly(length)

    async def close_code(self) -> int:
        opcode, payload = await self.frame()
        assert opcode == OP_CLOSE
        return int.from_bytes(payload[:2], "big")

    async def eof(self) -> None:
        async with asyncio.timeout(WAIT):
            rest = await self.reader.read()
        assert rest == b"", f"unexpected bytes before EOF: {rest[:100]!r}"


Open = Callable[..., Awaitable[tuple[WSClient, WebSocketConnection, FakeClient]]]


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[HTTPServer, Endpoint]]:
    loop = asyncio.get_running_loop()
    ws = Endpoint(loop)
    routes = Routes()
    routes.add("/connection/websocket", Route(ws.handle, frozenset(("GET",))))
    server = HTTPServer(routes, loop)
    await server.start("127.0.0.1", 0)
    yield server, ws
    for conn in list(ws.open):
        conn.abort()
    await server.close(0.5)


@pytest.fixture
async def open_ws(endpoint: tuple[HTTPServer, Endpoint]) -> AsyncIterator[Open]:
    server, ws = endpoint
    writers: list[asyncio.StreamWriter] = []

    async def open_one(*headers: str) -> tuple[WSClient, WebSocketConnection, FakeClient]:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /connection/websocket HTTP/1.1",
            "Host: test",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *headers,
            "",
            "",
        ]
        writer.write("\r\n".join(lines).encode())
        async with asyncio.timeout(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
            conn, client = await ws.connections.get()
        assert head.startswith(b"HTTP/1.1 101 ")
        assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in head
        return WSClient(reader, writer), conn, client

    yield open_one
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def received(client: FakeClient) -> bytes:
    async with asyncio.timeout(WAIT):
        return await client.received.get()


async def test_messages_both_ways(open_ws: Open) -> None:
    ws, conn, client = await open_ws()
    ws.send(OP_TEXT, b'{"id":1,"connect":{}}')
    assert await received(client) == b'{"id":1,"connect":{}}'
    conn.write(b'{"id":1,"connect":{"client":"c"}}')
    assert await ws.frame() == (OP_TEXT, b'{"id":1,"connect":{"client":"c"}}')
    conn.write_frame(conn.encode_frame(b"x" * 300))
    assert await ws.frame() == (OP_TEXT, b"x" * 300)


async def test_protobuf_connection_writes_binary_frames(open_ws: Open) -> None:
    ws, conn, client = await open_ws("Sec-WebSocket-Protocol: centrifuge-protobuf")
    ws.send(OP_BINARY, b"\x08\x01")
    assert await received(client) == b"\x08\x01"
    conn.write(b"\x08\x02")
    assert await ws.frame() == (OP_BINARY, b"\x08\x02")


async def test_compressed_message_is_inflated(open_ws: Open) -> None:
    ws, _, client = await open_ws("Sec-WebSocket-Extensions: permessage-deflate")
    compressor = zlib.compressobj(wbits=-15)
    for _ in range(2):  # the second one leans on the first one's window
        data = compressor.compress(b"hello hello hello") + compressor.flush(zlib.Z_SYNC_FLUSH)
        ws.send(OP_TEXT, data[:-4], rsv=0x40)
        assert await received(client) == b"hello hello hello"


async def test_ping_gets_pong(open_ws: Open) -> None:
    ws, _, _ = await open_ws()
    ws.send(OP_PING, b"are you there")
    assert await ws.frame() == (OP_PONG, b"are you there")


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        ((1000).to_bytes(2, "big") + b"bye", 1000),
        (b"", 1000),  # 1005, "no code": answered with a normal closure
        ((4001).to_bytes(2, "big"), 4001),
        ((1005).to_bytes(2, "big"), 1002),  # may not be sent on the wire
        (b"\x03", 1002),
        (b"\x03\xe8\xff", 1007),
    ],
)
async def test_client_close_is_answered_and_tcp_dropped(
    open_ws: Open, payload: bytes, answer: int
) -> None:
    ws, _, client = await open_ws()
    ws.send(OP_CLOSE, payload)
    assert await ws.close_code() == answer
    await ws.eof()
    async with asyncio.timeout(WAIT):
        await client.lost.wait()


async def test_oversized_message_closes_with_1009_then_waits_for_reply(open_ws: Open) -> None:
    ws, _, client = await open_ws()
    ws.send(OP_TEXT, b"x" * (MAX_SIZE + 1))
    assert await ws.close_code() == 1009
    ws.send(OP_TEXT, b"ignored while closing")
    ws.send(OP_CLOSE, (1009).to_bytes(2, "big"))
    await ws.eof()
    assert client.received.empty()
    async with asyncio.timeout(WAIT):
        await client.lost.wait()


async def test_unmasked_frame_closes_with_1002_at_once(open_ws: Open) -> None:
    ws, _, client = await open_ws()
    ws.send(OP_TEXT, b"hi", masked=False)
    assert await ws.close_code() == 1002
    await ws.eof()
    async with asyncio.timeout(WAIT):
        await client.lost.wait()


async def test_server_disconnect_sends_code_and_waits_for_reply(open_ws: Open) -> None:
    ws, conn, _ = await open_ws()
    conn.close(Disconnect(3001, "shutdown"))
    opcode, payload = await ws.frame()
    assert opcode == OP_CLOSE
    assert payload == (3001).to_bytes(2, "big") + b"shutdown"
    conn.write(b"not after close")  # dropped: nothing may follow a close frame
    ws.send(OP_CLOSE, payload)
    await ws.eof()


async def test_disconnect_3000_just_drops_tcp(open_ws: Open) -> None:
    ws, conn, client = await open_ws()
    conn.close(Disconnect(3000, "connection closed"))
    await ws.eof()
    async with asyncio.timeout(WAIT):
        await client.lost.wait()


async def test_tcp_close_by_client_reaches_the_client_object(
    open_ws: Open, endpoint: tuple[HTTPServer, Endpoint]
) -> None:
    ws, conn, client = await open_ws()
    ws.writer.close()
    async with asyncio.timeout(WAIT):
        await client.lost.wait()
    assert conn not in endpoint[1].open


async def test_failed_handshake_is_an_http_answer(endpoint: tuple[HTTPServer, Endpoint]) -> None:
    server, _ = endpoint
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /connection/websocket HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    async with asyncio.timeout(WAIT):
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # an Upgrade we did not take: the connection ends here
    assert head.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13\r\n" in head
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
