"""WebSocket transport on aiohttp (client-protocol.md §1.2–§1.5).

Frames we send are built here and written straight to the connection's asyncio transport:
a server frame is unmasked, so the bytes are a 2–10 byte header and the payload, and
writing them needs no await (STYLE.md §7: fan-out never awaits a subscriber). aiohttp
still reads, answers WebSocket pings and runs the closing handshake.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from aiohttp import WSCloseCode, web

from whirlwind.codes import Disconnect

logger = logging.getLogger("whirlwind.transport")

_OP_TEXT: Final = 0x81
_OP_BINARY: Final = 0x82
_MAX_REASON: Final = 123  # RFC 6455 §5.5: control frame payload ≤ 125 bytes, 2 for the code.


def frame_header(opcode: int, length: int) -> bytes:
    """The header of a final, unmasked server frame (RFC 6455 §5.2)."""
    if length < 126:
        return bytes((opcode, length))
    if length < 65536:
        return bytes((opcode, 126)) + length.to_bytes(2, "big")
    return bytes((opcode, 127)) + length.to_bytes(8, "big")


class WebSocketTransport:
    """A client's aiohttp WebSocket, written without awaiting."""

    __slots__ = ("_closing", "_opcode", "_tasks", "_transport", "_ws")

    name: Final = "websocket"

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        *,
        binary: bool,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self._ws = ws
        self._transport = transport
        self._opcode = _OP_BINARY if binary else _OP_TEXT
        self._closing = False
        self._tasks = tasks

    @property
    def frame_key(self) -> object:
        """WebSocket text or binary frames."""
        return self._opcode

    def encode_frame(self, payload: bytes) -> bytes:
        """One final text (JSON) or binary (Protobuf) frame."""
        return frame_header(self._opcode, len(payload)) + payload

    def write_frame(self, frame: bytes) -> None:
        """Write an encoded frame."""
        if self._closing:
            return
        self._transport.write(frame)

    def write(self, payload: bytes) -> None:
        """Frame and write one payload."""
        if self._closing:
            return
        self._transport.write(frame_header(self._opcode, len(payload)) + payload)

    def close(self, disconnect: Disconnect) -> None:
        """Send a close frame with the code and reason (§1.5); 3000 just drops TCP."""
        if self._closing:
            return
        self._closing = True
        if disconnect.code == 3000:
            self._transport.close()
            return
        reason = disconnect.reason.encode()[:_MAX_REASON]
        task = asyncio.ensure_future(self._close(disconnect.code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, code: int, reason: bytes) -> None:
        try:
            await self._ws.close(code=code, message=reason)
        except Exception:  # the peer may be gone already
            logger.debug("websocket close failed", exc_info=True)
            self._transport.close()

    def write_buffer_size(self) -> int:
        """Bytes waiting in the asyncio transport."""
        return self._transport.get_write_buffer_size()


MESSAGE_TOO_BIG: Final = WSCloseCode.MESSAGE_TOO_BIG
