"""The ``whirlwind`` command line (channels-config.md §8).

Sub-commands mirror Centrifugo's: ``serve`` runs the server (Centrifugo runs it without a
sub-command) with the same ``--section.key`` flags, ``genconfig``, ``checkconfig``,
``gentoken``, ``gensubtoken``, ``checktoken``, ``checksubtoken`` and ``version``.

This module and ``app.py`` are the only places that read ``os.environ``; the environment
is passed to :func:`whirlwind.config.load.load_config` like any other input. A missing
*default* ``config.json`` is only a warning (Centrifugo's behaviour); a missing file given
with ``-c`` is an error. Unlike Centrifugo, ``checkconfig`` always treats unknown keys as
errors (``--strict`` is accepted and implied).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import click
import yaml
from click.core import ParameterSource

import whirlwind
from whirlwind.auth.tokens import TokenSettings, TokenVerifier, make_token
from whirlwind.config.load import LoadedConfig, format_duration, load_config
from whirlwind.errors import ConfigError, InvalidToken, TokenExpired

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])

DEFAULT_CONFIG: Final = "config.json"
DEFAULT_TOKEN_TTL: Final = 604800
"""One week, as in Centrifugo's ``gentoken``."""

# (option declarations, configuration key, type, help) of ``serve``; booleans are flags.
_SERVE_FLAGS: Final[tuple[tuple[tuple[str, ...], str, type, str], ...]] = (
    (("-a", "--http_server.address"), "http_server.address", str, "interface address to listen on"),
    (("-p", "--http_server.port"), "http_server.port", int, "port to bind the HTTP server to"),
    (
        ("--http_server.internal_address",),
        "http_server.internal_address",
        str,
        "interface address for internal endpoints (API, admin, metrics, health)",
    ),
    (
        ("--http_server.internal_port",),
        "http_server.internal_port",
        int,
        "separate port for internal endpoints",
    ),
    (("--engine.type",), "engine.type", str, "engine to use: memory or redis"),
    (("--broker.enabled",), "broker.enabled", bool, "enable a separate broker"),
    (("--broker.type",), "broker.type", str, "broker to use: memory, redis or nats"),
    (
        ("--presence_manager.enabled",),
        "presence_manager.enabled",
        bool,
        "enable a separate presence manager",
    ),
    (("--presence_manager.type",), "presence_manager.type", str, "presence manager to use"),
    (
        ("--log.level",),
        "log.level",
        str,
        "log level: none, trace, debug, info, warn or error",
    ),
    (("--log.file",), "log.file", str, "log to this file instead of standard output"),
    (("--pid_file",), "pid_file", str, "write the process ID to this file"),
    (("--client.insecure",), "client.insecure", bool, "insecure client mode (development)"),
    (("--http_api.insecure",), "http_api.insecure", bool, "no API key required for the HTTP API"),
    (("--http_api.external",), "http_api.external", bool, "serve the HTTP API on the main port"),
    (("--admin.enabled",), "admin.enabled", bool, "enable the admin web interface"),
    (("--admin.insecure",), "admin.insecure", bool, "no login for the admin web interface"),
    (("--admin.external",), "admin.external", bool, "serve the admin interface on the main port"),
    (("--prometheus.enabled",), "prometheus.enabled", bool, "enable the Prometheus endpoint"),
    (("--health.enabled",), "health.enabled", bool, "enable the health check endpoint"),
    (("--swagger.enabled",), "swagger.enabled", bool, "enable Swagger UI for the HTTP API"),
    (("--debug.enabled",), "debug.enabled", bool, "enable debug endpoints"),
    (("--grpc_api.enabled",), "grpc_api.enabled", bool, "enable the GRPC API server"),
    (("--grpc_api.port",), "grpc_api.port", int, "port of the GRPC API server"),
    (("--sse.enabled",), "sse.enabled", bool, "enable the bidirectional SSE transport"),
    (
        ("--http_stream.enabled",),
        "http_stream.enabled",
        bool,
        "enable the bidirectional HTTP-streaming transport",
    ),
    (
        ("--uni_websocket.enabled",),
        "uni_websocket.enabled",
        bool,
        "enable the unidirectional WebSocket transport",
    ),
    (("--uni_sse.enabled",), "uni_sse.enabled", bool, "enable the unidirectional SSE transport"),
    (
        ("--uni_http_stream.enabled",),
        "uni_http_stream.enabled",
        bool,
        "enable the unidirectional HTTP-streaming transport",
    ),
    (("--uni_grpc.enabled",), "uni_grpc.enabled", bool, "enable the unidirectional GRPC server"),
    (("--uni_grpc.port",), "uni_grpc.port", int, "port of the unidirectional GRPC server"),
    (("-n", "--node.name"), "node.name", str, "node name shown in info and the admin UI"),
)


def _param_name(key: str) -> str:
    return "flag_" + key.replace(".", "__")


def _server_flags(function: _F) -> _F:
    """Add every option of :data:`_SERVE_FLAGS` to a command."""
    for declarations, key, kind, help_text in reversed(_SERVE_FLAGS):
        if kind is bool:
            option = click.option(
                *declarations, _param_name(key), is_flag=True, default=None, help=help_text
            )
        else:
            option = click.option(
                *declarations, _param_name(key), type=kind, default=None, help=help_text
            )
        function = option(function)
    return function


def _config_option(function: _F) -> _F:
    return click.option(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="configuration file (.json, .yaml, .yml or .toml)",
    )(function)


def _fail(message: str, problems: list[str] | None = None) -> NoReturn:
    click.echo(f"whirlwind: {message}", err=True)
    for problem in problems or ():
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


def _load(
    ctx: click.Context,
    path: str,
    *,
    flags: Mapping[str, object] | None = None,
    strict: bool = False,
    quiet: bool = False,
) -> LoadedConfig:
    """Load the configuration, or print its problems and exit with status 1."""
    missing_ok = not strict and ctx.get_parameter_source("config") is ParameterSource.DEFAULT
    try:
        loaded = load_config(
            path, env=os.environ, flags=flags or {}, missing_ok=missing_ok, strict=strict
        )
    except ConfigError as exc:
        _fail(f"invalid configuration ({path}):", exc.problems)
    if not quiet:
        for line in (*loaded.warnings, *loaded.unknown_keys):
            click.echo(f"warning: {line}", err=True)
    return loaded


# --------------------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(whirlwind.__version__, "-v", "--version", message="Whirlwind v%(version)s")
def main() -> None:
    """Whirlwind: a real-time messaging server wire-compatible with Centrifugo v6."""


@main.command()
@_config_option
@_server_flags
@click.pass_context
def serve(ctx: click.Context, /, config: str, **options: object) -> None:
    """Run the server (Centrifugo runs it without a sub-command).

    Settings come from the configuration file, then CENTRIFUGO_* / WHIRLWIND_* environment
    variables, then these flags.
    """
    from whirlwind.log import config_logger, configure_logging

    # A boolean flag can only switch an option on; absent, it leaves file and env alone.
    flags = {
        key: options[_param_name(key)] if kind is not bool else (options[_param_name(key)] or None)
        for _, key, kind, _ in _SERVE_FLAGS
    }
    loaded = _load(ctx, config, flags=flags, quiet=True)
    log = loaded.config.log
    try:
        configure_logging(log.level, file=log.file)
    except OSError as exc:
        _fail(f"can not open log.file: {exc}")
    for line in (*loaded.warnings, *loaded.unknown_keys):
        config_logger.warning(line)

    from whirlwind import app  # the composition root imports everything: load it last
    from whirlwind.errors import WhirlwindError

    try:
        app.run(loaded.config)
    except (OSError, WhirlwindError) as exc:
        # A port in use, a bad TLS file…: one clear line and exit 1, not a traceback.
        config_logger.error("server failed to start: %s", exc)
        sys.exit(1)


@main.command()
@_config_option
def genconfig(config: str) -> None:
    """Write a minimal configuration with fresh secrets (JSON, YAML or TOML by extension)."""
    path = Path(config)
    if path.exists():
        _fail(f"{config} already exists, not overwriting it")
    data: dict[str, object] = {
        "client": {
            "token": {"hmac_secret_key": secrets.token_urlsafe(32)},
            "allowed_origins": [],
        },
        "admin": {
            "enabled": False,
            "password": secrets.token_urlsafe(16),
            "secret": secrets.token_urlsafe(32),
        },
        "http_api": {"key": secrets.token_urlsafe(32)},
    }
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    elif suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False)
    elif suffix == ".toml":
        text = _to_toml(data)
    else:
        _fail(f"{config}: unsupported format, use .json, .yaml, .yml or .toml")
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        _fail(f"can not write {config}: {exc}")
    try:
        load_config(config, env={}, flags={}, strict=True)
    except ConfigError as exc:  # our template is wrong: a bug, but say so clearly
        _fail(f"generated configuration {config} is invalid:", exc.problems)
    click.echo(f"{config} written")


@main.command()
@_config_option
@click.option(
    "-s", "--strict", is_flag=True, help="accepted for Centrifugo compatibility (always on)"
)
@click.pass_context
def checkconfig(ctx: click.Context, config: str, strict: bool) -> None:
    """Validate the configuration; exit 1 listing every problem, unknown keys included."""
    del strict  # unknown keys are always errors here
    _load(ctx, config, strict=True)


@main.command()
@_config_option
@click.option("-u", "--user", default="", help="user ID (sub claim); empty: anonymous")
@click.option(
    "-t",
    "--ttl",
    type=int,
    default=DEFAULT_TOKEN_TTL,
    show_default=True,
    help="lifetime in seconds; -1: no expiration",
)
@click.option("-q", "--quiet", is_flag=True, help="print only the token")
@click.pass_context
def gentoken(ctx: click.Context, config: str, user: str, ttl: int, quiet: bool) -> None:
    """Generate an HS256 connection token signed with client.token.hmac_secret_key."""
    settings = _load(ctx, config, quiet=quiet).config.client.token
    token = _sign(settings, "client.token", user, ttl, {})
    if quiet:
        click.echo(token)
    else:
        click.echo(f'HMAC SHA-256 JWT for user "{user}" {_ttl_text(ttl)}:\n{token}')


@main.command()
@_config_option
@click.option("-u", "--user", default="", help="user ID (sub claim)")
@click.option("-s", "--channel", required=True, help="channel the token grants")
@click.option(
    "-t",
    "--ttl",
    type=int,
    default=DEFAULT_TOKEN_TTL,
    show_default=True,
    help="lifetime in seconds; -1: no expiration",
)
@click.option("-q", "--quiet", is_flag=True, help="print only the token")
@click.pass_context
def gensubtoken(
    ctx: click.Context, config: str, user: str, channel: str, ttl: int, quiet: bool
) -> None:
    """Generate an HS256 subscription token (client.subscription_token keys when enabled)."""
    settings, where = _subscription_settings(_load(ctx, config, quiet=quiet))
    token = _sign(settings, where, user, ttl, {"channel": channel})
    if quiet:
        click.echo(token)
    else:
        click.echo(
            f'HMAC SHA-256 JWT for user "{user}" and channel "{channel}" {_ttl_text(ttl)}:\n{token}'
        )


@main.command()
@_config_option
@click.argument("token")
@click.pass_context
def checktoken(ctx: click.Context, config: str, token: str) -> None:
    """Verify a connection token with the client.token settings."""
    loaded = _load(ctx, config)
    verifier = _verifier(loaded, loaded.config.client.token, "client.token")
    now = time.time()
    try:
        if verifier.uses_jwks:
            result = asyncio.run(verifier.verify_connection_token(token, now=now))
        else:
            result = verifier.verify_connection_token_sync(token, now=now)
    except (TokenExpired, InvalidToken) as exc:
        _fail(f"invalid token: {exc}")
    click.echo(f'valid token for user "{result.user}" with payload: {_payload(token)}')


@main.command()
@_config_option
@click.argument("token")
@click.pass_context
def checksubtoken(ctx: click.Context, config: str, token: str) -> None:
    """Verify a subscription token (client.subscription_token settings when enabled)."""
    loaded = _load(ctx, config)
    settings, where = _subscription_settings(loaded)
    verifier = _verifier(loaded, settings, where)
    now = time.time()
    try:
        if verifier.uses_jwks:
            result = asyncio.run(verifier.verify_subscription_token(token, now=now))
        else:
            result = verifier.verify_subscription_token_sync(token, now=now)
    except (TokenExpired, InvalidToken) as exc:
        _fail(f"invalid token: {exc}")
    click.echo(
        f'valid subscription token for user "{result.user}" and channel "{result.channel}" '
        f"with payload: {_payload(token)}"
    )


@main.command()
def version() -> None:
    """Print the version."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    build = "compiled" if whirlwind.compiled() else "pure Python"
    click.echo(
        f"Whirlwind v{whirlwind.__version__} (Centrifugo v6 compatible, Python {python}, {build})"
    )


@main.command()
@click.option(
    "--url",
    default="ws://127.0.0.1:8000/connection/websocket",
    show_default=True,
    help="subscriber WebSocket endpoint",
)
@click.option(
    "--api", default="http://127.0.0.1:8000/api", show_default=True, help="server API base URL"
)
@click.option("--api-key", default="", help="server API key (X-API-Key)")
@click.option("--token", default="", help="one connection token for every client")
@click.option("--token-secret", default="", help="HMAC secret: mint a token per client")
@click.option("-n", "--clients", default=1000, show_default=True, help="subscriber connections")
@click.option("--channel", default="bench", show_default=True)
@click.option(
    "--rate",
    default=0.0,
    show_default=True,
    help="publications per second; 0 = as fast as the in-flight window allows",
)
@click.option(
    "--inflight",
    default=64,
    show_default=True,
    help="max mode: publications not yet delivered to every subscriber",
)
@click.option("-d", "--duration", default=10.0, show_default=True, help="measurement seconds")
@click.option("--warmup", default=1.0, show_default=True, help="seconds before measuring")
@click.option("--payload", default=100, show_default=True, help="payload size, bytes")
@click.option("--pub-conns", default=16, show_default=True, help="concurrent API publishers")
@click.option(
    "--publish-via",
    type=click.Choice(["api", "client"]),
    default="api",
    show_default=True,
    help="server API or a client connection's publish command",
)
@click.option("--connect-concurrency", default=200, show_default=True)
@click.option(
    "--source-addresses",
    "--source",
    "sources",
    multiple=True,
    help="local addresses to connect from, round-robin: 127.0.0.2-127.0.0.9 or a comma "
    "list (repeatable; one address offers ~28k ephemeral ports)",
)
@click.option("--timeout", default=10.0, show_default=True, help="per-connect/request timeout")
@click.option(
    "--hold",
    default=0.0,
    metavar="SECONDS",
    help="hold mode: publish nothing, keep the clients idle this long answering pings",
)
@click.option(
    "--server-pid",
    type=int,
    default=None,
    help="server process to read RSS from (hold mode: KB per connection)",
)
@click.option("--json", "as_json", is_flag=True, help="print the result as one JSON object")
def bench(as_json: bool, sources: tuple[str, ...], **options: Any) -> None:
    """Load-test a Centrifugo-compatible server: connect, subscribe, publish, measure.

    With --hold, measure idle connections instead: connected, dropped, pings answered and
    (with --server-pid) the server's RSS per connection.
    """
    from whirlwind.bench import BenchOptions, parse_source_addresses, run_bench

    try:
        addresses = tuple(a for text in sources for a in parse_source_addresses(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--source-addresses") from exc
    sys.exit(run_bench(BenchOptions(sources=addresses, **options), as_json=as_json))


# --------------------------------------------------------------------------- helpers


def _subscription_settings(loaded: LoadedConfig) -> tuple[TokenSettings, str]:
    client = loaded.config.client
    if client.subscription_token.enabled:
        return client.subscription_token.settings(), "client.subscription_token"
    return client.token, "client.token"


def _sign(
    settings: TokenSettings, where: str, user: str, ttl: int, extra: dict[str, object]
) -> str:
    if not settings.hmac_secret_key:
        _fail(f"no HMAC secret key: set {where}.hmac_secret_key to generate tokens")
    now = int(time.time())
    claims: dict[str, object] = {settings.user_id_claim or "sub": user, **extra, "iat": now}
    if ttl >= 0:
        claims["exp"] = now + ttl
    return make_token(settings.hmac_secret_key, claims)


def _ttl_text(ttl: int) -> str:
    return "without expiration" if ttl < 0 else f"with expiration TTL {format_duration(ttl)}"


def _verifier(loaded: LoadedConfig, settings: TokenSettings, where: str) -> TokenVerifier:
    try:
        return TokenVerifier(
            settings,
            insecure_skip_signature=loaded.config.client.insecure_skip_token_signature_verify,
            config_path=where,
        )
    except ConfigError as exc:
        _fail("invalid token settings:", exc.problems)


def _payload(token: str) -> str:
    """The claims of an already verified token, as compact JSON."""
    part = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return json.dumps(claims, separators=(",", ":"), ensure_ascii=False)


def _to_toml(data: Mapping[str, object], table: str = "") -> str:
    """Serialise nested mappings of strings, numbers, booleans and lists of scalars."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, object]]] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((f"{table}.{key}" if table else key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    text = ""
    if lines:
        text = (f"[{table}]\n" if table else "") + "\n".join(lines) + "\n"
    for name, value in tables:
        sub = _to_toml(value, name)
        if sub:
            text += ("\n" if text else "") + sub
    return text


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"can not write {type(value).__name__} to TOML")
