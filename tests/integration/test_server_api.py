"""The server HTTP API of a real Whirlwind process (server-api.md §2–§9), driven by the
official ``cent`` 5.x package (sync and async clients), raw HTTP and ``curl``; effects on
live connections are observed with centrifuge-python clients.

Every SDK event lands in an asyncio.Queue and tests await it under a timeout; the sync
``cent.Client`` runs in a thread when a live client's loop must keep running.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cent
import pytest
from centrifuge import (
    Client,
)
from harness import default_config, run_server, skip_or_fail
from sdk_events import ClientEvents, SubEvents, next_event

if TYPE_CHECKING:
    from harness import RunningServer, ServerFactory

TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def api_config() -> dict[str, Any]:
    """The shared config plus namespaces for 108 and a small client history cap."""
    config = default_config()
    config["client"]["history_max_publication_limit"] = 2
    config["channel"]["namespaces"] = [
        *config["channel"]["namespaces"],
        {"name": "nofeatures"},
        {
            "name": "bin",
            "publication_data_format": "binary",
            "history_size": 10,
            "history_ttl": "60s",
        },
    ]
    return config


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module's tests (each test uses its own channels and users)."""
    with run_server(tmp_path_factory.mktemp("api"), api_config()) as running:
        yield running


def name(prefix: str = "api") -> str:
    """A channel or user name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sync_client(server: RunningServer, key: str | None = None) -> cent.Client:
    return cent.Client(f"{server.http_url}/api", key if key is not None else server.api_key)


# --------------------------------------------------------------------------- raw HTTP


def http(
    server: RunningServer,
    path: str,
    body: bytes | None = b"{}",
    *,
    method: str = "POST",
    key: str | None = "default",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; returns status, headers and body, whatever the status."""
    all_headers = dict(headers or {})
    if key == "default":
        key = server.api_key
    if key is not None:
        all_headers["X-API-Key"] = key
    request = urllib.request.Request(
        server.http_url + path, data=body, method=method, headers=all_headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def http_json(server: RunningServer, path: str, params: Any, **kwargs: Any) -> Any:
    status, _, body = http(server, path, json.dumps(params).encode(), **kwargs)
    assert status == 200, (status, body)
    return json.loads(body)


# --------------------------------------------------------------------------- live clients


class Live:
    """centrifuge-python connections of one test, closed at the end."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.clients: list[Client] = []

    async def connect(self, user: str) -> tuple[Client, ClientEvents, str]:
        events = ClientEvents()
        client = Client(
            self.server.ws_url,
            events=events,
            token=self.server.token(user),
            proxy=None,
            max_reconnect_delay=0.5,
        )
        self.clients.append(client)
        await client.connect()
        ctx = await next_event(events.connected)
        first = events.connecting.get_nowait()  # "connect called"
        assert first.code == 0, first
        return client, events, ctx.client

    async def subscribe(self, client: Client, channel: str) -> SubEvents:
        events = SubEvents()
        sub = client.new_subscription(channel, events=events)
        await sub.subscribe()
        await next_event(events.subscribed)
        return events

    async def close(self) -> None:
        for client in self.clients:
            await client.disconnect()
        pending = [t for c in self.clients for t in c._background_tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=TIMEOUT)


@pytest.fixture
async def live(api_server: RunningServer) -> AsyncIterator[Live]:
    harness = Live(api_server)
    yield harness
    await harness.close()


@pytest.fixture
async def acent(api_server: RunningServer) -> AsyncIterator[cent.AsyncClient]:
    client = cent.AsyncClient(f"{api_server.http_url}/api", api_server.api_key)
    yield client
    await client.close()


# --------------------------------------------------------------------------- publish


def test_publish_tags_skip_history_b64data(api_server: RunningServer) -> None:
    """publish with tags lands in history with them; skip_history leaves history alone;
    b64data is decoded and wins over data."""
    channel = name()
    with sync_client(api_server) as api:
        first = api.publish(cent.PublishRequest(channel=channel, data={"n": 1}, tags={"t": "1"}))
        assert first.offset == 1 and first.epoch
        skipped = api.publish(
            cent.PublishRequest(channel=channel, data={"n": 2}, skip_history=True)
        )
        assert (skipped.offset, skipped.epoch) == (0, "")
        b64 = base64.b64encode(b'{"n":3}').decode()
        third = api.publish(
            cent.PublishRequest(channel=channel, data={"ignored": True}, b64data=b64)
        )
        assert third.offset == 2
        history = api.history(cent.HistoryRequest(channel=channel, limit=-1))
    assert [(p.offset, p.data, p.tags) for p in history.publications] == [
        (1, {"n": 1}, {"t": "1"}),
        (2, {"n": 3}, None),
    ]
    assert history.epoch == first.epoch and history.offset == 2


def test_idempotent_publish(api_server: RunningServer) -> None:
    """The same idempotency key twice: one publication, the same offset both times."""
    channel = name()
    with sync_client(api_server) as api:
        request = cent.PublishRequest(channel=channel, data={"once": 1}, idempotency_key="key-1")
        first = api.publish(request)
        second = api.publish(request)
        other = api.publish(
            cent.PublishRequest(channel=channel, data={"other": 1}, idempotency_key="key-2")
        )
        history = api.history(cent.HistoryRequest(channel=channel, limit=-1))
    assert (first.offset, first.epoch) == (second.offset, second.epoch) == (1, history.epoch)
    assert other.offset == 2
    assert [p.data for p in history.publications] == [{"once": 1}, {"other": 1}]


async def test_broadcast_async(api_server: RunningServer, acent: cent.AsyncClient) -> None:
    """broadcast: one response per channel in order, per-channel errors inside."""
    a, b = name(), name()
    result = await acent.broadcast(
        cent.BroadcastRequest(channels=[a, "unknown:x", b], data={"all": True})
    )
    responses = result.responses
    assert len(responses) == 3
    assert responses[0].result is not None and responses[0].result.offset == 1
    assert responses[1].error is not None and responses[1].error.code == 102
    assert responses[2].result is not None and responses[2].result.offset == 1
    history = await acent.history(cent.HistoryRequest(channel=b, limit=-1))
    assert [p.data for p in history.publications] == [{"all": True}]


# --------------------------------------------------------------------------- history


async def test_history_paging_and_remove(acent: cent.AsyncClient) -> None:
    """limit 0/N/-1, since, reverse; not capped by client.history_max_publication_limit (2);
    history_remove keeps the position."""
    channel = name()
    for n in range(1, 6):
        await acent.publish(cent.PublishRequest(channel=channel, data={"n": n}))
    position = await acent.history(cent.HistoryRequest(channel=channel))
    assert position.publications == [] and position.offset == 5
    epoch = position.epoch

    async def offsets(**kwargs: Any) -> list[int]:
        result = await acent.history(cent.HistoryRequest(channel=channel, **kwargs))
        return [p.offset for p in result.publications]

    assert await offsets(limit=2) == [1, 2]
    assert await offsets(limit=-1) == [1, 2, 3, 4, 5]
    since = cent.StreamPosition(offset=2, epoch=epoch)
    assert await offsets(limit=2, since=since) == [3, 4]
    assert await offsets(limit=-1, since=cent.StreamPosition(offset=5, epoch=epoch)) == []
    assert await offsets(limit=2, reverse=True) == [5, 4]
    assert await offsets(limit=-1, reverse=True, since=cent.StreamPosition(offset=3)) == [2, 1]
    with pytest.raises(cent.CentApiResponseError) as info:
        await acent.history(
            cent.HistoryRequest(channel=channel, limit=1, since=cent.StreamPosition(epoch="x"))
        )
    assert (info.value.code, info.value.message) == (112, "unrecoverable position")
    await acent.history_remove(cent.HistoryRemoveRequest(channel=channel))
    after = await acent.history(cent.HistoryRequest(channel=channel, limit=-1))
    assert after.publications == [] and (after.offset, after.epoch) == (5, epoch)


def test_feature_errors(api_server: RunningServer) -> None:
    """102 for an unknown namespace, 108 for presence/history that are off."""
    with sync_client(api_server) as api:
        with pytest.raises(cent.CentApiResponseError) as info:
            api.publish(cent.PublishRequest(channel="unknown:" + name(), data={}))
        assert (info.value.code, info.value.message) == (102, "unknown channel")
        for call in (
            lambda: api.presence(cent.PresenceRequest(channel="nofeatures:x")),
            lambda: api.presence_stats(cent.PresenceStatsRequest(channel="nofeatures:x")),
            lambda: api.history(cent.HistoryRequest(channel="nofeatures:x")),
            lambda: api.history_remove(cent.HistoryRemoveRequest(channel="nofeatures:x")),
        ):
            with pytest.raises(cent.CentApiResponseError) as info:
                call()
            assert (info.value.code, info.value.message) == (108, "not available")
        with pytest.raises(cent.CentApiResponseError) as info:
            api.publish(cent.PublishRequest(channel="", data={}))
        assert info.value.code == 107


def test_every_method_with_the_sync_client(api_server: RunningServer) -> None:
    """Each cent.Client method decodes its reply; user methods succeed with nobody online."""
    channel, user = name(), name("user")
    with sync_client(api_server) as api:
        assert api.publish(cent.PublishRequest(channel=channel, data={"n": 1})).offset == 1
        broadcast = api.broadcast(cent.BroadcastRequest(channels=[channel], data={"n": 2}))
        assert broadcast.responses[0].result is not None
        api.subscribe(
            cent.SubscribeRequest(
                user=user,
                channel=channel,
                info={"i": 1},
                recover_since=cent.StreamPosition(offset=1, epoch="e"),
                override=cent.ChannelOptionsOverride(join_leave=cent.BoolValue(value=True)),
            )
        )
        api.unsubscribe(cent.UnsubscribeRequest(user=user, channel=channel))
        api.disconnect(cent.DisconnectRequest(user=user, whitelist=["x"]))
        api.refresh(cent.RefreshRequest(user=user, expire_at=2_000_000_000))
        assert api.presence(cent.PresenceRequest(channel=channel)).presence == {}
        stats = api.presence_stats(cent.PresenceStatsRequest(channel=channel))
        assert (stats.num_clients, stats.num_users) == (0, 0)
        history = api.history(cent.HistoryRequest(channel=channel, limit=-1, reverse=True))
        assert [p.data for p in history.publications] == [{"n": 2}, {"n": 1}]
        api.history_remove(cent.HistoryRemoveRequest(channel=channel))
        assert api.channels(cent.ChannelsRequest(pattern=channel)).channels == {}
        assert len(api.info(cent.InfoRequest()).nodes) == 1
        batch = api.batch(
            cent.BatchRequest(
                requests=[cent.PresenceStatsRequest(channel=channel), cent.InfoRequest()]
            )
        )
        assert len(batch.replies) == 2


def test_bad_api_key(api_server: RunningServer) -> None:
    with sync_client(api_server, key="wrong") as api, pytest.raises(cent.CentUnauthorizedError):
        api.info(cent.InfoRequest())


# --------------------------------------------------------------------------- live connections


async def test_presence_with_a_live_client(
    api_server: RunningServer, live: Live, acent: cent.AsyncClient
) -> None:
    channel, user = name(), name("user")
    client, _, client_id = await live.connect(user)
    await live.subscribe(client, channel)
    presence = await acent.presence(cent.PresenceRequest(channel=channel))
    assert list(presence.presence) == [client_id]
    info = presence.presence[client_id]
    assert (info.user, info.client) == (user, client_id)
    stats = await acent.presence_stats(cent.PresenceStatsRequest(channel=channel))
    assert (stats.num_clients, stats.num_users) == (1, 1)
    empty = await acent.presence(cent.PresenceRequest(channel=name()))
    assert empty.presence == {}


async def test_server_side_subscribe(live: Live, acent: cent.AsyncClient) -> None:
    """subscribe: the live client gets a server-side subscription, then publications."""
    channel, user = name(), name("user")
    _, events, _ = await live.connect(user)
    await acent.subscribe(
        cent.SubscribeRequest(
            user=user,
            channel=channel,
            data={"welcome": 1},
            override=cent.ChannelOptionsOverride(presence=cent.BoolValue(value=False)),
        )
    )
    subscribed = await next_event(events.subscribed)
    assert subscribed.channel == channel
    assert subscribed.data == {"welcome": 1}
    # The override turned presence off for this subscription only.
    presence = await acent.presence(cent.PresenceRequest(channel=channel))
    assert presence.presence == {}
    await acent.publish(cent.PublishRequest(channel=channel, data={"after": "subscribe"}))
    publication = await next_event(events.publications)
    assert (publication.channel, publication.pub.data) == (channel, {"after": "subscribe"})
    # Server-side unsubscribe of that subscription.
    await acent.unsubscribe(cent.UnsubscribeRequest(user=user, channel=channel))
    gone = await next_event(events.unsubscribed)
    assert gone.channel == channel


async def test_unsubscribe_client_side_subscription(live: Live, acent: cent.AsyncClient) -> None:
    channel, user = name(), name("user")
    client, _, _ = await live.connect(user)
    sub_events = await live.subscribe(client, channel)
    await acent.unsubscribe(cent.UnsubscribeRequest(user=user, channel=channel))
    ctx = await next_event(sub_events.unsubscribed)
    assert (ctx.code, ctx.reason) == (2000, "server unsubscribe")


async def test_disconnect_with_custom_code(live: Live, acent: cent.AsyncClient) -> None:
    user = name("user")
    _, events, _ = await live.connect(user)
    _, kept_events, kept_id = await live.connect(user)
    await acent.disconnect(
        cent.DisconnectRequest(
            user=user, disconnect=cent.Disconnect(code=4500, reason="bye"), whitelist=[kept_id]
        )
    )
    ctx = await next_event(events.disconnected)
    assert (ctx.code, ctx.reason) == (4500, "bye")
    assert kept_events.disconnected.empty()


async def test_disconnect_default_code(live: Live, api_server: RunningServer) -> None:
    user = name("user")
    _, events, _ = await live.connect(user)
    with sync_client(api_server) as api:
        await asyncio.to_thread(api.disconnect, cent.DisconnectRequest(user=user))
    ctx = await next_event(events.disconnected)
    assert (ctx.code, ctx.reason) == (3503, "force disconnect")


async def test_refresh_expired(live: Live, acent: cent.AsyncClient) -> None:
    """refresh expired=true closes with 3005; the SDK reconnects (its token is still valid)."""
    user = name("user")
    _, events, _ = await live.connect(user)
    await acent.refresh(cent.RefreshRequest(user=user, expired=True))
    ctx = await next_event(events.connecting)
    assert (ctx.code, ctx.reason) == (3005, "connection expired")
    await next_event(events.connected)


async def test_channels_and_info(live: Live, acent: cent.AsyncClient) -> None:
    prefix = name("chans")
    client, _, _ = await live.connect(name("user"))
    for suffix in ("a", "b", "long-c"):
        await live.subscribe(client, f"{prefix}-{suffix}")
    result = await acent.channels(cent.ChannelsRequest(pattern=f"{prefix}-?"))
    assert sorted(result.channels) == [f"{prefix}-a", f"{prefix}-b"]
    assert result.channels[f"{prefix}-a"].num_clients == 1
    everything = await acent.channels(cent.ChannelsRequest())
    assert f"{prefix}-long-c" in everything.channels
    none = await acent.channels(cent.ChannelsRequest(pattern="nothing-matches-*"))
    assert none.channels == {}
    with pytest.raises(cent.CentApiResponseError) as info:
        await acent.channels(cent.ChannelsRequest(pattern="[unclosed"))
    assert info.value.code == 100
    nodes = (await acent.info(cent.InfoRequest())).nodes
    assert len(nodes) == 1
    node = nodes[0]
    assert node.uid and node.name and node.version
    assert node.num_clients >= 1 and node.num_subs >= 3 and node.num_channels >= 3
    assert node.metrics is None


def test_rpc_not_found(api_server: RunningServer) -> None:
    body = http_json(api_server, "/api/rpc", {"method": "anything", "params": {"a": 1}})
    assert body == {"error": {"code": 104, "message": "not found"}}
    body = http_json(api_server, "/api/rpc", {})
    assert body == {"error": {"code": 107, "message": "bad request"}}


# --------------------------------------------------------------------------- batch


@pytest.mark.parametrize("parallel", [False, True])
async def test_batch_with_cent(acent: cent.AsyncClient, parallel: bool) -> None:
    channel = name()
    result = await acent.batch(
        cent.BatchRequest(
            requests=[
                cent.PublishRequest(channel=channel, data={"n": 1}),
                cent.PublishRequest(channel=channel, data={"n": 2}),
                cent.HistoryRequest(channel=channel, limit=-1),
                cent.InfoRequest(),
            ],
            parallel=parallel,
        )
    )
    publish_1, publish_2, history, info = result.replies
    assert {publish_1.offset, publish_2.offset} == {1, 2}  # type: ignore[attr-defined]
    if not parallel:
        assert [p.offset for p in history.publications] == [1, 2]  # type: ignore[attr-defined]
    assert len(info.nodes) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("parallel", [False, True])
def test_batch_mixed_errors(api_server: RunningServer, parallel: bool) -> None:
    channel = name()
    body = http_json(
        api_server,
        "/api/batch",
        {
            "commands": [
                {"publish": {"channel": channel, "data": {"x": 1}}},
                {"presence_stats": {"channel": "unknown:x"}},
                None,
                {"connections": {"user": "u"}},
                {"rpc": {"method": "m"}},
                {"presence_stats": {"channel": channel}},
            ],
            "parallel": parallel,
        },
    )
    replies = body["replies"]
    assert replies[0]["publish"]["offset"] == 1
    assert replies[1:5] == [
        {"error": {"code": 102, "message": "unknown channel"}},
        {"error": {"code": 107, "message": "bad request"}},
        {"error": {"code": 104, "message": "not found"}},
        {"error": {"code": 104, "message": "not found"}},
    ]
    assert replies[5] == {"presence_stats": {"num_clients": 0, "num_users": 0}}
    assert "result" not in body


# --------------------------------------------------------------------------- raw HTTP


def test_raw_http_errors(api_server: RunningServer) -> None:
    status, headers, body = http(api_server, "/api/publish", b'{"channel": "x", "data": ')
    assert status == 400 and body.startswith(b"Bad Request: invalid JSON")
    assert headers["Content-Type"].startswith("text/plain")
    status, _, body = http(api_server, "/api/history", b'{"channel":"x","limit":"10"}')
    assert (status, body) == (400, b"Bad Request: limit: expected an integer (int32), got string")
    status, _, body = http(api_server, "/api/publish", b'{"channel":"x","tags":{"a":1}}')
    assert (status, body) == (400, b"Bad Request: tags.a: expected a string, got number")
    status, _, body = http(api_server, "/api/info", b"")
    assert (status, body) == (400, b"Bad Request: empty body")
    status, _, body = http(api_server, "/api/info", b"[1]")
    assert (status, body) == (400, b"Bad Request: body: expected an object, got array")
    status, _, _ = http(api_server, "/api/connections", b"{}")
    assert status == 404
    status, _, _ = http(api_server, "/api/map_publish", b"{}")
    assert status == 404
    # 405 comes before the API key check, with an empty body.
    status, headers, body = http(api_server, "/api/publish", None, method="GET", key=None)
    assert (status, body, headers.get("Allow")) == (405, b"", "POST")
    status, _, body = http(api_server, "/api/publish", b"{}", key=None)
    assert (status, body) == (401, b"")


def test_other_key_sources(api_server: RunningServer) -> None:
    key = api_server.api_key
    status, _, _ = http(
        api_server, "/api/info", key=None, headers={"Authorization": f"apikey {key}"}
    )
    assert status == 200
    status, _, _ = http(api_server, f"/api/info?api_key={key}", key="wrong")
    assert status == 200
    status, _, _ = http(
        api_server, "/api/info", key=None, headers={"Authorization": f"bearer {key}"}
    )
    assert status == 401


def test_transport_error_mode_header(api_server: RunningServer) -> None:
    headers = {"X-Centrifugo-Error-Mode": "transport"}
    status, _, body = http(
        api_server, "/api/publish", b'{"channel":"unknown:x","data":1}', headers=headers
    )
    assert (status, json.loads(body)) == (404, {"code": 102, "message": "unknown channel"})
    status, _, body = http(api_server, "/api/info", b"{}", headers=headers)
    assert status == 200 and "result" in json.loads(body)


def test_legacy_endpoint(api_server: RunningServer) -> None:
    channel = name()
    body = (
        json.dumps({"id": 1, "method": "publish", "params": {"channel": channel, "data": {"a": 1}}})
        + "\n"
        + json.dumps({"id": 2, "method": "presence_stats", "params": {"channel": channel}})
        + json.dumps({"method": "connections", "params": {}})
    ).encode()
    status, headers, reply = http(api_server, "/api", body)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    lines = [json.loads(line) for line in reply.split(b"\n")]
    assert lines[0]["id"] == 1 and lines[0]["result"]["offset"] == 1
    assert lines[1] == {"id": 2, "result": {"num_clients": 0, "num_users": 0}}
    assert lines[2] == {"error": {"code": 104, "message": "not found"}}
    status, _, _ = http(api_server, "/api", b"")
    assert status == 400
    status, _, _ = http(api_server, "/api", b'{"method":"publish"} {')
    assert status == 400
    # Errors stay in the reply lines even when transport mode is asked for.
    status, _, reply = http(
        api_server,
        "/api",
        b'{"method":"publish","params":{"channel":"unknown:x","data":1}}',
        headers={"X-Centrifugo-Error-Mode": "transport"},
    )
    assert (status, json.loads(reply)) == (
        200,
        {"error": {"code": 102, "message": "unknown channel"}},
    )


def test_openapi_served(api_server: RunningServer) -> None:
    status, _, body = http(api_server, "/api/openapi.json", None, method="GET", key=None)
    assert status == 200
    document = json.loads(body)
    assert document["openapi"] == "3.1.0"
    assert "/api/publish" in document["paths"] and "/api" in document["paths"]


def test_readme_curl_example(api_server: RunningServer, pytestconfig: pytest.Config) -> None:
    """The README's curl line, with the test key and port, publishes."""
    if shutil.which("curl") is None:
        skip_or_fail("curl is not installed")
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"(curl -s -H 'X-API-Key: KEY'.*?/api/publish)", readme, re.DOTALL)
    assert match, "README lost its curl example"
    command = match.group(1).replace("\\\n", " ")
    command = command.replace("KEY", api_server.api_key).replace(
        "127.0.0.1:8000", f"127.0.0.1:{api_server.port}"
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, check=True, timeout=10)
    result = json.loads(done.stdout)["result"]
    assert result["offset"] == 1 and result["epoch"]


# --------------------------------------------------------------------------- other configs


def test_no_key_configured_refuses_everything(server_factory: ServerFactory) -> None:
    with server_factory({"http_api": {"key": ""}}) as srv:
        for path in ("/api/info", "/api", "/api/publish"):
            status, _, body = http(srv, path, b"{}", key="")
            assert (status, body) == (401, b"")
            status, _, _ = http(srv, path, b"{}", key="anything")
            assert status == 401
        status, _, _ = http(srv, "/api/info", None, method="GET", key=None)
        assert status == 405


def test_insecure_transport_mode_and_body_limit(server_factory: ServerFactory) -> None:
    overrides = {
        "http_api": {
            "key": "",
            "insecure": True,
            "error_mode": "transport",
            "max_request_body_size": 1024,
        }
    }
    with server_factory(overrides) as srv:
        status, _, body = http(srv, "/api/info", b"{}", key=None)
        assert status == 200 and json.loads(body)["result"]["nodes"]

        def error(path: str, params: Any) -> tuple[int, Any]:
            status, _, body = http(srv, path, json.dumps(params).encode(), key=None)
            return status, json.loads(body)

        assert error("/api/publish", {"channel": "unknown:x", "data": 1}) == (
            404,
            {"code": 102, "message": "unknown channel"},
        )
        assert error("/api/publish", {"channel": "", "data": 1}) == (
            400,
            {"code": 107, "message": "bad request"},
        )
        assert error("/api/presence", {"channel": "secret:x"})[0] == 400  # 108
        assert error("/api/rpc", {"method": "m"})[0] == 404
        assert error("/api/channels", {"pattern": "{"})[0] == 500
        channel = name()
        assert error("/api/publish", {"channel": channel, "data": 1})[0] == 200
        assert error("/api/history", {"channel": channel, "since": {"epoch": "zz"}}) == (
            416,
            {"code": 112, "message": "unrecoverable position"},
        )
        # Not applied to per-channel broadcast errors, batch, or the legacy route.
        status, body = error("/api/broadcast", {"channels": ["unknown:x"], "data": 1})
        assert status == 200 and body["result"]["responses"][0]["error"]["code"] == 102
        status, body = error("/api/batch", {"commands": [{"rpc": {"method": "m"}}]})
        assert status == 200 and body["replies"][0]["error"]["code"] == 104
        status, _, reply = http(srv, "/api", b'{"method":"rpc","params":{"method":"m"}}', key=None)
        assert status == 200 and json.loads(reply)["error"]["code"] == 104
        # The body limit.
        status, _, body = http(srv, "/api/publish", b'{"data":"' + b"x" * 2000 + b'"}', key=None)
        assert status == 413 and b"1024" in body
        status, _, _ = http(srv, "/api", b" " * 1025, key=None)
        assert status == 413
