"""Whirlwind's configuration, as frozen dataclasses mirroring Centrifugo v6's layout.

Rules (channels-config.md §5, STYLE.md §8):

* Every field name is the Centrifugo v6 key, verbatim; the dataclass nesting is the key
  path (``Config.http_api.key`` is ``http_api.key``). Defaults are Centrifugo's and live on
  the field, each with a docstring.
* Every ``float`` field is a **duration in seconds**. Files and environment give durations
  as Go strings (``"300s"``, ``"1m30s"``, ``"720h"``, ``"100ms"``); a bare number is taken
  as seconds. Negative values keep Centrifugo's meaning ("disabled") where it has one.
* ``Mapping[str, object]`` fields hold sections Whirlwind accepts but does not implement
  (yet): their content is kept verbatim and never reported as unknown.
* ``IGNORED_KEYS`` on a class lists keys accepted and dropped (Centrifugo PRO options,
  features out of Whirlwind's scope), so a real Centrifugo configuration never warns.
  ``KEY_ALIASES`` maps an accepted spelling to the field it sets.
* Whirlwind extensions are marked as such: ``channel.client_boundary`` and the
  ``allow_client_limited_channels`` channel option (client-limited channels
  ``name&<client id>``, opt-in per namespace).

Values are built by :func:`whirlwind.config.load.load_config` and checked by
:func:`whirlwind.config.validate.validate`; nothing here reads files or the environment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final

__all__ = [
    "AdminConfig",
    "BrokerConfig",
    "ChannelConfig",
    "ChannelOptions",
    "ChannelProxyConfig",
    "ClientConfig",
    "ClientProxyConfig",
    "Config",
    "ConnInitConfig",
    "ConnectCodeTransformsConfig",
    "DebugConfig",
    "DevConfig",
    "EmulationConfig",
    "EnabledProxyConfig",
    "EngineConfig",
    "GRPCAPIConfig",
    "GraphiteConfig",
    "HTTP3Config",
    "HTTPAPIConfig",
    "HTTPServerConfig",
    "HTTPStreamConfig",
    "HealthConfig",
    "LogConfig",
    "NamedProxyConfig",
    "NamespaceConfig",
    "NatsConfig",
    "NodeConfig",
    "OpenTelemetryConfig",
    "PersonalChannelConfig",
    "PresenceManagerConfig",
    "PrometheusConfig",
    "ProxyConfig",
    "ProxyGRPCConfig",
    "ProxyHTTPConfig",
    "RedisConfig",
    "RpcConfig",
    "RpcNamespaceConfig",
    "RpcOptions",
    "RpcPingConfig",
    "SSEConfig",
    "ShutdownConfig",
    "SubscriptionTokenConfig",
    "SwaggerConfig",
    "TLSAutocertConfig",
    "TLSConfig",
    "TokenSettings",
    "UniGRPCConfig",
    "UniHTTPStreamConfig",
    "UniSSEConfig",
    "UniWebSocketConfig",
    "UsageStatsConfig",
    "WebSocketConfig",
    "WebTransportConfig",
]

DEFAULT_PROXY_NAME: Final = "default"
"""Proxy name that refers to the inline proxy of each kind (``channel.proxy.subscribe``…)."""


def _opaque() -> Mapping[str, object]:
    return {}


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSConfig:
    """A TLS object (``http_server.tls``, ``grpc_api.tls``, ``engine.redis.tls``…)."""

    enabled: bool = False
    """Turn TLS on."""
    cert_pem: str = ""
    """Certificate: raw PEM, base64 PEM or a file path (tried in that order)."""
    key_pem: str = ""
    """Private key: raw PEM, base64 PEM or a file path."""
    server_ca_pem: str = ""
    """CA used by a client to verify the server's certificate."""
    client_ca_pem: str = ""
    """CA used by a server to verify client certificates; setting it enables mTLS."""
    insecure_skip_verify: bool = False
    """Do not verify the peer's certificate (clients only)."""
    server_name: str = ""
    """Host name expected in the server's certificate."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSAutocertConfig:
    """ACME (Let's Encrypt) certificates: ``http_server.tls_autocert``."""

    enabled: bool = False
    """Obtain certificates automatically."""
    host_whitelist: tuple[str, ...] = ()
    """Host names certificates may be requested for."""
    cache_dir: str = ""
    """Directory caching obtained certificates."""
    email: str = ""
    """Contact address given to the ACME provider."""
    server_name: str = ""
    """Server name to use when the client sends no SNI."""
    http: bool = False
    """Also answer the HTTP-01 challenge on ``http_addr``."""
    http_addr: str = ":80"
    """Address of the HTTP-01 challenge listener."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HTTP3Config:
    """``http_server.http3`` (experimental in Centrifugo; refused by Whirlwind: not served)."""

    enabled: bool = False
    """Serve HTTP/3."""


# --------------------------------------------------------------------------- HTTP server


@dataclass(frozen=True, slots=True, kw_only=True)
class HTTPServerConfig:
    """``http_server``: listening addresses and TLS (channels-config.md §5.2)."""

    address: str = ""
    """Bind host of the main server; empty means all interfaces."""
    port: int = 8000
    """Main port (0 picks a free port, useful in tests)."""
    internal_address: str | None = None
    """Bind host of the internal server; ``None``: same as ``address``."""
    internal_port: int | None = None
    """Port for API, admin, metrics, health, swagger, debug; ``None``: the main port."""
    tls: TLSConfig = field(default_factory=TLSConfig)
    """TLS of the main (external) server."""
    tls_autocert: TLSAutocertConfig = field(default_factory=TLSAutocertConfig)
    """ACME certificates."""
    tls_external: bool = False
    """Apply TLS only to the external port."""
    internal_tls: TLSConfig = field(default_factory=TLSConfig)
    """Separate TLS for the internal port; when not enabled, ``tls`` applies."""
    http3: HTTP3Config = field(default_factory=HTTP3Config)
    """HTTP/3 (experimental)."""
    h2c_external: bool = False
    """HTTP/2 cleartext on external endpoints (needs a separate internal port)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    """``log``."""

    level: str = "info"
    """One of ``none, trace, debug, info, warn, error``."""
    file: str = ""
    """Append logs to this file; empty: standard output."""


# --------------------------------------------------------------------------- proxies


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyHTTPConfig:
    """``<proxy>.http``: options of HTTP proxies."""

    tls: TLSConfig = field(default_factory=TLSConfig)
    """Client TLS towards the backend."""
    static_headers: Mapping[str, str] = field(default_factory=dict)
    """Headers sent with every request (copied client headers win)."""
    status_to_code_transforms: tuple[Mapping[str, object], ...] = ()
    """Map a non-200 status to ``to_error {code,message,temporary}`` or
    ``to_disconnect {code,reason}``, e.g. ``{"status_code": 404, "to_error": {...}}``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyGRPCConfig:
    """``<proxy>.grpc``: options of GRPC proxies."""

    tls: TLSConfig = field(default_factory=TLSConfig)
    """Client TLS towards the backend."""
    credentials_key: str = ""
    """Per-RPC credential metadata key."""
    credentials_value: str = ""
    """Per-RPC credential metadata value."""
    compression: bool = False
    """gzip-compress calls."""
    static_metadata: Mapping[str, str] = field(default_factory=dict)
    """Metadata sent with every call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyConfig:
    """A proxy to the application backend (channels-config.md §7.1)."""

    endpoint: str = ""
    """``http(s)://`` → HTTP POST JSON; anything else (``grpc://host:port``) → GRPC."""
    timeout: float = 1.0
    """Whole-call timeout."""
    http_headers: tuple[str, ...] = ()
    """Client connection HTTP headers to copy into the request (case-insensitive)."""
    grpc_metadata: tuple[str, ...] = ()
    """GRPC metadata keys of the client connection to copy."""
    emulated_headers: tuple[str, ...] = ()
    """Headers from the client's header-emulation map to forward (v6.9+)."""
    binary_encoding: bool = False
    """Send ``b64data``/``b64info`` and ``encoding: "binary"``."""
    include_connection_meta: bool = False
    """Add the connection ``meta`` to non-connect requests."""
    http: ProxyHTTPConfig = field(default_factory=ProxyHTTPConfig)
    """HTTP-only options."""
    grpc: ProxyGRPCConfig = field(default_factory=ProxyGRPCConfig)
    """GRPC-only options."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnabledProxyConfig(ProxyConfig):
    """A connection-wide proxy (``client.proxy.connect`` / ``.refresh``)."""

    enabled: bool = False
    """Use this proxy."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedProxyConfig(ProxyConfig):
    """An item of ``proxies``, referenced by ``*_proxy_name`` options."""

    name: str = ""
    """Unique name, matching ``^[-a-zA-Z0-9_.]{2,}$``; ``default`` is reserved."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientProxyConfig:
    """``client.proxy``."""

    connect: EnabledProxyConfig = field(default_factory=EnabledProxyConfig)
    """Asked when a client connects without a token."""
    refresh: EnabledProxyConfig = field(default_factory=EnabledProxyConfig)
    """Asked when a connection reaches its ``expire_at``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelProxyConfig:
    """``channel.proxy``: the proxies named ``default`` of each channel event."""

    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"map_publish", "map_remove", "shared_poll_refresh"}
    )

    subscribe: ProxyConfig = field(default_factory=ProxyConfig)
    """Subscribe proxy."""
    publish: ProxyConfig = field(default_factory=ProxyConfig)
    """Publish proxy."""
    sub_refresh: ProxyConfig = field(default_factory=ProxyConfig)
    """Subscription refresh proxy."""
    subscribe_stream: ProxyConfig = field(default_factory=ProxyConfig)
    """Subscribe stream proxy (experimental, not implemented by Whirlwind)."""


# --------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSettings:
    """Verification settings of one token section (``client.token`` or
    ``client.subscription_token``); field names are Centrifugo v6 keys (§5.4)."""

    hmac_secret_key: str = ""
    """Secret for HS256/384/512; empty disables HMAC tokens."""
    hmac_previous_secret_key: str = ""
    """Previous HMAC secret, accepted while ``now < hmac_previous_secret_key_valid_until``."""
    hmac_previous_secret_key_valid_until: int = 0
    """Unix time (seconds) until which the previous HMAC secret is accepted."""
    rsa_public_key: str = ""
    """PEM public key (or certificate) for RS256/384/512; empty disables RSA tokens."""
    ecdsa_public_key: str = ""
    """PEM public key (or certificate) for the ES algorithm of its curve."""
    jwks_public_endpoint: str = ""
    """JWKS URL; when set, tokens are verified with the key named by their ``kid``. It may
    hold ``{{name}}`` placeholders, filled from the named groups of ``issuer_regex`` and
    ``audience_regex`` (each a list of fixed values, see ``auth/tokens.py``)."""
    audience: str = ""
    """Required ``aud`` value (exact)."""
    audience_regex: str = ""
    """Regex one ``aud`` value must match (searched, as Go's ``FindStringSubmatch``)."""
    issuer: str = ""
    """Required ``iss`` value (exact)."""
    issuer_regex: str = ""
    """Regex the ``iss`` value must match (searched)."""
    user_id_claim: str = ""
    """Claim holding the user ID instead of ``sub``; must match ``^[a-zA-Z_]+$``."""
    insecure_skip_jwks_endpoint_safety_check: bool = False
    """Allow template placeholders from regex groups that are not lists of fixed values."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionTokenConfig:
    """``client.subscription_token``: separate keys for subscription tokens."""

    enabled: bool = False
    """Verify subscription tokens with these settings instead of ``client.token``."""
    hmac_secret_key: str = ""
    """HS256/384/512 secret."""
    hmac_previous_secret_key: str = ""
    """Previous HMAC secret, still accepted during a rotation."""
    hmac_previous_secret_key_valid_until: int = 0
    """Unix time after which the previous secret is refused; 0: no limit."""
    rsa_public_key: str = ""
    """PEM public key for RS256/384/512."""
    ecdsa_public_key: str = ""
    """PEM public key for ES256/384/512."""
    jwks_public_endpoint: str = ""
    """JWKS URL (keys by ``kid``)."""
    audience: str = ""
    """Required ``aud``."""
    audience_regex: str = ""
    """Regular expression ``aud`` must match."""
    issuer: str = ""
    """Required ``iss``."""
    issuer_regex: str = ""
    """Regular expression ``iss`` must match."""
    user_id_claim: str = ""
    """Claim holding the user ID instead of ``sub``."""
    insecure_skip_jwks_endpoint_safety_check: bool = False
    """See ``TokenSettings``."""

    def settings(self) -> TokenSettings:
        """The verification settings, without ``enabled``."""
        names = [f.name for f in dataclasses.fields(TokenSettings)]
        return TokenSettings(**{name: getattr(self, name) for name in names})


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalChannelConfig:
    """``client.subscribe_to_user_personal_channel`` (channels-config.md §4.6)."""

    enabled: bool = False
    """Subscribe each authenticated connection to ``<ns>:#<user>`` server-side."""
    personal_channel_namespace: str = ""
    """Namespace of personal channels; empty: ``#<user>`` without namespace."""
    single_connection: bool = False
    """Keep one connection per user (older ones get 3504); needs presence there."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectCodeTransformsConfig:
    """Maps connect error codes for unidirectional transports.

    ``client.connect_code_to_unidirectional_disconnect`` items look like
    ``{"code": 104, "to": {"code": 4501, "reason": "..."}}``;
    ``uni_*.connect_code_to_http_response`` items like
    ``{"code": 109, "to": {"status_code": 401, "body": "..."}}``.
    """

    enabled: bool = False
    """Apply the transforms."""
    transforms: tuple[Mapping[str, object], ...] = ()
    """The transforms, in order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """``client``: real-time connection options (channels-config.md §4.1, §5.3, §5.4)."""

    proxy: ClientProxyConfig = field(default_factory=ClientProxyConfig)
    """Connect and refresh proxies."""
    allowed_origins: tuple[str, ...] = ()
    """Browser Origin allow-list (lower-case globs, ``"*"`` for all); empty: requests
    with an Origin header are rejected, requests without one pass."""
    token: TokenSettings = field(default_factory=TokenSettings)
    """Keys for connection tokens (and subscription tokens unless
    ``subscription_token.enabled``)."""
    subscription_token: SubscriptionTokenConfig = field(default_factory=SubscriptionTokenConfig)
    """Separate keys for subscription tokens."""
    allow_anonymous_connect_without_token: bool = False
    """Accept connections without credentials as anonymous (user ``""``)."""
    disallow_anonymous_connection_tokens: bool = False
    """Reject connection tokens with an empty user (disconnect 3507)."""
    ping_interval: float = 25.0
    """Server→client ping period; negative disables pings. Must exceed ``pong_timeout``."""
    pong_timeout: float = 8.0
    """Wait for a pong, then disconnect 3012; negative disables the check."""
    expired_close_delay: float = 25.0
    """Grace after a connection's ``expire_at`` before closing it (3005)."""
    expired_sub_close_delay: float = 25.0
    """Grace after a subscription's ``expire_at`` before ending it."""
    stale_close_delay: float = 10.0
    """Close connections that send no connect command within this delay (3502)."""
    channel_limit: int = 128
    """Maximum subscriptions per connection (excess → error 106)."""
    queue_max_size: int = 1_048_576
    """Bytes of queued output per connection before it is closed as slow (3008)."""
    presence_update_interval: float = 27.0
    """Presence refresh period."""
    concurrency: int = 0
    """Commands processed in parallel per connection; 0: strictly in order."""
    channel_position_check_delay: float = 40.0
    """Period of the positioning check of positioned subscriptions."""
    channel_position_max_time_lag: float = 0.0
    """Maximum PUB/SUB lag for positioned subscriptions; 0: not checked."""
    connection_limit: int = 0
    """Open connections per node; 0: unlimited. Beyond it a handshake gets 503."""
    user_connection_limit: int = 0
    """Connections per user per node; 0: unlimited."""
    connection_rate_limit: int = 0
    """New connections per second per node (burst as large); 0: unlimited. Beyond it a
    handshake gets 503 (transports/admission.py)."""
    connect_include_server_time: bool = False
    """Add the server time to the connect reply."""
    history_max_publication_limit: int = 300
    """Cap on ``limit`` of client history calls."""
    recovery_max_publication_limit: int = 300
    """Cap on publications replayed by recovery."""
    insecure_skip_token_signature_verify: bool = False
    """Accept tokens without checking signatures (development only)."""
    user_id_http_header: str = ""
    """Take the user ID from this request header (behind an authenticating gateway)."""
    insecure: bool = False
    """Development mode: no authentication, every permission (except ``$`` channels)."""
    subscribe_to_user_personal_channel: PersonalChannelConfig = field(
        default_factory=PersonalChannelConfig
    )
    """Automatic personal channel."""
    connect_code_to_unidirectional_disconnect: ConnectCodeTransformsConfig = field(
        default_factory=ConnectCodeTransformsConfig
    )
    """Turn connect errors into disconnects for unidirectional transports."""


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelOptions:
    """Options of channels without namespace or of one namespace (channels-config.md §3).

    Namespaces do not inherit from ``channel.without_namespace``; only
    ``history_meta_ttl`` (0) and ``publication_data_format`` ("") fall back to the
    ``channel.*`` globals, resolved by :meth:`ChannelConfig.options`.
    """

    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset(
        {
            # Centrifugo PRO.
            "subscribe_cel",
            "publish_cel",
            "history_cel",
            "presence_cel",
            "cache_empty_proxy_enabled",
            "cache_empty_proxy_name",
            "state_proxy_enabled",
            "state_proxy_name",
            "state_events",
            "shared_position_sync",
            "keep_latest_publication",
            "allow_channel_compaction",
            "batch_max_size",
            "batch_max_delay",
            "batch_flush_latest",
            "broker_name",
            "presence_manager_name",
            # Centrifugo 6.8+ map / shared-poll subscriptions: out of scope.
            "map",
            "shared_poll",
            "map_clients_presence_channel_prefix",
            "map_users_presence_channel_prefix",
        }
    )
    KEY_ALIASES: ClassVar[Mapping[str, str]] = {"auto_cache_recover": "auto_cache_recovery"}

    presence: bool = False
    """Keep online presence; required by presence and presence_stats (else error 108)."""
    join_leave: bool = False
    """Emit join/leave events on subscribe/unsubscribe."""
    force_push_join_leave: bool = False
    """Deliver join/leave to every subscriber without them asking."""
    history_size: int = 0
    """Publications kept per channel; history needs both size and ttl."""
    history_ttl: float = 0.0
    """Retention of publications (whole seconds)."""
    history_meta_ttl: float = 0.0
    """Life of stream meta (offset, epoch) after last activity; 0: ``channel.history_meta_ttl``."""
    force_positioning: bool = False
    """Every subscription is positioned (gap → disconnect 3010)."""
    allow_positioning: bool = False
    """Subscribers may ask for positioning."""
    force_recovery: bool = False
    """Every subscription is recoverable; requires history."""
    allow_recovery: bool = False
    """Subscribers may ask for recovery."""
    force_recovery_mode: str = ""
    """``stream`` (replay missed publications, the default when empty) or ``cache``."""
    auto_cache_recovery: bool = False
    """Deliver the latest publication on every (re)subscribe in cache mode (v6.8.3+)."""
    allowed_delta_types: tuple[str, ...] = ()
    """Delta types subscribers may negotiate; only ``fossil`` exists."""
    delta_publish: bool = False
    """Treat every publication as ``delta: true``."""
    allow_tags_filter: bool = False
    """Subscribers may pass a tags filter (v6.4+)."""
    allow_subscribe_for_client: bool = False
    """Any authenticated connection may subscribe."""
    allow_subscribe_for_anonymous: bool = False
    """Extend ``allow_subscribe_for_client`` to anonymous connections."""
    allow_publish_for_subscriber: bool = False
    """Subscribers may publish."""
    allow_publish_for_client: bool = False
    """Any authenticated connection may publish."""
    allow_publish_for_anonymous: bool = False
    """Extend the publish flags to anonymous connections."""
    allow_history_for_subscriber: bool = False
    """Subscribers may call history."""
    allow_history_for_client: bool = False
    """Any authenticated connection may call history."""
    allow_history_for_anonymous: bool = False
    """Extend the history flags to anonymous connections."""
    allow_presence_for_subscriber: bool = False
    """Subscribers may call presence / presence_stats."""
    allow_presence_for_client: bool = False
    """Any authenticated connection may call presence."""
    allow_presence_for_anonymous: bool = False
    """Extend the presence flags to anonymous connections."""
    allow_user_limited_channels: bool = False
    """Enable the ``#`` rule: ``dialog#42,43`` admits users 42 and 43."""
    allow_client_limited_channels: bool = False
    """Whirlwind extension: enable the ``&`` rule (Centrifugo v1): ``name&<client id>``
    can only be subscribed by the connection with that client ID."""
    channel_regex: str = ""
    """Client-side operations must match it on the part after the namespace."""
    publication_data_format: str = ""
    """``""`` (reject empty data), ``json``, ``json_object`` or ``binary``;
    in a namespace, ``""`` means ``channel.publication_data_format``."""
    subscription_type: str = ""
    """Centrifugo 6.8+ subscription type; Whirlwind supports ``stream`` (the default) only."""
    subscribe_proxy_enabled: bool = False
    """Ask the subscribe proxy."""
    subscribe_proxy_name: str = DEFAULT_PROXY_NAME
    """Which proxy: an item of ``proxies`` or ``default`` (``channel.proxy.subscribe``)."""
    publish_proxy_enabled: bool = False
    """Ask the publish proxy on every client publish."""
    publish_proxy_name: str = DEFAULT_PROXY_NAME
    """Which publish proxy."""
    sub_refresh_proxy_enabled: bool = False
    """Ask the sub_refresh proxy when a subscription expires."""
    sub_refresh_proxy_name: str = DEFAULT_PROXY_NAME
    """Which sub_refresh proxy."""
    subscribe_stream_proxy_enabled: bool = False
    """Subscribe stream proxy (experimental, not implemented by Whirlwind)."""
    subscribe_stream_proxy_name: str = DEFAULT_PROXY_NAME
    """Which subscribe stream proxy."""
    subscribe_stream_proxy_bidirectional: bool = False
    """Bidirectional subscribe stream."""

    @property
    def history_enabled(self) -> bool:
        """History is on only with both ``history_size`` and ``history_ttl`` positive."""
        return self.history_size > 0 and self.history_ttl > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceConfig(ChannelOptions):
    """An item of ``channel.namespaces``: a name plus every channel option."""

    name: str = ""
    """Namespace name, matching ``^[-a-zA-Z0-9_.]{2,}$``; unique."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConfig:
    """``channel`` (channels-config.md §1, §5.5)."""

    proxy: ChannelProxyConfig = field(default_factory=ChannelProxyConfig)
    """The ``default`` proxies of channel events."""
    without_namespace: ChannelOptions = field(default_factory=ChannelOptions)
    """Options of channels without namespace."""
    namespaces: tuple[NamespaceConfig, ...] = ()
    """Channel namespaces."""
    history_meta_ttl: float = 720 * 3600.0
    """Default life of history stream meta (whole seconds)."""
    publication_data_format: str = ""
    """Default ``publication_data_format`` of every namespace."""
    max_length: int = 255
    """Maximum channel name length in bytes (client subscribe)."""
    private_prefix: str = "$"
    """Channels starting with it need a subscription token."""
    namespace_boundary: str = ":"
    """Separates the namespace from the rest of the channel name."""
    user_boundary: str = "#"
    """Marks user-limited channels."""
    user_separator: str = ","
    """Separates user IDs after ``user_boundary``."""
    client_boundary: str = "&"
    """Whirlwind extension: marks client-limited channels (``name&<client id>``)."""
    idempotent_result_ttl: float = 300.0
    """Whirlwind extension: how long a publish ``idempotency_key`` is remembered
    (Centrifugo: fixed at 5 minutes, server-api §9.1.1)."""
    _resolved: Mapping[str | None, ChannelOptions] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # Resolved once: options() is on the hot path of every client command.
        resolved: dict[str | None, ChannelOptions] = {
            ns.name: self._resolve(ns) for ns in self.namespaces
        }
        resolved[None] = self._resolve(self.without_namespace)
        object.__setattr__(self, "_resolved", resolved)

    def _resolve(self, options: ChannelOptions) -> ChannelOptions:
        changes: dict[str, object] = {}
        if options.history_meta_ttl == 0:
            changes["history_meta_ttl"] = self.history_meta_ttl
        if options.publication_data_format == "":
            changes["publication_data_format"] = self.publication_data_format
        return dataclasses.replace(options, **changes) if changes else options  # type: ignore[arg-type]

    def options(self, namespace: str | None) -> ChannelOptions | None:
        """Options of ``namespace`` (``None``: channels without namespace), with
        ``history_meta_ttl`` and ``publication_data_format`` resolved against the
        globals; ``None`` when the namespace is not configured (error 102). A namespace
        is returned as its :class:`NamespaceConfig`."""
        return self._resolved.get(namespace)


# --------------------------------------------------------------------------- RPC


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcOptions:
    """Options of RPC methods without namespace or of one RPC namespace (§4.8)."""

    proxy_enabled: bool = False
    """Send these RPC calls to the RPC proxy."""
    proxy_name: str = DEFAULT_PROXY_NAME
    """Which proxy: an item of ``proxies`` or ``default`` (``rpc.proxy``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcNamespaceConfig(RpcOptions):
    """An item of ``rpc.namespaces``."""

    name: str = ""
    """Namespace name, matching ``^[-a-zA-Z0-9_.]{2,}$``; unique."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcPingConfig:
    """``rpc.ping``: a built-in RPC method answering with empty data."""

    enabled: bool = False
    """Answer ``method`` without a proxy."""
    method: str = "ping"
    """Name of the built-in method."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcConfig:
    """``rpc`` (channels-config.md §4.8)."""

    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    """The ``default`` RPC proxy."""
    without_namespace: RpcOptions = field(default_factory=RpcOptions)
    """Options of methods without namespace."""
    namespaces: tuple[RpcNamespaceConfig, ...] = ()
    """RPC namespaces."""
    ping: RpcPingConfig = field(default_factory=RpcPingConfig)
    """Built-in ping method."""
    namespace_boundary: str = ":"
    """Separates the RPC namespace from the method."""

    def options(self, namespace: str | None) -> RpcOptions | None:
        """Options of ``namespace`` (``None``: no namespace); ``None`` when unknown."""
        if namespace is None:
            return self.without_namespace
        for ns in self.namespaces:
            if ns.name == namespace:
                return ns
        return None


# --------------------------------------------------------------------------- APIs


@dataclass(frozen=True, slots=True, kw_only=True)
class HTTPAPIConfig:
    """``http_api``: the server HTTP API (on by default)."""

    disabled: bool = False
    """Do not serve the HTTP API."""
    handler_prefix: str = "/api"
    """URL prefix."""
    key: str = ""
    """API key expected in ``Authorization: apikey <key>`` or ``X-API-Key``."""
    error_mode: str = ""
    """``""`` or ``transport`` (errors as HTTP status codes)."""
    external: bool = False
    """Serve on the external port."""
    insecure: bool = False
    """No API key required."""
    max_request_body_size: int = 10 * 1024 * 1024
    """Largest request body in bytes; a larger one gets HTTP 413. Whirlwind extension:
    Centrifugo has no such key (and no limit)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GRPCAPIConfig:
    """``grpc_api``: the server GRPC API."""

    enabled: bool = False
    """Serve the GRPC API."""
    error_mode: str = ""
    """``""`` or ``transport``."""
    address: str = ""
    """Bind host."""
    port: int = 10000
    """Port."""
    key: str = ""
    """API key expected in the ``authorization`` metadata."""
    tls: TLSConfig = field(default_factory=TLSConfig)
    """Server TLS."""
    reflection: bool = False
    """Enable GRPC server reflection."""
    max_receive_message_size: int = 0
    """Largest request in bytes; 0: the GRPC default."""


# --------------------------------------------------------------------------- transports


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSocketConfig:
    """``websocket``: the bidirectional WebSocket transport (on by default)."""

    disabled: bool = False
    """Do not serve WebSocket connections."""
    handler_prefix: str = "/connection/websocket"
    """URL path."""
    compression: bool = False
    """Negotiate permessage-deflate."""
    compression_min_size: int = 0
    """Only compress messages at least this large."""
    compression_level: int = 1
    """Deflate level (1 fastest … 9 best)."""
    read_buffer_size: int = 0
    """Read buffer in bytes; 0: the library default."""
    use_write_buffer_pool: bool = False
    """Share write buffers between connections."""
    write_buffer_size: int = 0
    """Write buffer in bytes; 0: the library default."""
    write_timeout: float = 1.0
    """Timeout of one write."""
    message_size_limit: int = 65536
    """Largest inbound client message in bytes."""
    decompressed_message_size_limit: int = 0
    """Largest message after decompression; 0: ten times ``message_size_limit``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SSEConfig:
    """``sse``: bidirectional emulation over Server-Sent Events."""

    enabled: bool = False
    """Serve the transport."""
    handler_prefix: str = "/connection/sse"
    """URL path."""
    max_request_body_size: int = 65536
    """Largest connect request body in bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HTTPStreamConfig:
    """``http_stream``: bidirectional emulation over HTTP streaming."""

    enabled: bool = False
    """Serve the transport."""
    handler_prefix: str = "/connection/http_stream"
    """URL path."""
    max_request_body_size: int = 65536
    """Largest connect request body in bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UniSSEConfig:
    """``uni_sse``: unidirectional Server-Sent Events."""

    enabled: bool = False
    """Serve the transport."""
    handler_prefix: str = "/connection/uni_sse"
    """URL path."""
    max_request_body_size: int = 65536
    """Largest connect request body in bytes."""
    connect_code_to_http_response: ConnectCodeTransformsConfig = field(
        default_factory=ConnectCodeTransformsConfig
    )
    """Answer some connect errors with an HTTP status instead."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UniHTTPStreamConfig:
    """``uni_http_stream``: unidirectional HTTP streaming."""

    enabled: bool = False
    """Serve the transport."""
    handler_prefix: str = "/connection/uni_http_stream"
    """URL path."""
    max_request_body_size: int = 65536
    """Largest connect request body in bytes."""
    connect_code_to_http_response: ConnectCodeTransformsConfig = field(
        default_factory=ConnectCodeTransformsConfig
    )
    """Answer some connect errors with an HTTP status instead."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UniWebSocketConfig:
    """``uni_websocket``: unidirectional WebSocket."""

    enabled: bool = False
    """Serve the transport."""
    handler_prefix: str = "/connection/uni_websocket"
    """URL path."""
    compression: bool = False
    """Negotiate permessage-deflate."""
    compression_min_size: int = 0
    """Only compress messages at least this large."""
    compression_level: int = 1
    """Deflate level (1 fastest … 9 best)."""
    read_buffer_size: int = 0
    """Read buffer in bytes; 0: the library default."""
    use_write_buffer_pool: bool = False
    """Share write buffers between connections."""
    write_buffer_size: int = 0
    """Write buffer in bytes; 0: the library default."""
    write_timeout: float = 1.0
    """Timeout of one write."""
    message_size_limit: int = 65536
    """Largest inbound message in bytes (the connect request)."""
    decompressed_message_size_limit: int = 0
    """Largest message after decompression; 0: ten times ``message_size_limit``."""
    disable_closing_handshake: bool = False
    """Close without a close frame (pre-6.5.1 behaviour)."""
    disable_disconnect_push: bool = False
    """Do not send a disconnect push before closing."""
    join_push_messages: bool = False
    """Join several pushes into one frame with protocol delimiters."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UniGRPCConfig:
    """``uni_grpc``: unidirectional GRPC stream (own port)."""

    enabled: bool = False
    """Serve the transport."""
    address: str = ""
    """Bind host."""
    port: int = 11000
    """Port."""
    max_receive_message_size: int = 0
    """Largest request in bytes; 0: the GRPC default."""
    tls: TLSConfig = field(default_factory=TLSConfig)
    """Server TLS."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebTransportConfig:
    """``webtransport`` (experimental; needs HTTP/3)."""

    enabled: bool = False
    """Serve the transport."""
    handler_prefix: str = "/connection/webtransport"
    """URL path."""
    message_size_limit: int = 65536
    """Largest inbound message in bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulationConfig:
    """``emulation``: the endpoint receiving commands of SSE / HTTP-stream clients; on
    whenever one of those transports is."""

    handler_prefix: str = "/emulation"
    """URL path."""
    max_request_body_size: int = 65536
    """Largest request body in bytes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnInitConfig:
    """``init``: the connection init endpoint (v6)."""

    enabled: bool = False
    """Serve the endpoint."""
    handler_prefix: str = "/connection/init"
    """URL path."""


# --------------------------------------------------------------------------- engines


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisConfig:
    """A Redis connection (``engine.redis``, ``broker.redis``, ``presence_manager.redis``).

    The broker-only and presence-only keys are accepted everywhere.
    """

    address: tuple[str, ...] = ("redis://127.0.0.1:6379",)
    """Shards, each ``host:port``, ``redis://…``, ``rediss://…``, ``unix://…``,
    ``redis+sentinel://…`` or ``redis+cluster://…``; a single string is one shard."""
    prefix: str = "centrifugo"
    """Prefix of keys and PUB/SUB channels."""
    connect_timeout: float = 1.0
    """Dial timeout."""
    io_timeout: float = 4.0
    """Read/write timeout."""
    db: int = 0
    """Database number (PUB/SUB ignores it)."""
    user: str = ""
    """ACL user."""
    password: str = ""
    """Password."""
    client_name: str = ""
    """``CLIENT SETNAME`` value."""
    force_resp2: bool = False
    """Speak RESP2 even to Redis 6+."""
    cluster_address: tuple[str, ...] = ()
    """Legacy explicit cluster seeds: one item per shard, seeds comma-separated."""
    tls: TLSConfig = field(default_factory=TLSConfig)
    """TLS to Redis."""
    sentinel_address: tuple[str, ...] = ()
    """Legacy explicit sentinels: one item per shard, addresses comma-separated."""
    sentinel_user: str = ""
    """Sentinel ACL user."""
    sentinel_password: str = ""
    """Sentinel password."""
    sentinel_master_name: str = ""
    """Master name; required with sentinels."""
    sentinel_client_name: str = ""
    """``CLIENT SETNAME`` value on sentinels."""
    sentinel_tls: TLSConfig = field(default_factory=TLSConfig)
    """TLS to sentinels."""
    replica_client: Mapping[str, object] = field(default_factory=_opaque)
    """Replica reads (Centrifugo PRO); accepted, ignored."""
    history_use_lists: bool = False
    """Keep history in lists instead of streams (no paging / reverse)."""
    presence_ttl: float = 60.0
    """Life of a presence entry without refresh."""
    presence_hash_field_ttl: bool = False
    """Use hash field expiration (Redis ≥ 7.4)."""
    presence_user_mapping: bool = False
    """Maintain a user count for faster ``presence_stats``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NatsConfig:
    """``broker.nats``: at-most-once PUB/SUB over NATS (no history)."""

    url: str = "nats://localhost:4222"
    """Server URL."""
    prefix: str = "centrifugo"
    """Subject prefix."""
    dial_timeout: float = 1.0
    """Connect timeout."""
    write_timeout: float = 1.0
    """Write timeout."""
    tls: TLSConfig = field(default_factory=TLSConfig)
    """TLS to NATS."""
    allow_wildcards: bool = False
    """Allow wildcard subscriptions (no presence, join/leave)."""
    raw_mode: Mapping[str, object] = field(default_factory=_opaque)
    """Raw NATS subjects (``enabled``, ``channel_replacements``, ``prefix``); accepted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """``engine``: broker + presence manager in one."""

    type: str = "memory"
    """``memory`` (single node) or ``redis``."""
    redis: RedisConfig = field(default_factory=RedisConfig)
    """Redis options when ``type`` is ``redis``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """``broker``: a separate PUB/SUB + history broker, overriding ``engine``'s."""

    enabled: bool = False
    """Use this broker instead of the engine's."""
    type: str = "memory"
    """``memory``, ``redis`` or ``nats``."""
    redis: RedisConfig = field(default_factory=RedisConfig)
    """Options of the Redis broker."""
    nats: NatsConfig = field(default_factory=NatsConfig)
    """Options of the NATS broker."""
    redisnats: Mapping[str, object] = field(default_factory=_opaque)
    """Centrifugo's unreleased Redis+NATS broker; accepted, ignored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceManagerConfig:
    """``presence_manager``: separate presence storage, overriding ``engine``'s."""

    enabled: bool = False
    """Use this presence manager instead of the engine's."""
    type: str = "memory"
    """``memory`` or ``redis``."""
    redis: RedisConfig = field(default_factory=RedisConfig)
    """Options of the Redis presence manager."""


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminConfig:
    """``admin``: the admin web UI (channels-config.md §9)."""

    enabled: bool = False
    """Serve the admin UI and its API."""
    handler_prefix: str = ""
    """UI root path."""
    password: str = ""
    """Login password."""
    secret: str = ""
    """Secret signing admin session tokens."""
    insecure: bool = False
    """No login (protect the port otherwise)."""
    web_path: str = ""
    """Serve the UI from this directory instead of the embedded one."""
    web_proxy_address: str = ""
    """Reverse-proxy the UI to this address (UI development)."""
    external: bool = False
    """Serve on the external port."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrometheusConfig:
    """``prometheus``: metrics in Prometheus text format."""

    enabled: bool = False
    """Serve metrics."""
    handler_prefix: str = "/metrics"
    """URL path."""
    instrument_http_handlers: bool = False
    """Count responses per handler and status."""
    recovered_publications_histogram: bool = False
    """Histogram of publications recovered per recovery."""
    native_histograms: bool = False
    """Native (sparse) histograms (Go client only); accepted, ignored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    """``health``: ``GET`` answers 200 ``{}``."""

    enabled: bool = False
    """Serve the health endpoint."""
    handler_prefix: str = "/health"
    """URL path."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SwaggerConfig:
    """``swagger``: Swagger UI of the HTTP API."""

    enabled: bool = False
    """Serve the UI."""
    handler_prefix: str = "/swagger"
    """URL path."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DebugConfig:
    """``debug``: profiling endpoints (Go pprof in Centrifugo)."""

    enabled: bool = False
    """Serve debug endpoints."""
    handler_prefix: str = "/debug/pprof"
    """URL path."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DevConfig:
    """``dev``: development page (insecure, development only)."""

    enabled: bool = False
    """Serve the page."""
    handler_prefix: str = "/dev"
    """URL path."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """``node``."""

    name: str = ""
    """Name shown in ``info`` and the admin UI; empty: ``<hostname>_<port>``."""
    info_metrics_aggregate_interval: float = 60.0
    """Aggregation period of the metrics reported by ``info``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownConfig:
    """``shutdown``."""

    timeout: float = 30.0
    """Graceful shutdown budget after SIGINT/SIGTERM."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageStatsConfig:
    """``usage_stats`` (Whirlwind never sends usage statistics)."""

    disabled: bool = False
    """Disable anonymous usage statistics."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenTelemetryConfig:
    """``opentelemetry`` (accepted; not exported by Whirlwind yet)."""

    enabled: bool = False
    """Export traces."""
    api: bool = False
    """Trace server API calls."""
    consuming: bool = False
    """Trace consumers."""
    google_cloud_adc_auth: bool = False
    """Authenticate the exporter with Google Cloud ADC."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphiteConfig:
    """``graphite`` (accepted; not exported by Whirlwind yet)."""

    enabled: bool = False
    """Export metrics to Graphite."""
    host: str = "localhost"
    """Graphite host."""
    port: int = 2003
    """Graphite port."""
    prefix: str = "centrifugo"
    """Metric name prefix."""
    interval: float = 10.0
    """Export period."""
    tags: bool = False
    """Use tagged metric names."""


# --------------------------------------------------------------------------- root


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration; ``Config()`` is Centrifugo's default configuration."""

    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset({"controller"})

    http_server: HTTPServerConfig = field(default_factory=HTTPServerConfig)
    """Listening addresses and TLS."""
    log: LogConfig = field(default_factory=LogConfig)
    """Logging."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    """Broker + presence manager."""
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    """Separate broker."""
    presence_manager: PresenceManagerConfig = field(default_factory=PresenceManagerConfig)
    """Separate presence manager."""
    map_broker: Mapping[str, object] = field(default_factory=_opaque)
    """Centrifugo 6.8+ map broker; accepted, not implemented."""
    client: ClientConfig = field(default_factory=ClientConfig)
    """Client connections."""
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    """Channels and namespaces."""
    rpc: RpcConfig = field(default_factory=RpcConfig)
    """Client RPC."""
    proxies: tuple[NamedProxyConfig, ...] = ()
    """Named proxies referenced by ``*_proxy_name``."""
    http_api: HTTPAPIConfig = field(default_factory=HTTPAPIConfig)
    """Server HTTP API."""
    grpc_api: GRPCAPIConfig = field(default_factory=GRPCAPIConfig)
    """Server GRPC API."""
    consumers: tuple[Mapping[str, object], ...] = ()
    """Async consumers (Kafka, PostgreSQL outbox…); accepted, not implemented."""
    websocket: WebSocketConfig = field(default_factory=WebSocketConfig)
    """WebSocket transport."""
    sse: SSEConfig = field(default_factory=SSEConfig)
    """SSE bidirectional emulation."""
    http_stream: HTTPStreamConfig = field(default_factory=HTTPStreamConfig)
    """HTTP-streaming bidirectional emulation."""
    webtransport: WebTransportConfig = field(default_factory=WebTransportConfig)
    """WebTransport."""
    uni_sse: UniSSEConfig = field(default_factory=UniSSEConfig)
    """Unidirectional SSE."""
    uni_http_stream: UniHTTPStreamConfig = field(default_factory=UniHTTPStreamConfig)
    """Unidirectional HTTP streaming."""
    uni_websocket: UniWebSocketConfig = field(default_factory=UniWebSocketConfig)
    """Unidirectional WebSocket."""
    uni_grpc: UniGRPCConfig = field(default_factory=UniGRPCConfig)
    """Unidirectional GRPC."""
    emulation: EmulationConfig = field(default_factory=EmulationConfig)
    """Emulation endpoint."""
    admin: AdminConfig = field(default_factory=AdminConfig)
    """Admin web UI."""
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    """Prometheus metrics."""
    health: HealthConfig = field(default_factory=HealthConfig)
    """Health endpoint."""
    swagger: SwaggerConfig = field(default_factory=SwaggerConfig)
    """Swagger UI."""
    debug: DebugConfig = field(default_factory=DebugConfig)
    """Debug endpoints."""
    dev: DevConfig = field(default_factory=DevConfig)
    """Development page."""
    init: ConnInitConfig = field(default_factory=ConnInitConfig)
    """Connection init endpoint."""
    opentelemetry: OpenTelemetryConfig = field(default_factory=OpenTelemetryConfig)
    """OpenTelemetry."""
    graphite: GraphiteConfig = field(default_factory=GraphiteConfig)
    """Graphite export."""
    usage_stats: UsageStatsConfig = field(default_factory=UsageStatsConfig)
    """Usage statistics."""
    node: NodeConfig = field(default_factory=NodeConfig)
    """This node."""
    shutdown: ShutdownConfig = field(default_factory=ShutdownConfig)
    """Graceful shutdown."""
    shared_poll: Mapping[str, object] = field(default_factory=_opaque)
    """Centrifugo 6.8+ shared poll; accepted, not implemented."""
    pid_file: str = ""
    """Write the process ID to this file."""
    enable_unreleased_features: bool = False
    """Centrifugo's switch for unreleased features; accepted, ignored."""

    def channel_options(self, namespace: str | None) -> ChannelOptions | None:
        """Options of a channel namespace (``None``: channels without namespace), or
        ``None`` when the namespace is not configured. See :meth:`ChannelConfig.options`."""
        return self.channel.options(namespace)
