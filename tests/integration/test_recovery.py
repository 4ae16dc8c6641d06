"""History, recovery, positioning and presence with real clients (client-protocol.md §13).

centrifuge-js (``js/runner.mjs``; ``js/get_state.mjs`` adds a getState callback) and
centrifuge-python talk to a real Whirlwind process through :class:`FaultProxy`, which cuts
their TCP connections (RST, no close frame) and refuses new ones while the test publishes
what they miss through the HTTP API; then it lets them reconnect and the SDK recovers.

How the other situations are produced, honestly and without test-only server paths:

* a new epoch: the memory engine loses its streams on restart, so the proxy is pointed at
  a second server (what a client sees when its server restarts); or a namespace with a
  2 s ``history_meta_ttl``, whose stream expires for real between two publications;
* a gap for positioning: the memory broker never loses a publication between history and
  delivery, so the gap the server can meet is a recreated stream (meta TTL expiry): seen
  on the next publication (the hub) or by the periodic position check
  (``client.channel_position_check_delay``) when nothing is published;
* a connection gone without a close frame: the proxy resets it, or the node process is
  killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from centrifuge import (
    Client,
    ClientEventHandler,
    PublicationContext,
    SubscribedContext,
    SubscribingContext,
    SubscriptionEventHandler,
)
from fault_proxy import FaultProxy
from harness import deep_merge, default_config, run_server
from test_js_client import JS_DIR, RUNNER, NodeClient, node_modules  # noqa: F401

if TYPE_CHECKING:
    from harness import RunningServer

HERE = Path(__file__).resolve().parent
GET_STATE = JS_DIR / "get_state.mjs"
TIMEOUT = 10.0

pytestmark = pytest.mark.timeout(60)

FAST = {"minReconnectDelay": 50, "maxReconnectDelay": 300}
"""centrifuge-js options: retry quickly while the proxy refuses."""

_SUBSCRIBER = {
    "allow_subscribe_for_client": True,
    "allow_presence_for_subscriber": True,
    "allow_history_for_subscriber": True,
}
NAMESPACES = [
    {
        "name": "rec",
        **_SUBSCRIBER,
        "presence": True,
        "join_leave": True,
        "history_size": 1000,
        "history_ttl": "300s",
        "force_recovery": True,
    },
    {
        "name": "meta",
        **_SUBSCRIBER,
        "history_size": 100,
        "history_ttl": "1s",
        "history_meta_ttl": "2s",
        "force_recovery": True,
    },
    {
        "name": "cache",
        **_SUBSCRIBER,
        "history_size": 10,
        "history_ttl": "300s",
        "force_recovery": True,
        "force_recovery_mode": "cache",
        "auto_cache_recover": True,
    },
]


def overrides(**client: Any) -> dict[str, Any]:
    """The config of these tests: the shared defaults plus NAMESPACES."""
    return {"channel": {"namespaces": NAMESPACES}, "client": client}


@contextlib.contextmanager
def started(config: pytest.Config, directory: Path, extra: dict[str, Any]) -> Iterator[Any]:
    merged = deep_merge(default_config(), extra)
    with run_server(directory, merged) as running:
        yield running


@pytest.fixture(scope="module")
def server(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The server of most tests (position checks at the default 40 s)."""
    with started(pytestconfig, tmp_path_factory.mktemp("recovery"), overrides()) as running:
        yield running


@pytest.fixture
async def proxy(server: RunningServer) -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of ``server``."""
    fault_proxy = FaultProxy(server.port)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.close()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def api(server: RunningServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = await asyncio.to_thread(server.api, method, params)
    assert "error" not in reply, reply
    return reply


async def publish(server: RunningServer, channel: str, first: int, count: int = 1) -> None:
    """Publish ``{"n": first}`` … ``{"n": first + count - 1}`` in one ordered batch."""
    commands = [
        {"publish": {"channel": channel, "data": {"n": n}}} for n in range(first, first + count)
    ]
    reply = await api(server, "batch", {"commands": commands})
    assert all("error" not in r for r in reply["replies"]), reply


async def stream_top(server: RunningServer, channel: str) -> dict[str, Any]:
    """The channel's stream position, as the history API reports it."""
    result: dict[str, Any] = (await api(server, "history", {"channel": channel, "limit": 0}))[
        "result"
    ]
    return {"offset": result.get("offset", 0), "epoch": result["epoch"]}


async def until_epoch_changes(server: RunningServer, channel: str, epoch: str) -> str:
    """Wait (polling the history API) until the stream of ``channel`` is a new one."""
    async with asyncio.timeout(TIMEOUT):
        while (top := await stream_top(server, channel))["epoch"] == epoch:
            await asyncio.sleep(0.2)  # real TTL expiry in the server: no event to await
    return str(top["epoch"])


# ---- centrifuge-js -----------------------------------------------------------------------

StartJS = Callable[..., Awaitable[NodeClient]]


@pytest.fixture
async def js(node_modules: Path) -> AsyncIterator[StartJS]:  # noqa: F811
    """Start centrifuge-js runners (``script``: runner.mjs or get_state.mjs)."""
    clients: list[NodeClient] = []

    async def start(
        url: str,
        *,
        token: str,
        steps: tuple[dict[str, Any], ...],
        protocol: str = "json",
        script: Path = RUNNER,
        label: str = "js",
    ) -> NodeClient:
        body = {
            "url": url,
            "protocol": protocol,
            "token": token,
            "trace": True,
            "deadline_ms": 50_000,
            "options": FAST,
            "steps": [{"op": "connect"}, *steps],
        }
        process = await asyncio.create_subprocess_exec(
            str(node_modules),
            str(script),
            json.dumps(body),
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=4 * 1024 * 1024,
        )
        client = NodeClient(process, f"{label}-{len(clients)}")
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for client in clients:
        errors = client.seen("runner_error") + client.seen("runner_timeout")
        assert not errors, client.dump()


def offsets(client: NodeClient, channel: str, event: str = "publication") -> list[int]:
    return [e["offset"] for e in client.seen(event, channel=channel)]


async def cut(proxy: FaultProxy, client: NodeClient, channel: str) -> None:
    """Reset the client's connection and keep refusing; wait until the SDK noticed."""
    proxy.refuse()
    proxy.drop_all()
    await client.expect("subscribing", channel=channel)


@pytest.mark.parametrize("protocol", ["json", "protobuf"])
async def test_js_recovers_50_missed_publications(
    server: RunningServer, proxy: FaultProxy, js: StartJS, protocol: str
) -> None:
    """Cut, 50 publications, reconnect: recovered, each exactly once, in offset order."""
    channel = unique("rec:cut-")
    step = {"op": "subscribe", "channel": channel}
    client = await js(proxy.url(), token=server.token("42"), steps=(step,), protocol=protocol)
    first = await client.expect("subscribed", channel=channel)
    assert (first["recoverable"], first["wasRecovering"]) == (True, False)
    await publish(server, channel, 1, 3)
    await client.expect("publication", channel=channel, offset=3)
    await cut(proxy, client, channel)
    await publish(server, channel, 4, 50)
    proxy.accept()
    again = await client.expect("subscribed", channel=channel)
    assert (again["wasRecovering"], again["recovered"]) == (True, True), client.dump()
    assert again["streamPosition"]["offset"] == 3
    assert again["streamPosition"]["epoch"] == first["streamPosition"]["epoch"]
    await publish(server, channel, 54)  # live again: nothing recovered comes after it
    await client.expect("publication", channel=channel, offset=54)
    assert offsets(client, channel) == list(range(1, 55))
    assert [e["data"] for e in client.seen("publication", channel=channel)] == [
        {"n": n} for n in range(1, 55)
    ]
    assert proxy.accepted == 2


async def test_js_more_than_300_missed_is_not_recovered(
    server: RunningServer, proxy: FaultProxy, js: StartJS
) -> None:
    """client.recovery_max_publication_limit (300): 400 missed → recovered false, none sent."""
    channel = unique("rec:cap-")
    client = await js(
        proxy.url(), token=server.token("42"), steps=({"op": "subscribe", "channel": channel},)
    )
    await client.expect("subscribed", channel=channel)
    await publish(server, channel, 1, 2)
    await client.expect("publication", channel=channel, offset=2)
    await cut(proxy, client, channel)
    await publish(server, channel, 3, 400)
    proxy.accept()
    again = await client.expect("subscribed", channel=channel)
    assert (again["wasRecovering"], again["recovered"]) == (True, False), client.dump()
    assert again["hasRecoveredPublications"] is False
    assert again["streamPosition"]["offset"] == 402
    await publish(server, channel, 403)
    await client.expect("publication", channel=channel, offset=403)
    assert offsets(client, channel) == [1, 2, 403]


async def test_js_new_epoch_after_server_restart_is_not_recovered(
    pytestconfig: pytest.Config, tmp_path: Path, js: StartJS
) -> None:
    """A restarted memory engine has new streams: same address, recovered false."""
    channel = unique("rec:restart-")
    with (
        started(pytestconfig, tmp_path, overrides()) as before,
        started(pytestconfig, tmp_path, overrides()) as after,
    ):
        fault_proxy = FaultProxy(before.port)
        await fault_proxy.start()
        try:
            client = await js(
                fault_proxy.url(),
                token=before.token("42"),
                steps=({"op": "subscribe", "channel": channel},),
            )
            first = await client.expect("subscribed", channel=channel)
            await publish(before, channel, 1, 5)
            await client.expect("publication", channel=channel, offset=5)
            await cut(fault_proxy, client, channel)
            await asyncio.to_thread(before.stop)
            fault_proxy.upstream = after.port
            await publish(after, channel, 1, 7)
            fault_proxy.accept()
            again = await client.expect("subscribed", channel=channel)
            assert (again["wasRecovering"], again["recovered"]) == (True, False), client.dump()
            assert again["streamPosition"]["offset"] == 7
            assert again["streamPosition"]["epoch"] != first["streamPosition"]["epoch"]
            assert offsets(client, channel) == [1, 2, 3, 4, 5]
        finally:
            await fault_proxy.close()


async def test_js_get_state_gets_112_and_since_gets_recovered_false(
    server: RunningServer, js: StartJS
) -> None:
    """flag 3 (getState): an unrecoverable position is error 112 and the SDK asks getState
    again; ``since`` alone (flag 1) gets recovered false instead (TV2)."""
    with_state, with_since = unique("rec:gs-"), unique("rec:since-")
    await publish(server, with_state, 1, 3)
    await publish(server, with_since, 1, 3)
    top = await stream_top(server, with_state)
    stale = {"offset": 1, "epoch": "stale"}
    options = {"minResubscribeDelay": 50, "maxResubscribeDelay": 200}
    client = await js(
        server.ws_url,
        token=server.token("42"),
        script=GET_STATE,
        steps=(
            {
                "op": "subscribe",
                "channel": with_state,
                "options": {**options, "getState": [stale, top]},
            },
            {"op": "subscribe", "channel": with_since, "options": {"since": stale}},
        ),
    )
    subscribed = await client.expect("subscribed", channel=with_state)
    assert (subscribed["wasRecovering"], subscribed["recovered"]) == (True, True)
    assert subscribed["streamPosition"] == top
    assert [e["call"] for e in client.seen("get_state", channel=with_state)] == [1, 2]
    replies = [json.loads(line) for f in client.seen("frame_in") for line in f["text"].split("\n")]
    assert {"code": 112, "message": "unrecoverable position"} in [
        r.get("error") for r in replies
    ], client.dump()
    assert not client.seen("unsubscribed", channel=with_state)
    since = await client.expect("subscribed", channel=with_since)
    assert (since["wasRecovering"], since["recovered"]) == (True, False)
    assert since["streamPosition"]["offset"] == 3
    await publish(server, with_state, 4)
    await client.expect("publication", channel=with_state, offset=4)
    assert offsets(client, with_state) == [4]
    assert offsets(client, with_since) == []


async def test_js_cache_mode_delivers_only_the_latest_publication(
    server: RunningServer, proxy: FaultProxy, js: StartJS
) -> None:
    """force_recovery_mode cache + auto_cache_recover: the latest one on every subscribe."""
    channel = unique("cache:now-")
    await publish(server, channel, 1, 3)
    client = await js(
        proxy.url(), token=server.token("42"), steps=({"op": "subscribe", "channel": channel},)
    )
    first = await client.expect("subscribed", channel=channel)
    assert (first["wasRecovering"], first["recovered"]) == (True, True)
    await client.expect("publication", channel=channel, offset=3)
    await cut(proxy, client, channel)
    await publish(server, channel, 4, 2)
    proxy.accept()
    again = await client.expect("subscribed", channel=channel)
    assert (again["wasRecovering"], again["recovered"]) == (True, True)
    await client.expect("publication", channel=channel, offset=5)
    await publish(server, channel, 6)
    await client.expect("publication", channel=channel, offset=6)
    assert offsets(client, channel) == [3, 5, 6]
    assert [e["data"] for e in client.seen("publication", channel=channel)] == [
        {"n": 3},
        {"n": 5},
        {"n": 6},
    ]


# ---- positioning: the stream recreated under connected subscribers -----------------------


async def test_js_recreated_stream_ends_positioned_subscriptions(
    server: RunningServer, js: StartJS
) -> None:
    """history_meta_ttl expired, then a publication in the new epoch: client-side
    subscribers get unsubscribe 2500 and recover (false); a server-side one disconnect
    3010, then recovers through connect (false). Nobody skips silently into the new epoch."""
    client_side, server_side = unique("meta:c-"), unique("meta:s-")
    a = await js(
        server.ws_url,
        token=server.token("a"),
        steps=({"op": "subscribe", "channel": client_side},),
        label="client-side",
    )
    b = await js(
        server.ws_url, token=server.token("b", channels=[server_side]), steps=(), label="server"
    )
    first_a = await a.expect("subscribed", channel=client_side)
    first_b = await b.expect("server_subscribed", channel=server_side)
    await publish(server, client_side, 1)
    await publish(server, server_side, 1)
    await a.expect("publication", channel=client_side, offset=1)
    await b.expect("server_publication", channel=server_side, offset=1)
    epochs = await asyncio.gather(
        until_epoch_changes(server, client_side, first_a["streamPosition"]["epoch"]),
        until_epoch_changes(server, server_side, first_b["streamPosition"]["epoch"]),
    )
    await publish(server, client_side, 2)
    await publish(server, server_side, 2)

    lost = await a.expect("subscribing", channel=client_side, code=2500)
    assert lost["reason"] == "insufficient state"
    again_a = await a.expect("subscribed", channel=client_side)
    assert (again_a["wasRecovering"], again_a["recovered"]) == (True, False), a.dump()
    assert again_a["streamPosition"] == {"offset": 1, "epoch": epochs[0]}

    await b.expect("connecting", code=3010, reason="insufficient state")
    again_b = await b.expect("server_subscribed", channel=server_side)
    assert (again_b["wasRecovering"], again_b["recovered"]) == (True, False), b.dump()
    assert again_b["streamPosition"] == {"offset": 1, "epoch": epochs[1]}
    # The publication of the new epoch was not handed over as a continuation of the old.
    assert offsets(a, client_side) == [1]
    assert offsets(b, server_side, "server_publication") == [1]


@pytest.fixture(scope="module")
def checking_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Checks positioned subscriptions every second."""
    extra = overrides(channel_position_check_delay="1s")
    with started(pytestconfig, tmp_path_factory.mktemp("checking"), extra) as running:
        yield running


async def test_js_position_check_notices_an_expired_stream(
    checking_server: RunningServer, js: StartJS
) -> None:
    """No publication at all: the periodic check (two failures) sends 2500 on its own."""
    channel = unique("meta:idle-")
    client = await js(
        checking_server.ws_url,
        token=checking_server.token("42"),
        steps=({"op": "subscribe", "channel": channel},),
    )
    first = await client.expect("subscribed", channel=channel)
    await publish(checking_server, channel, 1)
    await client.expect("publication", channel=channel, offset=1)
    lost = await client.expect("subscribing", channel=channel, code=2500)
    assert lost["reason"] == "insufficient state"
    again = await client.expect("subscribed", channel=channel)
    assert (again["wasRecovering"], again["recovered"]) == (True, False), client.dump()
    assert again["streamPosition"]["epoch"] != first["streamPosition"]["epoch"]


# ---- centrifuge-python -------------------------------------------------------------------


class SubEvents(SubscriptionEventHandler):
    def __init__(self) -> None:
        self.subscribing: asyncio.Queue[SubscribingContext] = asyncio.Queue()
        self.subscribed: asyncio.Queue[SubscribedContext] = asyncio.Queue()
        self.publications: list[PublicationContext] = []
        self.published = asyncio.Event()

    async def on_subscribing(self, ctx: SubscribingContext) -> None:
        self.subscribing.put_nowait(ctx)

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.subscribed.put_nowait(ctx)

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.publications.append(ctx)
        self.published.set()

    async def until_offset(self, offset: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not self.publications or self.publications[-1].pub.offset < offset:
                self.published.clear()
                await self.published.wait()


@contextlib.asynccontextmanager
async def python_client(url: str, token: str, *, protobuf: bool = False) -> AsyncIterator[Client]:
    """A centrifuge-python client retrying quickly; disconnected at the end."""
    client = Client(
        url,
        events=ClientEventHandler(),
        token=token,
        use_protobuf=protobuf,
        proxy=None,
        min_reconnect_delay=0.05,
        max_reconnect_delay=0.3,
    )
    try:
        yield client
    finally:
        await client.disconnect()
        # The SDK closes sockets in tasks it does not await (see test_python_client.py).
        pending = [t for t in client._background_tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=TIMEOUT)


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_python_recovers_50_missed_publications(
    server: RunningServer, proxy: FaultProxy, protobuf: bool
) -> None:
    """The same with centrifuge-python (JSON and Protobuf)."""
    channel = unique("rec:py-")
    events = SubEvents()
    async with python_client(proxy.url(), server.token("42"), protobuf=protobuf) as client:
        await client.connect()
        await client.new_subscription(channel, events=events).subscribe()
        first = await asyncio.wait_for(events.subscribed.get(), TIMEOUT)
        assert first.recoverable and not first.was_recovering
        await publish(server, channel, 1, 2)
        await events.until_offset(2)
        proxy.refuse()
        proxy.drop_all()
        await asyncio.wait_for(events.subscribing.get(), TIMEOUT)
        await publish(server, channel, 3, 50)
        proxy.accept()
        again = await asyncio.wait_for(events.subscribed.get(), TIMEOUT)
        assert (again.was_recovering, again.recovered) == (True, True)
        assert again.stream_position is not None and again.stream_position.offset == 2
        await publish(server, channel, 53)
        await events.until_offset(53)
    assert [p.pub.offset for p in events.publications] == list(range(1, 54))
    data = [p.pub.data for p in events.publications]
    if protobuf:
        data = [json.loads(d) for d in data]
    assert data == [{"n": n} for n in range(1, 54)]


# ---- presence and join/leave -------------------------------------------------------------


async def presence_users(observer: NodeClient, channel: str) -> list[str]:
    result = await observer.result("presence", channel=channel)
    return sorted(info["user"] for info in result["clients"].values())


async def test_join_leave_and_presence_follow_subscribe_unsubscribe_disconnect(
    server: RunningServer, js: StartJS
) -> None:
    """A centrifuge-js observer sees a centrifuge-python client come and go."""
    channel = unique("rec:room-")
    observer = await js(
        server.ws_url,
        token=server.token("observer"),
        steps=({"op": "subscribe", "channel": channel, "options": {"joinLeave": True}},),
    )
    await observer.expect("subscribed", channel=channel)
    await observer.expect("join", channel=channel, info={"user": "observer"})  # its own
    assert await presence_users(observer, channel) == ["observer"]
    async with python_client(server.ws_url, server.token("alice")) as alice:
        await alice.connect()
        sub = alice.new_subscription(channel, events=SubEvents())
        await sub.subscribe()
        join = await observer.expect("join", channel=channel, info={"user": "alice"})
        assert await presence_users(observer, channel) == ["alice", "observer"]
        await sub.unsubscribe()
        await observer.expect("leave", channel=channel, info={"client": join["info"]["client"]})
        assert await presence_users(observer, channel) == ["observer"]
        await sub.subscribe()
        await observer.expect("join", channel=channel, info={"user": "alice"})
        await alice.disconnect()
        await observer.expect("leave", channel=channel, info={"user": "alice"})
        assert await presence_users(observer, channel) == ["observer"]


async def test_presence_of_connections_gone_without_close_frame_disappears(
    server: RunningServer, proxy: FaultProxy, js: StartJS
) -> None:
    """A reset connection (proxy RST) and a killed node process: leave, presence gone."""
    channel = unique("rec:gone-")
    subscribe = {"op": "subscribe", "channel": channel}
    observer = await js(
        server.ws_url,
        token=server.token("observer"),
        steps=({**subscribe, "options": {"joinLeave": True}},),
    )
    await observer.expect("subscribed", channel=channel)

    killed = await js(server.ws_url, token=server.token("carol"), steps=(subscribe,))
    await observer.expect("join", channel=channel, info={"user": "carol"})
    killed.process.send_signal(signal.SIGKILL)
    await observer.expect("leave", channel=channel, info={"user": "carol"})
    assert await presence_users(observer, channel) == ["observer"]

    async with python_client(proxy.url(), server.token("dave")) as dave:
        await dave.connect()
        await dave.new_subscription(channel, events=SubEvents()).subscribe()
        await observer.expect("join", channel=channel, info={"user": "dave"})
        proxy.refuse()
        proxy.drop_all(rst=True)
        await observer.expect("leave", channel=channel, info={"user": "dave"})
        assert await presence_users(observer, channel) == ["observer"]
