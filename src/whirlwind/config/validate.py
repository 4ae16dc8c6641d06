"""Check a :class:`~.schema.Config` for problems Centrifugo refuses at startup.

:func:`validate` is pure: it returns every problem, each prefixed by its key path
(``channel.namespaces[0].history_ttl: …``), and never raises. The checks are those of
Centrifugo's ``internal/config/validate.go`` (channels-config.md §3.1), plus range checks
on ports, limits and durations, the log level and the backends Whirlwind implements.
Regular expressions are compiled with Python's ``re`` (Centrifugo uses Go RE2; the common
syntax is shared).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from whirlwind.auth.tokens import TokenSettings, TokenVerifier
from whirlwind.errors import ConfigError

from .schema import (
    DEFAULT_PROXY_NAME,
    ChannelOptions,
    Config,
    ProxyConfig,
    RpcOptions,
)

__all__ = ["LOG_LEVEL_NAMES", "NAME_PATTERN", "validate"]

NAME_PATTERN: Final = r"^[-a-zA-Z0-9_.]{2,}$"
"""Names of channel namespaces, RPC namespaces and named proxies."""
_NAME_RE: Final = re.compile(NAME_PATTERN)
LOG_LEVEL_NAMES: Final = ("none", "trace", "debug", "info", "warn", "error")
"""Accepted ``log.level`` values."""
_DATA_FORMATS: Final = ("", "json", "json_object", "binary")
_RECOVERY_MODES: Final = ("", "stream", "cache")
_DELTA_TYPES: Final = ("fossil",)
_ENGINES: Final = ("memory", "redis")
_BROKERS: Final = ("memory", "redis", "nats")
_PRESENCE_MANAGERS: Final = ("memory", "redis")


def validate(config: Config) -> list[str]:
    """Every problem of ``config``, each as ``"<key path>: <message>"``; empty when fine."""
    problems: list[str] = []
    _Checker(config, problems).run()
    return problems


class _Checker:
    def __init__(self, config: Config, problems: list[str]) -> None:
        self.config = config
        self.problems = problems
        self.proxy_names = {DEFAULT_PROXY_NAME}

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def run(self) -> None:
        self.check_server()
        self.check_log()
        self.check_engines()
        self.check_proxies()
        self.check_client()
        self.check_channels()
        self.check_rpc()
        self.check_transports()

    # -- generic helpers --------------------------------------------------

    def port(self, path: str, value: int | None) -> None:
        if value is not None and not 0 <= value <= 65535:
            self.add(path, f"port must be between 0 and 65535, got {value}")

    def non_negative(self, path: str, value: float) -> None:
        if value < 0:
            self.add(path, f"must not be negative, got {_number(value)}")

    def whole_seconds(self, path: str, value: float) -> None:
        if value != int(value):
            self.add(path, f"must be a whole number of seconds, got {_number(value)}s")

    def one_of(self, path: str, value: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        if value not in allowed:
            shown = ", ".join(f'"{a}"' for a in allowed)
            self.add(path, f'unknown value "{value}", expected one of {shown}')

    def regex(self, path: str, pattern: str) -> None:
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.add(path, f"invalid regular expression: {exc}")

    def proxy(self, path: str, proxy: ProxyConfig) -> None:
        """A proxy that is in use needs an endpoint and a positive timeout."""
        if not proxy.endpoint:
            self.add(_join(path, "endpoint"), "required when the proxy is used")
        if proxy.timeout <= 0:
            self.add(_join(path, "timeout"), "must be positive")

    # -- sections ---------------------------------------------------------

    def check_server(self) -> None:
        server = self.config.http_server
        self.port("http_server.port", server.port)
        self.port("http_server.internal_port", server.internal_port)
        if server.h2c_external and server.internal_port in (None, server.port):
            self.add("http_server.h2c_external", "requires a separate http_server.internal_port")
        if server.h2c_external and server.tls.enabled:
            self.add("http_server.h2c_external", "can not be used with http_server.tls")
        # Refused rather than ignored: a server that silently serves plain HTTP where TLS
        # was asked for is worse than one that does not start.
        if server.tls_autocert.enabled:
            self.add(
                "http_server.tls_autocert.enabled",
                "automatic certificates are not supported yet; give a certificate in "
                "http_server.tls (or terminate TLS in a proxy)",
            )
        if server.http3.enabled:
            self.add("http_server.http3.enabled", "HTTP/3 is not supported")
        self.port("grpc_api.port", self.config.grpc_api.port)
        self.non_negative(
            "channel.idempotent_result_ttl", self.config.channel.idempotent_result_ttl
        )
        # Server-api §2.3 / §12.2: `transport` or empty; anything else is a startup error.
        self.one_of("http_api.error_mode", self.config.http_api.error_mode, ("", "transport"))
        self.one_of("grpc_api.error_mode", self.config.grpc_api.error_mode, ("", "transport"))
        self.port("uni_grpc.port", self.config.uni_grpc.port)
        self.port("graphite.port", self.config.graphite.port)
        self.non_negative("shutdown.timeout", self.config.shutdown.timeout)
        self.non_negative(
            "node.info_metrics_aggregate_interval", self.config.node.info_metrics_aggregate_interval
        )

    def check_log(self) -> None:
        self.one_of("log.level", self.config.log.level.lower(), LOG_LEVEL_NAMES)

    def check_engines(self) -> None:
        config = self.config
        self.one_of("engine.type", config.engine.type, _ENGINES)
        if config.broker.enabled:
            self.one_of("broker.type", config.broker.type, _BROKERS)
        if config.presence_manager.enabled:
            self.one_of("presence_manager.type", config.presence_manager.type, _PRESENCE_MANAGERS)
        for path, redis in (
            ("engine.redis", config.engine.redis),
            ("broker.redis", config.broker.redis),
            ("presence_manager.redis", config.presence_manager.redis),
        ):
            self.non_negative(f"{path}.connect_timeout", redis.connect_timeout)
            self.non_negative(f"{path}.io_timeout", redis.io_timeout)
            self.non_negative(f"{path}.presence_ttl", redis.presence_ttl)
            self.non_negative(f"{path}.db", redis.db)
            if redis.sentinel_address and not redis.sentinel_master_name:
                self.add(f"{path}.sentinel_master_name", "required with sentinel_address")

    def check_proxies(self) -> None:
        seen: set[str] = set()
        for index, proxy in enumerate(self.config.proxies):
            path = f"proxies[{index}]"
            if not _NAME_RE.match(proxy.name):
                self.add(
                    f"{path}.name",
                    f'invalid proxy name "{proxy.name}", must match {NAME_PATTERN}',
                )
            elif proxy.name == DEFAULT_PROXY_NAME:
                self.add(f"{path}.name", f'proxy name "{DEFAULT_PROXY_NAME}" is reserved')
            elif proxy.name in seen:
                self.add(f"{path}.name", f'duplicate proxy name "{proxy.name}"')
            seen.add(proxy.name)
            self.proxy(path, proxy)
        self.proxy_names |= seen
        client_proxy = self.config.client.proxy
        if client_proxy.connect.enabled:
            self.proxy("client.proxy.connect", client_proxy.connect)
        if client_proxy.refresh.enabled:
            self.proxy("client.proxy.refresh", client_proxy.refresh)

    def check_client(self) -> None:
        client = self.config.client
        if 0 < client.ping_interval <= client.pong_timeout:
            self.add(
                "client.ping_interval",
                f"must be greater than client.pong_timeout ({_number(client.ping_interval)}s "
                f"<= {_number(client.pong_timeout)}s)",
            )
        for name in (
            "expired_close_delay",
            "expired_sub_close_delay",
            "stale_close_delay",
            "presence_update_interval",
            "channel_position_check_delay",
            "channel_position_max_time_lag",
            "channel_limit",
            "queue_max_size",
            "concurrency",
            "connection_limit",
            "user_connection_limit",
            "connection_rate_limit",
            "history_max_publication_limit",
            "recovery_max_publication_limit",
        ):
            self.non_negative(f"client.{name}", getattr(client, name))
        self.tokens("client.token", client.token)
        if client.subscription_token.enabled:
            self.tokens("client.subscription_token", client.subscription_token.settings())
        for index, origin in enumerate(client.allowed_origins):
            if not origin:
                self.add(f"client.allowed_origins[{index}]", "empty origin pattern")

    def tokens(self, path: str, settings: TokenSettings) -> None:
        """Reuse the verifier's own checks (PEM keys, regexes, user_id_claim)."""
        try:
            TokenVerifier(settings, config_path=path)
        except ConfigError as exc:
            self.problems.extend(exc.problems)

    def check_channels(self) -> None:
        channel = self.config.channel
        self.whole_seconds("channel.history_meta_ttl", channel.history_meta_ttl)
        self.non_negative("channel.history_meta_ttl", channel.history_meta_ttl)
        self.one_of(
            "channel.publication_data_format", channel.publication_data_format, _DATA_FORMATS
        )
        if channel.max_length <= 0:
            self.add("channel.max_length", f"must be positive, got {channel.max_length}")
        for name in ("namespace_boundary", "user_boundary", "user_separator", "client_boundary"):
            if not getattr(channel, name):
                self.add(f"channel.{name}", "must not be empty")

        self.channel_options("channel.without_namespace", channel.without_namespace)
        names: set[str] = set()
        for index, namespace in enumerate(channel.namespaces):
            path = f"channel.namespaces[{index}]"
            if not _NAME_RE.match(namespace.name):
                self.add(
                    f"{path}.name",
                    f'invalid namespace name "{namespace.name}", must match {NAME_PATTERN}',
                )
            elif namespace.name in names:
                self.add(f"{path}.name", f'duplicate namespace name "{namespace.name}"')
            names.add(namespace.name)
            self.channel_options(path, namespace)

        personal = self.config.client.subscribe_to_user_personal_channel
        personal_path = "client.subscribe_to_user_personal_channel"
        if personal.enabled:
            options = self.config.channel_options(personal.personal_channel_namespace or None)
            if options is None:
                self.add(
                    f"{personal_path}.personal_channel_namespace",
                    f'namespace "{personal.personal_channel_namespace}" is not defined in '
                    "channel.namespaces",
                )
            elif personal.single_connection and not options.presence:
                where = personal.personal_channel_namespace or "channel.without_namespace"
                self.add(
                    f"{personal_path}.single_connection",
                    f"requires presence in the personal channel namespace ({where})",
                )

    def channel_options(self, path: str, options: ChannelOptions) -> None:
        channel = self.config.channel
        self.whole_seconds(f"{path}.history_ttl", options.history_ttl)
        self.whole_seconds(f"{path}.history_meta_ttl", options.history_meta_ttl)
        self.non_negative(f"{path}.history_size", options.history_size)
        self.non_negative(f"{path}.history_ttl", options.history_ttl)
        self.non_negative(f"{path}.history_meta_ttl", options.history_meta_ttl)
        if (options.history_size > 0) != (options.history_ttl > 0):
            self.add(path, "both history_size and history_ttl are required for history")
        meta_ttl = options.history_meta_ttl or channel.history_meta_ttl
        if meta_ttl < options.history_ttl:
            self.add(
                f"{path}.history_ttl",
                f"history ttl ({_number(options.history_ttl)}s) can not be greater than "
                f"history meta ttl ({_number(meta_ttl)}s)",
            )
        if options.force_recovery and not options.history_enabled:
            self.add(
                f"{path}.force_recovery",
                "both history_size and history_ttl are required for recovery",
            )
        self.one_of(f"{path}.force_recovery_mode", options.force_recovery_mode, _RECOVERY_MODES)
        if options.auto_cache_recovery and not (
            options.force_recovery and options.force_recovery_mode == "cache"
        ):
            self.add(
                f"{path}.auto_cache_recovery",
                'requires force_recovery and force_recovery_mode "cache"',
            )
        self.regex(f"{path}.channel_regex", options.channel_regex)
        for index, delta in enumerate(options.allowed_delta_types):
            self.one_of(f"{path}.allowed_delta_types[{index}]", delta, _DELTA_TYPES)
        self.one_of(
            f"{path}.publication_data_format", options.publication_data_format, _DATA_FORMATS
        )
        if options.subscription_type not in ("", "stream"):
            self.add(
                f"{path}.subscription_type",
                f'"{options.subscription_type}" subscriptions are not supported by Whirlwind '
                '(only "stream")',
            )
        if options.subscribe_stream_proxy_enabled and (
            options.subscribe_proxy_enabled
            or options.publish_proxy_enabled
            or options.sub_refresh_proxy_enabled
        ):
            self.add(
                f"{path}.subscribe_stream_proxy_enabled",
                "can not be used together with subscribe, publish or sub_refresh proxies",
            )
        proxies = channel.proxy
        for kind, enabled, name, default in (
            (
                "subscribe",
                options.subscribe_proxy_enabled,
                options.subscribe_proxy_name,
                proxies.subscribe,
            ),
            ("publish", options.publish_proxy_enabled, options.publish_proxy_name, proxies.publish),
            (
                "sub_refresh",
                options.sub_refresh_proxy_enabled,
                options.sub_refresh_proxy_name,
                proxies.sub_refresh,
            ),
            (
                "subscribe_stream",
                options.subscribe_stream_proxy_enabled,
                options.subscribe_stream_proxy_name,
                proxies.subscribe_stream,
            ),
        ):
            self.proxy_reference(
                f"{path}.{kind}_proxy_name", name, enabled, f"channel.proxy.{kind}", default
            )

    def proxy_reference(
        self, path: str, name: str, enabled: bool, default_path: str, default: ProxyConfig
    ) -> None:
        if name and name not in self.proxy_names:
            self.add(path, f'proxy "{name}" is not defined in proxies')
        elif enabled and name in ("", DEFAULT_PROXY_NAME):
            self.proxy(default_path, default)

    def check_rpc(self) -> None:
        rpc = self.config.rpc
        self.rpc_options("rpc.without_namespace", rpc.without_namespace)
        names: set[str] = set()
        for index, namespace in enumerate(rpc.namespaces):
            path = f"rpc.namespaces[{index}]"
            if not _NAME_RE.match(namespace.name):
                self.add(
                    f"{path}.name",
                    f'invalid rpc namespace name "{namespace.name}", must match {NAME_PATTERN}',
                )
            elif namespace.name in names:
                self.add(f"{path}.name", f'duplicate rpc namespace name "{namespace.name}"')
            names.add(namespace.name)
            self.rpc_options(path, namespace)
        if rpc.ping.enabled and not rpc.ping.method:
            self.add("rpc.ping.method", "must not be empty")
        if not rpc.namespace_boundary:
            self.add("rpc.namespace_boundary", "must not be empty")

    def rpc_options(self, path: str, options: RpcOptions) -> None:
        self.proxy_reference(
            f"{path}.proxy_name",
            options.proxy_name,
            options.proxy_enabled,
            "rpc.proxy",
            self.config.rpc.proxy,
        )

    def check_transports(self) -> None:
        config = self.config
        for path, value in (
            ("websocket.message_size_limit", config.websocket.message_size_limit),
            ("websocket.compression_min_size", config.websocket.compression_min_size),
            ("websocket.read_buffer_size", config.websocket.read_buffer_size),
            ("websocket.write_buffer_size", config.websocket.write_buffer_size),
            ("websocket.write_timeout", config.websocket.write_timeout),
            (
                "websocket.decompressed_message_size_limit",
                config.websocket.decompressed_message_size_limit,
            ),
            ("uni_websocket.message_size_limit", config.uni_websocket.message_size_limit),
            ("uni_websocket.write_timeout", config.uni_websocket.write_timeout),
            ("sse.max_request_body_size", config.sse.max_request_body_size),
            ("http_stream.max_request_body_size", config.http_stream.max_request_body_size),
            ("uni_sse.max_request_body_size", config.uni_sse.max_request_body_size),
            (
                "uni_http_stream.max_request_body_size",
                config.uni_http_stream.max_request_body_size,
            ),
            ("emulation.max_request_body_size", config.emulation.max_request_body_size),
            ("webtransport.message_size_limit", config.webtransport.message_size_limit),
            ("grpc_api.max_receive_message_size", config.grpc_api.max_receive_message_size),
            ("uni_grpc.max_receive_message_size", config.uni_grpc.max_receive_message_size),
        ):
            self.non_negative(path, value)
        for path, level in (
            ("websocket.compression_level", config.websocket.compression_level),
            ("uni_websocket.compression_level", config.uni_websocket.compression_level),
        ):
            if not -2 <= level <= 9:
                self.add(path, f"must be between -2 and 9, got {level}")
        for path, prefix in (
            ("websocket.handler_prefix", config.websocket.handler_prefix),
            ("http_api.handler_prefix", config.http_api.handler_prefix),
        ):
            if prefix and not prefix.startswith("/"):
                self.add(path, f'must start with "/", got "{prefix}"')


def _join(path: str, key: str) -> str:
    return f"{path}.{key}"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
