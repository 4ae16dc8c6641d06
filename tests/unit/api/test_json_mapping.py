"""The JSON codec's fast paths (server-api.md §4): built messages, error paths, sharing.

The mapping rules themselves are pinned in ``test_http_mapping.py``; these tests pin what
the table-driven codec adds: instances built without ``__init__``, error paths assembled
on the way up, single-field replies and shared neighbours in the output.
"""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from whirlwind.api import json_mapping
from whirlwind.api import types as t
from whirlwind.api.json_mapping import DecodeError


def test_build_equals_the_constructor_and_fills_factories() -> None:
    built = t.build(t.PublishRequest, {"channel": "c", "data": b"1"})
    assert built == t.PublishRequest(channel="c", data=b"1")
    assert built.tags == {}
    assert built.tags is not t.build(t.PublishRequest, {}).tags
    assert hash(t.build(t.Error, {"code": 1})) == hash(t.Error(code=1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.channel = "other"  # type: ignore[misc]


def test_build_refuses_what_it_cannot_build() -> None:
    with pytest.raises(TypeError):
        t.build(t.IntFormat, {})  # slotted: not a message of types.py


def test_decoded_messages_equal_constructed_ones() -> None:
    body = (
        b'{"commands":[{"publish":{"channel":"a","data":{"n":1},"tags":{"k":"v"}}},null,'
        b'{"broadcast":{"channels":["a","b"],"data":"x"}},{"subscribe":{"user":"u",'
        b'"channel":"c","override":{"presence":{"value":true}}}}],"parallel":true}'
    )
    assert json_mapping.loads(t.BatchRequest, body) == t.BatchRequest(
        parallel=True,
        commands=[
            t.Command(publish=t.PublishRequest(channel="a", data=b'{"n":1}', tags={"k": "v"})),
            None,
            t.Command(broadcast=t.BroadcastRequest(channels=["a", "b"], data=b'"x"')),
            t.Command(
                subscribe=t.SubscribeRequest(
                    user="u", channel="c", override=t.SubscribeOptionOverride(presence=True)
                )
            ),
        ],
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "body: expected an object, got array"),
        (
            b'{"commands":[{"publish":{"channel":"a"}},{"broadcast":{"channels":["a",5]}}]}',
            "commands[1].broadcast.channels[1]: expected a string, got number",
        ),
        (
            b'{"commands":[null,null,{"publish":{"tags":{"a.b":1}}}]}',
            "commands[2].publish.tags.a.b: expected a string, got number",
        ),
        (
            b'{"commands":[{"subscribe":{"override":{"presence":{"value":1}}}}]}',
            "commands[0].subscribe.override.presence.value: expected a boolean, got number",
        ),
        (
            b'{"commands":[{"history":{"since":{"offset":-1}}}]}',
            "commands[0].history.since.offset: -1 is out of range for uint64",
        ),
        (b'{"commands":{}}', "commands: expected an array, got object"),
        (b'{"Commands":[5]}', "Commands[0]: expected an object, got number"),
    ],
)
def test_errors_name_the_full_path(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        json_mapping.loads(t.BatchRequest, body)
    assert str(info.value) == message


@pytest.mark.parametrize("body", [b"", b"  \n", b"\t"])
def test_empty_body(body: bytes) -> None:
    with pytest.raises(DecodeError, match=r"^empty body$"):
        json_mapping.loads(t.PublishRequest, body)


def test_invalid_json_is_not_an_empty_body() -> None:
    with pytest.raises(DecodeError, match=r"^invalid JSON: "):
        json_mapping.loads(t.PublishRequest, b" {")


def test_a_built_reply_encodes_like_a_constructed_one() -> None:
    result = t.PublishResult(offset=3, epoch="e")
    built = t.build(t.Reply, {"publish": result})
    assert json_mapping.encode(built) == json_mapping.encode(t.Reply(publish=result))
    assert json_mapping.dumps(t.build(t.Reply, {"subscribe": t.SubscribeResult()})) == (
        b'{"subscribe":{}}'
    )
    # Fields emitted even when zero are emitted when left out of a built message too.
    assert json_mapping.dumps(t.build(t.Error, {})) == b'{"code":0,"message":""}'
    assert json_mapping.dumps(t.build(t.PresenceStatsResult, {"num_users": 2})) == (
        b'{"num_clients":0,"num_users":2}'
    )
    assert json_mapping.dumps(t.build(t.PresenceResult, {})) == b'{"presence":{}}'


def test_equal_neighbours_share_one_encoding() -> None:
    reply = t.Reply(publish=t.PublishResult())
    other = t.Reply(error=t.Error(code=107, message="bad request"))
    result = t.BatchResult(replies=[reply, reply, other, reply])
    encoded = json_mapping.encode(result)
    replies = encoded["replies"]
    assert replies[0] is replies[1]
    assert replies[0] == replies[3] == {"publish": {}}
    assert orjson.loads(json_mapping.dumps(result)) == {
        "replies": [
            {"publish": {}},
            {"publish": {}},
            {"error": {"code": 107, "message": "bad request"}},
            {"publish": {}},
        ]
    }
