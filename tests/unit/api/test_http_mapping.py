"""JSON mapping (server-api.md §4), gobwas globs (§9.11), the legacy body (§2.2), API key
checks (§3) and the OpenAPI document: no sockets."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import orjson
import pytest
from openapi_spec_validator import validate

from whirlwind.api import json_mapping
from whirlwind.api import types as t
from whirlwind.api.executor import Executor
from whirlwind.api.glob import GlobError, compile_glob
from whirlwind.api.http import LEGACY_METHODS, _Auth, _parse_legacy, add_api_routes, api_paths
from whirlwind.api.json_mapping import DecodeError, EncodeError
from whirlwind.api.openapi import openapi_document
from whirlwind.broker.memory import MemoryBroker
from whirlwind.config.schema import ChannelConfig, Config, HTTPAPIConfig, NamespaceConfig
from whirlwind.node import Node
from whirlwind.presence.memory import MemoryPresenceManager
from whirlwind.web import Headers, Request, Response, Routes

# --------------------------------------------------------------------------- decoding


def test_publish_request_decodes_every_field() -> None:
    body = (
        b'{"channel":"news","data":{"text": "hi", "n": [1, 2]},"b64data":"","skip_history":true,'
        b'"tags":{"a":"b"},"idempotency_key":"k","delta":true,"version":7,"version_epoch":"e"}'
    )
    request = json_mapping.loads(t.PublishRequest, body)
    assert request == t.PublishRequest(
        channel="news",
        data=b'{"text":"hi","n":[1,2]}',
        skip_history=True,
        tags={"a": "b"},
        idempotency_key="k",
        delta=True,
        version=7,
        version_epoch="e",
    )


def test_unknown_keys_ignored_and_case_insensitive_names() -> None:
    request = json_mapping.loads(t.PublishRequest, b'{"CHANNEL":"x","Data":1,"whatever":[1]}')
    assert request == t.PublishRequest(channel="x", data=b"1")


def test_exact_name_wins_over_case_insensitive() -> None:
    request = json_mapping.loads(t.PresenceRequest, b'{"channel":"exact","CHANNEL":"other"}')
    # Go assigns in document order; the later key wins for the same field.
    assert request.channel == "other"


@pytest.mark.parametrize(
    ("data", "raw"),
    [
        (b"null", b"null"),
        (b"true", b"true"),
        (b'"s"', b'"s"'),
        (b"1.5", b"1.5"),
        (b"[ ]", b"[]"),
    ],
)
def test_raw_json_values(data: bytes, raw: bytes) -> None:
    request = json_mapping.loads(t.PublishRequest, b'{"channel":"c","data":' + data + b"}")
    assert request.data == raw


def test_missing_data_is_empty_and_null_fields_are_zero() -> None:
    request = json_mapping.loads(
        t.HistoryRequest, b'{"channel":null,"limit":null,"since":null,"reverse":null}'
    )
    assert request == t.HistoryRequest()
    assert json_mapping.loads(t.PublishRequest, b'{"channel":"c"}').data == b""


def test_nested_messages_and_bool_values() -> None:
    request = json_mapping.loads(
        t.SubscribeRequest,
        b'{"user":"u","channel":"c","recover_since":{"offset":5,"epoch":"e"},'
        b'"override":{"presence":{"value":true},"join_leave":{"value":false},'
        b'"force_recovery":{}},"info":{"a":1},"expire_at":-1}',
    )
    assert request.recover_since == t.StreamPosition(offset=5, epoch="e")
    assert request.override == t.SubscribeOptionOverride(
        presence=True, join_leave=False, force_recovery=False
    )
    assert request.info == b'{"a":1}'
    assert request.expire_at == -1


def test_batch_commands_keep_nulls() -> None:
    request = json_mapping.loads(
        t.BatchRequest,
        b'{"commands":[{"publish":{"channel":"a","data":1}},null,{"connections":{}}],'
        b'"parallel":true}',
    )
    assert request.parallel is True
    assert request.commands == [
        t.Command(publish=t.PublishRequest(channel="a", data=b"1")),
        None,
        t.Command(),
    ]


def test_null_body_is_an_empty_request() -> None:
    assert json_mapping.loads(t.InfoRequest, b"null") == t.InfoRequest()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty body"),
        (b"   ", "empty body"),
        (b"{", "invalid JSON"),
        (b"[]", "body: expected an object, got array"),
        (b'"x"', "body: expected an object, got string"),
        (b'{"channel":1}', "channel: expected a string, got number"),
        (b'{"channel":"c","limit":"10"}', "limit: expected an integer (int32), got string"),
        (b'{"channel":"c","limit":5.0}', "limit: expected an integer (int32), got 5.0"),
        (b'{"channel":"c","limit":true}', "limit: expected an integer (int32), got boolean"),
        (b'{"channel":"c","limit":2147483648}', "limit: 2147483648 is out of range for int32"),
        (b'{"channel":"c","reverse":"yes"}', "reverse: expected a boolean, got string"),
        (b'{"channel":"c","since":[]}', "since: expected an object, got array"),
        (b'{"channel":"c","since":{"offset":-1}}', "since.offset: -1 is out of range for uint64"),
    ],
)
def test_history_decode_errors(body: bytes, problem: str) -> None:
    with pytest.raises(DecodeError) as info:
        json_mapping.loads(t.HistoryRequest, body)
    assert str(info.value).startswith(problem)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"tags":{"a":1}}', "tags.a: expected a string, got number"),
        (b'{"tags":[]}', "tags: expected an object, got array"),
        (b'{"channels":"a"}', "channels: expected an array, got string"),
        (b'{"channels":["a",2]}', "channels[1]: expected a string, got number"),
        (b'{"version":18446744073709551616}', "version: expected an integer (uint64)"),
        (b'{"data":1e999}', "invalid JSON"),
    ],
)
def test_broadcast_decode_errors(body: bytes, problem: str) -> None:
    with pytest.raises(DecodeError) as info:
        json_mapping.loads(t.BroadcastRequest, body)
    assert str(info.value).startswith(problem)


def test_bool_value_must_be_an_object() -> None:
    with pytest.raises(DecodeError, match=r"override.presence: expected an object"):
        json_mapping.loads(t.SubscribeRequest, b'{"override":{"presence":true}}')


def test_batch_command_type_errors() -> None:
    with pytest.raises(DecodeError, match=r"commands\[0\].publish.channel"):
        json_mapping.loads(t.BatchRequest, b'{"commands":[{"publish":{"channel":5}}]}')


# --------------------------------------------------------------------------- encoding


def dumps(obj: object) -> bytes:
    return json_mapping.dumps(obj)


def test_zero_values_omitted_and_empty_results_are_objects() -> None:
    assert dumps(t.PublishResult()) == b"{}"
    assert dumps(t.SubscribeResult()) == b"{}"
    assert dumps(t.PublishResult(offset=3, epoch="e")) == b'{"offset":3,"epoch":"e"}'


def test_always_present_fields() -> None:
    assert dumps(t.HistoryResult()) == b'{"publications":[],"epoch":"","offset":0}'
    assert dumps(t.PresenceResult()) == b'{"presence":{}}'
    assert dumps(t.PresenceStatsResult()) == b'{"num_clients":0,"num_users":0}'
    assert dumps(t.ChannelsResult()) == b'{"channels":{}}'
    assert dumps(t.ClientInfo()) == b'{"user":"","client":""}'
    assert dumps(t.NodeResult()) == (
        b'{"uid":"","name":"","version":"","num_clients":0,"num_users":0,'
        b'"num_channels":0,"num_subs":0}'
    )
    assert dumps(t.Error(code=107, message="bad request")) == (
        b'{"code":107,"message":"bad request"}'
    )


def test_raw_fields_are_embedded_verbatim() -> None:
    result = t.HistoryResult(
        publications=[
            t.Publication(
                data=b'{"text":"hi"}',
                info=t.ClientInfo(user="u", client="c", conn_info=b'{"name":"Ann"}'),
                offset=4,
                tags={"z": "1", "a": "2"},
            )
        ],
        epoch="e",
        offset=4,
    )
    assert dumps(result) == (
        b'{"publications":[{"data":{"text":"hi"},"info":{"user":"u","client":"c",'
        b'"conn_info":{"name":"Ann"}},"offset":4,"tags":{"a":"2","z":"1"}}],'
        b'"epoch":"e","offset":4}'
    )


def test_raw_json_with_newlines_is_compacted() -> None:
    assert dumps(t.RPCResult(data=b'{\n  "a": 1\n}')) == b'{"data":{"a":1}}'


def test_binary_payload_cannot_be_encoded() -> None:
    with pytest.raises(EncodeError):
        dumps(t.Publication(data=b"\x00\xff"))


def test_map_keys_sorted_like_go() -> None:
    result = t.ChannelsResult(
        channels={"b": t.ChannelInfo(num_clients=1), "a": t.ChannelInfo(num_clients=2)}
    )
    assert dumps(result) == b'{"channels":{"a":{"num_clients":2},"b":{"num_clients":1}}}'


def test_set_nested_message_is_emitted_even_when_empty() -> None:
    assert dumps(t.Reply(publish=t.PublishResult())) == b'{"publish":{}}'
    assert dumps(t.BatchResult()) == b"{}"
    response = t.BroadcastResult(responses=[t.PublishResponse(result=t.PublishResult())])
    assert dumps(response) == b'{"responses":[{"result":{}}]}'


def test_bool_value_round_trip() -> None:
    override = t.SubscribeOptionOverride(presence=False, join_leave=True)
    encoded = dumps(override)
    assert encoded == b'{"presence":{"value":false},"join_leave":{"value":true}}'
    assert json_mapping.loads(t.SubscribeOptionOverride, encoded) == override


@pytest.mark.parametrize("request_type", [types for types, _ in t.METHODS.values()])
def test_empty_requests_round_trip(request_type: type[t.Request]) -> None:
    request = request_type()
    assert json_mapping.loads(request_type, dumps(request) or b"{}") == request


def test_full_requests_round_trip() -> None:
    requests: list[t.Request] = [
        t.PublishRequest(channel="c", data=b'{"a":1}', tags={"k": "v"}, version=2**64 - 1),
        t.BroadcastRequest(channels=["a", "b"], data=b"[1]", b64data="AA=="),
        t.SubscribeRequest(
            channel="c",
            user="u",
            expire_at=2**63 - 1,
            override=t.SubscribeOptionOverride(force_positioning=True),
            recover_since=t.StreamPosition(offset=1, epoch="e"),
        ),
        t.DisconnectRequest(
            user="u", disconnect=t.Disconnect(code=4500, reason="r"), whitelist=["c1"]
        ),
        t.BatchRequest(commands=[t.Command(info=t.InfoRequest()), None], parallel=True),
    ]
    for request in requests:
        assert json_mapping.loads(type(request), dumps(request)) == request


# --------------------------------------------------------------------------- glob


@pytest.mark.parametrize(
    ("pattern", "matches", "rejects"),
    [
        ("*", ["", "a", "chat:room:1"], []),
        ("chat:*", ["chat:", "chat:a:b"], ["chat", "news"]),
        ("c?t", ["cat", "c:t"], ["ct", "cart"]),
        ("[abc]x", ["ax", "cx"], ["dx", "x"]),
        ("[!abc]x", ["dx", ":x"], ["ax", "x"]),
        ("[a-c]", ["a", "b", "c"], ["d", ""]),
        ("[!a-c]", ["d"], ["a", "c"]),
        ("{news,chat:*}", ["news", "chat:1"], ["new", "other"]),
        ("{a,b{c,d}}!", ["a!", "bc!", "bd!"], ["b!", "ab!"]),
        ("{a,}x", ["ax", "x"], ["bx"]),
        ("\\*", ["*"], ["a"]),
        ("a\\?", ["a?"], ["ab"]),
        ("[\\]]", ["]"], ["\\"]),
        ("a}b,c", ["a}b,c"], ["a"]),
        ("**", ["x:y"], []),
        ("[]", [], ["", "a"]),
        ("[!]", ["a", "]"], [""]),
        ("a.b+(c)", ["a.b+(c)"], ["aXb+(c)"]),
        ("line\nbreak*", ["line\nbreak\nmore"], []),
    ],
)
def test_glob(pattern: str, matches: list[str], rejects: list[str]) -> None:
    regex = compile_glob(pattern)
    for name in matches:
        assert regex.fullmatch(name), (pattern, name)
    for name in rejects:
        assert not regex.fullmatch(name), (pattern, name)


@pytest.mark.parametrize("pattern", ["[abc", "{a,b", "a\\", "[a-", "[a-cd]", "[z-a]", "{a,[}"])
def test_invalid_glob(pattern: str) -> None:
    with pytest.raises(GlobError):
        compile_glob(pattern)


def test_glob_result_is_a_regex() -> None:
    assert isinstance(compile_glob("a*"), re.Pattern)


# --------------------------------------------------------------------------- legacy body


def test_legacy_body_streaming_decode() -> None:
    commands = _parse_legacy(
        b'{"id":1,"method":"publish","params":{"channel":"a"}}\n'
        b'{"id":2,"method":"PRESENCE_STATS","params":{}}{"method":9}  \r\n'
        b'{"method":14,"params":{}} {"params":{"channel":"b"}} {"method":99}'
    )
    assert [(c.id, c.method) for c in commands] == [
        (1, "publish"),
        (2, "presence_stats"),
        (0, "info"),
        (0, "connections"),
        (0, "publish"),
        (0, ""),
    ]
    assert commands[0].params == {"channel": "a"} and commands[0].has_params
    assert not commands[2].has_params


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" \n ",
        b"{",
        b'{"method":"publish"} x',
        b"[1]",
        b'{"method":"nope"}',
        b'{"method":true}',
        b'{"id":-1}',
        b'{"id":"1"}',
        b'{"params":{"data":NaN}}',
        b"\xff",
    ],
)
def test_legacy_body_errors(body: bytes) -> None:
    with pytest.raises(DecodeError):
        _parse_legacy(body)


def test_legacy_enum_values() -> None:
    assert LEGACY_METHODS[0] == "publish"
    assert LEGACY_METHODS[11] == "subscribe"
    assert LEGACY_METHODS[12] == "refresh"
    assert LEGACY_METHODS[32] == "cancel_push"
    assert LEGACY_METHODS[39] == "shared_poll_publish"


# --------------------------------------------------------------------------- auth


def allowed(auth: _Auth, path: str = "/api/info", **headers: str) -> bool:
    _, _, query = path.partition("?")
    request = Request(
        method="POST",
        path=path.partition("?")[0],
        query_string=query,
        headers=Headers({k.lower(): v for k, v in headers.items()}),
        body=b"",
    )
    return auth.allows(request)


def test_auth_key_sources() -> None:
    auth = _Auth(insecure=False, key=b"secret")
    assert allowed(auth, **{"X-API-Key": "secret"})
    assert not allowed(auth, **{"X-API-Key": "wrong"})
    assert allowed(auth, Authorization="apikey secret")
    assert allowed(auth, Authorization="APIKEY  secret")
    assert not allowed(auth, Authorization="bearer secret")
    assert not allowed(auth, Authorization="apikey secret extra")
    # X-API-Key present: Authorization is not consulted.
    assert not allowed(auth, **{"X-API-Key": "wrong", "Authorization": "apikey secret"})
    # The query string is tried when the headers did not succeed.
    assert allowed(auth, "/api/info?api_key=secret", **{"X-API-Key": "wrong"})
    assert not allowed(auth, "/api/info?api_key=nope")
    assert not allowed(auth)


def test_auth_empty_key_refuses_and_insecure_allows() -> None:
    assert not allowed(_Auth(insecure=False, key=b""), **{"X-API-Key": ""})
    assert not allowed(_Auth(insecure=False, key=b""), "/api/info?api_key=")
    assert allowed(_Auth(insecure=True, key=b""))


# --------------------------------------------------------------------------- OpenAPI


def test_openapi_document_is_valid() -> None:
    document = openapi_document(api_paths(HTTPAPIConfig()))
    validate(orjson.loads(orjson.dumps(document)))  # slow (seconds): once


@pytest.mark.parametrize("prefix", ["/api", "/", "/v1/api/"])
def test_openapi_document_is_complete(prefix: str) -> None:
    paths = api_paths(HTTPAPIConfig(handler_prefix=prefix))
    document = openapi_document(paths)
    assert set(document["paths"]) == set(paths)
    for path, (http_method, _) in paths.items():
        assert list(document["paths"][path]) == [http_method.lower()]
    base = prefix.rstrip("/")
    assert {f"{base}/{method}" for method in t.METHODS} <= set(paths)
    assert (base or "/") in paths


def test_openapi_schemas_follow_the_types() -> None:
    document = openapi_document(api_paths(HTTPAPIConfig()))
    schemas = document["components"]["schemas"]
    history = schemas["HistoryResult"]
    assert history["required"] == ["publications", "epoch", "offset"]
    assert schemas["HistoryRequest"]["properties"]["limit"]["format"] == "int32"
    assert schemas["PublishRequest"]["properties"]["tags"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    override = schemas["SubscribeOptionOverride"]["properties"]["presence"]
    assert override == {"$ref": "#/components/schemas/BoolValue"}
    assert document["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"


@pytest.mark.parametrize("prefix", ["/api", "/"])
async def test_every_mounted_route_is_documented(prefix: str) -> None:
    """The routes add_api_routes mounts and the OpenAPI document's paths are the same set."""
    config = Config(http_api=HTTPAPIConfig(handler_prefix=prefix))
    node = Node(
        config=config,
        broker=MemoryBroker(),
        presence=MemoryPresenceManager(),
        loop=asyncio.get_running_loop(),
    )
    routes = Routes()
    add_api_routes(routes, Executor(node), config.http_api)
    mounted: set[tuple[str, str]] = set()
    for path, route in routes.table.items():
        methods = route.methods or frozenset(("POST",))
        mounted.update((path, m.lower()) for m in methods if m != "HEAD")  # HEAD rides on GET
    document = openapi_document(api_paths(config.http_api))
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert mounted == documented


# --------------------------------------------------------------------------- handlers


@pytest.fixture
async def api_app() -> AsyncIterator[tuple[Routes, Node]]:
    config = Config(
        http_api=HTTPAPIConfig(key="k", max_request_body_size=100),
        channel=ChannelConfig(
            namespaces=(
                NamespaceConfig(
                    name="bin",
                    publication_data_format="binary",
                    history_size=5,
                    history_ttl=60.0,
                ),
            )
        ),
    )
    node = Node(
        config=config,
        broker=MemoryBroker(),
        presence=MemoryPresenceManager(),
        loop=asyncio.get_running_loop(),
    )
    await node.start()
    routes = Routes()
    add_api_routes(routes, Executor(node), config.http_api)
    yield routes, node
    if not node.shutting_down:
        await node.shutdown()


async def call(
    routes: Routes, path: str, body: bytes, headers: dict[str, str] | None = None
) -> Response:
    """Run the handler ``routes`` has for ``POST path`` on an in-memory request."""
    route = routes.table[path]
    all_headers = {"X-API-Key": "k", **(headers or {})}
    request = Request(
        method="POST",
        path=path,
        query_string="",
        headers=Headers({k.lower(): v for k, v in all_headers.items()}),
        body=b"" if len(body) > route.max_body else body,
        body_too_large=len(body) > route.max_body,
    )
    result = route.handler(request)
    response = result if isinstance(result, Response) else await result  # type: ignore[misc]
    assert isinstance(response, Response)
    return response


async def test_handler_success_error_and_batch(api_app: tuple[Routes, Node]) -> None:
    app, _ = api_app
    response = await call(app, "/api/publish", b'{"channel":"c","data":1}')
    assert (response.status, response.body) == (200, b'{"result":{}}')
    response = await call(app, "/api/publish", b'{"channel":"x:c","data":1}')
    assert response.body == b'{"error":{"code":102,"message":"unknown channel"}}'
    response = await call(
        app, "/api/publish", b'{"channel":"","data":1}', {"X-Centrifugo-Error-Mode": "transport"}
    )
    assert (response.status, response.body) == (400, b'{"code":107,"message":"bad request"}')
    response = await call(app, "/api/batch", b'{"commands":[{"rpc":{}}]}')
    assert response.body == b'{"replies":[{"error":{"code":107,"message":"bad request"}}]}'


async def test_binary_payload_in_history_is_a_500(api_app: tuple[Routes, Node]) -> None:
    """Go's encoder fails on a non-JSON RawMessage: Centrifugo answers 500 too."""
    app, _ = api_app
    response = await call(app, "/api/publish", b'{"channel":"bin:x","b64data":"AP8="}')
    assert response.status == 200
    response = await call(app, "/api/history", b'{"channel":"bin:x","limit":-1}')
    assert (response.status, response.body) == (500, b"Internal Server Error")


async def test_body_limit_by_content_length(api_app: tuple[Routes, Node]) -> None:
    app, _ = api_app
    response = await call(app, "/api/info", b"{}" + b" " * 200)
    assert response.status == 413
    assert b"100 bytes" in response.body


async def test_legacy_route_503_while_shutting_down(
    api_app: tuple[Routes, Node],
) -> None:
    app, node = api_app
    response = await call(app, "/api", b'{"method":"info"}')
    assert response.status == 200 and response.body.startswith(b'{"result":{"nodes":')
    await node.shutdown()
    response = await call(app, "/api", b'{"method":"info"}')
    assert (response.status, response.body) == (503, b"")
