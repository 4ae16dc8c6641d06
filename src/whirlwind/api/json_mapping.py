"""JSON ↔ server API dataclasses, the way Centrifugo's Go ``encoding/json`` does it.

Rules (server-api.md §4):

* Input: a JSON object per message. Unknown keys are ignored; keys match field names
  exactly, else case-insensitively (Go's rule). ``null`` leaves a field at its zero value,
  except a :data:`~whirlwind.api.types.RawJSON` field, where it is the payload ``null``.
  A value of the wrong JSON type, a non-integral or out-of-range integer, or a non-string
  map value fails the whole message with :class:`DecodeError` (the HTTP front answers 400).
* Raw JSON fields keep the value re-serialised compactly (orjson), not byte-exact.
* ``BoolValue`` fields are ``{"value": bool}`` objects.
* Output: fields in declaration order (the proto order Go emits); a field holding its zero
  value (``0``, ``""``, ``false``, empty bytes/list/map, ``None``) is omitted unless marked
  :data:`~whirlwind.api.types.ALWAYS`, where empty collections become ``[]`` / ``{}``. A
  nested message that is set is emitted even when empty (``{"publish": {}}``). Map keys are
  sorted, as Go sorts them. Raw fields are embedded verbatim with :class:`orjson.Fragment`
  after checking they are JSON; a non-JSON payload (binary published through ``b64data``
  or GRPC) raises :class:`EncodeError`, as Go's encoder fails on an invalid ``RawMessage``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from whirlwind.api.types import BoolValueMarker, IntFormat, RawJSONMarker
from whirlwind.errors import WhirlwindError
from whirlwind.protocol.json_codec import json_payload

__all__ = ["DecodeError", "EncodeError", "decode", "dumps", "encode", "loads"]

T = TypeVar("T")

Decoder = Callable[[Any, str], Any]
Encoder = Callable[[Any], Any]


class DecodeError(WhirlwindError):
    """A request body does not fit its message type (the peer's fault: HTTP 400)."""


class EncodeError(WhirlwindError):
    """A result cannot be written as JSON (a binary payload in a raw JSON field)."""


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _mismatch(path: str, expected: str, value: object) -> DecodeError:
    return DecodeError(f"{path}: expected {expected}, got {_json_type(value)}")


# --------------------------------------------------------------------------- scalars


def _decode_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _mismatch(path, "a string", value)
    return value


def _decode_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _mismatch(path, "a boolean", value)
    return value


def _decode_float(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(path, "a number", value)
    return float(value)


def _int_decoder(fmt: IntFormat) -> Decoder:
    def decode_int(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float):
                raise DecodeError(f"{path}: expected an integer ({fmt.name}), got {value!r}")
            raise _mismatch(path, f"an integer ({fmt.name})", value)
        if not fmt.minimum <= value <= fmt.maximum:
            raise DecodeError(f"{path}: {value} is out of range for {fmt.name}")
        return value

    return decode_int


def _decode_raw(value: Any, path: str) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise DecodeError(f"{path}: unsupported JSON value ({exc})") from exc


def _decode_bool_value(value: Any, path: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _mismatch(path, "an object", value)
    inner = value.get("value")
    if inner is None:
        return False
    return _decode_bool(inner, f"{path}.value")


def _encode_raw(value: bytes) -> orjson.Fragment:
    payload = json_payload(value)
    if payload is None:
        raise EncodeError("payload is not JSON: publish it to JSON clients as JSON")
    return orjson.Fragment(payload)


def _identity(value: Any) -> Any:
    return value


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    decode: Decoder
    encode: Encoder
    always: bool
    is_raw: bool
    is_message: bool
    """Set means present (a message or a BoolValue), even when it holds zero values."""


@dataclass(frozen=True, slots=True)
class _MessageCodec:
    cls: type[Any]
    fields: tuple[_Field, ...]
    by_name: dict[str, _Field]
    by_lower: dict[str, _Field]

    def decode(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _mismatch(path or "body", "an object", value)
        kwargs: dict[str, Any] = {}
        for key, item in value.items():
            f = self.by_name.get(key)
            if f is None:
                f = self.by_lower.get(key.lower())
                if f is None:
                    continue  # unknown keys are ignored, as Go does
            if item is None and not f.is_raw:
                kwargs.pop(f.name, None)
                continue
            kwargs[f.name] = f.decode(item, f"{path}.{key}" if path else key)
        return self.cls(**kwargs)

    def encode(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            value = getattr(obj, f.name)
            if value is None:
                continue
            if not (f.always or f.is_message or value):
                continue
            out[f.name] = f.encode(value)
        return out


_CODECS: dict[type[Any], _MessageCodec] = {}


def _codec(cls: type[Any]) -> _MessageCodec:
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _build_codec(cls)
    return codec


def _build_codec(cls: type[Any]) -> _MessageCodec:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[_Field] = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        decode, encode = _converters(tp)
        fields.append(
            _Field(
                name=f.name,
                decode=decode,
                encode=encode,
                always=bool(f.metadata.get("always")),
                is_raw=_has_marker(tp, RawJSONMarker),
                is_message=_has_marker(tp, BoolValueMarker) or _is_message(tp),
            )
        )
    return _MessageCodec(
        cls=cls,
        fields=tuple(fields),
        by_name={f.name: f for f in fields},
        by_lower={f.name.lower(): f for f in fields},
    )


def _has_marker(tp: Any, marker: type[Any]) -> bool:
    return typing.get_origin(tp) is typing.Annotated and any(
        isinstance(m, marker) for m in tp.__metadata__
    )


def _is_message(tp: Any) -> bool:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return any(_is_message(arg) for arg in typing.get_args(tp))
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _converters(tp: Any) -> tuple[Decoder, Encoder]:
    """The decoder and encoder of one annotation (see the module docstring)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base = tp.__origin__
        for marker in tp.__metadata__:
            if isinstance(marker, IntFormat):
                return _int_decoder(marker), _identity
            if isinstance(marker, RawJSONMarker):
                return _decode_raw, _encode_raw
            if isinstance(marker, BoolValueMarker):
                return _decode_bool_value, lambda value: {"value": value}
        return _converters(base)
    if tp is str:
        return _decode_str, _identity
    if tp is bool:
        return _decode_bool, _identity
    if tp is float:
        return _decode_float, _identity
    if tp is int:
        return _int_decoder(IntFormat("int64", -(2**63), 2**63 - 1)), _identity
    if origin is list:
        (item,) = typing.get_args(tp)
        return _list_converters(*_converters(item))
    if origin is dict:
        key, item = typing.get_args(tp)
        if key is not str:
            raise TypeError(f"map keys must be strings: {tp!r}")
        return _dict_converters(*_converters(item))
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        decode, encode = _converters(args[0])

        def decode_optional(value: Any, path: str) -> Any:
            return None if value is None else decode(value, path)

        def encode_optional(value: Any) -> Any:
            return None if value is None else encode(value)

        return decode_optional, encode_optional
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        message = tp

        def decode_message(value: Any, path: str) -> Any:
            return _codec(message).decode(value, path)

        def encode_message(value: Any) -> Any:
            return _codec(message).encode(value)

        return decode_message, encode_message
    raise TypeError(f"unsupported annotation {tp!r}")


def _list_converters(decode: Decoder, encode: Encoder) -> tuple[Decoder, Encoder]:
    def decode_list(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise _mismatch(path, "an array", value)
        return [decode(item, f"{path}[{i}]") for i, item in enumerate(value)]

    def encode_list(value: list[Any]) -> list[Any]:
        return [encode(item) for item in value]

    return decode_list, encode_list


def _dict_converters(decode: Decoder, encode: Encoder) -> tuple[Decoder, Encoder]:
    def decode_dict(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _mismatch(path, "an object", value)
        return {key: decode(item, f"{path}.{key}") for key, item in value.items()}

    def encode_dict(value: dict[str, Any]) -> dict[str, Any]:
        # Go's encoding/json writes map keys sorted.
        return {key: encode(value[key]) for key in sorted(value)}

    return decode_dict, encode_dict


# --------------------------------------------------------------------------- public


def decode(cls: type[T], value: object) -> T:
    """Build a ``cls`` message from a parsed JSON value (``null`` is the empty message).

    Raises:
        DecodeError: ``value`` is not an object or a field has the wrong type.
    """
    if value is None:
        return cls()
    result: T = _codec(cls).decode(value, "")
    return result


def loads(cls: type[T], body: bytes) -> T:
    """Parse a JSON body into a ``cls`` message.

    Raises:
        DecodeError: the body is empty, not JSON, or does not fit ``cls``.
    """
    if not body.strip():
        raise DecodeError("empty body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    return decode(cls, value)


def encode(obj: object) -> dict[str, Any]:
    """A message as a JSON-ready dict with Go's omission rules (raw fields as Fragments).

    Raises:
        EncodeError: a raw field holds a non-JSON payload.
    """
    return _codec(type(obj)).encode(obj)


def dumps(obj: object) -> bytes:
    """A message as compact JSON bytes.

    Raises:
        EncodeError: a raw field holds a non-JSON payload.
    """
    return orjson.dumps(encode(obj))
