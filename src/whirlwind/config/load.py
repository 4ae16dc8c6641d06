"""Load the configuration: file < environment < flags, into :class:`~.schema.Config`.

Rules (channels-config.md §5.1, STYLE.md §8):

* The file format follows the extension: ``.json``, ``.yaml``/``.yml``, ``.toml``. An
  explicitly given file that does not exist is an error; ``missing_ok`` (the CLI's default
  ``config.json``) turns that into a warning, as Centrifugo does.
* Environment variables are ``CENTRIFUGO_`` or ``WHIRLWIND_`` (which wins) plus the key
  path upper-cased with ``.`` → ``_`` (``CENTRIFUGO_HTTP_API_KEY`` → ``http_api.key``).
  Names are resolved against the schema, so keys containing ``_`` are unambiguous. Values:
  booleans as Go's ``ParseBool``, lists of strings space-separated, arrays of objects and
  maps as JSON, durations as Go strings; an empty value means unset. Items of
  ``channel.namespaces``, ``rpc.namespaces`` and ``proxies`` take
  ``…_<NAME>_<OPTION>`` variables (name upper-cased, ``.`` and ``-`` → ``_``).
* Flags are a mapping of dotted key paths to values; ``None`` means "not given".
* Values are converted loosely, like Centrifugo's decoder (``"8000"`` is a fine port,
  ``"true"`` a fine boolean, a single string a one-item list, a bare number of seconds a
  duration), but anything else is a problem naming its key path, never a traceback.
* Unknown keys and unknown prefixed environment variables are reported, with a "did you
  mean" suggestion, in :attr:`LoadedConfig.unknown_keys`; ``IGNORED_KEYS`` of the schema
  classes are accepted silently.

This module never reads ``os.environ``: the caller passes the environment in.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from whirlwind.errors import ConfigError

from .schema import Config
from .validate import validate

__all__ = [
    "ENV_PREFIXES",
    "LoadedConfig",
    "env_var_names",
    "format_duration",
    "load_config",
    "parse_duration",
]

ENV_PREFIXES: Final = ("CENTRIFUGO_", "WHIRLWIND_")
"""Environment prefixes, weakest first."""

_NAMED_ITEM_ARRAYS: Final = (
    ("channel", "namespaces"),
    ("rpc", "namespaces"),
    ("proxies",),
)
# Kubernetes injects <SERVICE>_PORT… and <SERVICE>_SERVICE_… variables; Centrifugo skips
# them when looking for unknown variables (internal/config/config.go isKubernetesEnvVar).
_K8S_ENV_RE: Final = re.compile(r"^(?:CENTRIFUGO|WHIRLWIND)(?:_[A-Z0-9_]+)?_(?:PORT|SERVICE_)")
# ${CENTRIFUGO_VAR_X} templating variables, and consumers' per-item variables (consumers
# are kept opaque).
_IGNORED_ENV_PREFIXES: Final = ("VAR_", "CONSUMERS_")

_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT_RE: Final = re.compile(r"^[+-]?\d+$")
_NUMBER_RE: Final = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_DURATION_PART_RE: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

# Centrifugo v5 flat keys whose v6 place is not "<section>.<rest>" (see _v5_hint).
_V5_KEYS: Final[Mapping[str, str]] = {
    "api_key": "http_api.key",
    "api_insecure": "http_api.insecure",
    "api_external": "http_api.external",
    "api_handler_prefix": "http_api.handler_prefix",
    "token_hmac_secret_key": "client.token.hmac_secret_key",
    "token_rsa_public_key": "client.token.rsa_public_key",
    "token_ecdsa_public_key": "client.token.ecdsa_public_key",
    "token_jwks_public_endpoint": "client.token.jwks_public_endpoint",
    "token_audience": "client.token.audience",
    "token_audience_regex": "client.token.audience_regex",
    "token_issuer": "client.token.issuer",
    "token_issuer_regex": "client.token.issuer_regex",
    "token_user_id_claim": "client.token.user_id_claim",
    "allowed_origins": "client.allowed_origins",
    "ping_interval": "client.ping_interval",
    "pong_timeout": "client.pong_timeout",
    "namespaces": "channel.namespaces",
    "rpc_namespaces": "rpc.namespaces",
    "global_history_meta_ttl": "channel.history_meta_ttl",
    "redis_address": "engine.redis.address",
    "redis_prefix": "engine.redis.prefix",
    "redis_password": "engine.redis.password",
    "global_presence_ttl": "engine.redis.presence_ttl",
    "address": "http_server.address",
    "port": "http_server.port",
    "internal_address": "http_server.internal_address",
    "internal_port": "http_server.internal_port",
    "tls_external": "http_server.tls_external",
    "name": "node.name",
    "user_subscribe_to_personal": "client.subscribe_to_user_personal_channel.enabled",
    "user_personal_channel_namespace": (
        "client.subscribe_to_user_personal_channel.personal_channel_namespace"
    ),
    "user_personal_single_connection": (
        "client.subscribe_to_user_personal_channel.single_connection"
    ),
    "separate_subscription_token_config": "client.subscription_token.enabled",
    "proxy_connect_endpoint": "client.proxy.connect.endpoint",
    "proxy_refresh_endpoint": "client.proxy.refresh.endpoint",
    "proxy_subscribe_endpoint": "channel.proxy.subscribe.endpoint",
    "proxy_publish_endpoint": "channel.proxy.publish.endpoint",
    "proxy_sub_refresh_endpoint": "channel.proxy.sub_refresh.endpoint",
    "proxy_rpc_endpoint": "rpc.proxy.endpoint",
    "websocket_disable": "websocket.disabled",
}


# --------------------------------------------------------------------------- durations


def parse_duration(text: str) -> float:
    """Parse a Go duration (``"300s"``, ``"1m30s"``, ``"-1.5h"``, ``"100ms"``) into seconds.

    A bare number (``"30"``, ``"0"``) is taken as seconds.

    Raises:
        ValueError: ``text`` is neither.
    """
    s = text.strip()
    if _NUMBER_RE.match(s):
        return float(s)
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    total = 0.0
    position = 0
    for match in _DURATION_PART_RE.finditer(s):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if not s or position != len(s):
        raise ValueError(f'invalid duration "{text}" (use e.g. "300s", "1m30s", "720h")')
    return sign * total


def format_duration(seconds: float) -> str:
    """Format seconds like Go's ``time.Duration.String`` (``604800`` → ``"168h0m0s"``)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    value = abs(seconds)
    if value < 1:
        for unit, scale in (("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
            if value >= scale or unit == "ns":
                return f"{sign}{_trim(value / scale)}{unit}"
    hours, rest = divmod(value, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{_trim(secs)}s"
    if minutes:
        return f"{sign}{int(minutes)}m{_trim(secs)}s"
    return f"{sign}{_trim(secs)}s"


def _trim(number: float) -> str:
    return f"{round(number, 9):.9f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedConfig:
    """The outcome of :func:`load_config`."""

    config: Config
    """The validated configuration."""
    warnings: list[str] = field(default_factory=list)
    """Things worth a warning that are not about keys (e.g. the default file is missing)."""
    unknown_keys: list[str] = field(default_factory=list)
    """One message per unknown key or environment variable, with its full path and a
    suggestion: ``unknown key "client.tokn": did you mean "client.token"?``."""
    source: str | None = None
    """The file the configuration came from, or ``None``."""


# --------------------------------------------------------------------------- schema walk


def _hints(cls: type) -> dict[str, object]:
    return _HINTS_CACHE.get(cls) or _HINTS_CACHE.setdefault(cls, typing.get_type_hints(cls))


_HINTS_CACHE: dict[type, dict[str, object]] = {}


def _fields(cls: type) -> dict[str, object]:
    """Init fields of a schema dataclass → their resolved type."""
    hints = _hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _ignored(cls: type) -> frozenset[str]:
    ignored: frozenset[str] = getattr(cls, "IGNORED_KEYS", frozenset())
    return ignored


def _aliases(cls: type) -> Mapping[str, str]:
    aliases: Mapping[str, str] = getattr(cls, "KEY_ALIASES", {})
    return aliases


def _is_schema_class(hint: object) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _item_class(hint: object) -> type | None:
    """The dataclass of ``tuple[SomeDataclass, ...]``, else ``None``."""
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args and _is_schema_class(args[0]):
            return typing.cast(type, args[0])
    return None


def _leaves(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every settable key path under ``cls`` (nested objects expanded), with its type."""
    for name, hint in _fields(cls).items():
        path = (*prefix, name)
        if _is_schema_class(hint):
            yield from _leaves(typing.cast(type, hint), path)
        else:
            yield path, hint


def _env_name(path: tuple[str, ...]) -> str:
    return "_".join(path).upper()


def _env_index(cls: type) -> dict[str, tuple[tuple[str, ...], object]]:
    return {_env_name(path): (path, hint) for path, hint in _leaves(cls)}


def env_var_names(prefix: str = "CENTRIFUGO_") -> list[str]:
    """Every environment variable name the schema understands (without per-item ones)."""
    return sorted(prefix + name for name in _env_index(Config))


def _name_for_env(name: str) -> str:
    return name.replace(".", "_").replace("-", "_").upper()


# --------------------------------------------------------------------------- conversion


def _describe(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return repr(value)


class _Problem(Exception):
    """A value that does not fit its field; the message is completed with the key path."""


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() in _TRUE | _FALSE:
        return value.strip() in _TRUE
    raise _Problem(f"expected a boolean (true/false), got {_describe(value)}")


def _to_int(value: object) -> int:
    if isinstance(value, bool):
        raise _Problem(f"expected an integer, got {_describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip())
    raise _Problem(f"expected an integer, got {_describe(value)}")


def _to_duration(value: object) -> float:
    if isinstance(value, bool):
        raise _Problem(f"expected a duration, got {_describe(value)}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise _Problem(str(exc)) from None
    else:
        raise _Problem(f'expected a duration such as "30s", got {_describe(value)}')
    if not math.isfinite(seconds):
        raise _Problem(f"expected a finite duration, got {_describe(value)}")
    return seconds


def _to_str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise _Problem(f"expected a string, got {_describe(value)}")


def _to_object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _Problem(f"expected an object, got {_describe(value)}")
    return {str(k): v for k, v in value.items()}


class _Builder:
    """Converts raw nested mappings into schema instances, collecting problems."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.unknown: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def build(self, cls: type, raw: object, path: str) -> object:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            message = f"expected an object, got {_describe(raw)}"
            fields = _fields(cls)
            if isinstance(raw, bool) and "enabled" in fields:
                message += f' (did you mean "{_join(path, "enabled")}"?)'
            elif isinstance(raw, str) and "type" in fields:
                message += f' (did you mean "{_join(path, "type")}"?)'
            self.problem(path, message)
            return cls()
        fields = _fields(cls)
        ignored = _ignored(cls)
        aliases = _aliases(cls)
        kwargs: dict[str, object] = {}
        for raw_key, value in raw.items():
            key = aliases.get(str(raw_key), str(raw_key))
            key_path = _join(path, key)
            if key in fields:
                if value is None:
                    continue  # YAML "key:" with nothing: keep the default
                try:
                    kwargs[key] = self.convert(fields[key], value, key_path)
                except _Problem as exc:
                    self.problem(key_path, str(exc))
            elif key not in ignored:
                self.unknown.append(_unknown_key_message(cls, path, str(raw_key)))
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            self.problem(path or "(root)", str(exc))
            return cls()

    def convert(self, hint: object, value: object, path: str) -> object:
        if hint is bool:
            return _to_bool(value)
        if hint is int:
            return _to_int(value)
        if hint is float:
            return _to_duration(value)
        if hint is str:
            return _to_str(value)
        if _is_schema_class(hint):
            return self.build(typing.cast(type, hint), value, path)
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is types.UnionType or origin is typing.Union:
            (inner,) = [a for a in args if a is not type(None)]
            if value is None or (value == "" and inner in (int, str)):
                return None
            return self.convert(inner, value, path)
        if origin is tuple:
            return self._convert_tuple(args[0], value, path)
        if origin is Mapping:
            mapping = _to_object(value)
            if args[1] is str:
                return {k: self.convert(str, v, _join(path, k)) for k, v in mapping.items()}
            return mapping
        raise TypeError(f"unsupported schema type {hint!r} at {path}")  # our own bug

    def _convert_tuple(self, item: object, value: object, path: str) -> tuple[object, ...]:
        if isinstance(value, str) and item is str:
            return (value,)  # Centrifugo's decoder turns one string into a one-item list
        if not isinstance(value, list | tuple):
            raise _Problem(f"expected an array, got {_describe(value)}")
        result: list[object] = []
        failed = False
        for index, element in enumerate(value):
            element_path = f"{path}[{index}]"
            try:
                if _is_schema_class(item):
                    result.append(self.build(typing.cast(type, item), element, element_path))
                elif typing.get_origin(item) is Mapping:
                    result.append(_to_object(element))
                else:
                    result.append(self.convert(item, element, element_path))
            except _Problem as exc:
                self.problem(element_path, str(exc))
                failed = True
        if failed:
            raise _Problem("see the problems of its items") from None
        return tuple(result)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------- unknown keys


def _all_paths() -> dict[str, list[str]]:
    """Last key segment → every dotted path ending with it (for misplaced keys)."""
    index: dict[str, list[str]] = {}

    def walk(cls: type, prefix: str) -> None:
        for name, hint in _fields(cls).items():
            path = _join(prefix, name)
            index.setdefault(name, []).append(path)
            if _is_schema_class(hint):
                walk(typing.cast(type, hint), path)
            item = _item_class(hint)
            if item is not None:
                walk(item, path + "[]")

    walk(Config, "")
    return index


_PATHS_BY_NAME: dict[str, list[str]] = {}


def _v5_hint(key: str) -> str | None:
    """The v6 key path of a Centrifugo v5 top-level key, when recognisable."""
    if key in _V5_KEYS:
        return _V5_KEYS[key]
    sections = _fields(Config)
    for name, hint in sections.items():
        if key.startswith(name + "_") and _is_schema_class(hint):
            rest = key[len(name) + 1 :]
            if rest in _fields(typing.cast(type, hint)):
                return f"{name}.{rest}"
    from .schema import ChannelOptions

    if key in _fields(ChannelOptions):
        return f"channel.without_namespace.{key}"
    if key.startswith("proxy_") and f"{key[6:]}_proxy_enabled" in _fields(ChannelOptions):
        return f"channel.without_namespace.{key[6:]}_proxy_enabled"
    return None


def _unknown_key_message(cls: type, parent: str, key: str) -> str:
    full = _join(parent, key)
    message = f'unknown key "{full}"'
    if cls is Config:
        v6 = _v5_hint(key)
        if v6 is not None:
            return f'{message}: Centrifugo v5 key, in v6 it is "{v6}"'
    close = difflib.get_close_matches(key, list(_fields(cls)) + list(_aliases(cls)), n=1)
    if close:
        return f'{message}: did you mean "{_join(parent, close[0])}"?'
    if not _PATHS_BY_NAME:
        _PATHS_BY_NAME.update(_all_paths())
    elsewhere = _PATHS_BY_NAME.get(key)
    if elsewhere:
        return f'{message}: did you mean "{elsewhere[0]}"?'
    return message


# --------------------------------------------------------------------------- overlays


def _set_path(raw: dict[str, object], path: tuple[str, ...], value: object) -> None:
    node = raw
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def _get_path(raw: Mapping[str, object], path: tuple[str, ...]) -> object:
    node: object = raw
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _parse_env_value(hint: object, text: str) -> object:
    """Turn an environment string into a raw value of the schema type ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is types.UnionType or origin is typing.Union:
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return _to_bool(text)
    if hint is int:
        return _to_int(text)
    if hint is float:
        return _to_duration(text)
    if hint is str:
        return text
    if origin is tuple:
        item = args[0]
        if item is str:
            return text.split()
        if _is_schema_class(item) and not text.lstrip().startswith("["):
            return [{"name": name} for name in text.split()]
        return _json(text, list)
    if origin is Mapping:
        return _json(text, dict)
    raise TypeError(f"unsupported schema type {hint!r}")  # our own bug


def _json(text: str, expected: type) -> object:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Problem(f"invalid JSON: {exc}") from None
    if not isinstance(value, expected):
        kind = "an array" if expected is list else "an object"
        raise _Problem(f"expected JSON {kind}, got {_describe(value)}")
    return value


@dataclass(slots=True)
class _EnvOverlay:
    raw: dict[str, object]
    env: Mapping[str, str]
    problems: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def apply(self) -> None:
        index = _env_index(Config)
        deferred: list[tuple[str, str, str]] = []
        for prefix in ENV_PREFIXES:
            for var in sorted(self.env):
                if not var.startswith(prefix):
                    continue
                rest = var[len(prefix) :]
                if rest in index:
                    path, hint = index[rest]
                    self._set(var, path, hint, self.env[var], self.raw)
                else:
                    deferred.append((prefix, var, rest))
        for prefix, var, rest in deferred:
            if self._apply_item(var, rest):
                continue
            if rest.startswith(_IGNORED_ENV_PREFIXES) or _K8S_ENV_RE.match(var):
                continue
            self.unknown.append(_unknown_env_message(prefix, var, index))

    def _set(
        self,
        var: str,
        path: tuple[str, ...],
        hint: object,
        text: str,
        target: dict[str, object],
        shown: str | None = None,
    ) -> None:
        if text == "":
            return  # empty value = unset (§5.1)
        try:
            value = _parse_env_value(hint, text)
        except _Problem as exc:
            self.problems.append((f"{shown or '.'.join(path)} (from {var})", str(exc)))
            return
        _set_path(target, path, value)

    def _apply_item(self, var: str, rest: str) -> bool:
        """Apply ``…_NAMESPACES_<NAME>_<OPTION>``; ``False`` when ``var`` is not one."""
        from .schema import Config as Root

        for array_path in _NAMED_ITEM_ARRAYS:
            array_prefix = _env_name(array_path) + "_"
            if not rest.startswith(array_prefix):
                continue
            items = _get_path(self.raw, array_path)
            hint = _hints_path(Root, array_path)
            item_cls = _item_class(hint)
            if not isinstance(items, list) or item_cls is None:
                return False
            item_index = _env_index(item_cls)
            remainder = rest[len(array_prefix) :]
            # Longest name first, so "CHAT_V2" is not taken for item "CHAT" + "V2_…".
            candidates = sorted(
                (
                    (i, item)
                    for i, item in enumerate(items)
                    if isinstance(item, dict) and isinstance(item.get("name"), str)
                ),
                key=lambda pair: -len(str(pair[1]["name"])),
            )
            for i, item in candidates:
                name_prefix = _name_for_env(str(item["name"])) + "_"
                if remainder.startswith(name_prefix):
                    option = remainder[len(name_prefix) :]
                    if option in item_index:
                        path, option_hint = item_index[option]
                        shown = f"{'.'.join(array_path)}[{i}].{'.'.join(path)}"
                        self._set(var, path, option_hint, self.env[var], item, shown)
                        return True
            return False
        return False


def _hints_path(cls: type, path: tuple[str, ...]) -> object:
    hint: object = cls
    for key in path:
        hint = _fields(typing.cast(type, hint))[key]
    return hint


def _unknown_env_message(
    prefix: str, var: str, index: Mapping[str, tuple[tuple[str, ...], object]]
) -> str:
    message = f"unknown environment variable {var}"
    close = difflib.get_close_matches(var, [prefix + name for name in index], n=1)
    if close:
        return f"{message}: did you mean {close[0]}?"
    return message


def _apply_flags(raw: dict[str, object], flags: Mapping[str, object]) -> None:
    known = {".".join(path) for path, _ in _leaves(Config)}
    for key, value in flags.items():
        if value is None:
            continue
        if key not in known:
            raise ValueError(f"unknown flag key {key!r}")  # our own bug: a CLI table typo
        _set_path(raw, tuple(key.split(".")), value)


# --------------------------------------------------------------------------- files


def _read_file(path: Path) -> dict[str, object]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data: object = json.loads(path.read_text(encoding="utf-8"))
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        elif suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            raise ConfigError(
                [
                    f"{path}: unsupported config format {suffix or '(none)'!r}, "
                    "use .json, .yaml, .yml or .toml"
                ]
            )
    except (json.JSONDecodeError, yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"{path}: invalid {suffix[1:].upper()}: {exc}"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc}"]) from exc
    if data is None:
        return {}  # an empty YAML file
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the configuration must be an object, got {_describe(data)}"])
    return {str(k): v for k, v in data.items()}


# --------------------------------------------------------------------------- entry point


def load_config(
    path: str | None,
    *,
    env: Mapping[str, str],
    flags: Mapping[str, object],
    missing_ok: bool = False,
    strict: bool = False,
) -> LoadedConfig:
    """Load, convert and validate the configuration.

    Args:
        path: the configuration file, or ``None`` for none.
        env: the process environment (``os.environ`` from the CLI).
        flags: dotted key path → value from the command line; ``None`` values are ignored.
        missing_ok: a missing ``path`` is a warning instead of an error (Centrifugo's
            behaviour for the default ``config.json``).
        strict: unknown keys and environment variables are problems too (``checkconfig``).

    Returns:
        The configuration with warnings and unknown keys.

    Raises:
        ConfigError: with every problem, each prefixed by its key path.
    """
    warnings: list[str] = []
    raw: dict[str, object] = {}
    source: str | None = None
    if path is not None:
        file = Path(path)
        if file.is_file():
            raw = _read_file(file)
            source = str(file)
        elif file.exists():
            raise ConfigError([f"{path}: not a file"])
        elif missing_ok:
            warnings.append(
                f'config file "{path}" not found, using defaults, environment and flags'
            )
        else:
            raise ConfigError([f"{path}: config file not found"])

    overlay = _EnvOverlay(raw, env)
    overlay.apply()
    _apply_flags(raw, flags)

    builder = _Builder()
    config = typing.cast(Config, builder.build(Config, raw, ""))
    type_problems = overlay.problems + builder.problems
    failed = [p for p, _ in type_problems]
    problems = [f"{p}: {message}" for p, message in type_problems]
    for problem in validate(config):
        key = problem.split(": ", 1)[0]
        # A field that failed to load kept its default: checks involving it would mislead.
        if not any(f.startswith(key) or key.startswith(f) for f in failed):
            problems.append(problem)
    unknown_keys = builder.unknown + overlay.unknown
    if strict:
        problems.extend(unknown_keys)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(
        config=config,
        warnings=warnings,
        unknown_keys=unknown_keys,
        source=source,
    )
