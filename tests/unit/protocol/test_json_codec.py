"""The JSON codec: the spec's §19 test vectors and fuzzing (client-protocol.md §1.2, §2–§5).

Client frames of the vectors are decoded and compared field by field; server frames are
encoded from messages and compared with the vector as parsed JSON with the exact key set at
every level (so an omitted or extra key fails) and in Centrifugo's key order.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whirlwind.codes import (
    ERROR_METHOD_NOT_FOUND,
    ERROR_PERMISSION_DENIED,
    ERROR_TOKEN_EXPIRED,
    ERROR_UNAUTHORIZED,
    ERROR_UNRECOVERABLE_POSITION,
    Error,
)
from whirlwind.errors import ProtocolError
from whirlwind.protocol.json_codec import JSON_CODEC
from whirlwind.protocol.messages import (
    ClientInfo,
    Command,
    ConnectRequest,
    ConnectResult,
    DisconnectPush,
    HistoryRequest,
    HistoryResult,
    Join,
    Leave,
    Message,
    PresenceRequest,
    PresenceResult,
    PresenceStatsRequest,
    PresenceStatsResult,
    Publication,
    PublishRequest,
    PublishResult,
    Push,
    RefreshRequest,
    RefreshResult,
    RPCRequest,
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

CODEC = JSON_CODEC
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)


def ordered(value: Any) -> Any:
    """A parsed JSON value with every object as a list of (key, value) pairs, in order."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def assert_frame(actual: bytes, expected: str) -> None:
    """``actual`` holds the same JSON objects as ``expected``, line by line.

    Dict equality checks the exact key set at every level; ``ordered`` checks key order.
    """
    assert not actual.endswith(b"\n"), "no trailing newline (§1.2)"
    assert b"\n\n" not in actual, "no blank lines (§1.2)"
    got = [json.loads(line) for line in actual.split(b"\n")]
    want = [json.loads(line) for line in expected.split("\n")]
    assert got == want
    assert [ordered(g) for g in got] == [ordered(w) for w in want]


def decode_one(line: str) -> Command:
    commands = CODEC.decode_commands(line.encode())
    assert len(commands) == 1
    return commands[0]


# ---------------------------------------------------------------------------
# TV1: connect with token and data, batched with subscribes

TV1_CLIENT = (
    '{"connect":{"token":"CONN.JWT.TOKEN","data":{"app":"x"},"name":"js","version":"1.2.3"},'
    '"id":1}\n'
    '{"subscribe":{"channel":"chat:room","token":"SUB.JWT","positioned":true,"recoverable":true,'
    '"join_leave":true,"flag":1,"recover":true,"offset":5,"epoch":"Xy3z"},"id":2}\n'
    '{"subscribe":{"channel":"secret","flag":1},"id":3}'
)

TV1_SERVER = (
    '{"id":1,"connect":{"client":"5b1a8e2c-0f1d-4a5e-9a57-3c1f2a6b9d10","version":"6.0.0 OSS",'
    '"ping":25,"pong":true}}\n'
    '{"id":2,"subscribe":{"recoverable":true,"epoch":"Xy3z","publications":[{"data":'
    '{"text":"missed-6"},"offset":6},{"data":{"text":"missed-7"},"offset":7}],"recovered":true,'
    '"offset":5,"positioned":true,"was_recovering":true}}\n'
    '{"id":3,"error":{"code":103,"message":"permission denied"}}'
)


def test_tv1_client_frame_decodes_in_order() -> None:
    """A JS batch: connect then two subscribes, every field in place."""
    commands = CODEC.decode_commands(TV1_CLIENT.encode())
    assert commands == [
        Command(
            id=1,
            request=ConnectRequest(
                token="CONN.JWT.TOKEN", data=b'{"app":"x"}', name="js", version="1.2.3"
            ),
        ),
        Command(
            id=2,
            request=SubscribeRequest(
                channel="chat:room",
                token="SUB.JWT",
                positioned=True,
                recoverable=True,
                join_leave=True,
                flag=1,
                recover=True,
                offset=5,
                epoch="Xy3z",
            ),
        ),
        Command(id=3, request=SubscribeRequest(channel="secret", flag=1)),
    ]


def test_tv1_python_frames_decode() -> None:
    """centrifuge-python puts ``id`` first and spaces after separators."""
    connect = decode_one(
        '{"id": 1, "connect": {"token": "CONN.JWT.TOKEN", "data": {"app": "x"}, '
        '"name": "python", "version": "1.2.3"}}'
    )
    assert connect == Command(
        id=1,
        request=ConnectRequest(
            token="CONN.JWT.TOKEN", data=b'{"app":"x"}', name="python", version="1.2.3"
        ),
    )
    subscribe = decode_one(
        '{"id": 2, "subscribe": {"channel": "chat:room", "token": "SUB.JWT", '
        '"positioned": true, "recoverable": true, "join_leave": true, "flag": 1}}'
    )
    assert subscribe == Command(
        id=2,
        request=SubscribeRequest(
            channel="chat:room",
            token="SUB.JWT",
            positioned=True,
            recoverable=True,
            join_leave=True,
            flag=1,
        ),
    )


def test_tv1_server_frame() -> None:
    """Connect reply, recovered subscribe reply and an error, joined into one frame."""
    messages = [
        CODEC.encode_result(
            1,
            ConnectResult(
                client="5b1a8e2c-0f1d-4a5e-9a57-3c1f2a6b9d10",
                version="6.0.0 OSS",
                ping=25,
                pong=True,
            ),
        ),
        CODEC.encode_result(
            2,
            SubscribeResult(
                recoverable=True,
                epoch="Xy3z",
                publications=(
                    Publication(data=b'{"text":"missed-6"}', offset=6),
                    Publication(data=b'{"text":"missed-7"}', offset=7),
                ),
                recovered=True,
                offset=5,
                positioned=True,
                was_recovering=True,
            ),
        ),
        CODEC.encode_error(3, ERROR_PERMISSION_DENIED),
    ]
    assert_frame(CODEC.join(messages), TV1_SERVER)


def test_tv1_connect_reply_with_expiry() -> None:
    """An expiring token adds ``expires`` and ``ttl`` right after ``version``."""
    frame = CODEC.encode_result(
        1,
        ConnectResult(client="c", version="6.0.0 OSS", expires=True, ttl=3600, ping=25, pong=True),
    )
    assert_frame(
        frame,
        '{"id":1,"connect":{"client":"c","version":"6.0.0 OSS","expires":true,"ttl":3600,'
        '"ping":25,"pong":true}}',
    )


# ---------------------------------------------------------------------------
# TV2: resubscribe with recovery


def test_tv2_client_frame_decodes() -> None:
    """Connect with recovery hints in ``subs`` and a subscribe asking for fossil deltas."""
    commands = CODEC.decode_commands(
        b'{"connect":{"token":"CONN.TOKEN.2","name":"js","subs":{"personal:#42":'
        b'{"recover":true,"offset":11,"epoch":"EP"}}},"id":5}\n'
        b'{"subscribe":{"channel":"news","token":"SUB.TOKEN.2","flag":1,"recover":true,'
        b'"offset":4,"epoch":"E2","delta":"fossil"},"id":6}'
    )
    assert commands == [
        Command(
            id=5,
            request=ConnectRequest(
                token="CONN.TOKEN.2",
                name="js",
                subs={"personal:#42": SubscribeRequest(recover=True, offset=11, epoch="EP")},
            ),
        ),
        Command(
            id=6,
            request=SubscribeRequest(
                channel="news",
                token="SUB.TOKEN.2",
                flag=1,
                recover=True,
                offset=4,
                epoch="E2",
                delta="fossil",
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            SubscribeResult(
                recoverable=True,
                epoch="E2",
                recovered=True,
                offset=4,
                positioned=True,
                was_recovering=True,
            ),
            '{"id":6,"subscribe":{"recoverable":true,"epoch":"E2","recovered":true,"offset":4,'
            '"positioned":true,"was_recovering":true}}',
        ),
        (
            SubscribeResult(
                recoverable=True, epoch="Zq7t", offset=9, positioned=True, was_recovering=True
            ),
            '{"id":6,"subscribe":{"recoverable":true,"epoch":"Zq7t","offset":9,'
            '"positioned":true,"was_recovering":true}}',
        ),
    ],
    ids=["recovered", "not-recovered"],
)
def test_tv2_subscribe_replies(result: SubscribeResult, expected: str) -> None:
    """Recovered and unrecoverable subscribe replies."""
    assert_frame(CODEC.encode_result(6, result), expected)


def test_tv2_unrecoverable_error() -> None:
    """``flag: 3`` and not recoverable: error 112."""
    assert_frame(
        CODEC.encode_error(6, ERROR_UNRECOVERABLE_POSITION),
        '{"id":6,"error":{"code":112,"message":"unrecoverable position"}}',
    )


def test_tv2_connect_reply_with_server_side_subs() -> None:
    """``subs`` sits between ``version`` and ``ping``."""
    frame = CODEC.encode_result(
        5,
        ConnectResult(
            client="…",
            version="6.0.0 OSS",
            subs={
                "personal:#42": SubscribeResult(
                    recoverable=True,
                    epoch="EP",
                    publications=(Publication(data=b'{"x":12}', offset=12),),
                    recovered=True,
                    offset=11,
                    positioned=True,
                    was_recovering=True,
                )
            },
            ping=25,
            pong=True,
        ),
    )
    assert_frame(
        frame,
        '{"id":5,"connect":{"client":"…","version":"6.0.0 OSS","subs":{"personal:#42":'
        '{"recoverable":true,"epoch":"EP","publications":[{"data":{"x":12},"offset":12}],'
        '"recovered":true,"offset":11,"positioned":true,"was_recovering":true}},"ping":25,'
        '"pong":true}}',
    )


# ---------------------------------------------------------------------------
# TV3: publication push


def test_tv3_publication_push() -> None:
    """A publication with info and offset, through both encoders."""
    pub = Publication(data=b'{"text":"live-8"}', info=ClientInfo(user="42", client="c1"), offset=8)
    expected = (
        '{"push":{"channel":"chat:room","pub":{"data":{"text":"live-8"},'
        '"info":{"user":"42","client":"c1"},"offset":8}}}'
    )
    assert_frame(CODEC.encode_publication("chat:room", pub), expected)
    assert_frame(CODEC.encode_push(Push(channel="chat:room", body=pub)), expected)


def test_tv3_delta_publications() -> None:
    """With delta negotiated, ``data`` is a JSON string; a delta carries ``delta: true``."""
    assert_frame(
        CODEC.encode_publication(
            "news", Publication(data=b'{"text":"live-8"}', offset=8), delta=True
        ),
        '{"push":{"channel":"news","pub":{"data":"{\\"text\\":\\"live-8\\"}","offset":8}}}',
    )
    assert_frame(
        CODEC.encode_publication("d", Publication(data=b'{"v":1}', offset=1), delta=True),
        '{"push":{"channel":"d","pub":{"data":"{\\"v\\":1}","offset":1}}}',
    )
    assert_frame(
        CODEC.encode_publication(
            "d", Publication(data=b"7\n5@0,2:2}2qLFCY;", offset=2, delta=True), delta=True
        ),
        '{"push":{"channel":"d","pub":{"data":"7\\n5@0,2:2}2qLFCY;","offset":2,"delta":true}}}',
    )


# ---------------------------------------------------------------------------
# TV4: join / leave / message / server-side subscribe pushes


@pytest.mark.parametrize(
    ("push", "expected"),
    [
        (
            Push(
                channel="chat:room",
                body=Join(info=ClientInfo(user="43", client="c2", conn_info=b'{"name":"Bob"}')),
            ),
            '{"push":{"channel":"chat:room","join":{"info":{"user":"43","client":"c2",'
            '"conn_info":{"name":"Bob"}}}}}',
        ),
        (
            Push(channel="chat:room", body=Leave(info=ClientInfo(user="43", client="c2"))),
            '{"push":{"channel":"chat:room","leave":{"info":{"user":"43","client":"c2"}}}}',
        ),
        (
            Push(body=Message(data=b'{"note":"async msg"}')),
            '{"push":{"message":{"data":{"note":"async msg"}}}}',
        ),
        (
            Push(channel="server:added", body=SubscribePush(data=b'{"welcome":1}')),
            '{"push":{"channel":"server:added","subscribe":{"data":{"welcome":1}}}}',
        ),
    ],
    ids=["join", "leave", "message", "subscribe"],
)
def test_tv4_pushes(push: Push, expected: str) -> None:
    """Join, leave, message and server-side subscribe pushes."""
    assert_frame(CODEC.encode_push(push), expected)


# ---------------------------------------------------------------------------
# TV5: error replies and other calls


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (
            '{"publish":{"channel":"chat:room","data":{"text":"hi"}},"id":4}',
            Command(id=4, request=PublishRequest(channel="chat:room", data=b'{"text":"hi"}')),
        ),
        (
            '{"presence":{"channel":"chat:room"},"id":5}',
            Command(id=5, request=PresenceRequest(channel="chat:room")),
        ),
        (
            '{"presence_stats":{"channel":"chat:room"},"id":6}',
            Command(id=6, request=PresenceStatsRequest(channel="chat:room")),
        ),
        (
            '{"history":{"channel":"chat:room","since":{"offset":2,"epoch":"Xy3z"},"limit":10,'
            '"reverse":true},"id":7}',
            Command(
                id=7,
                request=HistoryRequest(
                    channel="chat:room",
                    since=StreamPosition(offset=2, epoch="Xy3z"),
                    limit=10,
                    reverse=True,
                ),
            ),
        ),
        (
            '{"history":{"channel":"chat:room"},"id":8}',
            Command(id=8, request=HistoryRequest(channel="chat:room")),
        ),
        (
            '{"rpc":{"method":"getUser","data":{"id":1}},"id":9}',
            Command(id=9, request=RPCRequest(method="getUser", data=b'{"id":1}')),
        ),
        (
            '{"send":{"data":{"hello":"world"}}}',
            Command(id=0, request=SendRequest(data=b'{"hello":"world"}')),
        ),
        (
            '{"unsubscribe":{"channel":"chat:room"},"id":10}',
            Command(id=10, request=UnsubscribeRequest(channel="chat:room")),
        ),
    ],
    ids=[
        "publish",
        "presence",
        "presence_stats",
        "history-since",
        "history-bare",
        "rpc",
        "send",
        "unsubscribe",
    ],
)
def test_tv5_client_commands_decode(line: str, command: Command) -> None:
    """Every TV5 client command."""
    assert decode_one(line) == command


def test_tv5_python_history_sends_zero_limit() -> None:
    """Python always sends ``limit`` and ``reverse``; zeros decode as defaults."""
    assert decode_one(
        '{"id": 3, "history": {"channel": "c", "limit": 0, "reverse": false}}'
    ) == Command(id=3, request=HistoryRequest(channel="c"))


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (
            lambda: CODEC.encode_error(4, ERROR_PERMISSION_DENIED),
            '{"id":4,"error":{"code":103,"message":"permission denied"}}',
        ),
        (
            lambda: CODEC.encode_result(
                5,
                PresenceResult(
                    presence={
                        "c1": ClientInfo(user="42", client="c1", conn_info=b'{"name":"Alice"}')
                    }
                ),
            ),
            '{"id":5,"presence":{"presence":{"c1":{"user":"42","client":"c1",'
            '"conn_info":{"name":"Alice"}}}}}',
        ),
        (
            lambda: CODEC.encode_result(6, PresenceStatsResult(num_clients=1, num_users=1)),
            '{"id":6,"presence_stats":{"num_clients":1,"num_users":1}}',
        ),
        (
            lambda: CODEC.encode_result(
                7,
                HistoryResult(
                    publications=(Publication(data=b'{"text":"h1"}', offset=1),),
                    epoch="Xy3z",
                    offset=8,
                ),
            ),
            '{"id":7,"history":{"publications":[{"data":{"text":"h1"},"offset":1}],'
            '"epoch":"Xy3z","offset":8}}',
        ),
        (
            lambda: CODEC.encode_result(8, HistoryResult(epoch="Xy3z", offset=8)),
            '{"id":8,"history":{"publications":[],"epoch":"Xy3z","offset":8}}',
        ),
        (
            lambda: CODEC.encode_error(9, ERROR_METHOD_NOT_FOUND),
            '{"id":9,"error":{"code":104,"message":"method not found"}}',
        ),
        (
            lambda: CODEC.encode_result(10, UnsubscribeResult()),
            '{"id":10,"unsubscribe":{}}',
        ),
    ],
    ids=[
        "error-103",
        "presence",
        "presence_stats",
        "history",
        "history-empty",
        "error-104",
        "unsubscribe",
    ],
)
def test_tv5_server_replies(encoded: Any, expected: str) -> None:
    """Every TV5 server reply."""
    assert_frame(encoded(), expected)


def test_empty_results_keep_their_key() -> None:
    """§2.2: a successful reply always carries its result object, even empty."""
    assert_frame(CODEC.encode_result(4, PublishResult()), '{"id":4,"publish":{}}')
    assert_frame(CODEC.encode_result(2, SubscribeResult()), '{"id":2,"subscribe":{}}')
    assert_frame(
        CODEC.encode_result(3, HistoryResult()),
        '{"id":3,"history":{"publications":[],"epoch":"","offset":0}}',
    )
    assert_frame(CODEC.encode_result(3, PresenceResult()), '{"id":3,"presence":{"presence":{}}}')
    assert_frame(
        CODEC.encode_result(3, PresenceStatsResult()),
        '{"id":3,"presence_stats":{"num_clients":0,"num_users":0}}',
    )


def test_temporary_error_flag() -> None:
    """``temporary`` is sent only when true."""
    assert_frame(
        CODEC.encode_error(1, Error(100, "internal server error", temporary=True)),
        '{"id":1,"error":{"code":100,"message":"internal server error","temporary":true}}',
    )


# ---------------------------------------------------------------------------
# TV6: ping / pong


def test_tv6_ping_and_pong() -> None:
    """The server ping is ``{}``; the client pong ``{}`` is a command without request."""
    assert CODEC.encode_ping() == b"{}"
    assert CODEC.decode_commands(b"{}") == [Command(id=0, request=None)]


# ---------------------------------------------------------------------------
# TV7: token refresh


def test_tv7_refresh_flow() -> None:
    """Refresh and sub_refresh commands and their replies."""
    assert decode_one('{"refresh":{"token":"CONN.TOKEN.2"},"id":3}') == Command(
        id=3, request=RefreshRequest(token="CONN.TOKEN.2")
    )
    assert decode_one('{"sub_refresh":{"channel":"news","token":"SUB.TOKEN.2"},"id":4}') == (
        Command(id=4, request=SubRefreshRequest(channel="news", token="SUB.TOKEN.2"))
    )
    assert_frame(
        CODEC.join(
            [
                CODEC.encode_result(
                    1,
                    ConnectResult(
                        client="c-1", version="6.0.0 OSS", expires=True, ttl=1, ping=25, pong=True
                    ),
                ),
                CODEC.encode_result(2, SubscribeResult(expires=True, ttl=1)),
            ]
        ),
        '{"id":1,"connect":{"client":"c-1","version":"6.0.0 OSS","expires":true,"ttl":1,'
        '"ping":25,"pong":true}}\n'
        '{"id":2,"subscribe":{"expires":true,"ttl":1}}',
    )
    assert_frame(
        CODEC.encode_result(3, RefreshResult(expires=True, ttl=600)),
        '{"id":3,"refresh":{"expires":true,"ttl":600}}',
    )
    assert_frame(
        CODEC.encode_result(4, SubRefreshResult(expires=True, ttl=600)),
        '{"id":4,"sub_refresh":{"expires":true,"ttl":600}}',
    )
    assert_frame(CODEC.encode_result(3, RefreshResult()), '{"id":3,"refresh":{}}')


def test_tv7_expired_token() -> None:
    """Connecting with an expired token: error 109."""
    assert decode_one('{"connect":{"token":"EXPIRED","name":"js"},"id":1}') == Command(
        id=1, request=ConnectRequest(token="EXPIRED", name="js")
    )
    assert_frame(
        CODEC.encode_error(1, ERROR_TOKEN_EXPIRED),
        '{"id":1,"error":{"code":109,"message":"token expired"}}',
    )


# ---------------------------------------------------------------------------
# TV8: disconnects


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (
            lambda: CODEC.encode_error(1, ERROR_UNAUTHORIZED),
            '{"id":1,"error":{"code":101,"message":"unauthorized"}}',
        ),
        (
            lambda: CODEC.encode_push(Push(body=DisconnectPush(code=3001, reason="shutdown"))),
            '{"push":{"disconnect":{"code":3001,"reason":"shutdown"}}}',
        ),
        (
            lambda: CODEC.encode_push(
                Push(channel="news", body=UnsubscribePush(code=2500, reason="insufficient state"))
            ),
            '{"push":{"channel":"news","unsubscribe":{"code":2500,"reason":"insufficient state"}}}',
        ),
        (
            lambda: CODEC.encode_push(
                Push(channel="news", body=UnsubscribePush(code=2000, reason="server unsubscribe"))
            ),
            '{"push":{"channel":"news","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}',
        ),
    ],
    ids=["error-101", "disconnect-push", "unsubscribe-2500", "unsubscribe-2000"],
)
def test_tv8_disconnects(encoded: Any, expected: str) -> None:
    """Non-temporary connect error, disconnect and unsubscribe pushes."""
    assert_frame(encoded(), expected)


# ---------------------------------------------------------------------------
# TV9: emulation


def test_tv9_emulation_frames() -> None:
    """The emulation connect reply carries ``session`` and ``node``."""
    assert decode_one('{"connect":{"token":"T","name":"js"},"id":1}') == Command(
        id=1, request=ConnectRequest(token="T", name="js")
    )
    assert_frame(
        CODEC.encode_result(
            1,
            ConnectResult(
                client="emu-client",
                version="6.0.0 OSS",
                ping=25,
                pong=True,
                session="sess-1",
                node="node-A",
            ),
        ),
        '{"id":1,"connect":{"client":"emu-client","version":"6.0.0 OSS","ping":25,"pong":true,'
        '"session":"sess-1","node":"node-A"}}',
    )
    # The emulation body's ``data`` is itself a JSON frame.
    assert decode_one('{"subscribe":{"channel":"news","flag":1},"id":2}') == Command(
        id=2, request=SubscribeRequest(channel="news", flag=1)
    )
    assert_frame(CODEC.encode_result(2, SubscribeResult()), '{"id":2,"subscribe":{}}')


# ---------------------------------------------------------------------------
# Framing and bad input


def test_join_uses_single_newlines() -> None:
    """§1.2: messages joined by one ``\\n``, no trailing newline."""
    assert CODEC.join([b"{}"]) == b"{}"
    assert CODEC.join([b'{"a":1}', b"{}", b'{"b":2}']) == b'{"a":1}\n{}\n{"b":2}'


def test_blank_lines_are_skipped() -> None:
    """Blank lines inside a frame MAY be skipped (§1.2)."""
    commands = CODEC.decode_commands(b'{"id":1,"ping":{}}\n\n{}\n')
    assert [c.id for c in commands] == [1, 0]


def test_payload_newlines_never_reach_the_frame() -> None:
    """Client data with insignificant whitespace (``\\r``, tabs) is re-serialised compactly."""
    command = decode_one('{"id": 1, "publish": {"channel": "c", "data": {"a": [1,\r\t 2]}}}')
    assert isinstance(command.request, PublishRequest)
    assert command.request.data == b'{"a":[1,2]}'


def test_unknown_fields_are_ignored() -> None:
    """§2: newer SDK fields (``tf``, ``type``, unknown keys) must not break decoding."""
    command = decode_one(
        '{"id":2,"subscribe":{"channel":"c","flag":1,"tf":{"op":"eq"},"future":true},"x":1}'
    )
    assert command.request == SubscribeRequest(channel="c", flag=1, has_tags_filter=True)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\n",
        b"not json",
        b"[1,2]",
        b'"str"',
        b"{",
        b'{"id":"1","connect":{}}',
        b'{"id":-1,"connect":{}}',
        b'{"id":4294967296,"connect":{}}',
        b'{"id":true,"connect":{}}',
        b'{"id":1,"connect":[]}',
        b'{"id":1,"subscribe":{"channel":5}}',
        b'{"id":1,"subscribe":{"channel":"c","offset":-1}}',
        b'{"id":1,"subscribe":{"channel":"c","recover":"yes"}}',
        b'{"id":1,"history":{"channel":"c","since":5}}',
        b'{"id":1,"connect":{"headers":{"a":1}}}',
        b'{"id":1,"connect":{}}\n{bad',
        b"\xff\xfe",
    ],
)
def test_bad_frames_raise_protocol_error(frame: bytes) -> None:
    """Undecodable frames are a ProtocolError (the caller disconnects with 3501)."""
    with pytest.raises(ProtocolError):
        CODEC.decode_commands(frame)


# ---------------------------------------------------------------------------
# Fuzzing

_COMMAND_KEYS = [
    "id",
    "connect",
    "subscribe",
    "unsubscribe",
    "publish",
    "presence",
    "presence_stats",
    "history",
    "ping",
    "send",
    "rpc",
    "refresh",
    "sub_refresh",
]
_FIELD_KEYS = [
    "channel",
    "token",
    "data",
    "subs",
    "name",
    "version",
    "headers",
    "recover",
    "epoch",
    "offset",
    "positioned",
    "recoverable",
    "join_leave",
    "delta",
    "tf",
    "flag",
    "type",
    "limit",
    "since",
    "reverse",
    "method",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(_FIELD_KEYS) | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
commandish = st.dictionaries(st.sampled_from(_COMMAND_KEYS), json_values, max_size=3)


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


frames = (
    st.binary(max_size=200)
    | st.lists(commandish.map(_dump), min_size=1, max_size=4).map(b"\n".join)
    | st.lists(json_values.map(_dump), min_size=1, max_size=3).map(b"\n".join)
)


@FUZZ
@given(frames)
def test_decode_raises_only_protocol_error(frame: bytes) -> None:
    """Whatever the bytes, decoding returns commands or raises ProtocolError."""
    try:
        commands = CODEC.decode_commands(frame)
    except ProtocolError:
        return
    assert commands
    for command in commands:
        assert isinstance(command, Command)
        assert 0 <= command.id < 2**32


@FUZZ
@given(
    st.text(max_size=20),
    st.dictionaries(st.text(max_size=5), st.integers(0, 2**53) | st.text(max_size=5), max_size=3),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_publish_round_trip(channel: str, data: dict[str, Any], command_id: int) -> None:
    """A publish decodes with its data re-serialised to the same JSON value."""
    line = json.dumps({"id": command_id, "publish": {"channel": channel, "data": data}})
    (command,) = CODEC.decode_commands(line.encode())
    assert command.id == command_id
    assert isinstance(command.request, PublishRequest)
    assert command.request.channel == channel
    assert json.loads(command.request.data) == data
    encoded = CODEC.encode_publication(channel, Publication(data=command.request.data, offset=1))
    assert b"\n" not in encoded
    assert json.loads(encoded) == {"push": {"channel": channel, "pub": {"data": data, "offset": 1}}}
