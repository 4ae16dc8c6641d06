"""WebSocket transport (client-protocol.md §1.2–§1.5, RFC 6455).

The handshake is answered by :func:`handshake` on our HTTP front door (``web.py``); the
socket then belongs to a :class:`WebSocketConnection`, which is both the asyncio protocol
that reads the client's frames and the client's :class:`~whirlwind.transports.base.Transport`.
An open connection costs that one object, a :class:`FrameReader` and the client: no task,
no timer (until it closes).

Frames we send are unmasked, so a frame is a 2–10 byte header and the payload, written
straight to the asyncio transport without awaiting (STYLE.md §7: fan-out never awaits a
subscriber).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from dataclasses import dataclass
from typing import Final, Protocol

from whirlwind.codes import Disconnect
from whirlwind.transports.ws_frames import (
    CLOSE_NORMAL,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameError,
    FrameReader,
    close_frame,
    frame_header,
    parse_close,
    pong_frame,
)
from whirlwind.web import Request, Response

logger = logging.getLogger("whirlwind.transport")

PROTOBUF_SUBPROTOCOL: Final = "centrifuge-protobuf"
JSON_SUBPROTOCOL: Final = "centrifuge-json"
CLOSE_TIMEOUT: Final = 5.0
"""Seconds to wait for the client's close frame after ours before dropping TCP."""

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_FIN_TEXT: Final = 0x80 | OP_TEXT
_FIN_BINARY: Final = 0x80 | OP_BINARY


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def _tokens(value: str) -> list[str]:
    return [t.strip().lower() for t in value.split(",") if t.strip()]


@dataclass(slots=True, kw_only=True, init=False)
class Handshake:
    """An accepted handshake: the 101 response and what was negotiated.

    Immutable: ``Final`` fields and a written ``__init__``, which mypyc compiles (one is
    built per connection; see protocol/messages.py).
    """

    head: Final[bytes]
    binary: Final[bool]
    """Protobuf (binary frames) rather than JSON (text frames)."""
    deflate: Final[bool]
    """permessage-deflate: the client may send compressed messages."""

    def __init__(self, *, head: bytes, binary: bool, deflate: bool) -> None:
        self.head = head
        self.binary = binary
        self.deflate = deflate


def handshake(request: Request, *, compression: bool) -> Handshake | Response:
    """Check an upgrade request (RFC 6455 §4.2.1) and build the 101 response.

    The subprotocol is the first of the client's that we speak (§1.3); Protobuf is also
    chosen by ``?format=protobuf`` or ``?cf_protocol=protobuf``. permessage-deflate is
    accepted when ``websocket.compression`` is on and the client offers it.
    """
    headers = request.headers
    if request.method != "GET":
        return Response.method_not_allowed("GET")
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        return Response.text("Bad Request: not a WebSocket upgrade", 400)
    if "upgrade" not in _tokens(headers.get("connection", "")):
        return Response.text("Bad Request: Connection header must include upgrade", 400)
    if headers.get("sec-websocket-version") != "13":
        return Response(
            426,
            b"Upgrade Required: Sec-WebSocket-Version must be 13",
            "text/plain",
            (("Sec-WebSocket-Version", "13"),),
        )
    key = headers.get("sec-websocket-key", "")
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        return Response.text("Bad Request: invalid Sec-WebSocket-Key", 400)
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    ]
    protocol = ""
    for offered in headers.get("sec-websocket-protocol", "").split(","):
        offered = offered.strip()
        if offered in (PROTOBUF_SUBPROTOCOL, JSON_SUBPROTOCOL):
            protocol = offered
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
            break
    deflate = False
    if compression:
        extension = _deflate_response(headers.get("sec-websocket-extensions", ""))
        if extension is not None:
            deflate = True
            lines.append(f"Sec-WebSocket-Extensions: {extension}")
    query = request.query if request.query_string else {}
    binary = (
        protocol == PROTOBUF_SUBPROTOCOL
        or query.get("format") == "protobuf"
        or query.get("cf_protocol") == "protobuf"
    )
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return Handshake(head=head, binary=binary, deflate=deflate)


def _deflate_response(offers: str) -> str | None:
    """Our answer to the first permessage-deflate offer we can accept (RFC 7692 §7.1).

    We never compress, so every server-side parameter is trivially honoured and echoed;
    we can inflate any client window, so ``client_max_window_bits`` needs no answer.
    """
    for offer in offers.split(","):
        name, *params = [p.strip() for p in offer.split(";")]
        if name.lower() != "permessage-deflate":
            continue
        answer = ["permessage-deflate"]
        seen: set[str] = set()
        ok = True
        for param in params:
            key, has_value, value = param.partition("=")
            key = key.strip().lower()
            value = value.strip().strip('"')
            if key in seen:  # §7.1: a repeated parameter declines the offer
                ok = False
                break
            seen.add(key)
            if key in ("server_no_context_takeover", "client_no_context_takeover"):
                if has_value:
                    ok = False
                    break
                if key == "server_no_context_takeover":
                    answer.append(key)
            elif key in ("server_max_window_bits", "client_max_window_bits"):
                bits_ok = value.isdigit() and 8 <= int(value) <= 15
                if key == "server_max_window_bits":
                    if not bits_ok:
                        ok = False
                        break
                    answer.append(f"{key}={value}")
                elif has_value and not bits_ok:
                    ok = False
                    break
            else:
                ok = False  # unknown parameter: decline this offer (§5.1)
                break
        if ok:
            return "; ".join(answer)
    return None


class WebSocketConnection(asyncio.Protocol):
    """One upgraded connection: reads frames for its client and writes its frames."""

    __slots__ = (
        "_close_timer",
        "_closing",
        "_loop",
        "_opcode",
        "_open",
        "_reader",
        "_transport",
        "client",
    )

    name: Final = "websocket"

    def __init__(
        self,
        transport: asyncio.Transport,
        reader: FrameReader,
        *,
        binary: bool,
        loop: asyncio.AbstractEventLoop,
        open_: set[WebSocketConnection],
    ) -> None:
        self._transport = transport
        self._open = open_
        """The server's open connections, which this one leaves when it closes."""
        open_.add(self)
        self._reader = reader
        self._opcode = _FIN_BINARY if binary else _FIN_TEXT
        self._loop = loop
        self._closing = False
        self._close_timer: asyncio.TimerHandle | None = None
        self.client: ClientSide | None = None
        """Set by whoever accepted the connection, right after building it."""

    # ------------------------------------------------------------ reading

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass  # the transport came with the constructor

    def data_received(self, data: bytes) -> None:
        try:
            events = self._reader.feed(data)
        except FrameError as exc:
            self._handle(exc.events)
            self._protocol_error(exc)
            return
        self._handle(events)

    def _handle(self, events: list[tuple[int, bytes]]) -> None:
        client = self.client
        for opcode, payload in events:
            if opcode in (OP_TEXT, OP_BINARY):
                if client is not None and not self._closing:
                    client.receive(payload)
            elif opcode == OP_PING:
                if not self._closing:
                    self._transport.write(pong_frame(payload))
            elif opcode == OP_CLOSE:
                self._peer_closed(payload)
                return

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._closing = True
        self._open.discard(self)
        if self.client is not None:
            self.client.connection_lost()

    def abort(self) -> None:
        """Drop the connection now (shutdown, after waiting for close replies)."""
        self._transport.abort()

    def _peer_closed(self, payload: bytes) -> None:
        """The client sent a close frame: answer it (unless we started) and drop TCP."""
        if not self._closing:
            self._closing = True
            try:
                code, _ = parse_close(payload)
            except FrameError as exc:
                self._transport.write(close_frame(exc.code, exc.reason))
            else:
                self._transport.write(close_frame(CLOSE_NORMAL if code == 1005 else code))
        self._transport.close()

    def _protocol_error(self, exc: FrameError) -> None:
        client = self.client
        logger.info(
            "websocket protocol error: %s",
            exc.reason,
            extra={"client": client.client_id, "user": client.user} if client else None,
        )
        if not self._closing:
            self._closing = True
            self._transport.write(close_frame(exc.code, exc.reason))
            if exc.fatal:  # the stream cannot be parsed further: no close reply to wait for
                self._transport.close()
            else:
                self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self._transport.abort)

    # ------------------------------------------------------------ Transport

    @property
    def frame_key(self) -> object:
        """WebSocket text or binary frames."""
        return self._opcode

    def encode_frame(self, payload: bytes) -> bytes:
        """One final text (JSON) or binary (Protobuf) frame."""
        return frame_header(self._opcode, len(payload)) + payload

    def write_frame(self, frame: bytes) -> None:
        """Write an encoded frame."""
        if not self._closing:
            self._transport.write(frame)

    def write(self, payload: bytes) -> None:
        """Frame and write one payload."""
        if not self._closing:
            self._transport.write(frame_header(self._opcode, len(payload)) + payload)

    def close(self, disconnect: Disconnect) -> None:
        """Send a close frame with the code and reason (§1.5); 3000 just drops TCP.

        The client answers with its own close frame, and then we drop TCP; one that does
        not answer within :data:`CLOSE_TIMEOUT` is dropped anyway.
        """
        if self._closing:
            return
        self._closing = True
        if disconnect.code == 3000:
            self._transport.close()
            return
        self._transport.write(close_frame(disconnect.code, disconnect.reason))
        self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self._transport.abort)

    def write_buffer_size(self) -> int:
        """Bytes waiting in the asyncio transport."""
        return self._transport.get_write_buffer_size()


class ClientSide(Protocol):
    """What a connection needs of the client it carries (``client.client.Client``)."""

    @property
    def client_id(self) -> str: ...

    @property
    def user(self) -> str: ...

    def receive(self, data: bytes) -> None: ...

    def connection_lost(self) -> None: ...
