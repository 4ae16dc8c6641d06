"""WebSocket framing, sans I/O (RFC 6455 §5, RFC 7692 for permessage-deflate).

:class:`FrameReader` turns the bytes a client sends into whole messages and control
frames; the ``*_frame`` functions build what the server sends. Nothing here touches a
socket, so the parser is fuzzed and unit-tested without one (STYLE.md §2).

Server frames are never masked and never fragmented; client frames must be masked (§5.1)
and may be fragmented (§5.4). With permessage-deflate negotiated, a data message whose
first frame has RSV1 set is inflated (RFC 7692 §7.2.2); we never compress what we send,
which the extension allows.
"""

from __future__ import annotations

import zlib
from typing import Final

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INVALID_DATA: Final = 1007
CLOSE_TOO_BIG: Final = 1009

_FIN: Final = 0x80
_RSV1: Final = 0x40
_RSV_ALL: Final = 0x70
_MAX_CONTROL: Final = 125
_MAX_REASON: Final = 123  # §5.5: a control payload is ≤ 125 bytes, 2 of them the code
_DEFLATE_TAIL: Final = b"\x00\x00\xff\xff"
# RFC 6455 §7.4.1 plus the IANA registry's 1012 (service restart), 1013 (try again
# later) and 1014 (bad gateway), which gorilla/websocket and `websockets` accept too.
_VALID_CLOSE_CODES: Final = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)


class FrameError(Exception):
    """The client broke the protocol; close the connection with ``code``.

    Unless ``fatal``, the reader skipped the offending frame and can go on parsing, so
    the client's answer to our close frame is still seen.
    """

    def __init__(self, code: int, reason: str, *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.fatal = fatal
        self.events: list[tuple[int, bytes]] = []
        """Events parsed from the same data before the bad frame (the reader's caller
        handles them first, as a reader going frame by frame would have)."""


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated (§5.3), as one big-integer XOR."""
    n = len(payload)
    if not n:
        return payload
    key = (mask * ((n >> 2) + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def frame_length(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """Header size (mask key not included) and payload length of the frame at ``pos``
    (§5.2); None while the header is not all there."""
    available = len(buf) - pos
    if available < 2:
        return None
    length = buf[pos + 1] & 0x7F
    if length < 126:
        return 2, length
    if length == 126:
        return (4, int.from_bytes(buf[pos + 2 : pos + 4], "big")) if available >= 4 else None
    return (10, int.from_bytes(buf[pos + 2 : pos + 10], "big")) if available >= 10 else None


def frame_header(first_byte: int, length: int) -> bytes:
    """The header of an unmasked server frame (§5.2); ``first_byte`` is FIN|opcode."""
    if length < 126:
        return bytes((first_byte, length))
    if length < 65536:
        return bytes((first_byte, 126)) + length.to_bytes(2, "big")
    return bytes((first_byte, 127)) + length.to_bytes(8, "big")


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with ``code`` and ``reason`` (cut to fit a control frame)."""
    payload = code.to_bytes(2, "big") + _cut_utf8(reason.encode(), _MAX_REASON)
    return frame_header(_FIN | OP_CLOSE, len(payload)) + payload


def pong_frame(payload: bytes) -> bytes:
    """The answer to a ping (§5.5.3): the same application data."""
    return frame_header(_FIN | OP_PONG, len(payload)) + payload


def _cut_utf8(data: bytes, limit: int) -> bytes:
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode()


class FrameReader:
    """Parses client frames into ``(opcode, payload)`` events.

    Events are whole data messages (``OP_TEXT``/``OP_BINARY``, reassembled and inflated),
    ``OP_PING``/``OP_PONG`` frames and ``OP_CLOSE`` (payload: the raw close body). After a
    close frame nothing more is parsed. A message over ``max_size`` bytes on the wire, or
    over ``max_inflated`` once inflated, raises ``FrameError(1009)``; bad deflate data
    ``FrameError(1007)``; any other violation ``FrameError(1002)``.
    """

    __slots__ = (
        "_buf",
        "_closed",
        "_deflate",
        "_inflater",
        "_max",
        "_max_inflated",
        "_parts",
        "_parts_op",
        "_size",
        "_skip",
    )

    def __init__(self, max_size: int, *, deflate: bool = False, max_inflated: int = 0) -> None:
        self._max = max_size
        self._max_inflated = max_inflated or 10 * max_size
        """websocket.decompressed_message_size_limit (0: ten times ``max_size``)."""
        self._deflate = deflate
        self._inflater: zlib._Decompress | None = None
        self._buf = b""
        self._parts: list[bytes] | None = None
        """Fragments of the message being reassembled."""
        self._parts_op = 0
        """Opcode of that message, with ``_RSV1`` when it is compressed."""
        self._size = 0
        self._skip = 0
        """Bytes of an oversized frame still to be dropped."""
        self._closed = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Parse ``data`` (appended to what is buffered); return the complete events."""
        if self._closed:
            return []
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return []
            data = data[self._skip :]
            self._skip = 0
        events: list[tuple[int, bytes]] = []
        try:
            return self._parse(self._buf + data if self._buf else data, events)
        except FrameError as exc:
            exc.events = events
            raise

    def _parse(self, buf: bytes, events: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        n = len(buf)
        pos = 0
        while (sizes := frame_length(buf, pos)) is not None:
            head, length = sizes
            b0 = buf[pos]
            b1 = buf[pos + 1]
            opcode = b0 & 0x0F
            end = pos + head + 4 + length
            if not b1 & 0x80:
                self._closed = True
                raise FrameError(CLOSE_PROTOCOL_ERROR, "client frames must be masked", fatal=True)
            if opcode >= OP_CLOSE:
                if length > _MAX_CONTROL or not b0 & _FIN:
                    self._closed = True
                    raise FrameError(CLOSE_PROTOCOL_ERROR, "bad control frame", fatal=True)
            elif self._size + length > self._max:
                size = self._size + length
                self._skip = max(0, end - n)
                self._buf = buf[end:] if end < n else b""
                self._parts = None
                self._size = 0
                raise FrameError(CLOSE_TOO_BIG, f"message size {size} exceeds {self._max}")
            if end > n:
                break
            mask = buf[pos + head : pos + head + 4]
            payload = unmask(buf[pos + head + 4 : end], mask)
            pos = end
            try:
                event = self._frame(b0, opcode, payload)
            except FrameError:
                self._buf = buf[pos:] if pos < n else b""
                self._parts = None
                self._size = 0
                raise
            if event is not None:
                events.append(event)
                if event[0] == OP_CLOSE:
                    self._closed = True
                    break
        self._buf = buf[pos:] if pos < n else b""
        return events

    def _frame(self, b0: int, opcode: int, payload: bytes) -> tuple[int, bytes] | None:
        rsv = b0 & _RSV_ALL
        if rsv and not (rsv == _RSV1 and self._deflate and opcode in (OP_TEXT, OP_BINARY)):
            raise FrameError(CLOSE_PROTOCOL_ERROR, "unexpected reserved bits")
        if opcode in (OP_TEXT, OP_BINARY):
            if self._parts is not None:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
            if b0 & _FIN:
                if rsv:
                    payload = self._inflate(payload)
                return opcode, payload
            self._parts = [payload]
            self._parts_op = opcode | rsv
            self._size = len(payload)
            return None
        if opcode == OP_CONTINUATION:
            if self._parts is None:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "continuation without a message")
            self._parts.append(payload)
            self._size += len(payload)
            if not b0 & _FIN:
                return None
            message = b"".join(self._parts)
            op = self._parts_op
            self._parts = None
            self._size = 0
            if op & _RSV1:
                message = self._inflate(message)
            return op & 0x0F, message
        if opcode in (OP_CLOSE, OP_PING, OP_PONG):
            return opcode, payload
        raise FrameError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")

    def _inflate(self, payload: bytes) -> bytes:
        if self._inflater is None:
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            data = self._inflater.decompress(payload + _DEFLATE_TAIL, self._max_inflated + 1)
        except zlib.error as exc:
            raise FrameError(CLOSE_INVALID_DATA, f"bad deflate data: {exc}") from None
        if len(data) > self._max_inflated or self._inflater.unconsumed_tail:
            raise FrameError(CLOSE_TOO_BIG, f"inflated message exceeds {self._max_inflated}")
        return data


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a close frame's payload (1005: no code given).

    Raises:
        FrameError: a 1-byte payload, a code that may not be sent, or a reason that is
            not UTF-8 (§5.5.1, §7.4).
    """
    if not payload:
        return 1005, ""
    if len(payload) < 2:
        raise FrameError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code not in _VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        raise FrameError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameError(CLOSE_INVALID_DATA, "close reason is not UTF-8") from None
    return code, reason
