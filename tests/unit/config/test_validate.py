"""validate(): every problem, prefixed by its key path (channels-config.md §3.1)."""

from __future__ import annotations

import dataclasses

import pytest

from whirlwind.auth.tokens import TokenSettings
from whirlwind.config.schema import (
    ChannelConfig,
    ChannelOptions,
    ChannelProxyConfig,
    ClientConfig,
    ClientProxyConfig,
    Config,
    EnabledProxyConfig,
    GRPCAPIConfig,
    HTTPAPIConfig,
    HTTPServerConfig,
    LogConfig,
    NamedProxyConfig,
    NamespaceConfig,
    PersonalChannelConfig,
    ProxyConfig,
    RpcConfig,
    RpcNamespaceConfig,
    RpcOptions,
    SubscriptionTokenConfig,
    WebSocketConfig,
)
from whirlwind.config.validate import validate


def with_namespaces(*namespaces: NamespaceConfig, **channel: object) -> Config:
    return Config(channel=ChannelConfig(namespaces=namespaces, **channel))  # type: ignore[arg-type]


def with_options(**options: object) -> Config:
    return with_namespaces(NamespaceConfig(name="chat", **options))  # type: ignore[arg-type]


def test_default_config_is_valid() -> None:
    assert validate(Config()) == []


def test_a_rich_valid_config_has_no_problems() -> None:
    config = Config(
        client=ClientConfig(
            token=TokenSettings(hmac_secret_key="k"),
            subscribe_to_user_personal_channel=PersonalChannelConfig(
                enabled=True, personal_channel_namespace="personal", single_connection=True
            ),
        ),
        channel=ChannelConfig(
            namespaces=(
                NamespaceConfig(
                    name="chat",
                    history_size=10,
                    history_ttl=300,
                    force_recovery=True,
                    force_recovery_mode="cache",
                    auto_cache_recovery=True,
                    allowed_delta_types=("fossil",),
                    channel_regex=r"^[a-z]+$",
                    publication_data_format="json_object",
                    publish_proxy_enabled=True,
                    publish_proxy_name="backend",
                ),
                NamespaceConfig(name="personal", presence=True),
            ),
        ),
        proxies=(NamedProxyConfig(name="backend", endpoint="http://backend/publish"),),
    )
    assert validate(config) == []


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"history_size": 10},
            "channel.namespaces[0]: both history_size and history_ttl are required for history",
        ),
        (
            {"history_ttl": 60.0},
            "channel.namespaces[0]: both history_size and history_ttl are required for history",
        ),
        (
            {"history_size": 1, "history_ttl": 1.5},
            "channel.namespaces[0].history_ttl: must be a whole number of seconds, got 1.5s",
        ),
        (
            {"history_size": 1, "history_ttl": 120.0, "history_meta_ttl": 60.0},
            "channel.namespaces[0].history_ttl: history ttl (120s) can not be greater than "
            "history meta ttl (60s)",
        ),
        (
            {"force_recovery": True},
            "channel.namespaces[0].force_recovery: both history_size and history_ttl are "
            "required for recovery",
        ),
        (
            {
                "history_size": 1,
                "history_ttl": 1.0,
                "force_recovery": True,
                "auto_cache_recovery": True,
            },
            "channel.namespaces[0].auto_cache_recovery: requires force_recovery and "
            'force_recovery_mode "cache"',
        ),
        (
            {"force_recovery_mode": "replay"},
            'channel.namespaces[0].force_recovery_mode: unknown value "replay", expected one '
            'of "", "stream", "cache"',
        ),
        (
            {"allowed_delta_types": ("fossil", "xdelta")},
            'channel.namespaces[0].allowed_delta_types[1]: unknown value "xdelta", expected '
            'one of "fossil"',
        ),
        (
            {"publication_data_format": "xml"},
            'channel.namespaces[0].publication_data_format: unknown value "xml", expected one '
            'of "", "json", "json_object", "binary"',
        ),
        (
            {"subscription_type": "map"},
            'channel.namespaces[0].subscription_type: "map" subscriptions are not supported '
            'by Whirlwind (only "stream")',
        ),
        (
            {
                "subscribe_stream_proxy_enabled": True,
                "subscribe_proxy_enabled": True,
                "subscribe_proxy_name": "other",
            },
            "channel.namespaces[0].subscribe_stream_proxy_enabled: can not be used together "
            "with subscribe, publish or sub_refresh proxies",
        ),
        (
            {"publish_proxy_name": "missing"},
            'channel.namespaces[0].publish_proxy_name: proxy "missing" is not defined in proxies',
        ),
        (
            {"publish_proxy_enabled": True},
            "channel.proxy.publish.endpoint: required when the proxy is used",
        ),
        (
            {"history_size": -1, "history_ttl": 10.0},
            "channel.namespaces[0].history_size: must not be negative, got -1",
        ),
    ],
)
def test_channel_option_problems(options: dict[str, object], problem: str) -> None:
    assert problem in validate(with_options(**options))


def test_channel_regex_must_compile() -> None:
    (problem,) = validate(with_options(channel_regex="(["))
    assert problem.startswith("channel.namespaces[0].channel_regex: invalid regular expression")


def test_history_meta_ttl_falls_back_to_the_global_value() -> None:
    """A namespace's meta ttl 0 means channel.history_meta_ttl (720h by default)."""
    assert validate(with_options(history_size=1, history_ttl=86400.0)) == []
    config = with_namespaces(
        NamespaceConfig(name="chat", history_size=1, history_ttl=7200.0), history_meta_ttl=3600.0
    )
    assert validate(config) == [
        "channel.namespaces[0].history_ttl: history ttl (7200s) can not be greater than "
        "history meta ttl (3600s)"
    ]


def test_without_namespace_options_are_checked() -> None:
    config = Config(channel=ChannelConfig(without_namespace=ChannelOptions(history_size=3)))
    assert validate(config) == [
        "channel.without_namespace: both history_size and history_ttl are required for history"
    ]


def test_default_proxy_with_endpoint_is_fine() -> None:
    config = Config(
        channel=ChannelConfig(
            namespaces=(NamespaceConfig(name="chat", subscribe_proxy_enabled=True),),
            proxy=ChannelProxyConfig(subscribe=ProxyConfig(endpoint="grpc://backend:9000")),
        )
    )
    assert validate(config) == []


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (
            ("x",),
            'channel.namespaces[0].name: invalid namespace name "x", must match '
            "^[-a-zA-Z0-9_.]{2,}$",
        ),
        (("chat", "news", "chat"), 'channel.namespaces[2].name: duplicate namespace name "chat"'),
        (
            ("with space",),
            'channel.namespaces[0].name: invalid namespace name "with space", '
            "must match ^[-a-zA-Z0-9_.]{2,}$",
        ),
    ],
)
def test_namespace_names(names: tuple[str, ...], problem: str) -> None:
    config = with_namespaces(*(NamespaceConfig(name=name) for name in names))
    assert validate(config) == [problem]


def test_dotted_namespace_names_are_valid() -> None:
    """The code's regex allows '.', unlike the docs (channels-config.md §1.4)."""
    assert validate(with_namespaces(NamespaceConfig(name="feed.v2"))) == []


def test_personal_channel_namespace_must_exist() -> None:
    config = Config(
        client=ClientConfig(
            subscribe_to_user_personal_channel=PersonalChannelConfig(
                enabled=True, personal_channel_namespace="personal"
            )
        )
    )
    assert validate(config) == [
        "client.subscribe_to_user_personal_channel.personal_channel_namespace: namespace "
        '"personal" is not defined in channel.namespaces'
    ]


def test_single_connection_needs_presence() -> None:
    personal = PersonalChannelConfig(
        enabled=True, personal_channel_namespace="personal", single_connection=True
    )
    config = Config(
        client=ClientConfig(subscribe_to_user_personal_channel=personal),
        channel=ChannelConfig(namespaces=(NamespaceConfig(name="personal"),)),
    )
    assert validate(config) == [
        "client.subscribe_to_user_personal_channel.single_connection: requires presence in "
        "the personal channel namespace (personal)"
    ]


def test_ping_interval_must_exceed_pong_timeout() -> None:
    config = Config(client=ClientConfig(ping_interval=5.0, pong_timeout=8.0))
    assert validate(config) == [
        "client.ping_interval: must be greater than client.pong_timeout (5s <= 8s)"
    ]
    # -1 disables pings, and then there is nothing to compare.
    assert validate(Config(client=ClientConfig(ping_interval=-1.0))) == []


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            Config(http_server=HTTPServerConfig(port=70000)),
            "http_server.port: port must be between 0 and 65535, got 70000",
        ),
        (
            Config(http_server=HTTPServerConfig(internal_port=-1)),
            "http_server.internal_port: port must be between 0 and 65535, got -1",
        ),
        (
            Config(client=ClientConfig(channel_limit=-5)),
            "client.channel_limit: must not be negative, got -5",
        ),
        (
            Config(client=ClientConfig(queue_max_size=-1)),
            "client.queue_max_size: must not be negative, got -1",
        ),
        (
            Config(websocket=WebSocketConfig(message_size_limit=-1)),
            "websocket.message_size_limit: must not be negative, got -1",
        ),
        (
            Config(websocket=WebSocketConfig(compression_level=12)),
            "websocket.compression_level: must be between -2 and 9, got 12",
        ),
        (
            Config(log=LogConfig(level="verbose")),
            'log.level: unknown value "verbose", expected one of "none", "trace", "debug", '
            '"info", "warn", "error"',
        ),
        (
            Config(http_api=HTTPAPIConfig(error_mode="status")),
            'http_api.error_mode: unknown value "status", expected one of "", "transport"',
        ),
        (
            Config(grpc_api=GRPCAPIConfig(error_mode="x")),
            'grpc_api.error_mode: unknown value "x", expected one of "", "transport"',
        ),
        (
            Config(channel=ChannelConfig(max_length=0)),
            "channel.max_length: must be positive, got 0",
        ),
        (
            Config(channel=ChannelConfig(publication_data_format="yaml")),
            'channel.publication_data_format: unknown value "yaml", expected one of "", '
            '"json", "json_object", "binary"',
        ),
        (
            Config(channel=ChannelConfig(history_meta_ttl=0.5)),
            "channel.history_meta_ttl: must be a whole number of seconds, got 0.5s",
        ),
    ],
)
def test_ranges_and_enumerations(config: Config, problem: str) -> None:
    assert validate(config) == [problem]


@pytest.mark.parametrize("level", ["none", "trace", "debug", "info", "warn", "error", "INFO"])
def test_log_levels(level: str) -> None:
    assert validate(Config(log=LogConfig(level=level))) == []


def test_engine_types() -> None:
    config = dataclasses.replace(
        Config(), engine=dataclasses.replace(Config().engine, type="tarantool")
    )
    assert validate(config) == [
        'engine.type: unknown value "tarantool", expected one of "memory", "redis"'
    ]


def test_named_proxies() -> None:
    config = Config(
        proxies=(
            NamedProxyConfig(name="default", endpoint="http://a"),
            NamedProxyConfig(name="ok", endpoint="http://a"),
            NamedProxyConfig(name="ok", endpoint="http://b"),
            NamedProxyConfig(name="no-endpoint", timeout=0.0),
        )
    )
    assert validate(config) == [
        'proxies[0].name: proxy name "default" is reserved',
        'proxies[2].name: duplicate proxy name "ok"',
        "proxies[3].endpoint: required when the proxy is used",
        "proxies[3].timeout: must be positive",
    ]


def test_enabled_connect_proxy_needs_an_endpoint() -> None:
    config = Config(
        client=ClientConfig(proxy=ClientProxyConfig(connect=EnabledProxyConfig(enabled=True)))
    )
    assert validate(config) == ["client.proxy.connect.endpoint: required when the proxy is used"]


def test_rpc_namespaces() -> None:
    config = Config(
        rpc=RpcConfig(
            without_namespace=RpcOptions(proxy_enabled=True),
            namespaces=(
                RpcNamespaceConfig(name="users", proxy_name="nope"),
                RpcNamespaceConfig(name="users"),
                RpcNamespaceConfig(name="!"),
            ),
        )
    )
    assert validate(config) == [
        "rpc.proxy.endpoint: required when the proxy is used",
        'rpc.namespaces[0].proxy_name: proxy "nope" is not defined in proxies',
        'rpc.namespaces[1].name: duplicate rpc namespace name "users"',
        'rpc.namespaces[2].name: invalid rpc namespace name "!", must match ^[-a-zA-Z0-9_.]{2,}$',
    ]


def test_token_settings_are_checked_by_the_verifier() -> None:
    config = Config(
        client=ClientConfig(
            token=TokenSettings(user_id_claim="user-id", rsa_public_key="not a pem"),
            subscription_token=SubscriptionTokenConfig(enabled=True, audience_regex="(["),
        )
    )
    problems = validate(config)
    assert "client.token.user_id_claim: must match ^[a-zA-Z_]+$" in problems
    assert "client.token.rsa_public_key: not a PEM public key or certificate" in problems
    assert any(p.startswith("client.subscription_token.audience_regex:") for p in problems)
    assert len(problems) == 3


def test_every_problem_is_reported_at_once() -> None:
    config = Config(
        http_server=HTTPServerConfig(port=-1),
        log=LogConfig(level="loud"),
        channel=ChannelConfig(namespaces=(NamespaceConfig(name="x", history_size=1),)),
    )
    problems = validate(config)
    assert [p.split(":")[0] for p in problems] == [
        "http_server.port",
        "log.level",
        "channel.namespaces[0].name",
        "channel.namespaces[0]",
    ]


def test_tls_features_we_lack_are_refused_not_ignored() -> None:
    """Serving plain HTTP where TLS was asked for would be worse than not starting."""
    from whirlwind.config.schema import HTTP3Config, TLSAutocertConfig

    config = Config(
        http_server=HTTPServerConfig(
            tls_autocert=TLSAutocertConfig(enabled=True), http3=HTTP3Config(enabled=True)
        )
    )
    problems = "\n".join(validate(config))
    assert "http_server.tls_autocert.enabled: automatic certificates are not supported" in problems
    assert "http_server.http3.enabled: HTTP/3 is not supported" in problems
