"""Channels and authentication with real clients against a real Whirlwind process.

Covers server-side subscriptions from token claims and the personal channel
(client-protocol.md §14, channels-config.md §4.6, §4.7), client-limited channels (a
Whirlwind extension), ``client.allowed_origins``, JWKS / RSA / ECDSA token keys and
algorithm confusion (§12), connection token claims (``info``, ``expire_at``, anonymous
tokens, ``aud``/``iss``), binary payloads and JSON clients (§3), ``client.channel_limit``
and ``client.insecure`` (channels-config.md §4.1, §4.2).

centrifuge-python 0.7 drives the clients; raw ``websockets`` only where the SDK can not
(handshake headers and statuses). Every SDK event lands in an asyncio.Queue and is awaited
under a timeout. One server per config, shared by a module's tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import websockets
from aiohttp import web
from centrifuge import (
    Client,
    DisconnectedContext,
    SubscribedContext,
    Subscription,
    UnsubscribedContext,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from harness import deep_merge, default_config, run_server
from jwt.algorithms import RSAAlgorithm
from sdk_events import ClientEvents, SubEvents, next_event
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

if TYPE_CHECKING:
    from harness import RunningServer

TIMEOUT = 5.0

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------
# servers (one per config, module-scoped)


@contextlib.contextmanager
def _server(
    config: pytest.Config,
    factory: pytest.TempPathFactory,
    name: str,
    overrides: dict[str, Any],
    namespaces: Sequence[dict[str, Any]] = (),
) -> Iterator[RunningServer]:
    """``default_config()`` merged with ``overrides``; ``namespaces`` are added to the
    default ones (replacing a default namespace of the same name)."""
    merged = deep_merge(default_config(), overrides)
    names = {ns["name"] for ns in namespaces}
    merged["channel"]["namespaces"] = [
        ns for ns in merged["channel"]["namespaces"] if ns["name"] not in names
    ] + list(namespaces)
    with run_server(factory.mktemp(name), merged) as running:
        yield running


MAIN_NAMESPACES: list[dict[str, Any]] = [
    {"name": "chat"},
    {"name": "inbox", "allow_client_limited_channels": True},
    {
        "name": "inbox-open",
        "allow_client_limited_channels": True,
        "allow_subscribe_for_client": True,
    },
    {"name": "plain", "allow_subscribe_for_client": True},
]


@pytest.fixture(scope="module")
def main_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The default config plus the namespaces server-side and client-limited channels use."""
    with _server(pytestconfig, tmp_path_factory, "main", {}, MAIN_NAMESPACES) as running:
        yield running


@pytest.fixture(scope="module")
def personal_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """Every user subscribed to ``personal:#<user>``; one connection per user."""
    overrides = {
        "client": {
            "subscribe_to_user_personal_channel": {
                "enabled": True,
                "personal_channel_namespace": "personal",
                "single_connection": True,
            }
        }
    }
    namespaces = [{"name": "personal", "allow_user_limited_channels": True, "presence": True}]
    with _server(pytestconfig, tmp_path_factory, "personal", overrides, namespaces) as running:
        yield running


@pytest.fixture(scope="module")
def origins_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    overrides = {"client": {"allowed_origins": ["https://good.example", "https://*.example.com"]}}
    with _server(pytestconfig, tmp_path_factory, "origins", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def no_origins_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    overrides: dict[str, Any] = {"client": {"allowed_origins": []}}
    with _server(pytestconfig, tmp_path_factory, "no-origins", overrides) as running:
        yield running


def _public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """Signs RS256 tokens; its public half is in the JWKS document and ``rsa_public_key``."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    """Signs ES256 tokens; its public half is ``ecdsa_public_key``."""
    return ec.generate_private_key(ec.SECP256R1())


JWKS_KID = "whirlwind-test-key"


class JwksEndpoint:
    """An aiohttp server publishing one RSA key as a JWKS document, in its own thread
    (the module-scoped Whirlwind server outlives every test's event loop)."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.document = self.key_set(key)
        self.tenants: dict[str, dict[str, Any]] = {}
        """Documents served at ``/<tenant>/jwks.json``."""
        self.requests = 0
        self.paths: list[str] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @staticmethod
    def key_set(key: rsa.RSAPrivateKey) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": JWKS_KID, "use": "sig", "alg": "RS256"}]}

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.paths.append(request.path)
        return web.json_response(self.document)

    async def _handle_tenant(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        document = self.tenants.get(request.match_info["tenant"])
        if document is None:
            raise web.HTTPNotFound()
        return web.json_response(document)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self._handle)
        app.router.add_get("/{tenant}/jwks.json", self._handle_tenant)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"
        self.url = f"{self.base}/.well-known/jwks.json"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(TIMEOUT)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()


@pytest.fixture(scope="module")
def jwks(rsa_key: rsa.RSAPrivateKey) -> Iterator[JwksEndpoint]:
    endpoint = JwksEndpoint(rsa_key)
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="module")
def jwks_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, jwks: JwksEndpoint
) -> Iterator[RunningServer]:
    """Tokens verified with the JWKS endpoint's keys (the HMAC secret is then unused)."""
    overrides = {"client": {"token": {"jwks_public_endpoint": jwks.url}}}
    with _server(pytestconfig, tmp_path_factory, "jwks", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def tenant_jwks_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, jwks: JwksEndpoint
) -> Iterator[RunningServer]:
    """Tokens verified with the keys of their tenant: a templated JWKS URL (Centrifugo
    v6), filled from the issuer's named group."""
    overrides = {
        "client": {
            "token": {
                "jwks_public_endpoint": jwks.base + "/{{tenant}}/jwks.json",
                "issuer_regex": r"^https://id\.example\.com/(?P<tenant>acme|globex)$",
            }
        }
    }
    with _server(pytestconfig, tmp_path_factory, "tenant-jwks", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def keys_server(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> Iterator[RunningServer]:
    """HS256 secret, RSA and ECDSA public keys side by side."""
    overrides = {
        "client": {
            "token": {
                "rsa_public_key": _public_pem(rsa_key),
                "ecdsa_public_key": _public_pem(ec_key),
            }
        }
    }
    with _server(pytestconfig, tmp_path_factory, "keys", overrides) as running:
        yield running


AUDIENCE = "whirlwind-tests"
ISSUER = "https://auth.example"


@pytest.fixture(scope="module")
def claims_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """Required ``aud`` and ``iss``; tokens with an empty ``sub`` refused."""
    overrides = {
        "client": {
            "token": {"audience": AUDIENCE, "issuer": ISSUER},
            "disallow_anonymous_connection_tokens": True,
        }
    }
    with _server(pytestconfig, tmp_path_factory, "claims", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def limit_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    overrides = {"client": {"channel_limit": 2}}
    with _server(pytestconfig, tmp_path_factory, "limit", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def insecure_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    overrides = {"client": {"insecure": True}}
    with _server(pytestconfig, tmp_path_factory, "insecure", overrides) as running:
        yield running


# ---------------------------------------------------------------------------
# clients


class Clients:
    """SDK clients made by one test; all disconnected at the end."""

    def __init__(self) -> None:
        self.clients: list[Client] = []

    def new(
        self, server: RunningServer, token: str | None, *, protobuf: bool = False
    ) -> tuple[Client, ClientEvents]:
        events = ClientEvents()
        client = Client(
            server.ws_url,
            events=events,
            token=token or "",
            use_protobuf=protobuf,
            proxy=None,
            max_reconnect_delay=1.0,
        )
        self.clients.append(client)
        return client, events

    async def connected(
        self, server: RunningServer, token: str | None, *, protobuf: bool = False
    ) -> tuple[Client, ClientEvents]:
        client, events = self.new(server, token, protobuf=protobuf)
        await client.connect()
        ctx = await next_event(events.connected)
        assert ctx.client
        return client, events

    async def refused(self, server: RunningServer, token: str | None) -> DisconnectedContext:
        """Connect with ``token``; return the terminal ``disconnected`` event."""
        client, events = self.new(server, token)
        await client.connect()
        ctx = await next_event(events.disconnected)
        assert events.connected.empty()
        return ctx

    async def close(self) -> None:
        for client in self.clients:
            await client.disconnect()
        # The SDK closes sockets in background tasks it does not await; let them finish so
        # that no socket outlives the test's loop (ResourceWarning).
        pending = [t for c in self.clients for t in c._background_tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=TIMEOUT)


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    made = Clients()
    yield made
    await made.close()


async def subscribed(
    client: Client, ch: str, **kwargs: Any
) -> tuple[Subscription, SubEvents, SubscribedContext]:
    events = SubEvents()
    sub = client.new_subscription(ch, events=events, **kwargs)
    await sub.subscribe()
    ctx = await next_event(events.subscribed)
    return sub, events, ctx


async def refused_subscribe(client: Client, ch: str, **kwargs: Any) -> UnsubscribedContext:
    """Subscribe to ``ch`` and return the ``unsubscribed`` event the refusal ends in."""
    events = SubEvents()
    await client.new_subscription(ch, events=events, **kwargs).subscribe()
    ctx = await next_event(events.unsubscribed)
    assert events.subscribed.empty()
    return ctx


def unique(prefix: str) -> str:
    """A channel name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def api(server: RunningServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Call the HTTP API from a thread (the client loop keeps reading); fail on an error."""
    reply: dict[str, Any] = await asyncio.to_thread(server.api, method, params)
    assert "error" not in reply, reply
    return reply


def signed(claims: dict[str, Any], key: Any, algorithm: str, **headers: Any) -> str:
    """A token for ``claims`` (``exp`` one hour ahead unless given)."""
    payload = {"exp": int(time.time()) + 3600, **claims}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256_with_public_key(claims: dict[str, Any], pem: str, **headers: Any) -> str:
    """An HS256 token whose HMAC secret is a public key PEM (algorithm confusion).

    PyJWT refuses to sign this, so it is assembled by hand."""
    header = {"alg": "HS256", "typ": "JWT", **headers}
    payload = {"exp": int(time.time()) + 3600, **claims}
    signing_input = (
        f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
    )
    signature = hmac.new(pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


# ---------------------------------------------------------------------------
# 1. server-side subscriptions from the connection token (§14, channels-config.md §4.7)


async def test_channels_claim_subscribes_server_side(
    main_server: RunningServer, clients: Clients
) -> None:
    """``channels`` → client-level ``subscribed``, then API publications arrive there."""
    news = unique("news-")
    _, events = await clients.connected(main_server, main_server.token("42", channels=[news]))
    ctx = await next_event(events.subscribed)
    assert ctx.channel == news
    await api(main_server, "publish", {"channel": news, "data": {"headline": 1}})
    pub = await next_event(events.publications)
    assert (pub.channel, pub.pub.data) == (news, {"headline": 1})


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_subs_claim_subscribes_with_data(
    main_server: RunningServer, clients: Clients, protobuf: bool
) -> None:
    """``subs`` → ``subscribed`` with the entry's ``data`` (JSON bytes for Protobuf)."""
    room = unique("chat:room-")
    token = main_server.token("42", subs={room: {"data": {"w": 1}}})
    _, events = await clients.connected(main_server, token, protobuf=protobuf)
    ctx = await next_event(events.subscribed)
    assert ctx.channel == room
    assert (json.loads(ctx.data) if protobuf else ctx.data) == {"w": 1}
    await api(main_server, "publish", {"channel": room, "data": {"in": "room"}})
    pub = await next_event(events.publications)
    assert pub.channel == room
    assert (json.loads(pub.pub.data) if protobuf else pub.pub.data) == {"in": "room"}


async def test_subs_claim_wins_over_channels(main_server: RunningServer, clients: Clients) -> None:
    """With both claims Centrifugo takes ``subs`` and ignores ``channels``."""
    news, room = unique("news-"), unique("chat:room-")
    token = main_server.token("42", channels=[news], subs={room: {}})
    _, events = await clients.connected(main_server, token)
    ctx = await next_event(events.subscribed)
    assert ctx.channel == room
    # The SDK emits every server-side ``subscribed`` right after ``connected``, with no
    # await in between: they are all queued by now.
    assert events.subscribed.empty()
    # The server's view: a publication into ``news`` does not reach the connection; the
    # one into the room after it (same connection, so in order) is the barrier.
    await api(main_server, "publish", {"channel": news, "data": {"news": 1}})
    await api(main_server, "publish", {"channel": room, "data": {"room": 1}})
    pub = await next_event(events.publications)
    assert (pub.channel, pub.pub.data) == (room, {"room": 1})


async def test_client_subscribe_to_server_side_channel_is_105(
    main_server: RunningServer, clients: Clients
) -> None:
    """§14: server-side and client-side subscriptions to one channel exclude each other."""
    news = unique("news-")
    client, events = await clients.connected(main_server, main_server.token("42", channels=[news]))
    await next_event(events.subscribed)
    ctx = await refused_subscribe(client, news)
    assert (ctx.code, ctx.reason) == (105, "already subscribed")
    # The server-side subscription is untouched.
    await api(main_server, "publish", {"channel": news, "data": {"still": True}})
    assert (await next_event(events.publications)).pub.data == {"still": True}


# ---------------------------------------------------------------------------
# 2. personal channel (channels-config.md §4.6)


async def test_personal_channel(personal_server: RunningServer, clients: Clients) -> None:
    """User 42 is subscribed to ``personal:#42`` at connect and gets its publications."""
    client, events = await clients.connected(personal_server, personal_server.token("42"))
    ctx = await next_event(events.subscribed)
    assert ctx.channel == "personal:#42"
    await api(personal_server, "publish", {"channel": "personal:#42", "data": {"to": "42"}})
    pub = await next_event(events.publications)
    assert (pub.channel, pub.pub.data) == ("personal:#42", {"to": "42"})
    refused = await refused_subscribe(client, "personal:#42")
    assert refused.code == 105  # already subscribed server-side


async def test_personal_single_connection(personal_server: RunningServer, clients: Clients) -> None:
    """``single_connection``: a second connection of the user ends the first with 3504."""
    _, first_events = await clients.connected(personal_server, personal_server.token("77"))
    assert (await next_event(first_events.subscribed)).channel == "personal:#77"
    _, second_events = await clients.connected(personal_server, personal_server.token("77"))
    assert (await next_event(second_events.subscribed)).channel == "personal:#77"
    gone = await next_event(first_events.disconnected)
    assert (gone.code, gone.reason) == (3504, "connection limit")
    # The second connection is the one left on the personal channel.
    await api(personal_server, "publish", {"channel": "personal:#77", "data": {"n": 1}})
    assert (await next_event(second_events.publications)).pub.data == {"n": 1}
    assert first_events.publications.empty()


# ---------------------------------------------------------------------------
# 3. client-limited channels (Whirlwind extension)


async def test_client_limited_channel_admits_own_client_only(
    main_server: RunningServer, clients: Clients
) -> None:
    """``inbox:mail&<own client id>`` subscribes; another client's id → 103."""
    client, _ = await clients.connected(main_server, main_server.token("42"))
    other, _ = await clients.connected(main_server, main_server.token("42"))
    assert client.client_id and other.client_id
    own = f"inbox:mail&{client.client_id}"
    _, events, _ = await subscribed(client, own)
    await api(main_server, "publish", {"channel": own, "data": {"mail": 1}})
    assert (await next_event(events.publications)).pub.data == {"mail": 1}

    ctx = await refused_subscribe(client, f"inbox:mail&{other.client_id}")
    assert (ctx.code, ctx.reason) == (103, "permission denied")


async def test_client_limited_channel_does_not_fall_back(
    main_server: RunningServer, clients: Clients
) -> None:
    """As with ``#``, ``allow_subscribe_for_client`` does not admit another client's
    channel."""
    client, _ = await clients.connected(main_server, main_server.token("42"))
    other, _ = await clients.connected(main_server, main_server.token("43"))
    await subscribed(client, f"inbox-open:mail&{client.client_id}")
    ctx = await refused_subscribe(client, f"inbox-open:mail&{other.client_id}")
    assert ctx.code == 103


async def test_ampersand_is_plain_without_the_option(
    main_server: RunningServer, clients: Clients
) -> None:
    """Without ``allow_client_limited_channels`` ``&`` is an ordinary character."""
    client, _ = await clients.connected(main_server, main_server.token("42"))
    other, _ = await clients.connected(main_server, main_server.token("43"))
    ch = f"plain:mail&{other.client_id}"
    _, events, _ = await subscribed(client, ch)
    await api(main_server, "publish", {"channel": ch, "data": {"plain": True}})
    assert (await next_event(events.publications)).pub.data == {"plain": True}


# ---------------------------------------------------------------------------
# 4. origins (channels-config.md §5.2)


async def handshake(server: RunningServer, origin: str | None) -> int:
    """Open a raw WebSocket with ``origin`` (None: no header) and connect; return 101 when
    the handshake and the connect command succeed, else the HTTP status refusing it."""
    try:
        ws = await websockets.connect(
            server.ws_url,
            origin=Origin(origin) if origin is not None else None,
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            ping_interval=None,
            proxy=None,
        )
    except InvalidStatus as exc:
        return exc.response.status_code
    async with ws:
        await ws.send(json.dumps({"id": 1, "connect": {"token": server.token("42")}}))
        async with asyncio.timeout(TIMEOUT):
            reply = json.loads(await ws.recv())
        assert reply["id"] == 1 and "connect" in reply, reply
    return 101


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://evil.example", 403),
        ("https://good.example", 101),
        (None, 101),
        ("https://a.example.com", 101),
        ("https://example.com", 403),
        ("HTTPS://GOOD.EXAMPLE", 101),
    ],
    ids=["evil", "good", "absent", "glob", "glob-needs-subdomain", "upper-case"],
)
async def test_allowed_origins(
    origins_server: RunningServer, origin: str | None, status: int
) -> None:
    assert await handshake(origins_server, origin) == status


@pytest.mark.parametrize(
    ("origin", "status"), [("https://good.example", 403), (None, 101)], ids=["origin", "absent"]
)
async def test_empty_allowed_origins(
    no_origins_server: RunningServer, origin: str | None, status: int
) -> None:
    """``allowed_origins: []`` refuses every request with an Origin header."""
    assert await handshake(no_origins_server, origin) == status


# ---------------------------------------------------------------------------
# 5. token keys: JWKS, RSA, ECDSA, algorithm confusion (§12)


async def test_jwks_token_connects(
    jwks_server: RunningServer, jwks: JwksEndpoint, rsa_key: rsa.RSAPrivateKey, clients: Clients
) -> None:
    """An RS256 token whose ``kid`` the JWKS endpoint publishes connects."""
    token = signed({"sub": "42"}, rsa_key, "RS256", kid=JWKS_KID)
    await clients.connected(jwks_server, token)
    assert jwks.requests >= 1


async def test_jwks_url_template_picks_the_tenants_keys(
    tenant_jwks_server: RunningServer,
    jwks: JwksEndpoint,
    rsa_key: rsa.RSAPrivateKey,
    clients: Clients,
) -> None:
    """Each tenant's tokens verify with the keys at that tenant's URL only: a token signed
    with acme's key but claiming globex is refused, and an issuer outside the regex's list
    fetches nothing."""
    globex_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.tenants = {"acme": jwks.key_set(rsa_key), "globex": jwks.key_set(globex_key)}
    acme = {"sub": "1", "iss": "https://id.example.com/acme"}
    globex = {"sub": "2", "iss": "https://id.example.com/globex"}
    await clients.connected(tenant_jwks_server, signed(acme, rsa_key, "RS256", kid=JWKS_KID))
    await clients.connected(tenant_jwks_server, signed(globex, globex_key, "RS256", kid=JWKS_KID))
    for claims, key in (
        (globex, rsa_key),
        ({"sub": "3", "iss": "https://id.example.com/initech"}, rsa_key),
    ):
        ctx = await clients.refused(tenant_jwks_server, signed(claims, key, "RS256", kid=JWKS_KID))
        assert (ctx.code, ctx.reason) == (3500, "invalid token")
    assert sorted(set(jwks.paths) - {"/.well-known/jwks.json"}) == [
        "/acme/jwks.json",
        "/globex/jwks.json",
    ]


async def test_jwks_unknown_kid_is_3500(jwks_server: RunningServer, clients: Clients) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = signed({"sub": "42"}, stranger, "RS256", kid="unknown-kid")
    ctx = await clients.refused(jwks_server, token)
    assert (ctx.code, ctx.reason) == (3500, "invalid token")


async def test_jwks_hs256_with_public_key_is_3500(
    jwks_server: RunningServer, rsa_key: rsa.RSAPrivateKey, clients: Clients
) -> None:
    """An HS256 token naming the JWKS key and signed with its public PEM is refused."""
    token = hs256_with_public_key({"sub": "42"}, _public_pem(rsa_key), kid=JWKS_KID)
    ctx = await clients.refused(jwks_server, token)
    assert (ctx.code, ctx.reason) == (3500, "invalid token")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
async def test_static_keys_connect(
    keys_server: RunningServer,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    clients: Clients,
    algorithm: str,
) -> None:
    """``rsa_public_key``, ``ecdsa_public_key`` and the HMAC secret each verify their
    algorithm."""
    key = {"RS256": rsa_key, "ES256": ec_key, "HS256": keys_server.secret}[algorithm]
    await clients.connected(keys_server, signed({"sub": "42"}, key, algorithm))


async def test_algorithm_confusion_is_3500(
    keys_server: RunningServer, rsa_key: rsa.RSAPrivateKey, clients: Clients
) -> None:
    """HS256 signed with the configured RSA public PEM as the secret → 3500."""
    token = hs256_with_public_key({"sub": "42"}, _public_pem(rsa_key))
    ctx = await clients.refused(keys_server, token)
    assert (ctx.code, ctx.reason) == (3500, "invalid token")


# ---------------------------------------------------------------------------
# 6. connection token claims (§12.1, §12.3)


async def test_info_claim_is_conn_info(main_server: RunningServer, clients: Clients) -> None:
    """``info`` shows as ``conn_info`` in presence and in the join others see."""
    ch = unique("info-")
    watcher, _ = await clients.connected(main_server, main_server.token("43"))
    _, watch_events, _ = await subscribed(watcher, ch, join_leave=True)
    assert (await next_event(watch_events.joins)).info.client == watcher.client_id  # own join

    alice, _ = await clients.connected(main_server, main_server.token("42", info={"name": "A"}))
    await subscribed(alice, ch)
    join = (await next_event(watch_events.joins)).info
    assert (join.client, join.user, join.conn_info) == (alice.client_id, "42", {"name": "A"})

    presence = await watcher.presence(ch)
    assert presence.clients[alice.client_id].conn_info == {"name": "A"}
    assert presence.clients[watcher.client_id].conn_info is None


async def test_expire_at_in_the_past_is_110(main_server: RunningServer, clients: Clients) -> None:
    """``expire_at`` already passed (``exp`` still valid) → error 110, not retried."""
    token = main_server.token("42", expire_at=int(time.time()) - 60)
    ctx = await clients.refused(main_server, token)
    assert (ctx.code, ctx.reason) == (110, "expired")


@pytest.mark.parametrize("sub", ["", None], ids=["empty-sub", "no-sub"])
async def test_anonymous_token_refused_when_disallowed(
    claims_server: RunningServer, clients: Clients, sub: str | None
) -> None:
    """``disallow_anonymous_connection_tokens`` and an empty or missing ``sub`` → 3507."""
    claims = {"aud": AUDIENCE, "iss": ISSUER} | ({} if sub is None else {"sub": sub})
    token = signed(claims, claims_server.secret, "HS256")
    ctx = await clients.refused(claims_server, token)
    assert (ctx.code, ctx.reason) == (3507, "permission denied")


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"aud": AUDIENCE, "iss": ISSUER}, True),
        ({"aud": [AUDIENCE, "other"], "iss": ISSUER}, True),
        ({"aud": "someone-else", "iss": ISSUER}, False),
        ({"iss": ISSUER}, False),
        ({"aud": AUDIENCE, "iss": "https://evil.example"}, False),
    ],
    ids=["right", "right-in-list", "wrong-aud", "no-aud", "wrong-iss"],
)
async def test_audience_and_issuer(
    claims_server: RunningServer, clients: Clients, claims: dict[str, Any], accepted: bool
) -> None:
    token = claims_server.token("42", **claims)
    if accepted:
        await clients.connected(claims_server, token)
    else:
        ctx = await clients.refused(claims_server, token)
        assert (ctx.code, ctx.reason) == (3500, "invalid token")


# ---------------------------------------------------------------------------
# 7. binary payloads and JSON clients (§3)


async def test_binary_publication_closes_json_subscriber(
    main_server: RunningServer, clients: Clients
) -> None:
    """Non-JSON bytes from a Protobuf publisher: JSON subscribers are closed with 3506,
    Protobuf subscribers get the bytes."""
    ch = unique("bin-")
    publisher, _ = await clients.connected(main_server, main_server.token("42"), protobuf=True)
    reader, _ = await clients.connected(main_server, main_server.token("43"), protobuf=True)
    json_reader, json_events = await clients.connected(main_server, main_server.token("44"))
    pub_sub, _, _ = await subscribed(publisher, ch)
    _, reader_events, _ = await subscribed(reader, ch)
    _, json_sub_events, _ = await subscribed(json_reader, ch)

    blob = b"\x00\xff\xfe binary \x80"
    await pub_sub.publish(blob)
    assert (await next_event(reader_events.publications)).pub.data == blob
    gone = await next_event(json_events.disconnected)
    assert (gone.code, gone.reason) == (3506, "inappropriate protocol")
    assert json_sub_events.publications.empty()


async def test_binary_api_publication_closes_json_subscriber(
    main_server: RunningServer, clients: Clients
) -> None:
    """The same for non-JSON ``b64data`` published through the server API."""
    ch = unique("bin-api-")
    reader, _ = await clients.connected(main_server, main_server.token("43"), protobuf=True)
    json_reader, json_events = await clients.connected(main_server, main_server.token("44"))
    _, reader_events, _ = await subscribed(reader, ch)
    await subscribed(json_reader, ch)

    blob = b"\x00\x01 not json \xff"
    await api(main_server, "publish", {"channel": ch, "b64data": base64.b64encode(blob).decode()})
    assert (await next_event(reader_events.publications)).pub.data == blob
    gone = await next_event(json_events.disconnected)
    assert (gone.code, gone.reason) == (3506, "inappropriate protocol")


# ---------------------------------------------------------------------------
# 8. channel limit (channels-config.md §5.3)


async def test_channel_limit(limit_server: RunningServer, clients: Clients) -> None:
    """``client.channel_limit: 2``: the third subscription → 106."""
    client, _ = await clients.connected(limit_server, limit_server.token("42"))
    await subscribed(client, unique("one-"))
    await subscribed(client, unique("two-"))
    ctx = await refused_subscribe(client, unique("three-"))
    assert (ctx.code, ctx.reason) == (106, "limit exceeded")


# ---------------------------------------------------------------------------
# 9. insecure mode (channels-config.md §4.1, §4.2)


async def test_insecure_mode(insecure_server: RunningServer, clients: Clients) -> None:
    """No token needed and every channel admitted, except ``$`` channels without a
    subscription token."""
    client, _ = await clients.connected(insecure_server, None)
    ch = unique("secret:")  # a namespace with no permission at all
    _, events, _ = await subscribed(client, ch)
    await api(insecure_server, "publish", {"channel": ch, "data": {"insecure": True}})
    assert (await next_event(events.publications)).pub.data == {"insecure": True}

    ctx = await refused_subscribe(client, unique("$private-"))
    assert (ctx.code, ctx.reason) == (103, "permission denied")
