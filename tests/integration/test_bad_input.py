"""Bad input over raw WebSockets against a real Whirlwind process (client-protocol.md §1–§9).

Each case checks the exact close code (and reason where the spec gives one), that a second,
connected and subscribed client keeps receiving API publications before and after, and
that the server log holds one clear line about the bad client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from whirlwind.protocol import client_pb2 as pb
from whirlwind.protocol.protobuf_codec import encode_varint

if TYPE_CHECKING:
    from harness import RunningServer, ServerFactory

TIMEOUT = 5.0

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------
# helpers


async def api(server: RunningServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call the HTTP API from a thread (the loop keeps reading meanwhile)."""
    return await asyncio.to_thread(server.api, method, params)


async def open_ws(
    server: RunningServer, *, protobuf: bool = False, **kwargs: Any
) -> ClientConnection:
    return await websockets.connect(
        server.ws_url,
        subprotocols=["centrifuge-protobuf"] if protobuf else None,  # type: ignore[list-item]
        ping_interval=None,
        max_size=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        proxy=None,
        **kwargs,
    )


def pb_frame(command: pb.Command) -> bytes:
    """One varint-delimited Protobuf command (§1.3)."""
    body: bytes = command.SerializeToString()
    return encode_varint(len(body)) + body


async def connect_json(ws: ClientConnection, token: str) -> dict[str, Any]:
    """Send connect, return the reply (pings before it are answered)."""
    await ws.send(json.dumps({"id": 1, "connect": {"token": token, "name": "raw"}}))
    return await reply_to(ws, 1)


async def reply_to(ws: ClientConnection, command_id: int) -> dict[str, Any]:
    """Read JSON frames until the reply to ``command_id``, answering pings."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = await ws.recv()
            assert isinstance(frame, str)
            for line in frame.split("\n"):
                message = json.loads(line)
                if message == {}:
                    await ws.send("{}")
                elif message.get("id") == command_id:
                    return dict(message)


async def closed(ws: ClientConnection, timeout: float = TIMEOUT) -> tuple[int | None, str | None]:
    """Read until the server closes; return the close code and reason received."""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code, ws.close_reason


def log_lines(server: RunningServer, offset: int) -> list[dict[str, Any]]:
    """Server log records written after ``offset`` characters."""
    records = []
    for line in server.log()[offset:].splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records


def clear_lines(records: list[dict[str, Any]], *keywords: str) -> list[dict[str, Any]]:
    """Records whose message holds every keyword (case-insensitive)."""
    return [
        r for r in records if all(k.lower() in str(r.get("message", "")).lower() for k in keywords)
    ]


async def logged(
    server: RunningServer, offset: int, *keywords: str, timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    """Log records after ``offset`` holding every keyword, read once the first non-debug
    record (the disconnect's) is there; a file has no event to await, so poll."""
    deadline = time.monotonic() + timeout
    while True:
        records = log_lines(server, offset)
        if any(r.get("level") != "debug" for r in records) or time.monotonic() > deadline:
            return clear_lines(records, *keywords)
        await asyncio.sleep(0.05)


class Watcher:
    """A connected, subscribed raw client that must keep receiving publications."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.channel = f"watch-{uuid.uuid4().hex[:12]}"
        self.publications: asyncio.Queue[Any] = asyncio.Queue()
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ws = ws = await open_ws(self.server)
        reply = await connect_json(ws, self.server.token("watcher"))
        assert "connect" in reply, reply
        await ws.send(json.dumps({"id": 2, "subscribe": {"channel": self.channel}}))
        reply = await reply_to(ws, 2)
        assert "subscribe" in reply, reply
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                assert isinstance(frame, str)
                for line in frame.split("\n"):
                    message = json.loads(line)
                    if message == {}:
                        await self.ws.send("{}")  # pong (§7)
                        continue
                    pub = message.get("push", {}).get("pub")
                    if pub is not None:
                        self.publications.put_nowait(pub.get("data"))

    async def check(self) -> None:
        """An API publication to the watcher's channel arrives."""
        marker = uuid.uuid4().hex
        reply = await api(self.server, "publish", {"channel": self.channel, "data": {"m": marker}})
        assert "error" not in reply, reply
        data = await asyncio.wait_for(self.publications.get(), TIMEOUT)
        assert data == {"m": marker}

    async def closed_by_server(self, timeout: float = TIMEOUT) -> tuple[int | None, str | None]:
        """Wait until the server closes the watcher (its reader task owns ``recv``)."""
        assert self.ws is not None and self._reader is not None
        async with asyncio.timeout(timeout):
            await self._reader
        return self.ws.close_code, self.ws.close_reason

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader


@contextlib.asynccontextmanager
async def watching(server: RunningServer) -> AsyncIterator[Watcher]:
    watcher = Watcher(server)
    await watcher.start()
    try:
        await watcher.check()
        yield watcher
        await watcher.check()
    finally:
        await watcher.close()


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# ---------------------------------------------------------------------------
# cases on the default server


@dataclass(frozen=True)
class Case:
    """One bad client: what it does, how it must be closed, what the log must say."""

    act: Callable[[RunningServer], Awaitable[ClientConnection]]
    code: int
    reason: str | None
    log: tuple[str, ...]


async def _connected(server: RunningServer) -> ClientConnection:
    ws = await open_ws(server)
    reply = await connect_json(ws, server.token("42"))
    assert "connect" in reply, reply
    return ws


async def invalid_json(server: RunningServer) -> ClientConnection:
    ws = await _connected(server)
    await ws.send('{"id":2,"subscribe":{"channel":')
    return ws


async def unknown_command(server: RunningServer) -> ClientConnection:
    ws = await _connected(server)
    await ws.send('{"id":1,"foo":{}}')
    return ws


async def missing_id(server: RunningServer) -> ClientConnection:
    ws = await _connected(server)
    await ws.send('{"subscribe":{"channel":"x"}}')
    return ws


async def command_before_connect(server: RunningServer) -> ClientConnection:
    ws = await open_ws(server)
    await ws.send('{"id":1,"subscribe":{"channel":"x"}}')
    return ws


async def oversized_frame(server: RunningServer) -> ClientConnection:
    ws = await _connected(server)
    data = "x" * 70_000  # > websocket.message_size_limit (65536)
    await ws.send(json.dumps({"id": 2, "publish": {"channel": "x", "data": data}}))
    return ws


async def garbage_protobuf(server: RunningServer) -> ClientConnection:
    ws = await open_ws(server, protobuf=True)
    assert ws.subprotocol == "centrifuge-protobuf"
    await ws.send(pb_frame(pb.Command(id=1, connect=pb.ConnectRequest(token=server.token("42")))))
    reply = await ws.recv()
    assert isinstance(reply, bytes)
    # A varint length prefix promising more bytes than the frame holds, then junk.
    await ws.send(b"\xff\xff\x03\x0a\xff\xfe\x00\x17")
    return ws


async def wrong_signature(server: RunningServer) -> ClientConnection:
    ws = await open_ws(server)
    token = jwt.encode(
        {"sub": "42", "exp": int(time.time()) + 3600}, "another-secret-" * 3, algorithm="HS256"
    )
    await ws.send(json.dumps({"id": 1, "connect": {"token": token}}))
    return ws


async def alg_none(server: RunningServer) -> ClientConnection:
    ws = await open_ws(server)
    header = b64url({"alg": "none", "typ": "JWT"})
    payload = b64url({"sub": "42", "exp": int(time.time()) + 3600})
    await ws.send(json.dumps({"id": 1, "connect": {"token": f"{header}.{payload}."}}))
    return ws


async def second_connect(server: RunningServer) -> ClientConnection:
    ws = await _connected(server)
    await ws.send(json.dumps({"id": 2, "connect": {"token": server.token("42")}}))
    return ws


async def empty_channel(server: RunningServer) -> ClientConnection:
    ws = await _connected(server)
    await ws.send('{"id":2,"subscribe":{"channel":""}}')
    return ws


CASES = {
    "invalid-json": Case(invalid_json, 3501, "bad request", ("3501", "json")),
    "unknown-command": Case(unknown_command, 3501, "bad request", ("3501", "unknown command")),
    "missing-id": Case(missing_id, 3501, "bad request", ("3501", "without id")),
    "command-before-connect": Case(
        command_before_connect, 3501, "bad request", ("3501", "before connect")
    ),
    "oversized-frame": Case(oversized_frame, 1009, None, ("65536",)),
    "garbage-protobuf": Case(garbage_protobuf, 3501, "bad request", ("3501", "bad request")),
    "wrong-signature": Case(wrong_signature, 3500, "invalid token", ("3500", "signature")),
    "alg-none": Case(alg_none, 3500, "invalid token", ("3500", "alg")),
    "second-connect": Case(second_connect, 3501, "bad request", ("3501", "second connect")),
    "empty-channel": Case(empty_channel, 3501, "bad request", ("3501", "channel")),
}


def assert_one_clear_line(server: RunningServer, offset: int, lines: list[dict[str, Any]]) -> None:
    """Exactly one line names the problem, and it is the only non-debug line."""
    records = log_lines(server, offset)
    assert len(lines) == 1, records
    assert [r for r in records if r.get("level") != "debug"] == lines, records


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_client_is_closed(server: RunningServer, name: str) -> None:
    """The bad client gets the exact close code; the watcher is unaffected."""
    case = CASES[name]
    async with watching(server):
        ws = await case.act(server)
        code, reason = await closed(ws)
        assert code == case.code
        if case.reason is not None:
            assert reason == case.reason


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_client_is_logged(server: RunningServer, name: str) -> None:
    """The server log holds one clear line about the bad client."""
    case = CASES[name]
    offset = len(server.log())
    ws = await case.act(server)
    await closed(ws)
    assert_one_clear_line(server, offset, await logged(server, offset, *case.log))


# ---------------------------------------------------------------------------
# timers and output queue (their own servers)


async def test_stale_connection(server_factory: ServerFactory) -> None:
    """No connect within ``client.stale_close_delay`` → 3502 stale."""
    with server_factory({"client": {"stale_close_delay": "0.5s"}}) as srv:
        async with watching(srv):
            offset = len(srv.log())
            ws = await open_ws(srv)
            assert await closed(ws) == (3502, "stale")
            assert_one_clear_line(srv, offset, await logged(srv, offset, "3502 stale"))


async def test_missing_pong(server_factory: ServerFactory) -> None:
    """A client that never answers pings → 3012 no pong; the watcher answers and stays."""
    overrides = {"client": {"ping_interval": "1s", "pong_timeout": "0.5s"}}
    with server_factory(overrides) as srv:
        async with watching(srv) as watcher:
            offset = len(srv.log())
            ws = await open_ws(srv)
            reply = await connect_json(ws, srv.token("42"))
            assert reply["connect"]["ping"] == 1
            assert reply["connect"]["pong"] is True
            first = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert first == "{}"  # the server ping; deliberately not answered
            assert await closed(ws) == (3012, "no pong")
            assert_one_clear_line(srv, offset, await logged(srv, offset, "3012 no pong"))
            # The watcher has been pinged too and answered: it is still here.
            await watcher.check()


async def test_slow_client(server_factory: ServerFactory) -> None:
    """A client that stops reading while its channel gets megabytes → 3008 slow."""
    with server_factory({"client": {"queue_max_size": 65536}}) as srv:
        async with watching(srv) as watcher:
            offset = len(srv.log())
            # max_queue=1: websockets stops reading the socket once one frame is buffered.
            ws = await open_ws(srv, max_queue=1)
            reply = await connect_json(ws, srv.token("42"))
            assert "connect" in reply
            channel = f"flood-{uuid.uuid4().hex[:8]}"
            await ws.send(json.dumps({"id": 2, "subscribe": {"channel": channel}}))
            assert "subscribe" in await reply_to(ws, 2)
            blob = "x" * 100_000
            for n in range(320):  # up to 32 MB
                reply = await api(srv, "publish", {"channel": channel, "data": {"n": n, "b": blob}})
                assert "error" not in reply, reply
                if n % 20 == 0:
                    await watcher.check()
                if clear_lines(log_lines(srv, offset), "3008"):
                    break
            assert await closed(ws, timeout=15) == (3008, "slow")
            assert_one_clear_line(srv, offset, await logged(srv, offset, "3008 slow"))


async def test_sigterm_closes_clients_with_3001(server_factory: ServerFactory) -> None:
    """Graceful shutdown: every client gets 3001 shutdown and the process exits 0."""
    with server_factory() as srv:
        watcher = Watcher(srv)
        await watcher.start()
        await watcher.check()
        ws = await open_ws(srv)
        assert "connect" in await connect_json(ws, srv.token("42"))
        stopping = asyncio.create_task(asyncio.to_thread(srv.stop))
        assert await closed(ws, timeout=15) == (3001, "shutdown")
        assert await watcher.closed_by_server(timeout=15) == (3001, "shutdown")
        assert await stopping == 0
        await watcher.close()
