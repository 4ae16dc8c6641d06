"""The real centrifuge-js 5.x (JSON and Protobuf builds) against a real Whirlwind process.

Each client is ``node js/runner.mjs`` (one centrifuge-js ``Centrifuge`` over the ``ws``
package): the test sends it steps as JSON lines on stdin and awaits the SDK events it prints
as JSON lines on stdout (see the header of ``runner.mjs``). Nothing sleeps for
synchronisation: every wait is an awaited event under a timeout. ``install.sh`` in ``js/``
installs the pinned npm packages; without node or them the tests skip (fail in CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from harness import deep_merge, default_config, run_server, skip_or_fail

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
RUNNER = JS_DIR / "runner.mjs"
PROTOCOLS = ("json", "protobuf")
EVENT_TIMEOUT = 10.0
"""Seconds to await one SDK event; generous, a passing test waits milliseconds."""

protocol_param = pytest.mark.parametrize("protocol", PROTOCOLS)


def unique(prefix: str) -> str:
    """A channel name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# ---- the node client ---------------------------------------------------------------------


def matches(actual: Any, expected: Any) -> bool:
    """Equality, except that an expected dict only constrains the keys it names."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(actual[key], value) for key, value in expected.items()
        )
    return bool(actual == expected)


class NodeClient:
    """One ``runner.mjs`` process: steps in on stdin, SDK events out on stdout."""

    def __init__(self, process: asyncio.subprocess.Process, label: str) -> None:
        self.process = process
        self.label = label
        self.events: list[dict[str, Any]] = []
        """Every event so far, in order."""
        self._unread: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._eof = False
        self._refs = itertools.count(1)
        self._stderr = b""
        self._reader = asyncio.create_task(self._read())
        self._stderr_reader = asyncio.create_task(self._read_stderr())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            event = json.loads(line)
            self.events.append(event)
            self._unread.append(event)
            self._changed.set()
        self._eof = True
        self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr += chunk

    def step(self, op: str, **fields: Any) -> int:
        """Send one step; returns its ``ref``."""
        ref = next(self._refs)
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, "ref": ref, **fields}).encode() + b"\n")
        return ref

    async def expect(
        self, event: str | tuple[str, ...], *, timeout: float = EVENT_TIMEOUT, **match: Any
    ) -> dict[str, Any]:
        """Consume the first unread event named ``event`` that :func:`matches` ``match``."""
        names = (event,) if isinstance(event, str) else event
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, candidate in enumerate(self._unread):
                if candidate["event"] in names and matches(candidate, match):
                    del self._unread[index]
                    return candidate
            if self._eof:
                raise AssertionError(f"{self.label} exited before {names} {match}\n{self.dump()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(
                    f"{self.label}: no {names} {match} within {timeout}s\n{self.dump()}"
                ) from None

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Run a call step; return its ``result`` or ``call_error`` event."""
        ref = self.step(op, **fields)
        return await self.expect(("result", "call_error"), ref=ref)

    async def result(self, op: str, **fields: Any) -> Any:
        """Run a call step that must succeed; return the SDK's result."""
        event = await self.call(op, **fields)
        assert event["event"] == "result", f"{op} failed: {event}\n{self.dump()}"
        return event["result"]

    async def error(self, op: str, **fields: Any) -> dict[str, Any]:
        """Run a call step that must fail; return the SDK's error."""
        event = await self.call(op, **fields)
        assert event["event"] == "call_error", f"{op} succeeded: {event}\n{self.dump()}"
        error: dict[str, Any] = event["error"]
        return error

    def seen(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Every event so far (read or not) named ``event`` that :func:`matches` ``match``."""
        return [e for e in self.events if e["event"] == event and matches(e, match)]

    def dump(self, last: int = 60) -> str:
        """The last events and stderr, for assertion messages."""
        lines = [json.dumps(e)[:600] for e in self.events[-last:]]
        stderr = self._stderr.decode(errors="replace")
        return "\n".join([f"--- {self.label} events:", *lines, f"--- stderr:\n{stderr}"])

    async def close(self) -> None:
        """Ask the runner to exit; kill it if it does not within a few seconds."""
        if self.process.returncode is None and self.process.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self.step("exit")
                self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        await self._reader
        await self._stderr_reader


StartClient = Callable[..., Awaitable[NodeClient]]


@pytest.fixture(scope="session")
def node_modules(pytestconfig: pytest.Config) -> Path:
    """The ``node`` binary, once ``js/node_modules`` holds centrifuge and ws."""
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed")
    for package in ("centrifuge", "ws"):
        if not (JS_DIR / "node_modules" / package / "package.json").is_file():
            skip_or_fail(f"npm package {package} missing: run tests/integration/js/install.sh")
    return Path(str(node))


@pytest.fixture
async def js(node_modules: Path) -> AsyncIterator[StartClient]:
    """Start centrifuge-js clients; every one is stopped (and checked) afterwards."""
    clients: list[NodeClient] = []

    async def start(
        server: Any,
        protocol: str,
        *,
        steps: tuple[dict[str, Any], ...] = ({"op": "connect"},),
        label: str = "",
        **scenario: Any,
    ) -> NodeClient:
        body = {
            "url": server.ws_url,
            "protocol": protocol,
            "trace": True,
            "deadline_ms": 45_000,
            "steps": list(steps),
            **scenario,
        }
        process = await asyncio.create_subprocess_exec(
            str(node_modules),
            str(RUNNER),
            json.dumps(body),
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=4 * 1024 * 1024,
        )
        client = NodeClient(process, label or f"js-{protocol}-{len(clients)}")
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for client in clients:
        errors = client.seen("runner_error") + client.seen("runner_timeout")
        assert not errors, client.dump()


async def api(server: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call the server HTTP API without blocking the loop; fail on an API error."""
    reply: dict[str, Any] = await asyncio.to_thread(server.api, method, params)
    assert "error" not in reply, reply
    return reply


# ---- servers with other configs (one per module, shared by both protocols) ---------------


@contextlib.contextmanager
def _server(
    config: pytest.Config, factory: pytest.TempPathFactory, name: str, overrides: dict[str, Any]
) -> Iterator[Any]:
    merged = deep_merge(default_config(), overrides)
    with run_server(factory.mktemp(name), merged) as running:
        yield running


@pytest.fixture(scope="module")
def rsa_private_key() -> rsa.RSAPrivateKey:
    """The key signing RS256 connection tokens; ``rsa_server`` knows its public half."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_server(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    rsa_private_key: rsa.RSAPrivateKey,
) -> Iterator[Any]:
    """A server verifying RS256 tokens with ``client.token.rsa_public_key`` (and HS256)."""
    pem = (
        rsa_private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    overrides = {"client": {"token": {"rsa_public_key": pem}}}
    with _server(pytestconfig, tmp_path_factory, "rsa", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def anonymous_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A server accepting connections without a token as anonymous."""
    overrides = {"client": {"allow_anonymous_connect_without_token": True}}
    with _server(pytestconfig, tmp_path_factory, "anonymous", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def refresh_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A server closing expired connections and subscriptions 1 s after expiry."""
    overrides = {"client": {"expired_close_delay": "1s", "expired_sub_close_delay": "1s"}}
    with _server(pytestconfig, tmp_path_factory, "refresh", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def ping_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A server pinging every second and wanting a pong within half a second."""
    overrides = {"client": {"ping_interval": "1s", "pong_timeout": "0.5s"}}
    with _server(pytestconfig, tmp_path_factory, "ping", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def full_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A server admitting one open connection (``client.connection_limit``)."""
    overrides = {"client": {"connection_limit": 1}}
    with _server(pytestconfig, tmp_path_factory, "full", overrides) as running:
        yield running


async def roundtrip(client: NodeClient) -> None:
    """A command and its reply: the connection works (``public`` allows client publish)."""
    assert await client.result("publish", channel=unique("public:alive-"), data={}) == {}


def lines_in(client: NodeClient) -> list[str]:
    """Every JSON message the client received (frames split at newlines)."""
    return [line for f in client.seen("frame_in") for line in f["text"].split("\n")]


def assert_no_reconnect(client: NodeClient) -> None:
    """The client connected once and never lost the connection."""
    assert len(client.seen("connected")) == 1, client.dump()
    assert len(client.seen("connecting")) == 1, client.dump()  # the initial "connect called"
    assert not client.seen("disconnected"), client.dump()


# ---- connection and authentication -------------------------------------------------------


@protocol_param
async def test_connect_with_hs256_token(server: Any, js: StartClient, protocol: str) -> None:
    client = await js(server, protocol, token=server.token("42"))
    connected = await client.expect("connected")
    assert connected["transport"] == "websocket"
    assert re.fullmatch(r"[0-9a-f-]{36}", connected["client"]), connected
    upgraded = client.seen("ws_upgraded")[0]
    expected = "centrifuge-protobuf" if protocol == "protobuf" else None
    assert upgraded["subprotocol"] == expected
    await roundtrip(client)
    assert_no_reconnect(client)


@protocol_param
async def test_connect_with_rs256_token(
    rsa_server: Any, rsa_private_key: rsa.RSAPrivateKey, js: StartClient, protocol: str
) -> None:
    token = jwt.encode(
        {"sub": "42", "exp": int(time.time()) + 600}, rsa_private_key, algorithm="RS256"
    )
    client = await js(rsa_server, protocol, token=token, label=f"rs256-{protocol}")
    await client.expect("connected")

    client.step("subscribe", channel="personal:#42")  # user-limited: only user 42 may join
    await client.expect("subscribed", channel="personal:#42")

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"sub": "42"}, other_key, algorithm="RS256")
    intruder = await js(rsa_server, protocol, token=forged, label=f"rs256-forged-{protocol}")
    disconnected = await intruder.expect("disconnected")
    assert disconnected["code"] == 3500, intruder.dump()


@protocol_param
async def test_anonymous_connect_without_token(
    anonymous_server: Any, js: StartClient, protocol: str
) -> None:
    channel = unique("public:anon-")
    closed = unique("members-")
    client = await js(
        anonymous_server,
        protocol,
        steps=(
            {"op": "subscribe", "channel": channel},
            {"op": "subscribe", "channel": closed},
            {"op": "connect"},
        ),
    )
    await client.expect("connected")
    subscribed = await client.expect("subscribed", channel=channel)
    # `public` keeps no history: the subscription is neither recoverable nor positioned.
    assert (subscribed["recoverable"], subscribed["positioned"]) == (False, False)
    assert "streamPosition" not in subscribed
    # Anonymous users need allow_subscribe_for_anonymous, which only `public` grants.
    refused = await client.expect("unsubscribed", channel=closed)
    assert (refused["code"], refused["reason"]) == (103, "permission denied")

    await api(anonymous_server, "publish", {"channel": channel, "data": {"hello": "anon"}})
    publication = await client.expect("publication", channel=channel)
    assert publication["data"] == {"hello": "anon"}

    # public allows anonymous publish: the publication shows an empty user.
    assert await client.result("publish", channel=channel, data={"from": "anon"}) == {}
    own = await client.expect("publication", channel=channel)
    assert own["data"] == {"from": "anon"}
    assert own["info"]["user"] == ""


async def test_connect_without_credentials_is_refused(server: Any, js: StartClient) -> None:
    client = await js(server, "json")
    disconnected = await client.expect("disconnected")
    assert disconnected["code"] == 3501, client.dump()


@protocol_param
async def test_gentoken_output_is_accepted(
    server: Any, js: StartClient, protocol: str, tmp_path: Path
) -> None:
    config_path = tmp_path / "c.json"
    config_path.write_text(json.dumps(server.config))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whirlwind",
        "gentoken",
        "-u",
        "42",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    found = re.findall(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", stdout.decode())
    assert len(found) == 1, stdout.decode()
    token = found[0]
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "42"

    client = await js(
        server,
        protocol,
        token=token,
        steps=(
            {"op": "subscribe", "channel": "personal:#42"},
            {"op": "connect"},
        ),
    )
    await client.expect("connected")
    await client.expect("subscribed", channel="personal:#42")


@protocol_param
async def test_expired_token_gets_109_then_get_token(
    server: Any, js: StartClient, protocol: str
) -> None:
    client = await js(
        server,
        protocol,
        token=server.token("42", ttl=-30),
        tokens=[server.token("42")],
        options={"minReconnectDelay": 50, "maxReconnectDelay": 300},
    )
    error = await client.expect("error", source="client")
    assert error["type"] == "connect", client.dump()
    assert error["error"]["code"] == 109, client.dump()
    get_token = await client.expect("get_token")
    connected = await client.expect("connected")
    assert error["seq"] < get_token["seq"] < connected["seq"]
    assert not client.seen("disconnected"), client.dump()


@protocol_param
async def test_token_refresh_keeps_connection(
    refresh_server: Any, js: StartClient, protocol: str
) -> None:
    """With ``expired_close_delay`` 1 s, a client whose getToken answers stays connected
    past ``exp + 1 s``; a control client whose getToken never answers is closed with 3005."""
    exp = int(time.time()) + 2
    channel = unique("refresh-")
    refreshing = await js(
        refresh_server,
        protocol,
        token=refresh_server.token("42", exp=exp),
        tokens=[refresh_server.token("42", ttl=600)],
        steps=({"op": "subscribe", "channel": channel}, {"op": "connect"}),
        label=f"refreshing-{protocol}",
    )
    stalled = await js(
        refresh_server,
        protocol,
        token=refresh_server.token("43", exp=exp),
        tokens=[],  # getToken waits forever: the SDK never sends refresh
        label=f"stalled-{protocol}",
    )
    await refreshing.expect("subscribed", channel=channel)
    await stalled.expect("connected")

    await refreshing.expect("get_token", timeout=6)
    # The control client is closed at exp + expired_close_delay: that is our clock.
    expired = await stalled.expect("connecting", code=3005, timeout=8)
    assert expired["reason"] == "connection expired"
    assert time.time() >= exp + 1 - 0.2

    assert_no_reconnect(refreshing)
    await api(refresh_server, "publish", {"channel": channel, "data": {"after": "expiry"}})
    publication = await refreshing.expect("publication", channel=channel)
    assert publication["data"] == {"after": "expiry"}
    assert_no_reconnect(refreshing)
    if protocol == "json":
        replies = [json.loads(line) for line in lines_in(refreshing) if '"refresh"' in line]
        assert len(replies) == 1 and replies[0]["refresh"]["expires"] is True, replies
        assert 590 <= replies[0]["refresh"]["ttl"] <= 600


@protocol_param
async def test_subscription_token_refresh_keeps_subscription(
    refresh_server: Any, js: StartClient, protocol: str
) -> None:
    """With ``expired_sub_close_delay`` 1 s, a subscription whose getToken answers stays
    subscribed past ``exp + 1 s``; one whose getToken never answers gets unsubscribe 2501."""
    exp = int(time.time()) + 2
    kept = unique("$refresh-")
    stalled = unique("$stalled-")
    client = await js(
        refresh_server,
        protocol,
        token=refresh_server.token("42"),
        steps=(
            {
                "op": "subscribe",
                "channel": kept,
                "token": refresh_server.sub_token("42", kept, exp=exp),
                "tokens": [refresh_server.sub_token("42", kept, ttl=600)],
            },
            {
                "op": "subscribe",
                "channel": stalled,
                "token": refresh_server.sub_token("42", stalled, exp=exp),
                "tokens": [],  # getToken waits forever: the SDK never sends sub_refresh
            },
            {"op": "connect"},
        ),
    )
    await client.expect("subscribed", channel=kept)
    await client.expect("subscribed", channel=stalled)
    await client.expect("get_token", channel=kept, timeout=6)
    expired = await client.expect("subscribing", channel=stalled, code=2501, timeout=8)
    assert expired["reason"] == "subscription expired"

    assert len(client.seen("subscribing", channel=kept)) == 1, client.dump()  # the initial one
    assert not client.seen("unsubscribed", channel=kept), client.dump()
    await api(refresh_server, "publish", {"channel": kept, "data": {"still": "here"}})
    publication = await client.expect("publication", channel=kept)
    assert publication["data"] == {"still": "here"}
    assert_no_reconnect(client)
    if protocol == "json":
        replies = [json.loads(line) for line in lines_in(client) if '"sub_refresh"' in line]
        assert len(replies) == 1 and replies[0]["sub_refresh"]["expires"] is True, replies
        assert 590 <= replies[0]["sub_refresh"]["ttl"] <= 600


# ---- channels ----------------------------------------------------------------------------


@protocol_param
async def test_subscribe_and_receive_api_publications_in_order(
    server: Any, js: StartClient, protocol: str
) -> None:
    channel = unique("news-")
    client = await js(
        server,
        protocol,
        token=server.token("42"),
        steps=({"op": "subscribe", "channel": channel}, {"op": "connect"}),
    )
    subscribed = await client.expect("subscribed", channel=channel)
    # without_namespace has history and force_recovery: the subscription is positioned.
    assert subscribed["recoverable"] is True
    assert subscribed["positioned"] is True
    assert subscribed["wasRecovering"] is False
    position = subscribed["streamPosition"]
    assert position["offset"] == 0 and position["epoch"]

    for n in range(5):
        await api(server, "publish", {"channel": channel, "data": {"n": n}})
    received = [await client.expect("publication", channel=channel) for _ in range(5)]
    assert [p["data"] for p in received] == [{"n": n} for n in range(5)]
    assert [p["offset"] for p in received] == [1, 2, 3, 4, 5]
    assert {p["data_type"] for p in received} == {"bytes" if protocol == "protobuf" else "json"}
    assert all("info" not in p for p in received)  # API publications have no publisher


@pytest.mark.parametrize(
    ("protocol", "other_protocol"),
    [("json", "json"), ("protobuf", "protobuf"), ("json", "protobuf")],
)
async def test_client_publish_reaches_other_client(
    server: Any, js: StartClient, protocol: str, other_protocol: str
) -> None:
    channel = unique("chat-")
    listener = await js(
        server,
        protocol,
        token=server.token("42", info={"name": "Alice"}),
        steps=(
            {"op": "subscribe", "channel": channel, "options": {"joinLeave": True}},
            {"op": "connect"},
        ),
        label="listener",
    )
    await listener.expect("subscribed", channel=channel)
    publisher = await js(
        server,
        other_protocol,
        token=server.token("43", info={"name": "Bob"}),
        steps=({"op": "subscribe", "channel": channel}, {"op": "connect"}),
        label="publisher",
    )
    publisher_id = (await publisher.expect("connected"))["client"]
    await publisher.expect("subscribed", channel=channel)

    join = await listener.expect("join", channel=channel, info={"user": "43"})
    assert join["info"]["client"] == publisher_id
    assert join["info"]["connInfo"] == {"name": "Bob"}

    assert await publisher.result("publish", channel=channel, data={"text": "hi"}) == {}
    publication = await listener.expect("publication", channel=channel)
    assert publication["data"] == {"text": "hi"}
    assert publication["info"]["user"] == "43"
    assert publication["info"]["client"] == publisher_id
    assert publication["info"]["connInfo"] == {"name": "Bob"}
    own = await publisher.expect("publication", channel=channel)
    assert own["data"] == {"text": "hi"} and own["offset"] == publication["offset"]

    await publisher.close()
    leave = await listener.expect("leave", channel=channel)
    assert leave["info"]["user"] == "43" and leave["info"]["client"] == publisher_id


@protocol_param
async def test_unsubscribe(server: Any, js: StartClient, protocol: str) -> None:
    gone = unique("gone-")
    kept = unique("kept-")
    client = await js(
        server,
        protocol,
        token=server.token("42"),
        steps=(
            {"op": "subscribe", "channel": gone},
            {"op": "subscribe", "channel": kept},
            {"op": "connect"},
        ),
    )
    await client.expect("connected")
    await client.expect("subscribed", channel=gone)
    await client.expect("subscribed", channel=kept)

    client.step("unsubscribe", channel=gone)
    unsubscribed = await client.expect("unsubscribed", channel=gone)
    assert (unsubscribed["code"], unsubscribed["reason"]) == (0, "unsubscribe called")
    # A later command's reply proves the server handled the unsubscribe frame before it.
    stats = await client.result("presence_stats", channel=kept)
    assert stats == {"numClients": 1, "numUsers": 1}

    await api(server, "publish", {"channel": gone, "data": {"lost": True}})
    await api(server, "publish", {"channel": kept, "data": {"marker": True}})
    marker = await client.expect("publication", channel=kept)
    assert marker["data"] == {"marker": True}
    assert not client.seen("publication", channel=gone), client.dump()

    # Subscribing the same Subscription again recovers from its last position (offset 0,
    # omitted by the SDK): the publication missed while unsubscribed is delivered.
    client.step("subscribe", channel=gone)
    again = await client.expect("subscribed", channel=gone)
    assert (again["wasRecovering"], again["recovered"]) == (True, True), client.dump()
    recovered = await client.expect("publication", channel=gone)
    assert (recovered["data"], recovered["offset"]) == ({"lost": True}, 1)


@protocol_param
async def test_presence_and_presence_stats(server: Any, js: StartClient, protocol: str) -> None:
    channel = unique("room-")
    steps = ({"op": "subscribe", "channel": channel}, {"op": "connect"})
    alice = await js(server, protocol, token=server.token("42"), steps=steps, label="alice")
    bob = await js(server, protocol, token=server.token("43"), steps=steps, label="bob")
    alice_id = (await alice.expect("connected"))["client"]
    bob_id = (await bob.expect("connected"))["client"]
    await alice.expect("subscribed", channel=channel)
    await bob.expect("subscribed", channel=channel)

    presence = await alice.result("presence", channel=channel)
    clients = presence["clients"]
    assert set(clients) == {alice_id, bob_id}
    assert clients[alice_id]["user"] == "42" and clients[alice_id]["client"] == alice_id
    assert clients[bob_id]["user"] == "43" and clients[bob_id]["client"] == bob_id

    stats = await bob.result("presence_stats", channel=channel)
    assert stats == {"numClients": 2, "numUsers": 2}

    # presence needs allow_presence_for_subscriber: a channel not subscribed is refused.
    refused = await alice.error("presence", channel=unique("elsewhere-"))
    assert refused["code"] == 103


@protocol_param
async def test_history(server: Any, js: StartClient, protocol: str) -> None:
    channel = unique("history-")
    client = await js(
        server,
        protocol,
        token=server.token("42"),
        steps=({"op": "subscribe", "channel": channel}, {"op": "connect"}),
    )
    epoch = (await client.expect("subscribed", channel=channel))["streamPosition"]["epoch"]
    for n in range(1, 4):
        await api(server, "publish", {"channel": channel, "data": {"n": n}})
    for _ in range(3):
        await client.expect("publication", channel=channel)

    everything = await client.result("history", channel=channel, options={"limit": -1})
    assert (everything["epoch"], everything["offset"]) == (epoch, 3)
    assert [p["data"] for p in everything["publications"]] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [p["offset"] for p in everything["publications"]] == [1, 2, 3]

    newest = await client.result("history", channel=channel, options={"limit": 2, "reverse": True})
    assert [p["offset"] for p in newest["publications"]] == [3, 2]

    since = await client.result(
        "history",
        channel=channel,
        options={"limit": 10, "since": {"offset": 1, "epoch": epoch}},
    )
    assert [p["offset"] for p in since["publications"]] == [2, 3]

    position_only = await client.result("history", channel=channel)
    assert position_only == {"publications": [], "epoch": epoch, "offset": 3}

    wrong_epoch = await client.error(
        "history", channel=channel, options={"limit": 10, "since": {"offset": 1, "epoch": "x"}}
    )
    assert wrong_epoch["code"] == 112
    refused = await client.error("history", channel=unique("elsewhere-"), options={"limit": 1})
    assert refused["code"] == 103


@protocol_param
async def test_rpc_without_handler_is_not_available(
    server: Any, js: StartClient, protocol: str
) -> None:
    client = await js(server, protocol, token=server.token("42"))
    await client.expect("connected")
    error = await client.error("rpc", method="getUser", data={"id": 1})
    assert error == {"code": 108, "message": "not available", "temporary": False}
    # The error is a reply, not a disconnect: the connection keeps working.
    await roundtrip(client)
    assert_no_reconnect(client)


@protocol_param
async def test_subscription_token_for_private_channel(
    server: Any, js: StartClient, protocol: str
) -> None:
    with_token = unique("$private-")
    with_get_token = unique("$private-")
    without_token = unique("$private-")
    client = await js(
        server,
        protocol,
        token=server.token("42"),
        steps=(
            {
                "op": "subscribe",
                "channel": with_token,
                "token": server.sub_token("42", with_token, data={"greeting": "welcome"}),
            },
            {
                "op": "subscribe",
                "channel": with_get_token,
                "tokens": [server.sub_token("42", with_get_token)],
            },
            {"op": "subscribe", "channel": without_token},
            {"op": "connect"},
        ),
    )
    subscribed = await client.expect("subscribed", channel=with_token)
    assert subscribed["data"] == {"greeting": "welcome"}, client.dump()
    await client.expect("get_token", channel=with_get_token)
    await client.expect("subscribed", channel=with_get_token)
    refused = await client.expect("unsubscribed", channel=without_token)
    assert (refused["code"], refused["reason"]) == (103, "permission denied")

    await api(server, "publish", {"channel": with_token, "data": {"private": 1}})
    publication = await client.expect("publication", channel=with_token)
    assert publication["data"] == {"private": 1}


@protocol_param
async def test_user_limited_channels(server: Any, js: StartClient, protocol: str) -> None:
    allowed = ["personal:#42", "personal:dialog#42,43"]
    refused = ["personal:#43", "personal:dialog#43,44"]
    client = await js(
        server,
        protocol,
        token=server.token("42"),
        steps=(
            *({"op": "subscribe", "channel": channel} for channel in allowed + refused),
            {"op": "connect"},
        ),
    )
    for channel in allowed:
        await client.expect("subscribed", channel=channel)
    for channel in refused:
        event = await client.expect("unsubscribed", channel=channel)
        assert (event["code"], event["reason"]) == (103, "permission denied"), channel


# ---- keepalive ---------------------------------------------------------------------------


@protocol_param
async def test_ping_pong_keeps_connection(ping_server: Any, js: StartClient, protocol: str) -> None:
    # maxServerPingDelay 500 ms: the SDK reconnects ("no ping") if a ping is over 1.5 s late;
    # the server closes with 3012 if a pong is over 0.5 s late.
    client = await js(
        ping_server, protocol, token=ping_server.token("42"), options={"maxServerPingDelay": 500}
    )
    await client.expect("connected")
    for _ in range(3):
        await client.expect("server_ping", timeout=3)
        await client.expect("client_pong", timeout=1)
    if protocol == "json":
        reply = next(json.loads(line) for line in lines_in(client) if '"connect"' in line)
        assert (reply["connect"]["ping"], reply["connect"]["pong"]) == (1, True)
    await roundtrip(client)
    assert_no_reconnect(client)


# ---- admission at the door ---------------------------------------------------------------


async def test_a_full_node_is_retried_until_a_connection_closes(
    full_server: Any, js: StartClient
) -> None:
    """A handshake refused with 503 (``client.connection_limit`` reached; Centrifugo v6
    refuses the same way, internal/middleware/connlimit.go) is a transport failure to the
    SDK: it keeps reconnecting with backoff, and gets in once the connection holding the
    place closes. The connection that is in is not disturbed."""
    first = await js(full_server, "json", token=full_server.token("1"), label="first")
    await first.expect("connected")
    second = await js(
        full_server,
        "json",
        token=full_server.token("2"),
        label="second",
        options={"minReconnectDelay": 50, "maxReconnectDelay": 200},
    )
    for _ in range(2):  # refused, retried, refused again
        error = await second.expect("error")
        assert error["type"] == "transport", second.dump()
    assert not second.seen("connected")
    await roundtrip(first)
    first.step("disconnect")
    await first.expect("disconnected")
    await second.expect("connected")
    await roundtrip(second)
    assert len(first.seen("connected")) == 1, first.dump()
    assert "node connection limit reached (1 connections)" in full_server.log()
