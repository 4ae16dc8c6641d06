"""Loading the configuration: formats, environment, flags, conversions, unknown keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from whirlwind.auth.tokens import TokenSettings
from whirlwind.config.load import (
    LoadedConfig,
    env_var_names,
    format_duration,
    load_config,
    parse_duration,
)
from whirlwind.config.schema import Config, NamespaceConfig
from whirlwind.errors import ConfigError

# channels-config.md §2, verbatim.
SPEC_EXAMPLE = {
    "client": {"token": {"hmac_secret_key": "k1"}, "allowed_origins": ["https://app.example"]},
    "http_api": {"key": "api-secret"},
    "channel": {
        "without_namespace": {"allow_subscribe_for_client": True},
        "namespaces": [
            {
                "name": "chat",
                "presence": True,
                "join_leave": True,
                "force_push_join_leave": True,
                "history_size": 50,
                "history_ttl": "300s",
                "force_recovery": True,
                "allow_subscribe_for_client": True,
                "allow_publish_for_subscriber": True,
                "allow_history_for_subscriber": True,
                "allow_presence_for_subscriber": True,
            },
            {
                "name": "personal",
                "allow_user_limited_channels": True,
                "history_size": 10,
                "history_ttl": "60s",
            },
        ],
    },
}

TOML_EXAMPLE = """
[client]
allowed_origins = ["https://app.example"]

[client.token]
hmac_secret_key = "k1"

[http_api]
key = "api-secret"

[channel.without_namespace]
allow_subscribe_for_client = true

[[channel.namespaces]]
name = "chat"
presence = true
join_leave = true
force_push_join_leave = true
history_size = 50
history_ttl = "300s"
force_recovery = true
allow_subscribe_for_client = true
allow_publish_for_subscriber = true
allow_history_for_subscriber = true
allow_presence_for_subscriber = true

[[channel.namespaces]]
name = "personal"
allow_user_limited_channels = true
history_size = 10
history_ttl = "60s"
"""


def write_json(tmp_path: Path, data: object, name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def load(tmp_path: Path, data: object, **env: str) -> LoadedConfig:
    return load_config(write_json(tmp_path, data), env=env, flags={})


def problems_of(tmp_path: Path, data: object, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data, **env)
    return info.value.problems


# --------------------------------------------------------------------------- files


def test_spec_example_loads_without_warnings(tmp_path: Path) -> None:
    """The v6 example of the spec loads cleanly, with durations in seconds."""
    loaded = load(tmp_path, SPEC_EXAMPLE)
    assert loaded.warnings == []
    assert loaded.unknown_keys == []
    assert loaded.source == str(tmp_path / "config.json")
    config = loaded.config
    assert config.client.token == TokenSettings(hmac_secret_key="k1")
    assert config.client.allowed_origins == ("https://app.example",)
    assert config.http_api.key == "api-secret"
    chat = config.channel.namespaces[0]
    assert isinstance(chat, NamespaceConfig)
    assert chat.name == "chat"
    assert chat.history_size == 50
    assert chat.history_ttl == 300.0
    assert chat.force_recovery and chat.presence
    assert config.channel.namespaces[1].allow_user_limited_channels


def test_json_yaml_and_toml_give_the_same_config(tmp_path: Path) -> None:
    """The format follows the extension and does not change the result."""
    from_json = load_config(write_json(tmp_path, SPEC_EXAMPLE), env={}, flags={})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(SPEC_EXAMPLE))
    (tmp_path / "config.yml").write_text(yaml.safe_dump(SPEC_EXAMPLE))
    (tmp_path / "config.toml").write_text(TOML_EXAMPLE)
    for name in ("config.yaml", "config.yml", "config.toml"):
        loaded = load_config(str(tmp_path / name), env={}, flags={})
        assert loaded.config == from_json.config, name
        assert loaded.unknown_keys == []


def test_empty_file_and_empty_yaml_sections_mean_defaults(tmp_path: Path) -> None:
    """``client:`` with nothing under it (YAML null) keeps the defaults."""
    (tmp_path / "c.yaml").write_text("client:\nchannel:\n  namespaces:\n")
    assert load_config(str(tmp_path / "c.yaml"), env={}, flags={}).config == Config()
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(str(tmp_path / "empty.yaml"), env={}, flags={}).config == Config()


def test_no_file_gives_the_default_config() -> None:
    """Without a path the defaults of the schema apply."""
    loaded = load_config(None, env={}, flags={})
    assert loaded.config == Config()
    assert loaded.source is None


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.json"), env={}, flags={})


def test_missing_default_file_is_only_a_warning(tmp_path: Path) -> None:
    """Centrifugo runs from env/flags when the default config.json is absent."""
    loaded = load_config(str(tmp_path / "config.json"), env={}, flags={}, missing_ok=True)
    assert loaded.config == Config()
    assert len(loaded.warnings) == 1
    assert "not found" in loaded.warnings[0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.json", "{not json", "invalid JSON"),
        ("c.yaml", "a: [", "invalid YAML"),
        ("c.toml", "a = ", "invalid TOML"),
        ("c.ini", "[x]", "unsupported config format"),
        ("c.json", "[1, 2]", "must be an object"),
    ],
)
def test_unreadable_files_are_config_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(str(tmp_path / name), env={}, flags={})


# --------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300s", 300.0),
        ("1m30s", 90.0),
        ("720h", 2_592_000.0),
        ("100ms", 0.1),
        ("1.5h", 5400.0),
        ("-1s", -1.0),
        ("0", 0.0),
        ("25", 25.0),
        ("1h2m3s4ms", 3723.004),
        ("500us", 0.0005),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10x", "1h 2m", "5 s", "--1s", "h1"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (604800, "168h0m0s"),
        (90, "1m30s"),
        (1.5, "1.5s"),
        (0, "0s"),
        (0.1, "100ms"),
        (-60, "-1m0s"),
    ],
)
def test_format_duration_is_go_style(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_loose_values_are_converted_like_centrifugo(tmp_path: Path) -> None:
    """Strings for numbers and booleans, one string for a list, numbers for durations."""
    config = load(
        tmp_path,
        {
            "http_server": {"port": "9000", "internal_port": 9001},
            "client": {
                "insecure": "true",
                "allowed_origins": "*",
                "ping_interval": 20,
                "pong_timeout": "5s",
            },
            "engine": {"redis": {"address": "redis://r:6379"}},
        },
    ).config
    assert config.http_server.port == 9000
    assert config.http_server.internal_port == 9001
    assert config.client.insecure is True
    assert config.client.allowed_origins == ("*",)
    assert config.client.ping_interval == 20.0
    assert config.client.pong_timeout == 5.0
    assert config.engine.redis.address == ("redis://r:6379",)


def test_internal_port_string_and_empty(tmp_path: Path) -> None:
    """Centrifugo types internal_port as a string; "" means the main port."""
    assert load(tmp_path, {"http_server": {"internal_port": "9001"}}).config.http_server == (
        Config().http_server.__class__(internal_port=9001)
    )
    assert load(tmp_path, {"http_server": {"internal_port": ""}}).config == Config()


def test_wrong_types_are_problems_naming_the_key(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        {
            "http_server": {"port": "abc"},
            "channel": {"namespaces": [{"name": "chat", "presence": "yes"}]},
            "client": {"ping_interval": "soon", "allowed_origins": [1, {}]},
            "websocket": {"compression": 1},
            "log": "debug",
        },
    )
    assert 'http_server.port: expected an integer, got "abc"' in problems
    assert 'channel.namespaces[0].presence: expected a boolean (true/false), got "yes"' in problems
    assert any(p.startswith('client.ping_interval: invalid duration "soon"') for p in problems)
    assert "client.allowed_origins[1]: expected a string, got an object" in problems
    assert "websocket.compression: expected a boolean (true/false), got 1" in problems
    assert 'log: expected an object, got "debug"' in problems


def test_problems_are_collected_together_with_validation(tmp_path: Path) -> None:
    """Type problems and validation problems come in one ConfigError."""
    problems = problems_of(
        tmp_path,
        {
            "http_server": {"port": True},
            "log": {"level": "loud"},
        },
    )
    assert len(problems) == 2
    assert problems[0].startswith("http_server.port:")
    assert problems[1].startswith("log.level:")


def test_a_field_that_failed_is_not_blamed_again_by_validation(tmp_path: Path) -> None:
    """history_ttl failed to load: "both size and ttl required" would only mislead."""
    problems = problems_of(
        tmp_path,
        {"channel": {"namespaces": [{"name": "chat", "history_size": 5, "history_ttl": []}]}},
    )
    assert problems == [
        'channel.namespaces[0].history_ttl: expected a duration such as "30s", got an array'
    ]


def test_key_aliases_and_ignored_keys(tmp_path: Path) -> None:
    """PRO-only options are accepted silently; the spec's spelling of auto_cache_recovery works."""
    loaded = load(
        tmp_path,
        {
            "channel": {
                "namespaces": [
                    {
                        "name": "news",
                        "subscribe_cel": "true",
                        "batch_max_size": 10,
                        "history_size": 1,
                        "history_ttl": "10s",
                        "force_recovery": True,
                        "force_recovery_mode": "cache",
                        "auto_cache_recover": True,
                    }
                ],
                "proxy": {"map_publish": {"endpoint": "http://x"}},
            },
            "client": {"token": {"insecure_skip_jwks_endpoint_safety_check": True}},
            "consumers": [{"name": "kafka", "type": "kafka", "kafka": {"brokers": ["k:9092"]}}],
            "map_broker": {"type": "memory"},
            "controller": {"anything": 1},
        },
    )
    assert loaded.unknown_keys == []
    assert loaded.config.channel.namespaces[0].auto_cache_recovery is True
    assert loaded.config.consumers[0]["type"] == "kafka"
    assert loaded.config.map_broker == {"type": "memory"}


# --------------------------------------------------------------------------- unknown keys


def test_unknown_key_gets_a_suggestion_with_its_full_path(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            "client": {"tokn": {"hmac_secret_key": "x"}},
            "channel": {"namespaces": [{"name": "chat", "presense": True}]},
            "http_server": {"prot": 80},
            "zzzzzz": 1,
        },
    )
    assert loaded.unknown_keys == [
        'unknown key "client.tokn": did you mean "client.token"?',
        'unknown key "channel.namespaces[0].presense": did you mean '
        '"channel.namespaces[0].presence"?',
        'unknown key "http_server.prot": did you mean "http_server.port"?',
        'unknown key "zzzzzz"',
    ]


def test_misplaced_key_points_to_its_place(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"client": {"hmac_secret_key": "x"}})
    assert loaded.unknown_keys == [
        'unknown key "client.hmac_secret_key": did you mean "client.token.hmac_secret_key"?'
    ]


@pytest.mark.parametrize(
    ("key", "v6"),
    [
        ("api_key", "http_api.key"),
        ("token_hmac_secret_key", "client.token.hmac_secret_key"),
        ("namespaces", "channel.namespaces"),
        ("client_channel_limit", "client.channel_limit"),
        ("presence", "channel.without_namespace.presence"),
        ("websocket_compression", "websocket.compression"),
        ("proxy_subscribe", "channel.without_namespace.subscribe_proxy_enabled"),
    ],
)
def test_v5_keys_point_to_their_v6_place(tmp_path: Path, key: str, v6: str) -> None:
    loaded = load(tmp_path, {key: "x"})
    assert loaded.unknown_keys == [f'unknown key "{key}": Centrifugo v5 key, in v6 it is "{v6}"']


def test_strict_mode_makes_unknown_keys_problems(tmp_path: Path) -> None:
    path = write_json(tmp_path, {"client": {"tokn": {}}})
    with pytest.raises(ConfigError) as info:
        load_config(path, env={}, flags={}, strict=True)
    assert info.value.problems == ['unknown key "client.tokn": did you mean "client.token"?']


# --------------------------------------------------------------------------- environment


def test_env_overrides_file(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        SPEC_EXAMPLE,
        CENTRIFUGO_HTTP_API_KEY="from-env",
        CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY="env-secret",
        CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_PRESENCE="true",
        CENTRIFUGO_CLIENT_PING_INTERVAL="30s",
        CENTRIFUGO_HTTP_SERVER_PORT="9000",
    ).config
    assert config.http_api.key == "from-env"
    assert config.client.token.hmac_secret_key == "env-secret"
    assert config.channel.without_namespace.presence is True
    assert config.channel.without_namespace.allow_subscribe_for_client is True  # from the file
    assert config.client.ping_interval == 30.0
    assert config.http_server.port == 9000


def test_whirlwind_prefix_wins_over_centrifugo_prefix() -> None:
    env = {"CENTRIFUGO_HTTP_API_KEY": "c", "WHIRLWIND_HTTP_API_KEY": "w"}
    assert load_config(None, env=env, flags={}).config.http_api.key == "w"


def test_empty_env_value_means_unset(tmp_path: Path) -> None:
    config = load(tmp_path, SPEC_EXAMPLE, CENTRIFUGO_HTTP_API_KEY="").config
    assert config.http_api.key == "api-secret"


@pytest.mark.parametrize(("text", "value"), [("1", True), ("T", True), ("FALSE", False)])
def test_env_booleans_follow_go_parse_bool(text: str, value: bool) -> None:
    env = {"CENTRIFUGO_CLIENT_INSECURE": text}
    assert load_config(None, env=env, flags={}).config.client.insecure is value


def test_env_lists_maps_and_arrays() -> None:
    env = {
        "CENTRIFUGO_CLIENT_ALLOWED_ORIGINS": "https://a.example https://b.example",
        "CENTRIFUGO_CHANNEL_NAMESPACES": json.dumps(
            [{"name": "chat", "presence": True}, {"name": "feed.v2"}]
        ),
        "CENTRIFUGO_CHANNEL_PROXY_SUBSCRIBE_HTTP_STATIC_HEADERS": '{"X-Token": "t"}',
        "CENTRIFUGO_ENGINE_REDIS_ADDRESS": "redis://a:6379 redis://b:6379",
    }
    config = load_config(None, env=env, flags={}).config
    assert config.client.allowed_origins == ("https://a.example", "https://b.example")
    assert [ns.name for ns in config.channel.namespaces] == ["chat", "feed.v2"]
    assert config.channel.namespaces[0].presence is True
    assert config.channel.proxy.subscribe.http.static_headers == {"X-Token": "t"}
    assert config.engine.redis.address == ("redis://a:6379", "redis://b:6379")


def test_env_per_item_options(tmp_path: Path) -> None:
    """CENTRIFUGO_CHANNEL_NAMESPACES_<NAME>_<OPTION>, names with . and - become _."""
    data = {
        "channel": {"namespaces": [{"name": "chat"}, {"name": "chat-v2"}]},
        "rpc": {"namespaces": [{"name": "users"}]},
        "proxies": [{"name": "backend", "endpoint": "http://a"}],
    }
    config = load(
        tmp_path,
        data,
        CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE="true",
        CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_V2_HISTORY_SIZE="5",
        CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_V2_HISTORY_TTL="1m",
        CENTRIFUGO_RPC_NAMESPACES_USERS_PROXY_ENABLED="true",
        CENTRIFUGO_RPC_NAMESPACES_USERS_PROXY_NAME="backend",
        CENTRIFUGO_PROXIES_BACKEND_TIMEOUT="3s",
        CENTRIFUGO_PROXIES_BACKEND_HTTP_STATIC_HEADERS='{"a": "b"}',
    ).config
    chat, chat_v2 = config.channel.namespaces
    assert chat.presence and not chat.history_size
    assert (chat_v2.history_size, chat_v2.history_ttl, chat_v2.presence) == (5, 60.0, False)
    assert config.rpc.namespaces[0].proxy_enabled
    assert config.proxies[0].timeout == 3.0
    assert config.proxies[0].http.static_headers == {"a": "b"}


def test_env_namespaces_as_space_separated_names() -> None:
    env = {
        "CENTRIFUGO_CHANNEL_NAMESPACES": "chat news",
        "CENTRIFUGO_CHANNEL_NAMESPACES_NEWS_PRESENCE": "1",
    }
    config = load_config(None, env=env, flags={}).config
    assert [ns.name for ns in config.channel.namespaces] == ["chat", "news"]
    news = config.channel_options("news")
    assert isinstance(news, NamespaceConfig)
    assert news == NamespaceConfig(
        name="news", presence=True, history_meta_ttl=config.channel.history_meta_ttl
    )


def test_bad_env_values_are_problems_naming_key_and_variable() -> None:
    env = {
        "CENTRIFUGO_CLIENT_INSECURE": "yes",
        "CENTRIFUGO_HTTP_SERVER_PORT": "http",
        "CENTRIFUGO_CHANNEL_NAMESPACES": "[{",
    }
    with pytest.raises(ConfigError) as info:
        load_config(None, env=env, flags={})
    problems = info.value.problems
    assert (
        "client.insecure (from CENTRIFUGO_CLIENT_INSECURE): "
        'expected a boolean (true/false), got "yes"' in problems
    )
    assert (
        'http_server.port (from CENTRIFUGO_HTTP_SERVER_PORT): expected an integer, got "http"'
        in problems
    )
    assert any(
        p.startswith("channel.namespaces (from CENTRIFUGO_CHANNEL_NAMESPACES): invalid JSON")
        for p in problems
    )


def test_unknown_env_vars_are_reported_with_a_suggestion() -> None:
    env = {
        "CENTRIFUGO_HTTP_API_KYE": "x",
        "WHIRLWIND_LOG_LEVL": "debug",
        "CENTRIFUGO_SERVICE_HOST": "10.0.0.1",  # Kubernetes
        "CENTRIFUGO_PORT_8000_TCP": "tcp://10.0.0.1:8000",  # Kubernetes
        "CENTRIFUGO_VAR_SECRET": "templating",
        "OTHER_THING": "1",
    }
    loaded = load_config(None, env=env, flags={})
    assert loaded.unknown_keys == [
        "unknown environment variable CENTRIFUGO_HTTP_API_KYE: "
        "did you mean CENTRIFUGO_HTTP_API_KEY?",
        "unknown environment variable WHIRLWIND_LOG_LEVL: did you mean WHIRLWIND_LOG_LEVEL?",
    ]


def test_env_var_names_cover_nested_keys() -> None:
    names = env_var_names()
    assert "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY" in names
    assert "CENTRIFUGO_CLIENT_SUBSCRIBE_TO_USER_PERSONAL_CHANNEL_SINGLE_CONNECTION" in names
    assert "CENTRIFUGO_CHANNEL_NAMESPACES" in names
    assert "CENTRIFUGO_ENGINE_REDIS_TLS_ENABLED" in names


# --------------------------------------------------------------------------- flags


def test_flags_override_env_and_file(tmp_path: Path) -> None:
    path = write_json(tmp_path, {"http_server": {"port": 8001}, "log": {"level": "debug"}})
    loaded = load_config(
        path,
        env={"CENTRIFUGO_HTTP_SERVER_PORT": "8002", "CENTRIFUGO_LOG_LEVEL": "warn"},
        flags={"http_server.port": 8003, "log.level": None, "client.insecure": True},
    )
    assert loaded.config.http_server.port == 8003
    assert loaded.config.log.level == "warn"  # the flag was not given
    assert loaded.config.client.insecure is True


def test_unknown_flag_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown flag key"):
        load_config(None, env={}, flags={"http_server.prot": 1})


# --------------------------------------------------------------------------- schema helpers


def test_channel_options_resolve_globals() -> None:
    """Namespaces fall back to channel.history_meta_ttl / publication_data_format only."""
    config = load_config(
        None,
        env={
            "CENTRIFUGO_CHANNEL_NAMESPACES": json.dumps(
                [
                    {"name": "aa"},
                    {"name": "bb", "history_meta_ttl": "2h", "publication_data_format": "binary"},
                ]
            ),
            "CENTRIFUGO_CHANNEL_HISTORY_META_TTL": "1h",
            "CENTRIFUGO_CHANNEL_PUBLICATION_DATA_FORMAT": "json",
            "CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_PRESENCE": "true",
        },
        flags={},
    ).config
    a, b = config.channel_options("aa"), config.channel_options("bb")
    top = config.channel_options(None)
    assert a is not None and b is not None and top is not None
    assert (a.history_meta_ttl, a.publication_data_format) == (3600.0, "json")
    assert (b.history_meta_ttl, b.publication_data_format) == (7200.0, "binary")
    assert top.presence and top.history_meta_ttl == 3600.0
    assert config.channel_options("missing") is None


def test_subscription_token_settings() -> None:
    env = {
        "CENTRIFUGO_CLIENT_SUBSCRIPTION_TOKEN_ENABLED": "true",
        "CENTRIFUGO_CLIENT_SUBSCRIPTION_TOKEN_HMAC_SECRET_KEY": "sub",
        "CENTRIFUGO_CLIENT_SUBSCRIPTION_TOKEN_USER_ID_CLAIM": "uid",
    }
    sub = load_config(None, env=env, flags={}).config.client.subscription_token
    assert sub.enabled
    assert sub.settings() == TokenSettings(hmac_secret_key="sub", user_id_claim="uid")


# A production-style Centrifugo v6 configuration touching every section Whirlwind accepts,
# including the ones it does not implement: none of it may warn.
CENTRIFUGO_V6_FULL = {
    "http_server": {
        "address": "0.0.0.0",
        "port": 8000,
        "internal_address": "127.0.0.1",
        "internal_port": "9000",
        "tls": {"enabled": False, "cert_pem": "/etc/tls/cert.pem", "key_pem": "/etc/tls/key.pem"},
        "tls_autocert": {"enabled": False, "host_whitelist": ["rt.example.com"], "http": True},
        "tls_external": False,
        "internal_tls": {"enabled": False},
        "http3": {"enabled": False},
    },
    "log": {"level": "info", "file": ""},
    "engine": {
        "type": "redis",
        "redis": {
            "address": ["redis://r1:6379", "redis://r2:6379"],
            "prefix": "rt",
            "connect_timeout": "1s",
            "io_timeout": "4s",
            "tls": {"enabled": False},
            "history_use_lists": False,
            "presence_ttl": "60s",
            "presence_user_mapping": True,
        },
    },
    "broker": {
        "enabled": False,
        "type": "nats",
        "nats": {
            "url": "nats://n:4222",
            "raw_mode": {"enabled": False, "channel_replacements": {}},
        },
    },
    "presence_manager": {"enabled": False, "type": "redis", "redis": {"address": "r3:6379"}},
    "client": {
        "allowed_origins": ["https://*.example.com"],
        "token": {
            "hmac_secret_key": "secret",
            "hmac_previous_secret_key": "old",
            "hmac_previous_secret_key_valid_until": 1700000000,
            "audience": "rt",
            "issuer": "auth.example.com",
        },
        "subscription_token": {"enabled": True, "hmac_secret_key": "sub"},
        "proxy": {
            "connect": {
                "enabled": True,
                "endpoint": "http://backend/centrifugo/connect",
                "timeout": "2s",
                "http_headers": ["Cookie", "Authorization"],
                "http": {
                    "static_headers": {"X-From": "rt"},
                    "status_to_code_transforms": [
                        {"status_code": 404, "to_error": {"code": 404, "message": "not found"}}
                    ],
                },
            },
            "refresh": {"enabled": True, "endpoint": "grpc://backend:10001"},
        },
        "allow_anonymous_connect_without_token": False,
        "ping_interval": "25s",
        "pong_timeout": "8s",
        "expired_close_delay": "25s",
        "stale_close_delay": "10s",
        "channel_limit": 128,
        "queue_max_size": 1048576,
        "presence_update_interval": "27s",
        "connection_limit": 10000,
        "user_connection_limit": 10,
        "history_max_publication_limit": 300,
        "recovery_max_publication_limit": 300,
        "subscribe_to_user_personal_channel": {
            "enabled": True,
            "personal_channel_namespace": "personal",
            "single_connection": True,
        },
        "connect_code_to_unidirectional_disconnect": {
            "enabled": True,
            "transforms": [{"code": 109, "to": {"code": 4501, "reason": "token expired"}}],
        },
    },
    "channel": {
        "history_meta_ttl": "168h",
        "publication_data_format": "json",
        "max_length": 255,
        "proxy": {
            "subscribe": {"endpoint": "http://backend/centrifugo/subscribe"},
            "publish": {"endpoint": "http://backend/centrifugo/publish", "timeout": "500ms"},
        },
        "without_namespace": {"presence": False},
        "namespaces": [
            {
                "name": "chat",
                "presence": True,
                "join_leave": True,
                "history_size": 100,
                "history_ttl": "24h",
                "force_recovery": True,
                "allowed_delta_types": ["fossil"],
                "delta_publish": True,
                "allow_tags_filter": True,
                "subscribe_proxy_enabled": True,
                "publish_proxy_enabled": True,
                "publish_proxy_name": "moderation",
                "channel_regex": "^[a-z0-9_]+$",
            },
            {"name": "personal", "presence": True, "allow_user_limited_channels": True},
        ],
    },
    "rpc": {
        "proxy": {"endpoint": "http://backend/centrifugo/rpc"},
        "without_namespace": {"proxy_enabled": True},
        "namespaces": [{"name": "users", "proxy_enabled": True, "proxy_name": "moderation"}],
        "ping": {"enabled": True, "method": "ping"},
    },
    "proxies": [{"name": "moderation", "endpoint": "grpc://moderation:9000", "timeout": "1s"}],
    "http_api": {"key": "api", "handler_prefix": "/api", "external": False},
    "grpc_api": {"enabled": True, "port": 10000, "key": "grpc", "reflection": True},
    "consumers": [
        {
            "name": "outbox",
            "enabled": False,
            "type": "postgresql",
            "postgresql": {"dsn": "postgres://db", "outbox_table_name": "outbox"},
        }
    ],
    "websocket": {"compression": True, "compression_level": 1, "write_timeout": "1000ms"},
    "sse": {"enabled": True},
    "http_stream": {"enabled": True},
    "uni_websocket": {"enabled": True, "join_push_messages": True},
    "uni_sse": {"enabled": True, "connect_code_to_http_response": {"enabled": False}},
    "uni_http_stream": {"enabled": True},
    "uni_grpc": {"enabled": False, "port": 11000},
    "webtransport": {"enabled": False},
    "emulation": {"max_request_body_size": 65536},
    "admin": {"enabled": True, "password": "p", "secret": "s", "external": False},
    "prometheus": {"enabled": True, "instrument_http_handlers": True},
    "health": {"enabled": True},
    "swagger": {"enabled": False},
    "debug": {"enabled": False},
    "init": {"enabled": False},
    "opentelemetry": {"enabled": False, "api": True},
    "graphite": {"enabled": False, "host": "graphite", "port": 2003, "interval": "10s"},
    "usage_stats": {"disabled": True},
    "node": {"name": "rt-1", "info_metrics_aggregate_interval": "60s"},
    "shutdown": {"timeout": "30s"},
    "pid_file": "/run/rt.pid",
    "enable_unreleased_features": False,
}


def test_full_centrifugo_v6_config_loads_without_warnings(tmp_path: Path) -> None:
    loaded = load(tmp_path, CENTRIFUGO_V6_FULL)
    assert loaded.unknown_keys == []
    assert loaded.warnings == []
    config = loaded.config
    assert config.http_server.internal_port == 9000
    assert config.engine.redis.address == ("redis://r1:6379", "redis://r2:6379")
    assert config.presence_manager.redis.address == ("r3:6379",)
    assert config.client.proxy.connect.timeout == 2.0
    assert config.client.proxy.connect.http.static_headers == {"X-From": "rt"}
    assert config.client.token.hmac_previous_secret_key_valid_until == 1700000000
    assert config.channel.proxy.publish.timeout == 0.5
    assert config.channel.history_meta_ttl == 168 * 3600
    assert config.proxies[0].name == "moderation"
    assert config.websocket.write_timeout == 1.0
    assert config.node.name == "rt-1"
    chat = config.channel_options("chat")
    assert chat is not None and chat.publication_data_format == "json"
