"""JSON ↔ server API dataclasses, the way Centrifugo's Go ``encoding/json`` does it.

Rules (server-api.md §4):

* Input: a JSON object per message. Unknown keys are ignored; keys match field names
  exactly, else case-insensitively (Go's rule). ``null`` leaves a field at its zero value,
  except a :data:`~whirlwind.api.types.RawJSON` field, where it is the payload ``null``.
  A value of the wrong JSON type, a non-integral or out-of-range integer, or a non-string
  map value fails the whole message with :class:`DecodeError` (the HTTP front answers 400).
* Errors name the value's path (``commands[0].publish.channel: expected a string, got
  number``). Decoders build no path while all goes well: a failure carries the parts up
  and each parent adds its own.
* Raw JSON fields keep the value re-serialised compactly (orjson), not byte-exact.
* ``BoolValue`` fields are ``{"value": bool}`` objects.
* Output: fields in declaration order (the proto order Go emits); a field holding its zero
  value (``0``, ``""``, ``false``, empty bytes/list/map, ``None``) is omitted unless marked
  :data:`~whirlwind.api.types.ALWAYS`, where empty collections become ``[]`` / ``{}``. A
  nested message that is set is emitted even when empty (``{"publish": {}}``). Map keys are
  sorted, as Go sorts them. Raw fields are embedded verbatim with :class:`orjson.Fragment`
  after checking they are JSON; a non-JSON payload (binary published through ``b64data``
  or GRPC) raises :class:`EncodeError`, as Go's encoder fails on an invalid ``RawMessage``.
  Equal neighbours in a list (the same object) share one encoded value.

The codecs are built once per type from its annotations: tables of decoders and encoders,
so a message costs a loop over its keys, each written into a new instance (see
:func:`whirlwind.api.types.build`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from whirlwind.api.types import BoolValueMarker, IntFormat, RawJSONMarker, buildable
from whirlwind.errors import WhirlwindError
from whirlwind.protocol.json_codec import json_payload

__all__ = ["DecodeError", "EncodeError", "decode", "dumps", "encode", "loads"]

T = TypeVar("T")

Decoder = Callable[[Any], Any]
"""Turns a parsed JSON value into a field value; raises :class:`_Problem`."""
Encoder = Callable[[Any], Any]


class DecodeError(WhirlwindError):
    """A request body does not fit its message type (the peer's fault: HTTP 400)."""


class EncodeError(WhirlwindError):
    """A result cannot be written as JSON (a binary payload in a raw JSON field)."""


class _Problem(Exception):
    """Why a value does not fit; its path is added on the way up, innermost part first."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.parts: list[str] = []

    def error(self) -> DecodeError:
        """The error naming the full path (the body itself when there is none)."""
        path = "".join(reversed(self.parts))[1:] or "body"
        return DecodeError(f"{path}: {self.detail}")


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


def _mismatch(expected: str, value: object) -> _Problem:
    return _Problem(f"expected {expected}, got {_json_type(value)}")


# --------------------------------------------------------------------------- scalars


def _decode_str(value: Any) -> str:
    if not isinstance(value, str):
        raise _mismatch("a string", value)
    return value


def _decode_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _mismatch("a boolean", value)
    return value


def _decode_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch("a number", value)
    return float(value)


def _int_decoder(fmt: IntFormat) -> Decoder:
    minimum, maximum = fmt.minimum, fmt.maximum

    def decode_int(value: Any) -> int:
        if value.__class__ is not int:  # bool is an int subclass, and not a number here
            if isinstance(value, float):
                raise _Problem(f"expected an integer ({fmt.name}), got {value!r}")
            raise _mismatch(f"an integer ({fmt.name})", value)
        if not minimum <= value <= maximum:
            raise _Problem(f"{value} is out of range for {fmt.name}")
        return value

    return decode_int


def _decode_raw(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise _Problem(f"unsupported JSON value ({exc})") from exc


def _decode_bool_value(value: Any) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _mismatch("an object", value)
    inner = value.get("value")
    if inner is None:
        return False
    try:
        return _decode_bool(inner)
    except _Problem as exc:
        exc.parts.append(".value")
        raise


def _encode_raw(value: bytes) -> orjson.Fragment:
    payload = json_payload(value)
    if payload is None:
        raise EncodeError("payload is not JSON: publish it to JSON clients as JSON")
    return orjson.Fragment(payload)


def _encode_bool_value(value: bool) -> dict[str, bool]:
    return {"value": value}


# --------------------------------------------------------------------------- messages

_new = object.__new__
_set = object.__setattr__
_dumps = orjson.dumps


class _MessageCodec:
    """A message type's decoder and encoder tables (filled after registration)."""

    __slots__ = ("by_lower", "by_name", "cls", "encoders", "encoders_by_name", "factories")

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        self.by_name: dict[str, tuple[str, Decoder, bool]] = {}
        """JSON key → (field name, decoder, is raw)."""
        self.by_lower: dict[str, tuple[str, Decoder, bool]] = {}
        self.encoders: tuple[tuple[str, Encoder | None, bool], ...] = ()
        """(field name, encoder or None for as-is, emitted even when zero), in order."""
        self.encoders_by_name: dict[str, tuple[str, Encoder | None, bool]] | None = None
        """The same by name when any field left unset is omitted (see :meth:`encode`)."""
        self.factories: tuple[tuple[str, Callable[[], Any]], ...] = ()
        """Fields with a default factory: a decoded message lacking them gets new values."""

    def decode(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise _mismatch("an object", value)
        by_name = self.by_name
        # Built like types.build, attribute by attribute: the values stay inline in the
        # instance (no __dict__ object), which leaves the cyclic GC less to walk.
        obj = _new(self.cls)
        for name, factory in self.factories:
            _set(obj, name, factory())
        for key, item in value.items():
            entry = by_name.get(key)
            if entry is None:
                entry = self.by_lower.get(key.lower())
                if entry is None:
                    continue  # unknown keys are ignored, as Go does
            name, decode, is_raw = entry
            if decode is _decode_str:
                if item.__class__ is str:
                    _set(obj, name, item)
                    continue
            elif is_raw:
                try:
                    _set(obj, name, _dumps(item))
                    continue
                except orjson.JSONEncodeError:
                    pass  # decode() says why
            if item is None and not is_raw:
                _set(obj, name, self.zero(name))
                continue
            try:
                _set(obj, name, decode(item))
            except _Problem as exc:
                exc.parts.append("." + key)
                raise
        return obj

    def zero(self, name: str) -> Any:
        """The default of field ``name`` (what ``null`` sets)."""
        for factory_name, factory in self.factories:
            if factory_name == name:
                return factory()
        return getattr(self.cls, name)

    def encode(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        by_name = self.encoders_by_name
        if by_name is not None:
            # An instance holding a single field (a batch Reply, most often) needs no walk
            # over the others: each would read a default that is omitted.
            set_fields = obj.__dict__
            if len(set_fields) == 1:
                for name, value in set_fields.items():
                    _, encode, keep = by_name[name]
                    if value is not None and (keep or value):
                        out[name] = value if encode is None else encode(value)
                return out
        for name, encode, keep in self.encoders:
            value = getattr(obj, name)
            if value is None or not (keep or value):
                continue
            out[name] = value if encode is None else encode(value)
        return out


_CODECS: dict[type[Any], _MessageCodec] = {}


def _codec(cls: type[Any]) -> _MessageCodec:
    codec = _CODECS.get(cls)
    if codec is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls!r} is not a dataclass")
        # Registered before its fields are filled, so a type may contain itself.
        codec = _CODECS[cls] = _MessageCodec(cls)
        try:
            _fill(codec)
        except BaseException:
            del _CODECS[cls]
            raise
    return codec


def _fill(codec: _MessageCodec) -> None:
    cls = codec.cls
    hints = typing.get_type_hints(cls, include_extras=True)
    encoders: list[tuple[str, Encoder | None, bool]] = []
    sparse = True
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        # ``null`` never reaches a field's decoder (it resets the field), nor ``None`` an
        # encoder (the field is omitted): the optional wrapper is not needed here.
        decode, encode = _converters(_strip_optional(tp))
        always = bool(f.metadata.get("always"))
        is_raw = _has_marker(tp, RawJSONMarker)
        is_message = _has_marker(tp, BoolValueMarker) or _is_message(tp)
        entry = (f.name, decode, is_raw)
        codec.by_name[f.name] = entry
        codec.by_lower[f.name.lower()] = entry
        encoders.append((f.name, None if encode is _identity else encode, always or is_message))
        if f.default is not dataclasses.MISSING and f.default is not None:
            # A field left out of a built instance reads this default: fine to skip only
            # when the default would be omitted anyway.
            sparse = sparse and not always and not f.default
    if not buildable(cls):
        raise TypeError(f"{cls.__name__} must be built by its __init__: not a message")
    codec.factories = tuple(
        (f.name, f.default_factory)
        for f in dataclasses.fields(cls)
        if f.default_factory is not dataclasses.MISSING
    )
    codec.encoders = tuple(encoders)
    codec.encoders_by_name = {e[0]: e for e in encoders} if sparse else None


def _has_marker(tp: Any, marker: type[Any]) -> bool:
    return typing.get_origin(tp) is typing.Annotated and any(
        isinstance(m, marker) for m in tp.__metadata__
    )


def _is_message(tp: Any) -> bool:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return any(_is_message(arg) for arg in typing.get_args(tp))
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _strip_optional(tp: Any) -> Any:
    """``X | None`` → ``X``; anything else as it is."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _identity(value: Any) -> Any:
    return value


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
                return _decode_bool_value, _encode_bool_value
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
        stripped = _strip_optional(item)
        return _list_converters(*_converters(stripped), nullable=stripped is not item)
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

        def decode_optional(value: Any) -> Any:
            return None if value is None else decode(value)

        def encode_optional(value: Any) -> Any:
            return None if value is None else encode(value)

        return decode_optional, encode_optional
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        codec = _codec(tp)
        return codec.decode, codec.encode
    raise TypeError(f"unsupported annotation {tp!r}")


def _list_converters(
    decode: Decoder, encode: Encoder, *, nullable: bool
) -> tuple[Decoder, Encoder]:
    def decode_list(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _mismatch("an array", value)
        try:
            if nullable:  # a batch's commands: null items are kept
                return [None if item is None else decode(item) for item in value]
            return [decode(item) for item in value]
        except _Problem:
            pass
        # Find the failing item again (decoding is pure) to name its index.
        for i, item in enumerate(value):
            try:
                if item is not None or not nullable:
                    decode(item)
            except _Problem as exc:
                exc.parts.append(f"[{i}]")
                raise exc from exc.__cause__
        raise AssertionError("a list item failed once only")  # pragma: no cover

    if encode is _identity:
        return decode_list, list

    def encode_list(value: list[Any]) -> list[Any]:
        out: list[Any] = []
        last: Any = _identity  # no item is this function
        encoded: Any = None
        for item in value:
            if item is not last:
                last = item
                encoded = None if item is None else encode(item)
            out.append(encoded)
        return out

    return decode_list, encode_list


def _dict_converters(decode: Decoder, encode: Encoder) -> tuple[Decoder, Encoder]:
    def decode_dict(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _mismatch("an object", value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            try:
                out[key] = decode(item)
            except _Problem as exc:
                exc.parts.append("." + key)
                raise
        return out

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
    try:
        result: T = _codec(cls).decode(value)
    except _Problem as exc:
        raise exc.error() from exc.__cause__
    return result


def loads(cls: type[T], body: bytes) -> T:
    """Parse a JSON body into a ``cls`` message.

    Raises:
        DecodeError: the body is empty, not JSON, or does not fit ``cls``.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not body.strip():
            raise DecodeError("empty body") from None
        raise DecodeError(f"invalid JSON: {exc}") from exc
    return decode(cls, value)


def encode(obj: object) -> dict[str, Any]:
    """A message as a JSON-ready dict with Go's omission rules (raw fields as Fragments).

    Equal neighbours in a list may share one dict: treat the result as read-only.

    Raises:
        EncodeError: a raw field holds a non-JSON payload.
    """
    return _codec(type(obj)).encode(obj)


def dumps(obj: object) -> bytes:
    """A message as compact JSON bytes.

    Raises:
        EncodeError: a raw field holds a non-JSON payload.
    """
    return orjson.dumps(_codec(type(obj)).encode(obj))
