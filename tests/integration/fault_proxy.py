"""A TCP proxy between test clients and a server that can cut every connection.

``drop_all()`` ends the connections it carries: with a TCP RST by default (``SO_LINGER``
0, no WebSocket close frame — what a crashed peer or a dead network path looks like to
the server), or with a plain FIN. While ``refusing``, new connections are reset at once,
so a client keeps retrying until :meth:`accept` lets it through again. ``upstream`` can be
moved to another server (a restart behind the same address).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class FaultProxy:
    """``127.0.0.1:<port>`` → ``127.0.0.1:<upstream>``, every byte both ways."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        """The server port new connections go to."""
        self.refusing = False
        self.accepted = 0
        """Connections let through so far."""
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port clients connect to."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str = "/connection/websocket") -> str:
        """A WebSocket URL through the proxy."""
        return f"ws://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    def refuse(self) -> None:
        """Reset new connections until :meth:`accept`."""
        self.refusing = True

    def accept(self) -> None:
        """Let new connections through again."""
        self.refusing = False

    def drop_all(self, *, rst: bool = True) -> None:
        """End every carried connection on both sides (RST, or FIN with ``rst=False``)."""
        for client, upstream in list(self._pairs):
            for writer in (client, upstream):
                _close(writer, rst=rst)
        self._pairs.clear()

    async def close(self) -> None:
        """Stop listening and drop everything."""
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            _close(writer, rst=True)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            _close(writer, rst=True)
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, pair))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        # One side ended: end the other (a FIN, as the peer did) unless dropped already.
        if pair in self._pairs:
            self._pairs.discard(pair)
            for writer in pair:
                _close(writer, rst=False)


def _close(writer: asyncio.StreamWriter, *, rst: bool) -> None:
    transport = writer.transport
    if transport.is_closing():
        return
    if rst:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
