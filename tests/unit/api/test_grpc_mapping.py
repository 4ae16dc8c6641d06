"""The GRPC wire contract (api.proto vs server-api.md §12.4), the pb ⇄ dataclass mapping
and the reading of ``grpc_api.tls`` values."""

from __future__ import annotations

import base64
import dataclasses
import typing
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from whirlwind.api import api_pb2, types
from whirlwind.api.grpc import PRO_RPCS, RPCS, SERVICE
from whirlwind.api.protobuf_mapping import decode, encode
from whirlwind.errors import ConfigError
from whirlwind.tls import load_pem

SERVICE_DESCRIPTOR = api_pb2.DESCRIPTOR.services_by_name["CentrifugoApi"]


def _numbers(message: str) -> dict[str, int]:
    descriptor: Descriptor = api_pb2.DESCRIPTOR.message_types_by_name[message]
    return {field.name: field.number for field in descriptor.fields}


# ---- the wire contract -------------------------------------------------------------------


def test_package_and_service_names() -> None:
    """Full method names are /centrifugal.centrifugo.api.CentrifugoApi/<Rpc> (§12.1)."""
    assert api_pb2.DESCRIPTOR.package == "centrifugal.centrifugo.api"
    assert SERVICE_DESCRIPTOR.full_name == SERVICE
    oss = [
        "Batch", "Publish", "Broadcast", "Subscribe", "Unsubscribe", "Disconnect", "Presence",
        "PresenceStats", "History", "HistoryRemove", "Info", "RPC", "Refresh", "Channels",
    ]  # fmt: skip
    names = [method.name for method in SERVICE_DESCRIPTOR.methods]
    assert names[: len(oss)] == oss
    assert set(RPCS) == set(oss)
    assert set(names) - set(oss) == PRO_RPCS
    assert {"Connections", "CancelPush", "MapPublish", "SharedPollPublish"} <= PRO_RPCS
    for method in SERVICE_DESCRIPTOR.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"


SPEC_NUMBERS: dict[str, dict[str, int]] = {
    "Error": {"code": 1, "message": 2},
    "BatchRequest": {"commands": 1, "parallel": 2},
    "BatchResponse": {"replies": 1},
    "PublishRequest": {
        "channel": 1, "data": 2, "b64data": 3, "skip_history": 4, "tags": 5,
        "idempotency_key": 6, "delta": 7, "version": 8, "version_epoch": 9,
    },
    "PublishResult": {"offset": 1, "epoch": 2},
    "BroadcastRequest": {
        "channels": 1, "data": 2, "b64data": 3, "skip_history": 4, "tags": 5,
        "idempotency_key": 6, "delta": 7, "version": 8, "version_epoch": 9,
    },
    "BroadcastResult": {"responses": 1},
    "PublishResponse": {"error": 1, "result": 2},
    "SubscribeRequest": {
        "channel": 1, "user": 2, "expire_at": 3, "info": 4, "b64info": 5, "client": 6,
        "data": 7, "b64data": 8, "recover_since": 9, "override": 10, "session": 11,
        "label_filter": 12, "all_users": 13,
    },
    "SubscribeOptionOverride": {
        "presence": 1, "join_leave": 2, "force_recovery": 3, "force_positioning": 4,
        "force_push_join_leave": 5,
    },
    "BoolValue": {"value": 1},
    "Int32Value": {"value": 1},
    "UnsubscribeRequest": {
        "channel": 1, "user": 2, "client": 3, "session": 4, "label_filter": 5, "all_users": 6,
    },
    "Disconnect": {"code": 1, "reason": 2},
    "DisconnectRequest": {
        "user": 1, "disconnect": 2, "client": 3, "whitelist": 4, "session": 5,
        "label_filter": 6, "all_users": 7,
    },
    "RefreshRequest": {
        "user": 1, "client": 2, "expired": 3, "expire_at": 4, "info": 5, "session": 6,
        "label_filter": 7, "all_users": 8,
    },
    "PresenceRequest": {"channel": 1},
    "PresenceStatsRequest": {"channel": 1},
    "HistoryRemoveRequest": {"channel": 1},
    "ClientInfo": {"user": 1, "client": 2, "conn_info": 3, "chan_info": 4},
    "PresenceResult": {"presence": 1},
    "PresenceStatsResult": {"num_clients": 1, "num_users": 2},
    "StreamPosition": {"offset": 1, "epoch": 2},
    "HistoryRequest": {"channel": 1, "limit": 2, "since": 3, "reverse": 4},
    "Publication": {"data": 2, "info": 3, "offset": 4, "tags": 5},
    "HistoryResult": {"publications": 1, "epoch": 2, "offset": 3},
    "InfoRequest": {},
    "InfoResult": {"nodes": 1},
    "NodeResult": {
        "uid": 1, "name": 2, "version": 3, "num_clients": 4, "num_users": 5,
        "num_channels": 6, "uptime": 7, "metrics": 8, "process": 9, "num_subs": 10,
    },
    "Metrics": {"interval": 1, "items": 2},
    "Process": {"cpu": 1, "rss": 2},
    "RPCRequest": {"method": 1, "params": 2},
    "RPCResult": {"data": 1},
    "ChannelsRequest": {"pattern": 1},
    "ChannelsResult": {"channels": 1},
    "ChannelInfo": {"num_clients": 1},
    "SubscribeResult": {},
    "UnsubscribeResult": {},
    "DisconnectResult": {},
    "RefreshResult": {},
    "HistoryRemoveResult": {},
    "FilterNode": {"op": 1, "key": 2, "cmp": 3, "val": 4, "vals": 5, "nodes": 6},
}  # fmt: skip
"""server-api.md §12.4, transcribed."""

COMMAND_NUMBERS = {
    "publish": 4, "broadcast": 5, "subscribe": 6, "unsubscribe": 7, "disconnect": 8,
    "presence": 9, "presence_stats": 10, "history": 11, "history_remove": 12, "info": 13,
    "rpc": 14, "refresh": 15, "channels": 16, "connections": 17, "update_user_status": 18,
    "get_user_status": 19, "delete_user_status": 20, "block_user": 21, "unblock_user": 22,
    "revoke_token": 23, "invalidate_user_tokens": 24, "device_register": 25,
    "cancel_push": 35, "map_publish": 36, "shared_poll_publish": 42,
}  # fmt: skip


@pytest.mark.parametrize("message", sorted(SPEC_NUMBERS))
def test_field_numbers_match_the_spec(message: str) -> None:
    """Every message of §12.4 has exactly the listed fields and numbers."""
    assert _numbers(message) == SPEC_NUMBERS[message]


def test_command_and_reply_layout() -> None:
    """v6 Command/Reply: 1–3 (Reply: 1, 3) reserved, methods at 4…42, Reply.error = 2."""
    command = _numbers("Command")
    reply = _numbers("Reply")
    assert set(command.values()) == set(range(4, 43))
    assert reply.pop("error") == 2
    assert reply == command
    for name, number in COMMAND_NUMBERS.items():
        assert command[name] == number
    assert _reserved("Command") == {1, 2, 3}
    assert _reserved("Reply") == {1, 3}
    # Each Command field holds the method's request, each Reply field its result.
    commands = api_pb2.Command.DESCRIPTOR.fields_by_name
    for field in api_pb2.Reply.DESCRIPTOR.fields:
        if field.name != "error":
            stem = field.message_type.name.removesuffix("Result")
            assert commands[field.name].message_type.name == f"{stem}Request"


def test_publication_reserves_uid_and_disconnect_field_3() -> None:
    """Retired fields stay reserved so they are never reused (§12.4)."""
    assert _reserved("Publication") == {1}
    assert _reserved("Disconnect") == {3}


def test_every_response_is_error_then_result() -> None:
    """XResponse{Error error = 1; XResult result = 2} for every RPC but Batch (§12.1)."""
    for method in SERVICE_DESCRIPTOR.methods:
        if method.name == "Batch":
            continue
        fields = {f.name: (f.number, f.message_type.name) for f in method.output_type.fields}
        assert fields == {"error": (1, "Error"), "result": (2, f"{method.name}Result")}


def _reserved(message: str) -> set[int]:
    proto = descriptor_pb2.DescriptorProto()
    api_pb2.DESCRIPTOR.message_types_by_name[message].CopyToProto(proto)
    return {n for r in proto.reserved_range for n in range(r.start, r.end)}


# ---- dataclasses fit the messages ----------------------------------------------------------


def _dataclasses_below(cls: type) -> set[type]:
    """``cls`` and every dataclass reachable through its annotations."""
    seen: set[type] = set()
    todo = [cls]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for hint in typing.get_type_hints(current).values():
            for arg in _flatten(hint):
                if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                    todo.append(arg)
    return seen


def _flatten(hint: typing.Any) -> list[typing.Any]:
    args = typing.get_args(hint)
    return [hint] if not args else [leaf for arg in args for leaf in _flatten(arg)]


@pytest.mark.parametrize("method", sorted(types.METHODS))
def test_every_dataclass_field_has_a_message_field(method: str) -> None:
    """No dataclass field is silently dropped by the by-name mapping, in either direction."""
    request_cls, result_cls = types.METHODS[method]
    for cls in _dataclasses_below(request_cls) | _dataclasses_below(result_cls):
        name = cls.__name__
        if method == "batch" and name in ("BatchRequest", "BatchResult"):
            name = {"BatchRequest": "BatchRequest", "BatchResult": "BatchResponse"}[name]
        descriptor = api_pb2.DESCRIPTOR.message_types_by_name[name]
        missing = {f.name for f in dataclasses.fields(cls)} - set(descriptor.fields_by_name)
        assert not missing, f"{cls.__name__}: {missing}"


# ---- pb → dataclass --------------------------------------------------------------------------


def test_decode_publish_keeps_bytes_and_tags() -> None:
    """Payloads are bytes as sent (any bytes over GRPC), maps become dicts."""
    message = api_pb2.PublishRequest(
        channel="news", data=b'{"a": 1}', tags={"k": "v"}, skip_history=True, version=7
    )
    request = decode(types.PublishRequest, message)
    assert request == types.PublishRequest(
        channel="news", data=b'{"a": 1}', tags={"k": "v"}, skip_history=True, version=7
    )
    binary = decode(types.PublishRequest, api_pb2.PublishRequest(channel="b", data=b"\x00\xff"))
    assert binary.data == b"\x00\xff"


def test_decode_empty_message_gives_defaults() -> None:
    """An empty request decodes to the dataclass defaults; unset sub-messages are None."""
    assert decode(types.HistoryRequest, api_pb2.HistoryRequest()) == types.HistoryRequest()
    assert decode(types.InfoRequest, api_pb2.InfoRequest()) == types.InfoRequest()
    assert decode(types.SubscribeRequest, api_pb2.SubscribeRequest()).override is None


def test_decode_nested_messages_and_bool_values() -> None:
    """StreamPosition → dataclass; BoolValue → bool, unset BoolValue → None."""
    message = api_pb2.SubscribeRequest(
        channel="c",
        user="42",
        expire_at=-1,
        info=b'{"x":1}',
        recover_since=api_pb2.StreamPosition(offset=3, epoch="e"),
        override=api_pb2.SubscribeOptionOverride(
            presence=api_pb2.BoolValue(value=False), join_leave=api_pb2.BoolValue(value=True)
        ),
        label_filter=api_pb2.FilterNode(op="eq", key="k", val="v"),
        all_users=True,
    )
    request = decode(types.SubscribeRequest, message)
    assert request.recover_since == types.StreamPosition(offset=3, epoch="e")
    assert request.override == types.SubscribeOptionOverride(presence=False, join_leave=True)
    assert request.expire_at == -1
    assert request.info == b'{"x":1}'


def test_decode_disconnect_and_history_since() -> None:
    """A present sub-message that is empty still decodes (a zero StreamPosition)."""
    disconnect = decode(
        types.DisconnectRequest,
        api_pb2.DisconnectRequest(
            user="u", disconnect=api_pb2.Disconnect(code=4000, reason="bye"), whitelist=["a"]
        ),
    )
    assert disconnect.disconnect == types.Disconnect(code=4000, reason="bye")
    assert disconnect.whitelist == ["a"]
    history = api_pb2.HistoryRequest(channel="c", limit=-1, reverse=True)
    history.since.SetInParent()
    decoded = decode(types.HistoryRequest, history)
    assert decoded.since == types.StreamPosition()
    assert (decoded.limit, decoded.reverse) == (-1, True)


def test_decode_batch_commands_including_pro_ones() -> None:
    """Each Command becomes a dataclass; a PRO-only command has no OSS field set."""
    batch = api_pb2.BatchRequest(
        parallel=True,
        commands=[
            api_pb2.Command(publish=api_pb2.PublishRequest(channel="a", data=b"1")),
            api_pb2.Command(info=api_pb2.InfoRequest()),
            api_pb2.Command(connections=api_pb2.ConnectionsRequest()),
        ],
    )
    request = decode(types.BatchRequest, batch)
    assert request.parallel is True
    first, second, third = request.commands
    assert first == types.Command(publish=types.PublishRequest(channel="a", data=b"1"))
    assert second == types.Command(info=types.InfoRequest())
    assert third == types.Command()


def test_decode_ignores_unknown_fields_on_the_wire() -> None:
    """A field this proto does not know (a newer client) is skipped, not an error."""
    known = api_pb2.PresenceRequest(channel="c").SerializeToString()
    unknown_field_99 = b"\x9a\x06\x03abc"  # field 99, length-delimited
    message = api_pb2.PresenceRequest.FromString(known + unknown_field_99)
    assert decode(types.PresenceRequest, message) == types.PresenceRequest(channel="c")


# ---- dataclass → pb --------------------------------------------------------------------------


def test_encode_empty_result_is_present() -> None:
    """An empty result is still a present sub-message (Go marshals a non-nil struct)."""
    response = api_pb2.SubscribeResponse()
    response.result.SetInParent()
    encode(types.SubscribeResult(), response.result)
    assert response.HasField("result")
    assert not response.HasField("error")
    reply = encode(types.Reply(subscribe=types.SubscribeResult()), api_pb2.Reply())
    assert reply.HasField("subscribe")
    assert not reply.HasField("error")


def test_encode_history_result() -> None:
    """Repeated messages, nested ClientInfo, maps and bytes."""
    result = types.HistoryResult(
        publications=[
            types.Publication(data=b'{"n":1}', offset=1, tags={"t": "1"}),
            types.Publication(
                data=b"\x01",
                offset=2,
                info=types.ClientInfo(user="42", client="c1", conn_info=b'{"a":1}'),
            ),
        ],
        epoch="xyz",
        offset=2,
    )
    message = encode(result, api_pb2.HistoryResult())
    assert (message.epoch, message.offset) == ("xyz", 2)
    first, second = message.publications
    assert (first.data, first.offset, dict(first.tags)) == (b'{"n":1}', 1, {"t": "1"})
    assert not first.HasField("info")
    assert second.info.user == "42"
    assert second.info.conn_info == b'{"a":1}'


def test_encode_maps_of_messages() -> None:
    """Presence and channels are maps of messages."""
    presence = encode(
        types.PresenceResult(presence={"c1": types.ClientInfo(user="u", client="c1")}),
        api_pb2.PresenceResult(),
    )
    assert presence.presence["c1"].user == "u"
    channels = encode(
        types.ChannelsResult(channels={"a": types.ChannelInfo(num_clients=2)}),
        api_pb2.ChannelsResult(),
    )
    assert channels.channels["a"].num_clients == 2


def test_encode_info_with_metrics() -> None:
    """Nested optional messages and maps of scalars."""
    result = types.InfoResult(
        nodes=[
            types.NodeResult(
                uid="u",
                name="n",
                version="6.0.0",
                num_clients=1,
                metrics=types.Metrics(interval=60.0, items={"a.b": 1.5}),
            )
        ]
    )
    node = encode(result, api_pb2.InfoResult()).nodes[0]
    assert (node.uid, node.name, node.num_clients) == ("u", "n", 1)
    assert node.metrics.interval == 60.0
    assert dict(node.metrics.items) == {"a.b": 1.5}
    assert not node.HasField("process")


def test_encode_broadcast_and_batch() -> None:
    """Per-channel responses and batch replies keep their order and their error/result."""
    broadcast = encode(
        types.BroadcastResult(
            responses=[
                types.PublishResponse(result=types.PublishResult(offset=1, epoch="e")),
                types.PublishResponse(error=types.Error(code=102, message="unknown channel")),
            ]
        ),
        api_pb2.BroadcastResult(),
    )
    ok, failed = broadcast.responses
    assert ok.result.offset == 1 and not ok.HasField("error")
    assert failed.error.code == 102 and not failed.HasField("result")

    batch = encode(
        types.BatchResult(
            replies=[
                types.Reply(publish=types.PublishResult()),
                types.Reply(error=types.Error(code=104, message="not found")),
            ]
        ),
        api_pb2.BatchResponse(),
    )
    first, second = batch.replies
    assert first.HasField("publish")
    assert second.error.message == "not found"


def test_encode_repeated_neighbours_and_decode_only_what_is_set() -> None:
    """One reply object repeated (a batch without history) is written out each time; a
    decoded Command holds the one command set on the wire, scalars at zero included."""
    reply = types.Reply(publish=types.PublishResult())
    other = types.Reply(publish=types.PublishResult(offset=2, epoch="e"))
    batch = encode(types.BatchResult(replies=[reply, reply, other, reply]), api_pb2.BatchResponse())
    assert [r.HasField("publish") for r in batch.replies] == [True] * 4
    assert [r.publish.offset for r in batch.replies] == [0, 0, 2, 0]
    command = decode(
        types.Command, api_pb2.Command(history=api_pb2.HistoryRequest(channel="c", limit=0))
    )
    assert command == types.Command(history=types.HistoryRequest(channel="c"))


def test_roundtrip_over_the_wire() -> None:
    """A decoded, re-encoded request survives serialisation (bytes, maps, nested)."""
    original = types.SubscribeRequest(
        channel="c",
        user="u",
        data=b"\x00binary",
        recover_since=types.StreamPosition(offset=5, epoch="e"),
        override=types.SubscribeOptionOverride(force_recovery=True),
    )
    wire = encode(original, api_pb2.SubscribeRequest()).SerializeToString()
    assert decode(types.SubscribeRequest, api_pb2.SubscribeRequest.FromString(wire)) == original


def test_field_types_agree() -> None:
    """bytes fields map to bytes annotations (payloads are never str over GRPC)."""
    for name in ("PublishRequest", "SubscribeRequest", "RefreshRequest", "RPCRequest"):
        cls = getattr(types, name)
        hints = typing.get_type_hints(cls)
        descriptor = api_pb2.DESCRIPTOR.message_types_by_name[name]
        for field in descriptor.fields:
            if field.type == FieldDescriptor.TYPE_BYTES:
                assert hints[field.name] is bytes, (name, field.name)


# ---- grpc_api.tls values → PEM bytes -----------------------------------------------------------

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_load_pem_raw_base64_or_path(tmp_path: Path) -> None:
    """A TLS value is raw PEM, base64 of a PEM, or a file path, tried in that order."""
    assert load_pem(PEM, "k") == PEM.encode()
    assert load_pem(base64.b64encode(PEM.encode()).decode(), "k") == PEM.encode()
    path = tmp_path / "cert.pem"
    path.write_text(PEM)
    assert load_pem(str(path), "k") == PEM.encode()


def test_load_pem_names_the_key_on_failure(tmp_path: Path) -> None:
    """Nothing usable → a ConfigError naming the config key."""
    with pytest.raises(ConfigError) as info:
        load_pem(str(tmp_path / "missing.pem"), "grpc_api.tls.cert_pem")
    assert info.value.problems[0].startswith("grpc_api.tls.cert_pem: ")
