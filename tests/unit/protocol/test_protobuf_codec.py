"""The Protobuf codec: TV10 vectors, round trips through ``client_pb2``, fuzzing (§1.3)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whirlwind.codes import DISCONNECT_BAD_REQUEST, ERROR_INTERNAL, ERROR_PERMISSION_DENIED, Error
from whirlwind.errors import ProtocolError
from whirlwind.protocol import client_pb2 as pb
from whirlwind.protocol.base import Codec
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
    PushBody,
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
from whirlwind.protocol.protobuf_codec import (
    PROTOBUF_CODEC,
    ProtobufCodec,
    decode_varint,
    encode_varint,
)

CODEC = PROTOBUF_CODEC
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unhex(text: str) -> bytes:
    """Bytes from the spec's spaced hex dumps."""
    return bytes.fromhex(text)


def split_frame(frame: bytes) -> list[bytes]:
    """Split a frame into its varint-delimited messages."""
    messages = []
    pos = 0
    while pos < len(frame):
        length, pos = decode_varint(frame, pos)
        messages.append(frame[pos : pos + length])
        pos += length
    assert pos == len(frame)
    return messages


def parse_reply(frame: bytes) -> Any:
    """Parse a frame holding exactly one Reply."""
    (message,) = split_frame(frame)
    reply = pb.Reply()
    reply.ParseFromString(message)
    return reply


# ---------------------------------------------------------------------------
# client_pb2 → messages (the client's view of our replies), messages → client_pb2 (commands)


def client_info_from_pb(m: Any) -> ClientInfo:
    return ClientInfo(user=m.user, client=m.client, conn_info=m.conn_info, chan_info=m.chan_info)


def publication_from_pb(m: Any) -> Publication:
    return Publication(
        data=m.data,
        info=client_info_from_pb(m.info) if m.HasField("info") else None,
        offset=m.offset,
        tags=dict(m.tags) or None,
        delta=m.delta,
        time=m.time,
    )


def subscribe_result_from_pb(m: Any) -> SubscribeResult:
    return SubscribeResult(
        expires=m.expires,
        ttl=m.ttl,
        recoverable=m.recoverable,
        epoch=m.epoch,
        publications=tuple(publication_from_pb(p) for p in m.publications),
        recovered=m.recovered,
        offset=m.offset,
        positioned=m.positioned,
        data=m.data,
        was_recovering=m.was_recovering,
        delta=m.delta,
    )


def connect_result_from_pb(m: Any) -> ConnectResult:
    return ConnectResult(
        client=m.client,
        version=m.version,
        expires=m.expires,
        ttl=m.ttl,
        data=m.data,
        subs={k: subscribe_result_from_pb(v) for k, v in m.subs.items()},
        ping=m.ping,
        pong=m.pong,
        session=m.session,
        node=m.node,
        time=m.time,
    )


def result_from_pb(reply: Any) -> Result:
    """The result of a reply; exactly one result field must be set."""
    fields = [f.name for f, _ in reply.ListFields() if f.name != "id"]
    assert len(fields) == 1, fields
    (name,) = fields
    m = getattr(reply, name)
    match name:
        case "connect":
            return connect_result_from_pb(m)
        case "subscribe":
            return subscribe_result_from_pb(m)
        case "unsubscribe":
            return UnsubscribeResult()
        case "publish":
            return PublishResult()
        case "presence":
            return PresenceResult(
                presence={k: client_info_from_pb(v) for k, v in m.presence.items()}
            )
        case "presence_stats":
            return PresenceStatsResult(num_clients=m.num_clients, num_users=m.num_users)
        case "history":
            return HistoryResult(
                publications=tuple(publication_from_pb(p) for p in m.publications),
                epoch=m.epoch,
                offset=m.offset,
            )
        case "rpc":
            return RPCResult(data=m.data)
        case "refresh":
            return RefreshResult(client=m.client, version=m.version, expires=m.expires, ttl=m.ttl)
        case "sub_refresh":
            return SubRefreshResult(expires=m.expires, ttl=m.ttl)
    raise AssertionError(name)


def push_from_pb(m: Any) -> Push:
    """The push of a reply; exactly one payload field must be set."""
    fields = [f.name for f, _ in m.ListFields() if f.name not in ("id", "channel")]
    assert len(fields) == 1, fields
    (name,) = fields
    body_pb = getattr(m, name)
    body: PushBody
    match name:
        case "pub":
            body = publication_from_pb(body_pb)
        case "join":
            assert body_pb.HasField("info")
            body = Join(info=client_info_from_pb(body_pb.info))
        case "leave":
            assert body_pb.HasField("info")
            body = Leave(info=client_info_from_pb(body_pb.info))
        case "unsubscribe":
            body = UnsubscribePush(code=body_pb.code, reason=body_pb.reason)
        case "message":
            body = Message(data=body_pb.data)
        case "subscribe":
            body = SubscribePush(
                recoverable=body_pb.recoverable,
                epoch=body_pb.epoch,
                offset=body_pb.offset,
                positioned=body_pb.positioned,
                data=body_pb.data,
            )
        case "connect":
            body = ConnectPush(result=connect_result_from_pb(body_pb))
        case "disconnect":
            body = DisconnectPush(code=body_pb.code, reason=body_pb.reason)
        case "refresh":
            body = RefreshPush(expires=body_pb.expires, ttl=body_pb.ttl)
        case _:
            raise AssertionError(name)
    return Push(channel=m.channel, body=body)


def subscribe_request_pb(r: SubscribeRequest) -> Any:
    m = pb.SubscribeRequest(
        channel=r.channel,
        token=r.token,
        recover=r.recover,
        epoch=r.epoch,
        offset=r.offset,
        data=r.data,
        positioned=r.positioned,
        recoverable=r.recoverable,
        join_leave=r.join_leave,
        delta=r.delta,
        flag=r.flag,
        type=r.type,
    )
    if r.has_tags_filter:
        m.tf.CopyFrom(
            pb.FilterNode(
                op="and",
                nodes=[
                    pb.FilterNode(key="ticker", cmp="eq", val="BTC"),
                    pb.FilterNode(key="kind", cmp="in", vals=["a", "b"]),
                ],
            )
        )
    return m


def command_pb(command: Command) -> Any:
    """What a client SDK would send for ``command``."""
    m = pb.Command(id=command.id)
    r = command.request
    match r:
        case None:
            pass
        case ConnectRequest():
            m.connect.CopyFrom(
                pb.ConnectRequest(
                    token=r.token,
                    data=r.data,
                    subs={k: subscribe_request_pb(v) for k, v in r.subs.items()},
                    name=r.name,
                    version=r.version,
                    headers=r.headers,
                )
            )
        case SubscribeRequest():
            m.subscribe.CopyFrom(subscribe_request_pb(r))
        case UnsubscribeRequest():
            m.unsubscribe.channel = r.channel
            m.unsubscribe.SetInParent()
        case PublishRequest():
            m.publish.CopyFrom(pb.PublishRequest(channel=r.channel, data=r.data, type=r.type))
        case PresenceRequest():
            m.presence.CopyFrom(pb.PresenceRequest(channel=r.channel))
        case PresenceStatsRequest():
            m.presence_stats.CopyFrom(pb.PresenceStatsRequest(channel=r.channel))
        case HistoryRequest():
            m.history.CopyFrom(
                pb.HistoryRequest(channel=r.channel, limit=r.limit, reverse=r.reverse)
            )
            if r.since is not None:
                m.history.since.CopyFrom(
                    pb.StreamPosition(offset=r.since.offset, epoch=r.since.epoch)
                )
        case PingRequest():
            m.ping.SetInParent()
        case SendRequest():
            m.send.CopyFrom(pb.SendRequest(data=r.data))
        case RPCRequest():
            m.rpc.CopyFrom(pb.RPCRequest(method=r.method, data=r.data))
        case RefreshRequest():
            m.refresh.CopyFrom(pb.RefreshRequest(token=r.token))
        case SubRefreshRequest():
            m.sub_refresh.CopyFrom(
                pb.SubRefreshRequest(channel=r.channel, token=r.token, type=r.type)
            )
    return m


def encode_commands(commands: list[Command]) -> bytes:
    """A client frame: varint-delimited Commands."""
    out = b""
    for command in commands:
        raw = command_pb(command).SerializeToString()
        out += encode_varint(len(raw)) + raw
    return out


# ---------------------------------------------------------------------------
# Hypothesis strategies

texts = st.text(st.characters(codec="utf-8"), max_size=12)
blobs = st.binary(max_size=24)
uint32 = st.integers(0, 2**32 - 1)
uint64 = st.integers(0, 2**64 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
int32 = st.integers(-(2**31), 2**31 - 1)

client_infos = st.builds(ClientInfo, user=texts, client=texts, conn_info=blobs, chan_info=blobs)
publications = st.builds(
    Publication,
    data=blobs,
    info=st.none() | client_infos,
    offset=uint64,
    # An empty map is absent on the wire: the client sees None.
    tags=st.none() | st.dictionaries(texts, texts, min_size=1, max_size=3),
    delta=st.booleans(),
    time=int64,
)
subscribe_results = st.builds(
    SubscribeResult,
    expires=st.booleans(),
    ttl=uint32,
    recoverable=st.booleans(),
    epoch=texts,
    publications=st.lists(publications, max_size=3).map(tuple),
    recovered=st.booleans(),
    offset=uint64,
    positioned=st.booleans(),
    data=blobs,
    was_recovering=st.booleans(),
    delta=st.booleans(),
)
connect_results = st.builds(
    ConnectResult,
    client=texts,
    version=texts,
    expires=st.booleans(),
    ttl=uint32,
    data=blobs,
    subs=st.dictionaries(texts, subscribe_results, max_size=2),
    ping=uint32,
    pong=st.booleans(),
    session=texts,
    node=texts,
    time=int64,
)
results: st.SearchStrategy[Result] = st.one_of(
    connect_results,
    subscribe_results,
    st.just(UnsubscribeResult()),
    st.just(PublishResult()),
    st.builds(PresenceResult, presence=st.dictionaries(texts, client_infos, max_size=3)),
    st.builds(PresenceStatsResult, num_clients=uint32, num_users=uint32),
    st.builds(
        HistoryResult,
        publications=st.lists(publications, max_size=3).map(tuple),
        epoch=texts,
        offset=uint64,
    ),
    st.builds(RPCResult, data=blobs),
    st.builds(RefreshResult, client=texts, version=texts, expires=st.booleans(), ttl=uint32),
    st.builds(SubRefreshResult, expires=st.booleans(), ttl=uint32),
)
push_bodies: st.SearchStrategy[PushBody] = st.one_of(
    publications,
    st.builds(Join, info=client_infos),
    st.builds(Leave, info=client_infos),
    st.builds(UnsubscribePush, code=uint32, reason=texts),
    st.builds(Message, data=blobs),
    st.builds(
        SubscribePush,
        recoverable=st.booleans(),
        epoch=texts,
        offset=uint64,
        positioned=st.booleans(),
        data=blobs,
    ),
    st.builds(ConnectPush, result=connect_results),
    st.builds(DisconnectPush, code=uint32, reason=texts),
    st.builds(RefreshPush, expires=st.booleans(), ttl=uint32),
)
pushes = st.builds(Push, channel=texts, body=push_bodies)

subscribe_requests = st.builds(
    SubscribeRequest,
    channel=texts,
    token=texts,
    recover=st.booleans(),
    epoch=texts,
    offset=uint64,
    data=blobs,
    positioned=st.booleans(),
    recoverable=st.booleans(),
    join_leave=st.booleans(),
    delta=texts,
    has_tags_filter=st.booleans(),
    flag=int64,
    type=int32,
)
requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(
        ConnectRequest,
        token=texts,
        data=blobs,
        subs=st.dictionaries(texts, subscribe_requests, max_size=2),
        name=texts,
        version=texts,
        headers=st.dictionaries(texts, texts, max_size=3),
    ),
    subscribe_requests,
    st.builds(UnsubscribeRequest, channel=texts),
    st.builds(PublishRequest, channel=texts, data=blobs, type=int32),
    st.builds(PresenceRequest, channel=texts),
    st.builds(PresenceStatsRequest, channel=texts),
    st.builds(
        HistoryRequest,
        channel=texts,
        limit=int32,
        since=st.none() | st.builds(StreamPosition, offset=uint64, epoch=texts),
        reverse=st.booleans(),
    ),
    st.just(PingRequest()),
    st.builds(SendRequest, data=blobs),
    st.builds(RPCRequest, method=texts, data=blobs),
    st.builds(RefreshRequest, token=texts),
    st.builds(SubRefreshRequest, channel=texts, token=texts, type=int32),
)
commands = st.builds(Command, id=uint32, request=st.none() | requests)


# ---------------------------------------------------------------------------
# The codec interface


def test_codec_attributes() -> None:
    """The codec satisfies the Codec protocol and declares binary frames."""
    codec: Codec = ProtobufCodec()
    assert codec.name == "protobuf"
    assert codec.binary is True
    assert isinstance(PROTOBUF_CODEC, ProtobufCodec)


def test_ping_and_join() -> None:
    """A ping is the single byte 0x00; join concatenates delimited messages."""
    assert CODEC.encode_ping() == b"\x00"
    assert CODEC.join([b"\x01\x08", b"\x00"]) == b"\x01\x08\x00"
    assert CODEC.join([]) == b""


# ---------------------------------------------------------------------------
# TV10 (client-protocol.md §19)

TV10_CLIENT = "0b 08 01 22 07 0a 01 54 22 02 6a 73   0c 08 02 2a 08 0a 04 6e 65 77 73 70 01"
TV10_SERVER_1 = (
    "1a 08 01 2a 16 0a 09 70 62 2d 63 6c 69 65 6e 74 12 05 36 2e 30 2e 30 38 19 40 01"
    " 0e 08 02 32 0a 18 01 32 02 45 50 48 03 50 01"
)
TV10_SERVER_2 = "15 22 13 12 04 6e 65 77 73 22 0b 22 07 7b 22 78 22 3a 31 7d 30 04   00"


def test_tv10_client_frame_decodes_to_connect_and_subscribe() -> None:
    """The JS protobuf build's first frame: connect with token "T", subscribe "news"."""
    assert CODEC.decode_commands(unhex(TV10_CLIENT)) == [
        Command(id=1, request=ConnectRequest(token="T", name="js")),
        Command(id=2, request=SubscribeRequest(channel="news", flag=1)),
    ]


def test_tv10_connect_and_subscribe_replies_are_byte_exact() -> None:
    """Connect and subscribe replies in one frame, fields in field-number order."""
    connect = CODEC.encode_result(
        1, ConnectResult(client="pb-client", version="6.0.0", ping=25, pong=True)
    )
    subscribe = CODEC.encode_result(
        2, SubscribeResult(recoverable=True, epoch="EP", offset=3, positioned=True)
    )
    assert CODEC.join([connect, subscribe]) == unhex(TV10_SERVER_1)


def test_tv10_publication_and_ping_are_byte_exact() -> None:
    """A publication push then a ping, in one frame."""
    publication = Publication(data=b'{"x":1}', offset=4)
    frame = CODEC.join([CODEC.encode_publication("news", publication), CODEC.encode_ping()])
    assert frame == unhex(TV10_SERVER_2)
    push = Push(channel="news", body=publication)
    assert CODEC.join([CODEC.encode_push(push), CODEC.encode_ping()]) == frame


def test_tv10_client_pong() -> None:
    """The client's answer to a ping, 0x00, is a pong."""
    assert CODEC.decode_commands(b"\x00") == [Command(id=0, request=None)]


# ---------------------------------------------------------------------------
# Decoding


def test_batch_keeps_order_and_pongs() -> None:
    """Commands of one frame come out in order; empty messages in between are pongs."""
    frame = encode_commands(
        [
            Command(id=3, request=PublishRequest(channel="c", data=b"\x00\xff")),
            Command(),
            Command(id=4, request=RPCRequest(method="m", data=b"x")),
        ]
    )
    assert CODEC.decode_commands(frame) == [
        Command(id=3, request=PublishRequest(channel="c", data=b"\x00\xff")),
        Command(id=0, request=None),
        Command(id=4, request=RPCRequest(method="m", data=b"x")),
    ]


def test_send_without_id() -> None:
    """``send`` carries no id (§5.9)."""
    frame = encode_commands([Command(request=SendRequest(data=b"hi"))])
    assert CODEC.decode_commands(frame) == [Command(id=0, request=SendRequest(data=b"hi"))]


def test_id_zero_with_another_request_is_still_decoded() -> None:
    """Judging an id-0 subscribe is the state machine's job, not the codec's."""
    frame = encode_commands([Command(id=0, request=SubscribeRequest(channel="c"))])
    assert CODEC.decode_commands(frame) == [Command(request=SubscribeRequest(channel="c"))]


def test_id_without_request_decodes_to_no_request() -> None:
    """A command with an id but no request field: request is None."""
    assert CODEC.decode_commands(b"\x02\x08\x07") == [Command(id=7, request=None)]


def test_several_request_fields_lowest_field_number_wins() -> None:
    """publish (7) written before subscribe (5) on the wire: subscribe wins."""
    publish = pb.PublishRequest(channel="p").SerializeToString()
    subscribe = pb.SubscribeRequest(channel="s").SerializeToString()
    body = (
        b"\x08\x09"
        + b"\x3a"
        + encode_varint(len(publish))
        + publish
        + b"\x2a"
        + encode_varint(len(subscribe))
        + subscribe
    )
    frame = encode_varint(len(body)) + body
    assert CODEC.decode_commands(frame) == [Command(id=9, request=SubscribeRequest(channel="s"))]


def test_unknown_and_reserved_fields_are_ignored() -> None:
    """Newer SDK fields and reserved numbers must not break decoding (§2, §16)."""
    subscribe = pb.SubscribeRequest(channel="s", phase=2, cursor="c", limit=5, asc=True)
    raw_subscribe = subscribe.SerializeToString() + b"\xf8\x01\x01"  # field 31, varint 1
    # Command field 2 (reserved, varint) and field 99 (unknown, length-delimited).
    body = (
        b"\x08\x01\x10\x05"
        + b"\x2a"
        + encode_varint(len(raw_subscribe))
        + raw_subscribe
        + b"\x9a\x06\x02ab"
    )
    frame = encode_varint(len(body)) + body
    assert CODEC.decode_commands(frame) == [Command(id=1, request=SubscribeRequest(channel="s"))]


def test_connect_request_with_subs_and_headers() -> None:
    """Recovery hints in ``subs`` and emulated headers are decoded (§5.1)."""
    request = ConnectRequest(
        token="t",
        data=b'{"a":1}',
        subs={"$srv": SubscribeRequest(recover=True, offset=5, epoch="E")},
        name="js",
        version="1.0",
        headers={"Authorization": "x"},
    )
    frame = encode_commands([Command(id=1, request=request)])
    assert CODEC.decode_commands(frame) == [Command(id=1, request=request)]


def test_subscribe_tags_filter_presence() -> None:
    """``has_tags_filter`` tells whether ``tf`` was present, even as an empty node (§16)."""
    m = pb.Command(id=2, subscribe=pb.SubscribeRequest(channel="c"))
    raw = m.SerializeToString()
    (command,) = CODEC.decode_commands(encode_varint(len(raw)) + raw)
    assert isinstance(command.request, SubscribeRequest)
    assert command.request.has_tags_filter is False
    m.subscribe.tf.SetInParent()
    raw = m.SerializeToString()
    (command,) = CODEC.decode_commands(encode_varint(len(raw)) + raw)
    assert isinstance(command.request, SubscribeRequest)
    assert command.request.has_tags_filter is True


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (None, None),
        (pb.StreamPosition(), StreamPosition()),
        (pb.StreamPosition(offset=2, epoch="E"), StreamPosition(offset=2, epoch="E")),
    ],
)
def test_history_since_absent_or_present(since: Any, expected: StreamPosition | None) -> None:
    """``since`` is None only when the field is absent; an empty position is a position."""
    m = pb.Command(id=7, history=pb.HistoryRequest(channel="c", limit=10, reverse=True))
    if since is not None:
        m.history.since.CopyFrom(since)
    raw = m.SerializeToString()
    assert CODEC.decode_commands(encode_varint(len(raw)) + raw) == [
        Command(id=7, request=HistoryRequest(channel="c", limit=10, since=expected, reverse=True))
    ]


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"", id="empty frame"),
        pytest.param(b"\x05\x08\x01", id="length past the end"),
        pytest.param(b"\x80", id="truncated varint"),
        pytest.param(b"\xff" * 11 + b"\x01", id="varint longer than 10 bytes"),
        pytest.param(b"\xff" * 9 + b"\x7f", id="varint above 64 bits"),
        pytest.param(b"\x02\x08\x80", id="truncated field"),
        pytest.param(b"\x02\x22\x05", id="submessage past its end"),
        pytest.param(b"\x03\x2a\x01\x0a", id="truncated nested string"),
        pytest.param(b"\x05\x2a\x03\x0a\x01\xff", id="invalid utf-8 in a string"),
        pytest.param(b"\x01\x07", id="bad wire type"),
        pytest.param(b"\x02\x08\x01\x03", id="trailing garbage"),
    ],
)
def test_garbage_raises_protocol_error(frame: bytes) -> None:
    """Undecodable input is the peer's fault: ProtocolError → 3501 (§1.2, §1.3)."""
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_commands(frame)
    assert info.value.disconnect == DISCONNECT_BAD_REQUEST


def test_deeply_nested_filter_raises_protocol_error() -> None:
    """A tags filter nested past protobuf's recursion limit is refused, not a crash."""
    node = b""
    for _ in range(200):
        node = b"\x32" + encode_varint(len(node)) + node  # FilterNode.nodes = 6
    subscribe = b"\x6a" + encode_varint(len(node)) + node  # SubscribeRequest.tf = 13
    body = b"\x08\x01\x2a" + encode_varint(len(subscribe)) + subscribe
    with pytest.raises(ProtocolError):
        CODEC.decode_commands(encode_varint(len(body)) + body)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(frame: bytes) -> None:
    """Any bytes either decode or raise ProtocolError; nothing else escapes."""
    try:
        decoded = CODEC.decode_commands(frame)
    except ProtocolError:
        return
    assert all(isinstance(command, Command) for command in decoded)


@FUZZ
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=4))
def test_fuzz_well_framed_garbage(bodies: list[bytes]) -> None:
    """Correct length prefixes around random bodies reach the message parser."""
    frame = b"".join(encode_varint(len(body)) + body for body in bodies)
    try:
        decoded = CODEC.decode_commands(frame)
    except ProtocolError:
        return
    assert len(decoded) == len(bodies)


@FUZZ
@given(st.lists(commands, min_size=1, max_size=3), st.data())
def test_fuzz_mutated_commands(batch: list[Command], data: st.DataObject) -> None:
    """Valid frames with one byte changed decode or raise ProtocolError."""
    frame = bytearray(encode_commands(batch))
    index = data.draw(st.integers(0, len(frame) - 1))
    frame[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ProtocolError):
        CODEC.decode_commands(bytes(frame))


@FUZZ
@given(st.lists(commands, min_size=1, max_size=4))
def test_commands_round_trip(batch: list[Command]) -> None:
    """What an SDK encodes from random valid commands decodes back to the same commands."""
    assert CODEC.decode_commands(encode_commands(batch)) == batch


# ---------------------------------------------------------------------------
# Encoding replies


def test_empty_results_are_present() -> None:
    """A success reply carries its result key even when empty (§2.2)."""
    assert CODEC.encode_result(4, PublishResult()) == b"\x04\x08\x04\x42\x00"
    assert CODEC.encode_result(3, UnsubscribeResult()) == b"\x04\x08\x03\x3a\x00"
    assert CODEC.encode_result(2, SubscribeResult()) == b"\x04\x08\x02\x32\x00"


def test_error_reply() -> None:
    """An error reply holds id and error, no result (§2.4)."""
    frame = CODEC.encode_error(5, ERROR_PERMISSION_DENIED)
    assert frame == b"\x19\x08\x05\x12\x15\x08\x67\x12\x11permission denied"
    reply = parse_reply(CODEC.encode_error(6, ERROR_INTERNAL))
    assert [f.name for f, _ in reply.ListFields()] == ["id", "error"]
    assert (reply.error.code, reply.error.message, reply.error.temporary) == (
        100,
        "internal server error",
        True,
    )


@FUZZ
@given(uint32, st.builds(Error, code=uint32, message=texts, temporary=st.booleans()))
def test_error_round_trip(command_id: int, error: Error) -> None:
    """Any error survives the trip through client_pb2."""
    reply = parse_reply(CODEC.encode_error(command_id, error))
    assert reply.id == command_id
    assert Error(reply.error.code, reply.error.message, reply.error.temporary) == error


@pytest.mark.parametrize(
    "result",
    [
        ConnectResult(
            client="c1",
            version="0.1.0",
            expires=True,
            ttl=60,
            data=b'{"x":1}',
            subs={
                "$srv": SubscribeResult(
                    recoverable=True,
                    epoch="E",
                    offset=2,
                    positioned=True,
                    publications=(Publication(data=b"1", offset=2),),
                )
            },
            ping=25,
            pong=True,
            session="s",
            node="n",
            time=1_700_000_000_000,
        ),
        SubscribeResult(
            expires=True,
            ttl=30,
            recoverable=True,
            epoch="EP",
            publications=(
                Publication(data=b"a", offset=1, info=ClientInfo(user="u", client="c")),
                Publication(data=b"b", offset=2, tags={"k": "v"}),
            ),
            recovered=True,
            offset=2,
            positioned=True,
            data=b"d",
            was_recovering=True,
            delta=True,
        ),
        UnsubscribeResult(),
        PublishResult(),
        PresenceResult(),
        PresenceResult(
            presence={"c1": ClientInfo(user="u1", client="c1", conn_info=b"ci", chan_info=b"ch")}
        ),
        PresenceStatsResult(),
        PresenceStatsResult(num_clients=3, num_users=2),
        HistoryResult(),
        HistoryResult(publications=(Publication(data=b"x", offset=9),), epoch="E", offset=9),
        RPCResult(data=b"\x00\x01"),
        RefreshResult(expires=True, ttl=100),
        SubRefreshResult(expires=True, ttl=100),
    ],
    ids=lambda result: type(result).__name__,
)
def test_every_result_round_trips(result: Result) -> None:
    """Each result type decodes back, through client_pb2, to what was encoded."""
    reply = parse_reply(CODEC.encode_result(42, result))
    assert reply.id == 42
    assert not reply.HasField("error")
    assert result_from_pb(reply) == result


@FUZZ
@given(uint32, results)
def test_random_results_round_trip(command_id: int, result: Result) -> None:
    """Random results round-trip through client_pb2."""
    reply = parse_reply(CODEC.encode_result(command_id, result))
    assert reply.id == command_id
    assert result_from_pb(reply) == result


@pytest.mark.parametrize(
    "push",
    [
        Push(channel="news", body=Publication(data=b"x", offset=1)),
        Push(channel="news", body=Join(info=ClientInfo(user="u", client="c"))),
        Push(channel="news", body=Join(info=ClientInfo(user="", client=""))),
        Push(channel="news", body=Leave(info=ClientInfo(user="u", client="c", conn_info=b"i"))),
        Push(channel="news", body=UnsubscribePush(code=2000, reason="server unsubscribe")),
        Push(body=Message(data=b"hello")),
        Push(body=Message()),
        Push(
            channel="$srv",
            body=SubscribePush(recoverable=True, epoch="E", offset=3, positioned=True, data=b"d"),
        ),
        Push(body=ConnectPush(result=ConnectResult(client="c", ping=25, pong=True))),
        Push(body=DisconnectPush(code=3001, reason="shutdown")),
        Push(body=RefreshPush(expires=True, ttl=10)),
    ],
    ids=lambda push: type(push.body).__name__,
)
def test_every_push_round_trips(push: Push) -> None:
    """Each push type is a Reply with only ``push`` and decodes back to what was encoded."""
    reply = parse_reply(CODEC.encode_push(push))
    assert [f.name for f, _ in reply.ListFields()] == ["push"]
    assert push_from_pb(reply.push) == push


@FUZZ
@given(pushes)
def test_random_pushes_round_trip(push: Push) -> None:
    """Random pushes round-trip through client_pb2."""
    reply = parse_reply(CODEC.encode_push(push))
    assert push_from_pb(reply.push) == push


def test_join_push_bytes() -> None:
    """Join always carries ``info`` (§4.4); channel before payload."""
    push = Push(channel="c", body=Join(info=ClientInfo(user="u", client="x")))
    assert CODEC.encode_push(push) == unhex("0f 22 0d 12 01 63 2a 08 0a 06 0a 01 75 12 01 78")


# ---------------------------------------------------------------------------
# The hand-written publication path against client_pb2


@FUZZ
@given(texts, publications, st.booleans())
def test_publication_matches_client_pb2(
    channel: str, publication: Publication, delta: bool
) -> None:
    """encode_publication writes exactly what client_pb2 serializes (deterministically)."""
    message = pb.Publication(
        data=publication.data,
        offset=publication.offset,
        tags=publication.tags or {},
        delta=publication.delta,
        time=publication.time,
    )
    if publication.info is not None:
        info = publication.info
        message.info.CopyFrom(
            pb.ClientInfo(
                user=info.user,
                client=info.client,
                conn_info=info.conn_info,
                chan_info=info.chan_info,
            )
        )
    raw = pb.Reply(push=pb.Push(channel=channel, pub=message)).SerializeToString(deterministic=True)
    expected = encode_varint(len(raw)) + raw
    encoded = CODEC.encode_publication(channel, publication, delta=delta)
    assert CODEC.encode_push(Push(channel=channel, body=publication)) == encoded
    if publication.tags is not None and len(publication.tags) > 1:
        # upb's "deterministic" map order is its own (not lexicographic); ours sorts keys.
        # Map entry order carries no meaning, so compare the parsed messages.
        assert parse_reply(encoded) == parse_reply(expected)
    else:
        assert encoded == expected


def test_large_publication_uses_multibyte_lengths() -> None:
    """Lengths of 128 bytes and more take several varint bytes at every level."""
    publication = Publication(
        data=b"x" * 20_000, offset=300, info=ClientInfo(user="u" * 200, client="c")
    )
    reply = parse_reply(CODEC.encode_publication("ch" * 100, publication))
    assert reply.push.channel == "ch" * 100
    assert publication_from_pb(reply.push.pub) == publication


# ---------------------------------------------------------------------------
# Varints


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (2**64 - 1, b"\xff" * 9 + b"\x01"),
        (-1, b"\xff" * 9 + b"\x01"),
    ],
)
def test_varint_examples(value: int, encoded: bytes) -> None:
    """Known encodings, including a negative int64 as 10 bytes."""
    assert encode_varint(value) == encoded
    assert decode_varint(b"\xaa" + encoded + b"\xbb", 1) == (value % 2**64, len(encoded) + 1)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1])
def test_varint_out_of_range(value: int) -> None:
    """Values that do not fit in 64 bits are our own bug: ValueError."""
    with pytest.raises(ValueError, match="out of range"):
        encode_varint(value)


@given(uint64)
def test_varint_round_trip_matches_protobuf(value: int) -> None:
    """Our varints are protobuf's: compare with a uint64 field's encoding."""
    encoded = encode_varint(value)
    assert decode_varint(encoded) == (value, len(encoded))
    if value:
        assert pb.StreamPosition(offset=value).SerializeToString() == b"\x08" + encoded


@given(int64)
def test_signed_varint_matches_protobuf(value: int) -> None:
    """Negative int64 values use the 10-byte two's complement, like protobuf."""
    if value:
        assert pb.Publication(time=value).SerializeToString() == b"\x48" + encode_varint(value)


# ---------------------------------------------------------------------------
# Our client.proto against the one centrifuge-python ships


def test_client_proto_agrees_with_centrifuge_python() -> None:
    """Every message and field the Python SDK knows has the same number, name and type here.

    Importing both modules in one process also checks that our descriptors live in their own
    pool: the SDK registers the same package in protobuf's default pool.
    """
    sdk = pytest.importorskip("centrifuge.protocol.client_pb2")
    ours = pb.DESCRIPTOR.message_types_by_name
    checked = 0
    for name, theirs in sdk.DESCRIPTOR.message_types_by_name.items():
        assert name in ours, name
        for field in theirs.fields:
            mine = ours[name].fields_by_number.get(field.number)
            assert mine is not None, (name, field.name)
            assert (mine.name, mine.type, mine.is_repeated) == (
                field.name,
                field.type,
                field.is_repeated,
            ), (name, field.name)
            if field.message_type is not None:
                assert mine.message_type.name == field.message_type.name, (name, field.name)
            checked += 1
    assert checked > 100
