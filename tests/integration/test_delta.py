"""Fossil delta compression end to end (client-protocol.md §15, channels-config.md §3).

centrifuge-js (``js/delta.mjs``, JSON and Protobuf builds) and centrifuge-python subscribe
with ``delta: "fossil"`` next to a client without delta; the test publishes 100 successive
versions of a ~20 KB JSON document through the HTTP API and checks that every client hands
the application every version exactly, and prints the bytes each client received. Raw
WebSocket tests pin the negotiation rules and the wire format (data as a JSON string).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import websockets
from centrifuge import (
    Client,
    ClientEventHandler,
    DeltaType,
    PublicationContext,
    SubscribedContext,
    SubscriptionEventHandler,
)
from harness import default_config, run_server, skip_or_fail
from websockets.asyncio.client import ClientConnection

from whirlwind.protocol import fossil

if TYPE_CHECKING:
    from harness import RunningServer

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
SCRIPT = JS_DIR / "delta.mjs"
TIMEOUT = 10.0
VERSIONS = 100

pytestmark = pytest.mark.timeout(120)

_HISTORY = {
    "allow_subscribe_for_client": True,
    "allow_history_for_subscriber": True,
    "history_size": 300,
    "history_ttl": "300s",
}
NAMESPACES = [
    {"name": "delta", **_HISTORY, "force_recovery": True, "allowed_delta_types": ["fossil"]},
    {"name": "deltapos", **_HISTORY, "force_positioning": True, "allowed_delta_types": ["fossil"]},
    {"name": "deltaplain", **_HISTORY, "allowed_delta_types": ["fossil"]},
    {
        "name": "deltanohistory",
        "allow_subscribe_for_client": True,
        "allowed_delta_types": ["fossil"],
    },
    {"name": "nodelta", **_HISTORY, "force_recovery": True},
    {
        "name": "deltapublish",
        **_HISTORY,
        "force_recovery": True,
        "allowed_delta_types": ["fossil"],
        "delta_publish": True,
    },
]


@pytest.fixture(scope="module")
def server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server with delta namespaces next to the default ones."""
    config = default_config()
    config["channel"]["namespaces"] = [*config["channel"]["namespaces"], *NAMESPACES]
    with run_server(tmp_path_factory.mktemp("delta"), config) as running:
        yield running


def unique(namespace: str) -> str:
    return f"{namespace}:{uuid.uuid4().hex[:10]}"


def documents(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` successive versions of a ~20 KB document, a few fields changed each time."""
    rng = random.Random(seed)
    doc: dict[str, Any] = {
        "title": "Inventory — café naïve ünïcödé",
        "version": 0,
        "items": [
            {
                "id": i,
                "sku": f"SKU-{i:05d}",
                "name": f"Item number {i} ({'éàü'[i % 3]})",
                "price": rng.randint(100, 99999),
                "stock": rng.randint(0, 500),
                "tags": rng.sample(["red", "green", "blue", "small", "large", "sale"], 2),
            }
            for i in range(165)
        ],
    }
    versions = []
    for n in range(1, count + 1):
        doc = json.loads(json.dumps(doc))
        doc["version"] = n
        for _ in range(3):
            item = rng.choice(doc["items"])
            item["stock"] = rng.randint(0, 500)
            item["price"] = rng.randint(100, 99999)
        if n % 10 == 0:
            doc["items"].insert(rng.randrange(len(doc["items"])), {"id": 1000 + n, "new": "ж"})
        versions.append(doc)
    return versions


def test_documents_are_about_20_kb() -> None:
    sizes = [len(json.dumps(d, ensure_ascii=False).encode()) for d in documents(VERSIONS)]
    assert min(sizes) > 18_000 and max(sizes) < 24_000


async def api(server: RunningServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = await asyncio.to_thread(server.api, method, params)
    assert "error" not in reply, reply
    return reply


async def publish_versions(
    server: RunningServer, channel: str, docs: list[dict[str, Any]], *, delta: bool = True
) -> None:
    for doc in docs:
        params: dict[str, Any] = {"channel": channel, "data": doc}
        if delta:
            params["delta"] = True
        await api(server, "publish", params)


def report(label: str, numbers: dict[str, Any]) -> None:
    """Print measured numbers (shown with ``pytest -s``, and in the final report)."""
    print(f"\n[delta] {label}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


# ---------------------------------------------------------------------------
# centrifuge-js


@pytest.fixture(scope="session")
def node(pytestconfig: pytest.Config) -> str:
    binary = shutil.which("node")
    if binary is None:
        skip_or_fail("node is not installed")
    for package in ("centrifuge", "ws"):
        if not (JS_DIR / "node_modules" / package / "package.json").is_file():
            skip_or_fail(f"npm package {package} missing: run tests/integration/js/install.sh")
    return str(binary)


class JsProbe:
    """One ``delta.mjs`` process and the JSON lines it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.events.append(json.loads(line))
            self._changed.set()
        self._changed.set()

    def seen(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["event"] == event and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, event: str, count: int = 1, **match: Any) -> list[dict[str, Any]]:
        async with asyncio.timeout(60):
            while len(self.seen(event, **match)) < count:
                if self._reader.done():
                    raise AssertionError(f"probe exited before {event} {match}: {self.tail()}")
                self._changed.clear()
                await self._changed.wait()
        return self.seen(event, **match)

    def tail(self) -> str:
        return "\n".join(json.dumps(e)[:300] for e in self.events[-20:])

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
        await self._reader


@contextlib.asynccontextmanager
async def js_probe(node: str, server: RunningServer, **scenario: Any):  # type: ignore[no-untyped-def]
    body = {"url": server.ws_url, "token": server.token("js"), "deadline_ms": 90_000, **scenario}
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        json.dumps(body),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    probe = JsProbe(process)
    try:
        yield probe
    finally:
        await probe.close()
    assert not probe.seen("error"), probe.tail()


@pytest.mark.parametrize("protocol", ["json", "protobuf"])
async def test_js_reconstructs_100_versions(
    node: str, server: RunningServer, protocol: str
) -> None:
    """Every version arrives exactly, the delta client receiving a fraction of the bytes."""
    channel = unique("delta")
    docs = documents(VERSIONS)
    clients = [{"name": "delta", "options": {"delta": "fossil"}}, {"name": "plain"}]
    async with js_probe(
        node, server, protocol=protocol, channel=channel, count=VERSIONS, clients=clients
    ) as probe:
        await probe.wait_for("subscribed", 2)
        await publish_versions(server, channel, docs)
        done = {e["client"]: e for e in await probe.wait_for("done", 2)}
        for name in ("delta", "plain"):
            pubs = probe.seen("publication", client=name)
            assert [p["offset"] for p in pubs] == list(range(1, VERSIONS + 1))
            assert [p["data"] for p in pubs] == docs, name
    stats = done["delta"]["delta_stats"]
    assert stats["numFullPayloads"] == 1 and stats["numDeltaPayloads"] == VERSIONS - 1
    delta_bytes, plain_bytes = done["delta"]["bytes_in"], done["plain"]["bytes_in"]
    report(
        f"centrifuge-js {protocol}, {VERSIONS} versions",
        {
            "wire_bytes_delta": delta_bytes,
            "wire_bytes_plain": plain_bytes,
            "ratio": f"{delta_bytes / plain_bytes:.3f}",
            "sdk_payload_bytes_received": stats["bytesReceived"],
            "sdk_payload_bytes_decoded": stats["bytesDecoded"],
        },
    )
    assert delta_bytes * 10 < plain_bytes


async def test_js_delta_publish_namespace_and_recovery_chain(
    node: str, server: RunningServer
) -> None:
    """``delta_publish`` marks every publication; recovered ones come as a chain (§15)."""
    channel = unique("deltapublish")
    docs = documents(20, seed=11)
    await publish_versions(server, channel, docs[:10], delta=False)
    history = await api(server, "history", {"channel": channel, "limit": 0})
    epoch = history["result"]["epoch"]
    clients = [
        {
            "name": "recovering",
            "options": {"delta": "fossil", "since": {"offset": 0, "epoch": epoch}},
        },
        {"name": "live", "options": {"delta": "fossil"}, "count": 10},
    ]
    async with js_probe(
        node, server, protocol="json", channel=channel, count=20, clients=clients
    ) as probe:
        subscribed = await probe.wait_for("subscribed", 2)
        assert {s["client"]: s["recovered"] for s in subscribed} == {
            "recovering": True,
            "live": False,
        }
        await probe.wait_for("publication", 10, client="recovering")
        await publish_versions(server, channel, docs[10:], delta=False)
        done = {e["client"]: e["delta_stats"] for e in await probe.wait_for("done", 2)}
        assert [p["data"] for p in probe.seen("publication", client="recovering")] == docs
        assert [p["data"] for p in probe.seen("publication", client="live")] == docs[10:]
    # Recovered: a chain of one full and 9 deltas. Live, for both: the first publication
    # after subscribing in full, then deltas (delta_publish marks them all).
    assert (done["recovering"]["numFullPayloads"], done["recovering"]["numDeltaPayloads"]) == (
        2,
        18,
    )
    assert (done["live"]["numFullPayloads"], done["live"]["numDeltaPayloads"]) == (1, 9)


# ---------------------------------------------------------------------------
# centrifuge-python


class _Events(SubscriptionEventHandler):
    def __init__(self) -> None:
        self.subscribed: asyncio.Queue[SubscribedContext] = asyncio.Queue()
        self.publications: asyncio.Queue[PublicationContext] = asyncio.Queue()

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        self.subscribed.put_nowait(ctx)

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.publications.put_nowait(ctx)


class _CountingCodec:
    """Wraps the SDK's codec to count the bytes of every frame it decodes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.bytes = 0

    def decode_replies(self, data: Any) -> Any:
        self.bytes += len(data.encode() if isinstance(data, str) else data)
        return self.inner.decode_replies(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_python_reconstructs_100_versions(server: RunningServer, protobuf: bool) -> None:
    channel = unique("delta")
    docs = documents(VERSIONS, seed=3)
    clients: dict[str, tuple[Client, _CountingCodec, _Events]] = {}
    for name, delta in (("delta", DeltaType.FOSSIL), ("plain", None)):
        client = Client(
            server.ws_url,
            events=ClientEventHandler(),
            token=server.token("py"),
            use_protobuf=protobuf,
            proxy=None,
        )
        codec = _CountingCodec(client._codec)
        client._codec = codec  # type: ignore[assignment]
        events = _Events()
        sub = client.new_subscription(channel, events=events, delta=delta)
        await client.connect()
        await sub.subscribe()
        await asyncio.wait_for(events.subscribed.get(), TIMEOUT)
        clients[name] = (client, codec, events)
    try:
        await publish_versions(server, channel, docs)
        for name, (_, _, events) in clients.items():
            for expected in docs:
                ctx = await asyncio.wait_for(events.publications.get(), TIMEOUT)
                data = json.loads(ctx.pub.data) if protobuf else ctx.pub.data
                assert data == expected, name
                assert ctx.pub.delta is (name == "delta" and expected is not docs[0])
    finally:
        for client, _, _ in clients.values():
            await client.disconnect()
    delta_bytes, plain_bytes = clients["delta"][1].bytes, clients["plain"][1].bytes
    report(
        f"centrifuge-python {'protobuf' if protobuf else 'json'}, {VERSIONS} versions",
        {
            "wire_bytes_delta": delta_bytes,
            "wire_bytes_plain": plain_bytes,
            "ratio": f"{delta_bytes / plain_bytes:.3f}",
        },
    )
    assert delta_bytes * 10 < plain_bytes


# ---------------------------------------------------------------------------
# raw WebSocket: negotiation and wire format


async def open_json(server: RunningServer) -> ClientConnection:
    ws = await websockets.connect(
        server.ws_url, ping_interval=None, max_size=None, open_timeout=TIMEOUT, proxy=None
    )
    await ws.send(json.dumps({"id": 1, "connect": {"token": server.token("raw")}}))
    await reply_to(ws, 1)
    return ws


async def messages(ws: ClientConnection) -> list[dict[str, Any]]:
    frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert isinstance(frame, str)
    return [json.loads(line) for line in frame.split("\n")]


async def reply_to(ws: ClientConnection, command_id: int) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            for message in await messages(ws):
                if message.get("id") == command_id:
                    return message


async def next_pub(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            for message in await messages(ws):
                if "pub" in message.get("push", {}):
                    pub: dict[str, Any] = message["push"]["pub"]
                    return pub


@pytest.mark.parametrize(
    ("namespace", "negotiated"),
    [
        ("delta", True),  # recoverable
        ("deltapos", True),  # positioned
        ("deltaplain", False),  # history, but neither positioned nor recoverable
        ("deltanohistory", False),
        ("nodelta", False),  # fossil not in allowed_delta_types
    ],
)
async def test_negotiation_and_wire_format(
    server: RunningServer, namespace: str, negotiated: bool
) -> None:
    channel = unique(namespace)
    ws = await open_json(server)
    try:
        await ws.send(json.dumps({"id": 2, "subscribe": {"channel": channel, "delta": "fossil"}}))
        reply = await reply_to(ws, 2)
        assert reply["subscribe"].get("delta", False) is negotiated, reply
        first, second = {"v": 1, "pad": "x" * 100}, {"v": 2, "pad": "x" * 100}
        await publish_versions(server, channel, [first, second])
        pubs = [await next_pub(ws), await next_pub(ws)]
    finally:
        await ws.close()
    if not negotiated:
        assert [p["data"] for p in pubs] == [first, second]
        assert not any("delta" in p for p in pubs)
        return
    # §15: every data is a JSON string; the first full, the next a fossil delta of it.
    assert isinstance(pubs[0]["data"], str) and "delta" not in pubs[0]
    assert json.loads(pubs[0]["data"]) == first
    assert pubs[1]["delta"] is True
    target = fossil.apply(pubs[0]["data"].encode(), pubs[1]["data"].encode())
    assert json.loads(target) == second


async def test_recovered_publications_are_a_delta_chain_on_the_wire(server: RunningServer) -> None:
    channel = unique("delta")
    docs = documents(5, seed=5)
    await publish_versions(server, channel, docs)
    ws = await open_json(server)
    try:
        await ws.send(
            json.dumps(
                {"id": 2, "subscribe": {"channel": channel, "delta": "fossil", "recover": True}}
            )
        )
        reply = (await reply_to(ws, 2))["subscribe"]
    finally:
        await ws.close()
    assert reply["delta"] is True and reply["recovered"] is True
    pubs = reply["publications"]
    assert [p.get("delta", False) for p in pubs] == [False, True, True, True, True]
    base = b""
    for pub, doc in zip(pubs, docs, strict=True):
        assert isinstance(pub["data"], str)
        raw = pub["data"].encode()
        base = fossil.apply(base, raw) if pub.get("delta") else raw
        assert json.loads(base) == doc


async def test_unknown_delta_type_closes_with_3501(server: RunningServer) -> None:
    ws = await open_json(server)
    await ws.send(
        json.dumps({"id": 2, "subscribe": {"channel": unique("delta"), "delta": "xdelta"}})
    )
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    assert ws.close_code == 3501
