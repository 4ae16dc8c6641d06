"""centrifuge-python 0.7 against a real Whirlwind process (client-protocol.md §5, §8–§12).

Every SDK event lands in an asyncio.Queue; tests await the next event under a timeout and
never sleep to synchronise. Server API publications are sent from a thread so that the
client's loop keeps reading meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
from centrifuge import (
    Client,
    ReplyError,
    SubscribedContext,
    Subscription,
)
from sdk_events import ClientEvents, SubEvents, next_event

if TYPE_CHECKING:
    from harness import RunningServer, ServerFactory

TIMEOUT = 5.0

pytestmark = pytest.mark.timeout(60)


def channel(prefix: str = "py") -> str:
    """A channel name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def api(server: RunningServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call the HTTP API from a thread (the client loop keeps running)."""
    return await asyncio.to_thread(server.api, method, params)


async def publish(server: RunningServer, ch: str, data: Any) -> None:
    reply = await api(server, "publish", {"channel": ch, "data": data})
    assert "error" not in reply, reply


def payload(pub_data: Any, protobuf: bool) -> Any:
    """Publication data as the test published it (Protobuf clients get raw JSON bytes)."""
    return json.loads(pub_data) if protobuf else pub_data


class Harness:
    """Clients made by one test; all disconnected at the end."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.clients: list[Client] = []

    def client(
        self,
        *,
        protobuf: bool = False,
        token: str | None = "",
        user: str = "42",
        get_token: Callable[[], Awaitable[str]] | None = None,
    ) -> tuple[Client, ClientEvents]:
        events = ClientEvents()
        client = Client(
            self.server.ws_url,
            events=events,
            token=self.server.token(user) if token == "" else (token or ""),
            get_token=get_token,
            use_protobuf=protobuf,
            proxy=None,
            max_reconnect_delay=1.0,
        )
        self.clients.append(client)
        return client, events

    async def connected(self, **kwargs: Any) -> tuple[Client, ClientEvents]:
        client, events = self.client(**kwargs)
        await client.connect()
        ctx = await next_event(events.connected)
        assert ctx.client
        return client, events

    async def close(self) -> None:
        for client in self.clients:
            await client.disconnect()
        # The SDK closes sockets in background tasks it does not await; let them finish so
        # that no socket outlives the test's loop (ResourceWarning).
        pending = [t for c in self.clients for t in c._background_tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=TIMEOUT)


@pytest.fixture
async def harness(server: RunningServer) -> AsyncIterator[Harness]:
    h = Harness(server)
    yield h
    await h.close()


async def subscribed(
    client: Client, ch: str, **kwargs: Any
) -> tuple[Subscription, SubEvents, SubscribedContext]:
    events = SubEvents()
    sub = client.new_subscription(ch, events=events, **kwargs)
    await sub.subscribe()
    ctx = await next_event(events.subscribed)
    return sub, events, ctx


PROTOCOLS = pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])


# ---------------------------------------------------------------------------
# connect


@PROTOCOLS
async def test_connect_with_hs256_token(harness: Harness, protobuf: bool) -> None:
    """An HS256 token connects; the connect reply gives a client id and a version."""
    client, events = harness.client(protobuf=protobuf)
    await client.connect()
    ctx = await next_event(events.connected)
    assert ctx.client
    assert ctx.version
    await client.disconnect()
    gone = await next_event(events.disconnected)
    assert gone.code == 0  # client-local "disconnect called"


async def test_anonymous_connect_refused_by_default(harness: Harness) -> None:
    """§12.3: no token and anonymous connect not allowed → disconnect 3501, no reconnect."""
    client, events = harness.client(token=None)
    await client.connect()
    ctx = await next_event(events.disconnected)
    assert (ctx.code, ctx.reason) == (3501, "bad request")
    assert events.connected.empty()


async def test_anonymous_connect_allowed_by_config(server_factory: ServerFactory) -> None:
    """``client.allow_anonymous_connect_without_token`` lets a client in without token;
    anonymous users then need ``*_for_anonymous`` permissions (namespace ``public``)."""
    overrides = {"client": {"allow_anonymous_connect_without_token": True}}
    with server_factory(overrides) as srv:
        harness = Harness(srv)
        try:
            client, _ = await harness.connected(token=None)
            ch = "public:" + channel()
            _, sub_events, _ = await subscribed(client, ch)
            await publish(srv, ch, {"anon": True})
            pub = await next_event(sub_events.publications)
            assert pub.pub.data == {"anon": True}
            # Without namespace permissions an anonymous user may not subscribe.
            denied = SubEvents()
            await client.new_subscription("secret:" + channel(), events=denied).subscribe()
            ctx = await next_event(denied.unsubscribed)
            assert ctx.code == 103
        finally:
            await harness.close()


async def test_expired_token_gets_109_then_get_token(harness: Harness) -> None:
    """§12.4: an expired token → error 109; the SDK calls get_token and connects with it."""
    calls: asyncio.Queue[None] = asyncio.Queue()

    async def get_token() -> str:
        calls.put_nowait(None)
        return harness.server.token("42")

    client, events = harness.client(token=harness.server.token("42", ttl=-120), get_token=get_token)
    await client.connect()
    error = await next_event(events.errors)
    assert isinstance(error.error, ReplyError)
    assert error.error.code == 109
    await next_event(calls)
    await next_event(events.connected)
    assert calls.empty()


async def test_token_refresh_before_expiry(harness: Harness) -> None:
    """§12.4: a short-lived token is refreshed through get_token + ``refresh``; the second
    get_token call proves the SDK got the refresh reply's new ``ttl``."""
    calls: asyncio.Queue[None] = asyncio.Queue()

    async def get_token() -> str:
        calls.put_nowait(None)
        return harness.server.token("42", ttl=2)

    # With a token set the SDK calls get_token only to refresh.
    client, events = await harness.connected(
        token=harness.server.token("42", ttl=2), get_token=get_token
    )
    assert calls.empty()
    await next_event(calls, timeout=8)
    await next_event(calls, timeout=8)
    # The connection survived both refreshes.
    assert events.disconnected.empty()
    assert events.connecting.qsize() == 1  # only the initial "connect called"
    await client.publish("public:" + channel(), {"alive": True})  # commands still go through


# ---------------------------------------------------------------------------
# subscriptions and publications


@PROTOCOLS
async def test_api_publications_arrive_in_order(harness: Harness, protobuf: bool) -> None:
    """Publications through the server API reach the subscriber in order with offsets."""
    client, _ = await harness.connected(protobuf=protobuf)
    ch = channel()
    _, events, ctx = await subscribed(client, ch)
    assert ctx.recoverable  # without_namespace has force_recovery
    for n in range(20):
        await publish(harness.server, ch, {"n": n})
    got = [await next_event(events.publications) for _ in range(20)]
    assert [payload(p.pub.data, protobuf) for p in got] == [{"n": n} for n in range(20)]
    offsets = [p.pub.offset for p in got]
    assert offsets == list(range(offsets[0], offsets[0] + 20))


@PROTOCOLS
async def test_client_publish(harness: Harness, protobuf: bool) -> None:
    """§5.4: a client publication reaches every subscriber, with the publisher's info."""
    publisher, _ = await harness.connected(protobuf=protobuf, user="42")
    reader, _ = await harness.connected(user="43")
    ch = channel()
    pub_sub, pub_events, _ = await subscribed(publisher, ch)
    _, reader_events, _ = await subscribed(reader, ch)
    data: Any = b'{"text":"hi"}' if protobuf else {"text": "hi"}
    await pub_sub.publish(data)
    for events in (pub_events, reader_events):
        pub = (await next_event(events.publications)).pub
        assert payload(pub.data, isinstance(pub.data, bytes)) == {"text": "hi"}
        assert pub.info is not None
        assert pub.info.user == "42"
        assert pub.info.client == publisher.client_id


async def test_unsubscribe_stops_publications(harness: Harness) -> None:
    """§5.3: after unsubscribe the channel's publications stop; another channel on the same
    connection serves as the barrier."""
    client, _ = await harness.connected()
    ch, barrier = channel(), channel()
    sub, events, _ = await subscribed(client, ch)
    _, barrier_events, _ = await subscribed(client, barrier)
    await sub.unsubscribe()
    ctx = await next_event(events.unsubscribed)
    assert ctx.code == 0  # client-local "unsubscribe called"
    # The unsubscribe command went out before the event; a command after it is answered
    # after it, so the server has processed the unsubscribe by then.
    await client.presence_stats(barrier)
    await publish(harness.server, ch, {"late": True})
    await publish(harness.server, barrier, {"barrier": True})
    assert (await next_event(barrier_events.publications)).pub.data == {"barrier": True}
    assert events.publications.empty()


async def test_presence_and_presence_stats(harness: Harness) -> None:
    """§5.5, §5.6: presence keyed by client id; stats count clients and users."""
    first, _ = await harness.connected(user="42")
    second, _ = await harness.connected(user="43")
    third, _ = await harness.connected(user="43")
    ch = channel()
    sub, _, _ = await subscribed(first, ch)
    for client in (second, third):
        await subscribed(client, ch)
    presence = await sub.presence()
    assert set(presence.clients) == {first.client_id, second.client_id, third.client_id}
    info = presence.clients[first.client_id]
    assert (info.user, info.client) == ("42", first.client_id)
    stats = await sub.presence_stats()
    assert (stats.num_clients, stats.num_users) == (3, 2)


async def test_join_and_leave(harness: Harness) -> None:
    """§4.4: with join_leave a subscriber sees others join and leave."""
    watcher, _ = await harness.connected(user="42")
    other, _ = await harness.connected(user="43")
    ch = channel()
    _, events, _ = await subscribed(watcher, ch, join_leave=True)
    other_sub, _, _ = await subscribed(other, ch)
    own = await next_event(events.joins)  # subscribers see their own join too
    assert (own.info.user, own.info.client) == ("42", watcher.client_id)
    join = await next_event(events.joins)
    assert (join.info.user, join.info.client) == ("43", other.client_id)
    await other_sub.unsubscribe()
    leave = await next_event(events.leaves)
    assert (leave.info.user, leave.info.client) == ("43", other.client_id)


async def test_history(harness: Harness) -> None:
    """§5.7: limit 0 gives the position only; limit -1 everything, in order, with offsets."""
    client, _ = await harness.connected()
    ch = channel()
    sub, events, _ = await subscribed(client, ch)
    for n in range(3):
        await publish(harness.server, ch, {"n": n})
    for _ in range(3):
        await next_event(events.publications)
    top = await sub.history()
    assert top.publications == []
    assert top.offset == 3
    assert top.epoch
    everything = await sub.history(limit=-1)
    assert [p.data for p in everything.publications] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [p.offset for p in everything.publications] == [1, 2, 3]
    assert everything.epoch == top.epoch
    newest = await sub.history(limit=2, reverse=True)
    assert [p.offset for p in newest.publications] == [3, 2]


async def test_rpc_without_handler_is_not_available(harness: Harness) -> None:
    """No RPC handler configured → error 108."""
    client, _ = await harness.connected()
    with pytest.raises(ReplyError) as info:
        await client.rpc("getUser", {"id": 1})
    assert info.value.code == 108
    assert not info.value.temporary


async def test_private_channel_needs_subscription_token(harness: Harness) -> None:
    """§12.2: a ``$`` channel subscribes with a subscription token, and not without one."""
    client, _ = await harness.connected()
    ch = "$" + channel()
    _, events, _ = await subscribed(client, ch, token=harness.server.sub_token("42", ch))
    await publish(harness.server, ch, {"private": 1})
    assert (await next_event(events.publications)).pub.data == {"private": 1}

    other = "$" + channel()
    denied = SubEvents()
    await client.new_subscription(other, events=denied).subscribe()
    ctx = await next_event(denied.unsubscribed)
    assert ctx.code == 103


async def test_subscription_token_refresh(harness: Harness) -> None:
    """§12.5: a short-lived subscription token is refreshed through the sub's get_token."""
    client, _ = await harness.connected()
    ch = "$" + channel()
    calls: asyncio.Queue[str] = asyncio.Queue()

    async def get_token(name: str) -> str:
        calls.put_nowait(name)
        return harness.server.sub_token("42", name, ttl=2)

    _, events, _ = await subscribed(
        client, ch, token=harness.server.sub_token("42", ch, ttl=2), get_token=get_token
    )
    assert await next_event(calls, timeout=8) == ch
    assert await next_event(calls, timeout=8) == ch
    assert events.unsubscribed.empty()
    await publish(harness.server, ch, {"still": "here"})
    assert (await next_event(events.publications)).pub.data == {"still": "here"}


async def test_user_limited_channel(harness: Harness) -> None:
    """``allow_user_limited_channels``: users after the last ``#`` may subscribe; others
    get 103."""
    client, _ = await harness.connected(user="42")
    suffix = uuid.uuid4().hex[:8]
    own = f"personal:dialog{suffix}#42,43"
    _, events, _ = await subscribed(client, own)
    await publish(harness.server, own, {"to": "42"})
    assert (await next_event(events.publications)).pub.data == {"to": "42"}

    foreign = SubEvents()
    await client.new_subscription(f"personal:dialog{suffix}#43,44", events=foreign).subscribe()
    ctx = await next_event(foreign.unsubscribed)
    assert (ctx.code, ctx.reason) == (103, "permission denied")
