"""The server API executor against a real Node on the memory engine (server-api.md §9).

No sockets: the node's hub holds fake subscribers, presence entries are added directly.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from whirlwind.api import types as t
from whirlwind.api.executor import APIError, Executor
from whirlwind.broker.base import PublishOptions, PublishResult
from whirlwind.broker.memory import MemoryBroker
from whirlwind.codes import Disconnect
from whirlwind.config.schema import ChannelConfig, ChannelOptions, Config, NamespaceConfig
from whirlwind.hub import FrameCache
from whirlwind.node import Node
from whirlwind.presence.memory import MemoryPresenceManager
from whirlwind.protocol.base import Codec
from whirlwind.protocol.json_codec import JSON_CODEC
from whirlwind.protocol.messages import ClientInfo, Publication

CONFIG = Config(
    channel=ChannelConfig(
        without_namespace=ChannelOptions(presence=True, history_size=10, history_ttl=300.0),
        namespaces=(
            NamespaceConfig(name="plain"),
            NamespaceConfig(name="bin", publication_data_format="binary"),
            NamespaceConfig(name="obj", publication_data_format="json_object"),
            NamespaceConfig(name="hist", history_size=3, history_ttl=300.0),
        ),
    )
)


@dataclass
class FakeSubscriber:
    """A hub subscriber that records deliveries."""

    client_id: str
    user: str = "u"
    codec: Codec = JSON_CODEC
    received: list[bytes] = field(default_factory=list)

    def deliver(self, message: bytes) -> None:
        self.received.append(message)

    def deliver_publication(self, channel: str, publication: Publication, message: bytes) -> None:
        self.received.append(message)

    def deliver_batch(self, payload: bytes, frames: FrameCache) -> None:
        self.received.append(payload)

    def disconnect(self, disconnect: Disconnect) -> None:
        pass


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    node = Node(
        config=CONFIG,
        broker=MemoryBroker(),
        presence=MemoryPresenceManager(),
        loop=asyncio.get_running_loop(),
    )
    await node.start()
    yield node
    await node.shutdown()


@pytest.fixture
def executor(node: Node) -> Executor:
    return Executor(node)


async def error_of(executor: Executor, method: str, request: t.Request) -> tuple[int, str]:
    with pytest.raises(APIError) as info:
        await executor.call(method, request)
    return info.value.code, info.value.message


# --------------------------------------------------------------------------- publish


async def test_publish_with_history_returns_position(executor: Executor) -> None:
    first = await executor.call("publish", t.PublishRequest(channel="news", data=b'{"a":1}'))
    second = await executor.call("publish", t.PublishRequest(channel="news", data=b'{"a":2}'))
    assert isinstance(first, t.PublishResult) and isinstance(second, t.PublishResult)
    assert (first.offset, second.offset) == (1, 2)
    assert first.epoch and first.epoch == second.epoch


async def test_publish_without_history_is_empty(executor: Executor) -> None:
    result = await executor.call("publish", t.PublishRequest(channel="plain:x", data=b"1"))
    assert result == t.PublishResult()


async def test_publish_skip_history(executor: Executor) -> None:
    result = await executor.call(
        "publish", t.PublishRequest(channel="news", data=b"1", skip_history=True)
    )
    assert result == t.PublishResult()
    history = await executor.history(t.HistoryRequest(channel="news", limit=-1))
    assert history.publications == []


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (t.PublishRequest(channel="", data=b"1"), 107),
        (t.PublishRequest(channel="nope:x", data=b"1"), 102),
        (t.PublishRequest(channel="news"), 107),
        (t.PublishRequest(channel="news", b64data="!!!"), 107),
        (t.PublishRequest(channel="obj:x", data=b"[1]"), 107),
    ],
    ids=["empty-channel", "unknown-namespace", "empty-data", "bad-base64", "not-an-object"],
)
async def test_publish_errors(executor: Executor, request_: t.PublishRequest, code: int) -> None:
    messages = {102: "unknown channel", 107: "bad request"}
    assert await error_of(executor, "publish", request_) == (code, messages[code])


async def test_publish_binary_namespace_accepts_empty_and_binary(executor: Executor) -> None:
    await executor.call("publish", t.PublishRequest(channel="bin:x"))
    b64 = base64.b64encode(b"\x00\xff").decode()
    await executor.call("publish", t.PublishRequest(channel="bin:x", b64data=b64))


async def test_b64data_wins_over_data(executor: Executor) -> None:
    b64 = base64.b64encode(b'{"from":"b64"}').decode()
    await executor.call(
        "publish", t.PublishRequest(channel="news", data=b'{"from":"data"}', b64data=b64)
    )
    history = await executor.history(t.HistoryRequest(channel="news", limit=1))
    assert history.publications[0].data == b'{"from":"b64"}'


async def test_publish_tags_reach_history(executor: Executor) -> None:
    await executor.call("publish", t.PublishRequest(channel="news", data=b"1", tags={"k": "v"}))
    history = await executor.history(t.HistoryRequest(channel="news", limit=-1))
    assert history.publications[0].tags == {"k": "v"}


async def test_idempotent_publish_is_stored_once(executor: Executor) -> None:
    request = t.PublishRequest(channel="news", data=b"1", idempotency_key="k1")
    first = await executor.call("publish", request)
    second = await executor.call("publish", request)
    assert first == second
    history = await executor.history(t.HistoryRequest(channel="news", limit=-1))
    assert len(history.publications) == 1


async def test_version_filtering_drops_stale(executor: Executor) -> None:
    await executor.publish(t.PublishRequest(channel="news", data=b"1", version=2))
    stale = await executor.publish(t.PublishRequest(channel="news", data=b"2", version=1))
    assert stale.offset == 1
    newer_epoch = await executor.publish(
        t.PublishRequest(channel="news", data=b"3", version=1, version_epoch="e2")
    )
    assert newer_epoch.offset == 2


async def test_version_ignored_without_history(executor: Executor) -> None:
    hub_sub = FakeSubscriber("c1")
    executor.node.hub.add_subscriber("plain:v", hub_sub, join_leave=False)
    await executor.publish(t.PublishRequest(channel="plain:v", data=b"1", version=5))
    await executor.publish(t.PublishRequest(channel="plain:v", data=b"2", version=1))
    executor.node.hub.flush_channels()
    assert b"".join(hub_sub.received).count(b'"data"') == 2


async def test_publish_reaches_subscribers(executor: Executor) -> None:
    sub = FakeSubscriber("c1")
    executor.node.hub.add_subscriber("news", sub, join_leave=False)
    await executor.publish(t.PublishRequest(channel="news", data=b'{"x":1}'))
    executor.node.hub.flush_channels()
    assert b'{"x":1}' in b"".join(sub.received)


# --------------------------------------------------------------------------- broadcast


async def test_broadcast_keeps_order_and_per_channel_errors(executor: Executor) -> None:
    result = await executor.call(
        "broadcast",
        t.BroadcastRequest(channels=["news", "", "nope:x", "plain:y", "obj:z"], data=b"1"),
    )
    assert isinstance(result, t.BroadcastResult)
    responses = result.responses
    assert responses[0].result is not None and responses[0].result.offset == 1
    assert [r.error.code if r.error else 0 for r in responses] == [0, 107, 102, 0, 107]
    assert responses[3].result == t.PublishResult()


async def test_broadcast_empty_payload_checked_per_channel(executor: Executor) -> None:
    result = await executor.broadcast(t.BroadcastRequest(channels=["news", "bin:x"]))
    assert [r.error.code if r.error else 0 for r in result.responses] == [107, 0]


@pytest.mark.parametrize(
    "request_",
    [t.BroadcastRequest(channels=[], data=b"1"), t.BroadcastRequest(channels=["a"], b64data="@")],
)
async def test_broadcast_top_level_errors(executor: Executor, request_: t.BroadcastRequest) -> None:
    assert await error_of(executor, "broadcast", request_) == (107, "bad request")


# --------------------------------------------------------------------------- presence


async def test_presence_and_stats(executor: Executor) -> None:
    presence = executor.node.presence
    await presence.add_presence("room", "c1", ClientInfo(user="u1", client="c1"))
    await presence.add_presence("room", "c2", ClientInfo(user="u1", client="c2"))
    await presence.add_presence("room", "c3", ClientInfo(user="", client="c3"))
    result = await executor.call("presence", t.PresenceRequest(channel="room"))
    assert isinstance(result, t.PresenceResult)
    assert set(result.presence) == {"c1", "c2", "c3"}
    assert result.presence["c1"] == t.ClientInfo(user="u1", client="c1")
    stats = await executor.call("presence_stats", t.PresenceStatsRequest(channel="room"))
    assert stats == t.PresenceStatsResult(num_clients=3, num_users=2)


@pytest.mark.parametrize("method", ["presence", "presence_stats"])
@pytest.mark.parametrize(("channel", "code"), [("", 107), ("nope:x", 102), ("plain:x", 108)])
async def test_presence_errors(executor: Executor, method: str, channel: str, code: int) -> None:
    request_type = t.METHODS[method][0]
    request = request_type(channel=channel)  # type: ignore[call-arg]
    assert (await error_of(executor, method, request))[0] == code


# --------------------------------------------------------------------------- history


async def publish_n(executor: Executor, channel: str, n: int) -> None:
    for i in range(1, n + 1):
        await executor.publish(t.PublishRequest(channel=channel, data=str(i).encode()))


async def test_history_limits(executor: Executor) -> None:
    await publish_n(executor, "news", 5)
    position_only = await executor.history(t.HistoryRequest(channel="news"))
    assert position_only.publications == []
    assert position_only.offset == 5 and position_only.epoch
    everything = await executor.history(t.HistoryRequest(channel="news", limit=-1))
    assert [p.offset for p in everything.publications] == [1, 2, 3, 4, 5]
    two = await executor.history(t.HistoryRequest(channel="news", limit=2))
    assert [p.data for p in two.publications] == [b"1", b"2"]


async def test_history_since_and_reverse(executor: Executor) -> None:
    await publish_n(executor, "news", 5)
    epoch = (await executor.history(t.HistoryRequest(channel="news"))).epoch
    since = t.StreamPosition(offset=2, epoch=epoch)
    after = await executor.history(t.HistoryRequest(channel="news", limit=-1, since=since))
    assert [p.offset for p in after.publications] == [3, 4, 5]
    newest = await executor.history(t.HistoryRequest(channel="news", limit=2, reverse=True))
    assert [p.offset for p in newest.publications] == [5, 4]
    before = await executor.history(
        t.HistoryRequest(channel="news", limit=-1, reverse=True, since=t.StreamPosition(offset=3))
    )
    assert [p.offset for p in before.publications] == [2, 1]
    at_top = await executor.history(
        t.HistoryRequest(channel="news", limit=-1, since=t.StreamPosition(offset=5, epoch=epoch))
    )
    assert at_top.publications == []


async def test_history_not_capped_by_client_limit(executor: Executor) -> None:
    big = "big"
    node = executor.node
    assert node.config.client.history_max_publication_limit < 400
    executor.node.rules = type(node.rules)(
        ChannelConfig(
            without_namespace=ChannelOptions(history_size=1000, history_ttl=300.0),
        )
    )
    await publish_n(executor, big, 400)
    result = await executor.history(t.HistoryRequest(channel=big, limit=-1))
    assert len(result.publications) == 400


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (t.HistoryRequest(channel=""), 107),
        (t.HistoryRequest(channel="nope:x"), 102),
        (t.HistoryRequest(channel="plain:x"), 108),
        (t.HistoryRequest(channel="news", since=t.StreamPosition(epoch="other")), 112),
        (t.HistoryRequest(channel="news", reverse=True, since=t.StreamPosition()), 100),
    ],
)
async def test_history_errors(executor: Executor, request_: t.HistoryRequest, code: int) -> None:
    await publish_n(executor, "news", 1)
    messages = {
        100: "internal server error",
        102: "unknown channel",
        107: "bad request",
        108: "not available",
        112: "unrecoverable position",
    }
    assert await error_of(executor, "history", request_) == (code, messages[code])


async def test_history_remove_keeps_position(executor: Executor) -> None:
    await publish_n(executor, "hist:x", 2)
    await executor.call("history_remove", t.HistoryRemoveRequest(channel="hist:x"))
    result = await executor.history(t.HistoryRequest(channel="hist:x", limit=-1))
    assert result.publications == [] and result.offset == 2
    assert (await error_of(executor, "history_remove", t.HistoryRemoveRequest(channel="plain:x")))[
        0
    ] == 108


# --------------------------------------------------------------------------- node


async def test_channels_with_pattern(executor: Executor) -> None:
    hub = executor.node.hub
    for i, channel in enumerate(["chat:1", "chat:2", "news", "chat:10"]):
        hub.add_subscriber(channel, FakeSubscriber(f"c{i}"), join_leave=False)
    hub.add_subscriber("news", FakeSubscriber("c9"), join_leave=False)
    everything = await executor.call("channels", t.ChannelsRequest())
    assert isinstance(everything, t.ChannelsResult)
    assert everything.channels["news"] == t.ChannelInfo(num_clients=2)
    assert set(everything.channels) == {"chat:1", "chat:2", "news", "chat:10"}
    chats = await executor.channels(t.ChannelsRequest(pattern="chat:?"))
    assert set(chats.channels) == {"chat:1", "chat:2"}
    alternatives = await executor.channels(t.ChannelsRequest(pattern="{news,chat:1*}"))
    assert set(alternatives.channels) == {"news", "chat:1", "chat:10"}
    assert (await error_of(executor, "channels", t.ChannelsRequest(pattern="[a")))[0] == 100


async def test_info(executor: Executor) -> None:
    node = executor.node
    node.hub.add_client(FakeSubscriber("c1", user="u1"))
    node.hub.add_client(FakeSubscriber("c2", user="u1"))
    node.hub.add_subscriber("news", FakeSubscriber("c1", user="u1"), join_leave=False)
    result = await executor.call("info", t.InfoRequest())
    assert isinstance(result, t.InfoResult)
    (info,) = result.nodes
    assert info.uid == node.id and info.name == node.name and info.version == node.version
    assert (info.num_clients, info.num_users, info.num_channels, info.num_subs) == (2, 1, 1, 1)
    assert info.metrics is None and info.process is None


async def test_rpc(executor: Executor) -> None:
    assert await error_of(executor, "rpc", t.RPCRequest()) == (107, "bad request")
    assert await error_of(executor, "rpc", t.RPCRequest(method="m")) == (104, "not found")


async def test_unknown_method_and_wrong_request_type(executor: Executor) -> None:
    assert await error_of(executor, "connections", t.InfoRequest()) == (104, "not found")
    with pytest.raises(TypeError):
        await executor.call("publish", t.InfoRequest())


async def test_user_methods_succeed_without_connections(executor: Executor) -> None:
    assert (
        await executor.call("subscribe", t.SubscribeRequest(user="nobody", channel="news"))
        == t.SubscribeResult()
    )
    assert (
        await executor.call("unsubscribe", t.UnsubscribeRequest(user="nobody", channel="news"))
        == t.UnsubscribeResult()
    )
    assert (
        await executor.call("unsubscribe", t.UnsubscribeRequest(user="nobody"))
        == t.UnsubscribeResult()
    )
    assert (
        await executor.call("disconnect", t.DisconnectRequest(user="nobody"))
        == t.DisconnectResult()
    )
    assert (
        await executor.call("refresh", t.RefreshRequest(user="nobody", expired=True))
        == t.RefreshResult()
    )


@pytest.mark.parametrize(
    ("method", "request_", "code"),
    [
        ("subscribe", t.SubscribeRequest(user="u"), 107),
        ("subscribe", t.SubscribeRequest(user="u", channel="nope:x"), 102),
        ("subscribe", t.SubscribeRequest(user="u", channel="news", b64info="%"), 107),
        ("subscribe", t.SubscribeRequest(user="u", channel="news", b64data="%"), 107),
        ("unsubscribe", t.UnsubscribeRequest(user="u", channel="nope:x"), 102),
    ],
)
async def test_user_method_errors(
    executor: Executor, method: str, request_: t.Request, code: int
) -> None:
    assert (await error_of(executor, method, request_))[0] == code


# --------------------------------------------------------------------------- batch


@pytest.mark.parametrize("parallel", [False, True])
async def test_batch_replies_in_order(executor: Executor, parallel: bool) -> None:
    result = await executor.call(
        "batch",
        t.BatchRequest(
            parallel=parallel,
            commands=[
                t.Command(publish=t.PublishRequest(channel="news", data=b"1")),
                None,
                t.Command(),
                t.Command(presence_stats=t.PresenceStatsRequest(channel="nope:x")),
                t.Command(info=t.InfoRequest()),
                t.Command(publish=t.PublishRequest(channel="news", data=b"2")),
            ],
        ),
    )
    assert isinstance(result, t.BatchResult)
    replies = result.replies
    assert replies[0].publish == t.PublishResult(offset=1, epoch=replies[0].publish.epoch)  # type: ignore[union-attr]
    assert replies[1].error == t.Error(code=107, message="bad request")
    assert replies[2].error == t.Error(code=104, message="not found")
    assert replies[3].error == t.Error(code=102, message="unknown channel")
    assert replies[4].info is not None and len(replies[4].info.nodes) == 1
    assert replies[5].publish is not None and replies[5].publish.offset == 2


async def test_batch_dispatches_on_first_known_field(executor: Executor) -> None:
    command = t.Command(
        info=t.InfoRequest(), publish=t.PublishRequest(channel="plain:x", data=b"1")
    )
    result = await executor.batch(t.BatchRequest(commands=[command]))
    assert result.replies == [t.Reply(publish=t.PublishResult())]


async def test_unexpected_failure_becomes_internal_error(
    executor: Executor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(channel: str) -> dict[str, ClientInfo]:
        raise RuntimeError("storage down")

    monkeypatch.setattr(executor.node.presence, "presence", boom)
    assert await error_of(executor, "presence", t.PresenceRequest(channel="room")) == (
        100,
        "internal server error",
    )


async def test_batch_of_plain_publishes_shares_one_reply(executor: Executor) -> None:
    sub = FakeSubscriber("c1")
    executor.node.hub.add_subscriber("plain:x", sub, join_leave=False)
    commands: list[t.Command | None] = [
        t.Command(publish=t.PublishRequest(channel="plain:x", data=b'{"n":%d}' % i))
        for i in range(3)
    ]
    result = await executor.batch(t.BatchRequest(commands=commands))
    assert result.replies == [t.Reply(publish=t.PublishResult())] * 3
    executor.node.hub.flush_channels()
    assert sub.received and all(b'{"n":%d}' % i in sub.received[0] for i in range(3))


async def test_known_channel_still_checks_each_request(executor: Executor) -> None:
    """The per-channel cache keeps neither a payload check nor a request's options."""
    await executor.call("publish", t.PublishRequest(channel="obj:x", data=b"{}"))
    assert await error_of(executor, "publish", t.PublishRequest(channel="obj:x", data=b"1")) == (
        107,
        "bad request",
    )
    await executor.call("publish", t.PublishRequest(channel="news", data=b"1"))
    assert await error_of(executor, "publish", t.PublishRequest(channel="news")) == (
        107,
        "bad request",
    )
    skipped = await executor.call(
        "publish", t.PublishRequest(channel="news", data=b"2", skip_history=True)
    )
    assert skipped == t.PublishResult()
    await executor.call("publish", t.PublishRequest(channel="news", data=b"3", tags={"k": "v"}))
    history = await executor.history(t.HistoryRequest(channel="news", limit=-1))
    assert [(p.data, p.tags) for p in history.publications] == [(b"1", {}), (b"3", {"k": "v"})]


async def test_unexpected_publish_failure_is_error_100(
    executor: Executor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("broker down")

    monkeypatch.setattr(executor.node, "_publish_nowait", boom)  # Node is compiled: no method patch
    request = t.PublishRequest(channel="news", data=b"1")
    assert await error_of(executor, "publish", request) == (100, "internal server error")
    for parallel in (False, True):
        result = await executor.batch(
            t.BatchRequest(commands=[t.Command(publish=request)], parallel=parallel)
        )
        assert result.replies == [t.Reply(error=t.Error(code=100, message="internal server error"))]
    broadcast = await executor.broadcast(t.BroadcastRequest(channels=["news"], data=b"1"))
    assert broadcast.responses[0].error == t.Error(code=100, message="internal server error")


class WaitingBroker:
    """A memory broker that yields to the loop in publish, as a network broker does.

    It wraps rather than subclasses MemoryBroker: a compiled (mypyc) class can not be
    subclassed by interpreted code.
    """

    publish_nowait = None

    def __init__(self) -> None:
        self._memory = MemoryBroker()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._memory, name)

    async def publish(self, channel: str, data: bytes, options: PublishOptions) -> PublishResult:
        await asyncio.sleep(0)
        return self._memory.publish_nowait(channel, data, options)


async def test_a_waiting_broker_gives_the_same_replies() -> None:
    node = Node(
        config=CONFIG,
        broker=WaitingBroker(),
        presence=MemoryPresenceManager(),
        loop=asyncio.get_running_loop(),
    )
    assert not node.publishes_nowait
    executor = Executor(node)
    publish = t.PublishRequest(channel="news", data=b"1")
    assert (await executor.call("publish", publish)).offset == 1
    for offset, parallel in ((2, False), (4, True)):
        result = await executor.batch(
            t.BatchRequest(
                parallel=parallel,
                commands=[
                    t.Command(publish=publish),
                    t.Command(publish=t.PublishRequest(channel="plain:x", data=b"1")),
                    t.Command(publish=publish),
                    None,
                ],
            )
        )
        replies = result.replies
        assert [r.publish.offset if r.publish else -1 for r in replies] == [
            offset,
            0,
            offset + 1,
            -1,
        ]
        assert replies[3].error == t.Error(code=107, message="bad request")
    broadcast = await executor.broadcast(t.BroadcastRequest(channels=["news", "nope:x"], data=b"1"))
    assert [r.error.code if r.error else 0 for r in broadcast.responses] == [0, 102]
