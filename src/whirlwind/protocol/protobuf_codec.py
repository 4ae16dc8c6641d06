"""The Protobuf codec: varint-delimited ``Command``/``Reply`` messages (client-protocol.md §1.3).

Rules:

* A frame is ``varint(len(m1)) m1 varint(len(m2)) m2 …`` in both directions; client frames
  carry ``Command`` messages, server frames carry ``Reply`` messages.
* A zero-length ``Command`` is a pong and a zero-length ``Reply`` (``0x00``) is a ping (§1.3).
* Anything undecodable (empty frame, truncated or over-long varint, a length running past the
  frame, a malformed message) raises :class:`~whirlwind.errors.ProtocolError`, nothing else:
  the peer's mistake becomes disconnect 3501.
* Unknown fields are ignored (§2, §16). A command carrying several request fields is read
  as the one with the lowest field number; the state machine judges the command, the codec
  does not (an id-0 command with a request other than ``send`` is still decoded).
* Replies are serialized in field-number order, proto3 zero values omitted, so that the
  output is byte for byte what Centrifugo sends (TV10). A result or push payload is always
  present, even when empty (``publish`` → ``42 00``), as §2.2 requires.
* ``encode_publication`` is the fan-out hot path: it writes the bytes directly instead of
  building ``client_pb2`` messages; the unit tests check it against ``client_pb2``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from google.protobuf.message import DecodeError

from whirlwind.codes import Error
from whirlwind.errors import ProtocolError
from whirlwind.protocol import client_pb2 as pb
from whirlwind.protocol.messages import (
    ClientInfo,
    Command,
    ConnectPush,
    ConnectRequest,
    ConnectResult,
    DisconnectPush,
    HistoryRequest,
    HistoryResult,
    Join,
    Leave,
    Message,
    PingRequest,
    PresenceRequest,
    PresenceResult,
    PresenceStatsRequest,
    PresenceStatsResult,
    Publication,
    PublishRequest,
    PublishResult,
    Push,
    RefreshPush,
    RefreshRequest,
    RefreshResult,
    Request,
    Result,
    RPCRequest,
    RPCResult,
    SendRequest,
    StreamPosition,
    SubRefreshRequest,
    SubRefreshResult,
    SubscribePush,
    SubscribeRequest,
    SubscribeResult,
    UnsubscribePush,
    UnsubscribeRequest,
    UnsubscribeResult,
)

__all__ = [
    "MAX_VARINT_LENGTH",
    "PROTOBUF_CODEC",
    "ProtobufCodec",
    "decode_varint",
    "encode_varint",
]

MAX_VARINT_LENGTH: Final = 10
"""A protobuf varint holds at most 64 bits, i.e. 10 bytes of 7 bits."""

_UINT64_MASK: Final = (1 << 64) - 1
_ONE_BYTE: Final = tuple(bytes((n,)) for n in range(0x80))
_PONG: Final = Command(id=0, request=None)

# ---------------------------------------------------------------------------
# Varints (LEB128, as protobuf writes them)


def encode_varint(n: int) -> bytes:
    """Encode ``n`` as a protobuf varint.

    Negative numbers are written as their 64-bit two's complement (10 bytes), as protobuf does
    for ``int64`` fields.

    Raises:
        ValueError: ``n`` does not fit in 64 bits.
    """
    if 0 <= n < 0x80:
        return _ONE_BYTE[n]
    if n < 0:
        if n < -(1 << 63):
            raise ValueError(f"varint out of range: {n}")
        n &= _UINT64_MASK
    elif n > _UINT64_MASK:
        raise ValueError(f"varint out of range: {n}")
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode the unsigned varint starting at ``data[pos]``.

    Returns:
        The value and the position just after the varint.

    Raises:
        ProtocolError: the varint is truncated, longer than 10 bytes or above 2**64 - 1.
    """
    try:
        byte = data[pos]
    except IndexError:
        raise ProtocolError("truncated varint") from None
    if byte < 0x80:
        return byte, pos + 1
    result = byte & 0x7F
    shift = 7
    end = len(data)
    pos += 1
    while True:
        if pos >= end:
            raise ProtocolError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift >= 7 * MAX_VARINT_LENGTH:
            raise ProtocolError("varint longer than 10 bytes")
    if result > _UINT64_MASK:
        raise ProtocolError("varint above 64 bits")
    return result, pos


def _delimited(message: bytes) -> bytes:
    """Prefix an encoded message with its length (§1.3)."""
    return encode_varint(len(message)) + message


# ---------------------------------------------------------------------------
# Decoding requests (client → server)


def _subscribe_request(m: Any) -> SubscribeRequest:
    return SubscribeRequest(
        channel=m.channel,
        token=m.token,
        recover=m.recover,
        epoch=m.epoch,
        offset=m.offset,
        data=m.data,
        positioned=m.positioned,
        recoverable=m.recoverable,
        join_leave=m.join_leave,
        delta=m.delta,
        has_tags_filter=m.HasField("tf"),
        flag=m.flag,
        type=m.type,
    )


def _connect_request(m: Any) -> ConnectRequest:
    return ConnectRequest(
        token=m.token,
        data=m.data,
        subs={channel: _subscribe_request(sub) for channel, sub in m.subs.items()},
        name=m.name,
        version=m.version,
        headers=dict(m.headers),
    )


def _unsubscribe_request(m: Any) -> UnsubscribeRequest:
    return UnsubscribeRequest(channel=m.channel)


def _publish_request(m: Any) -> PublishRequest:
    return PublishRequest(channel=m.channel, data=m.data, type=m.type)


def _presence_request(m: Any) -> PresenceRequest:
    return PresenceRequest(channel=m.channel)


def _presence_stats_request(m: Any) -> PresenceStatsRequest:
    return PresenceStatsRequest(channel=m.channel)


def _history_request(m: Any) -> HistoryRequest:
    since = None
    if m.HasField("since"):
        since = StreamPosition(offset=m.since.offset, epoch=m.since.epoch)
    return HistoryRequest(channel=m.channel, limit=m.limit, since=since, reverse=m.reverse)


def _ping_request(m: Any) -> PingRequest:
    return PingRequest()


def _send_request(m: Any) -> SendRequest:
    return SendRequest(data=m.data)


def _rpc_request(m: Any) -> RPCRequest:
    return RPCRequest(method=m.method, data=m.data)


def _refresh_request(m: Any) -> RefreshRequest:
    return RefreshRequest(token=m.token)


def _sub_refresh_request(m: Any) -> SubRefreshRequest:
    return SubRefreshRequest(channel=m.channel, token=m.token, type=m.type)


# Command request fields in field-number order (§2.1): if several are set, the first wins.
# A HasField() loop beats ListFields() here: the common commands come first.
_REQUEST_FIELDS: Final[tuple[tuple[str, Callable[[Any], Request]], ...]] = (
    ("connect", _connect_request),
    ("subscribe", _subscribe_request),
    ("unsubscribe", _unsubscribe_request),
    ("publish", _publish_request),
    ("presence", _presence_request),
    ("presence_stats", _presence_stats_request),
    ("history", _history_request),
    ("ping", _ping_request),
    ("send", _send_request),
    ("rpc", _rpc_request),
    ("refresh", _refresh_request),
    ("sub_refresh", _sub_refresh_request),
)


def _decode_command(data: bytes) -> Command:
    """Decode one non-empty ``Command`` message."""
    message = pb.Command()
    try:
        message.ParseFromString(data)
    except (DecodeError, UnicodeDecodeError) as exc:
        # upb reports invalid UTF-8 in a string field as DecodeError, the pure-Python
        # protobuf implementation as UnicodeDecodeError.
        raise ProtocolError(f"malformed command: {exc}") from exc
    for name, convert in _REQUEST_FIELDS:
        if message.HasField(name):
            return Command(id=message.id, request=convert(getattr(message, name)))
    return Command(id=message.id, request=None)


# ---------------------------------------------------------------------------
# Encoding (server → client) with client_pb2: results, errors, pushes other than publications


def _client_info_pb(info: ClientInfo) -> Any:
    return pb.ClientInfo(
        user=info.user, client=info.client, conn_info=info.conn_info, chan_info=info.chan_info
    )


def _publication_pb(publication: Publication) -> Any:
    message = pb.Publication(
        data=publication.data,
        offset=publication.offset,
        delta=publication.delta,
        time=publication.time,
    )
    if publication.info is not None:
        message.info.CopyFrom(_client_info_pb(publication.info))
    if publication.tags:
        message.tags.update(publication.tags)
    return message


def _subscribe_result_pb(result: SubscribeResult) -> Any:
    return pb.SubscribeResult(
        expires=result.expires,
        ttl=result.ttl,
        recoverable=result.recoverable,
        epoch=result.epoch,
        publications=[_publication_pb(p) for p in result.publications],
        recovered=result.recovered,
        offset=result.offset,
        positioned=result.positioned,
        data=result.data,
        was_recovering=result.was_recovering,
        delta=result.delta,
    )


def _connect_fields(result: ConnectResult) -> dict[str, Any]:
    """The fields shared by ``ConnectResult`` and the ``Connect`` push (§4.9)."""
    return {
        "client": result.client,
        "version": result.version,
        "expires": result.expires,
        "ttl": result.ttl,
        "data": result.data,
        "subs": {channel: _subscribe_result_pb(sub) for channel, sub in result.subs.items()},
        "ping": result.ping,
        "pong": result.pong,
        "session": result.session,
        "node": result.node,
        "time": result.time,
    }


def _reply_for_result(command_id: int, result: Result) -> Any:
    match result:
        case SubscribeResult():
            return pb.Reply(id=command_id, subscribe=_subscribe_result_pb(result))
        case PublishResult():
            return pb.Reply(id=command_id, publish=pb.PublishResult())
        case UnsubscribeResult():
            return pb.Reply(id=command_id, unsubscribe=pb.UnsubscribeResult())
        case ConnectResult():
            return pb.Reply(id=command_id, connect=pb.ConnectResult(**_connect_fields(result)))
        case PresenceResult():
            presence = {cid: _client_info_pb(info) for cid, info in result.presence.items()}
            return pb.Reply(id=command_id, presence=pb.PresenceResult(presence=presence))
        case PresenceStatsResult():
            stats = pb.PresenceStatsResult(
                num_clients=result.num_clients, num_users=result.num_users
            )
            return pb.Reply(id=command_id, presence_stats=stats)
        case HistoryResult():
            history = pb.HistoryResult(
                publications=[_publication_pb(p) for p in result.publications],
                epoch=result.epoch,
                offset=result.offset,
            )
            return pb.Reply(id=command_id, history=history)
        case RPCResult():
            return pb.Reply(id=command_id, rpc=pb.RPCResult(data=result.data))
        case RefreshResult():
            refresh = pb.RefreshResult(
                client=result.client,
                version=result.version,
                expires=result.expires,
                ttl=result.ttl,
            )
            return pb.Reply(id=command_id, refresh=refresh)
        case SubRefreshResult():
            sub_refresh = pb.SubRefreshResult(expires=result.expires, ttl=result.ttl)
            return pb.Reply(id=command_id, sub_refresh=sub_refresh)
    raise TypeError(f"not a result: {result!r}")


def _push_pb(push: Push) -> Any:
    body = push.body
    channel = push.channel
    match body:
        case Join():
            return pb.Push(channel=channel, join=pb.Join(info=_client_info_pb(body.info)))
        case Leave():
            return pb.Push(channel=channel, leave=pb.Leave(info=_client_info_pb(body.info)))
        case UnsubscribePush():
            unsubscribe = pb.Unsubscribe(code=body.code, reason=body.reason)
            return pb.Push(channel=channel, unsubscribe=unsubscribe)
        case Message():
            return pb.Push(channel=channel, message=pb.Message(data=body.data))
        case SubscribePush():
            subscribe = pb.Subscribe(
                recoverable=body.recoverable,
                epoch=body.epoch,
                offset=body.offset,
                positioned=body.positioned,
                data=body.data,
            )
            return pb.Push(channel=channel, subscribe=subscribe)
        case ConnectPush():
            connect = pb.Connect(**_connect_fields(body.result))
            return pb.Push(channel=channel, connect=connect)
        case DisconnectPush():
            disconnect = pb.Disconnect(code=body.code, reason=body.reason)
            return pb.Push(channel=channel, disconnect=disconnect)
        case RefreshPush():
            refresh = pb.Refresh(expires=body.expires, ttl=body.ttl)
            return pb.Push(channel=channel, refresh=refresh)
        case Publication():
            return pb.Push(channel=channel, pub=_publication_pb(body))
    raise TypeError(f"not a push body: {body!r}")


def _serialize(message: Any) -> bytes:
    # Deterministic: map entries (subs, presence, tags) in a fixed order, so that equal results
    # always give equal bytes.
    data: bytes = message.SerializeToString(deterministic=True)
    return data


# ---------------------------------------------------------------------------
# The publication hot path, written by hand (field numbers from client.proto). Lengths below
# 128 are one byte: the ``_ONE_BYTE`` lookups inline the common case of encode_varint().


def _client_info_bytes(info: ClientInfo) -> bytes:
    out = b""
    if info.user:
        raw = info.user.encode()
        size = len(raw)
        out = b"\x0a" + (_ONE_BYTE[size] if size < 0x80 else encode_varint(size)) + raw  # user = 1
    if info.client:
        raw = info.client.encode()
        size = len(raw)
        out += b"\x12" + (_ONE_BYTE[size] if size < 0x80 else encode_varint(size)) + raw  # = 2
    if info.conn_info:
        out += b"\x1a" + encode_varint(len(info.conn_info)) + info.conn_info  # conn_info = 3
    if info.chan_info:
        out += b"\x22" + encode_varint(len(info.chan_info)) + info.chan_info  # chan_info = 4
    return out


def _tags_bytes(tags: dict[str, str]) -> bytes:
    # tags = 7: one entry message per key, sorted so that equal publications give equal bytes
    # (entry order carries no meaning); protobuf writes key and value even when empty.
    parts: list[bytes] = []
    for key, value in sorted(tags.items()):
        raw_key = key.encode()
        raw_value = value.encode()
        key_field = b"\x0a" + encode_varint(len(raw_key)) + raw_key
        entry = key_field + b"\x12" + encode_varint(len(raw_value)) + raw_value
        parts += (b"\x3a", encode_varint(len(entry)), entry)
    return b"".join(parts)


def _publication_bytes(publication: Publication) -> bytes:
    out = b""
    data = publication.data
    if data:
        size = len(data)
        out = b"\x22" + (_ONE_BYTE[size] if size < 0x80 else encode_varint(size)) + data  # data = 4
    info = publication.info
    if info is not None:
        raw = _client_info_bytes(info)
        out += b"\x2a" + encode_varint(len(raw)) + raw  # info = 5
    offset = publication.offset
    if offset:
        out += b"\x30" + (_ONE_BYTE[offset] if offset < 0x80 else encode_varint(offset))  # = 6
    if publication.tags:
        out += _tags_bytes(publication.tags)  # tags = 7
    if publication.delta:
        out += b"\x40\x01"  # delta = 8
    if publication.time:
        out += b"\x48" + encode_varint(publication.time)  # time = 9
    return out


# ---------------------------------------------------------------------------
# The codec


class ProtobufCodec:
    """Client protocol v2 over Protobuf (subprotocol ``centrifuge-protobuf``, §1.3)."""

    name: Final = "protobuf"
    binary: Final = True

    def decode_commands(self, frame: bytes) -> list[Command]:
        """Decode every varint-delimited command of a frame, in order.

        A zero-length message is a pong: ``Command(id=0, request=None)``.

        Raises:
            ProtocolError: the frame is empty, a length prefix is bad or runs past the end of
                the frame, or a command is malformed.
        """
        if not frame:
            raise ProtocolError("empty frame")
        commands: list[Command] = []
        pos = 0
        end = len(frame)
        while pos < end:
            length, pos = decode_varint(frame, pos)
            if length == 0:
                # Centrifugo client protocol: an empty command is a pong (§1.3, §7).
                commands.append(_PONG)
                continue
            stop = pos + length
            if stop > end:
                raise ProtocolError("truncated command")
            commands.append(_decode_command(frame[pos:stop]))
            pos = stop
        return commands

    def encode_result(self, command_id: int, result: Result) -> bytes:
        """Encode a successful reply to command ``command_id``, result always present."""
        return _delimited(_serialize(_reply_for_result(command_id, result)))

    def encode_error(self, command_id: int, error: Error) -> bytes:
        """Encode an error reply to command ``command_id`` (§2.4)."""
        reply = pb.Reply(
            id=command_id,
            error=pb.Error(code=error.code, message=error.message, temporary=error.temporary),
        )
        return _delimited(_serialize(reply))

    def encode_push(self, push: Push) -> bytes:
        """Encode a push: a ``Reply`` holding only ``push`` (§2.3)."""
        if type(push.body) is Publication:
            return self.encode_publication(push.channel, push.body)
        return _delimited(_serialize(pb.Reply(push=_push_pb(push))))

    def encode_publication(
        self, channel: str, publication: Publication, *, delta: bool = False
    ) -> bytes:
        """Encode ``Reply{push{channel, pub}}``; the fan-out hot path.

        ``delta`` changes nothing here: Protobuf carries ``data`` as raw bytes whether it is a
        full payload or a fossil delta; ``publication.delta`` says which (§15).
        """
        pub = _publication_bytes(publication)
        size = len(pub)
        # Push: channel = 2, pub = 4.
        push = b"\x22" + (_ONE_BYTE[size] if size < 0x80 else encode_varint(size)) + pub
        if channel:
            raw = channel.encode()
            size = len(raw)
            push = b"\x12" + (_ONE_BYTE[size] if size < 0x80 else encode_varint(size)) + raw + push
        # Reply: push = 4.
        size = len(push)
        reply = b"\x22" + (_ONE_BYTE[size] if size < 0x80 else encode_varint(size)) + push
        size = len(reply)
        return (_ONE_BYTE[size] if size < 0x80 else encode_varint(size)) + reply

    def encode_ping(self) -> bytes:
        """Encode a server ping: the zero-length reply ``0x00`` (§1.3, §7)."""
        return b"\x00"

    def join(self, messages: list[bytes]) -> bytes:
        """Concatenate encoded messages: each already carries its length prefix (§1.3)."""
        return b"".join(messages)


PROTOBUF_CODEC: Final = ProtobufCodec()
"""The shared instance; the codec holds no state."""
