"""Protobuf (``api.proto``) messages ↔ server API dataclasses, for the GRPC front.

The messages of ``api.proto`` and the dataclasses of :mod:`whirlwind.api.types` share
their field names (Centrifugo's), so one generic walk converts both ways. Rules:

* Scalars and ``bytes`` are copied as they are: a payload is any bytes over GRPC
  (server-api.md §12.1), never base64.
* A sub-message becomes the dataclass its annotation names; an unset sub-message leaves
  the dataclass field at its default (``None``). A wrapper message (``BoolValue``) becomes
  its ``value`` when the annotation is a scalar (``bool | None``).
* Repeated fields become lists (tuples when annotated so), maps become dicts.
* Message fields the dataclass lacks (PRO-only ``label_filter``, ``all_users``, the PRO
  batch commands) are ignored; dataclass fields the message lacks keep their defaults.
* Output: ``None`` leaves a field unset; a sub-message that is present is marked present
  even when empty, as Go marshals a non-nil empty struct (a batch reply
  ``{subscribe: {}}`` must be told from no reply).

Each (dataclass, message type) pair gets a plan once: which fields map, and how. Decoding
walks only the fields set on the wire (``ListFields``), so a batch ``Command`` costs its
one command, not the 13 it could hold.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from whirlwind.api.types import build, buildable

__all__ = ["decode", "encode"]

T = TypeVar("T")
M = TypeVar("M", bound=Message)

Convert = Callable[[Any], Any]

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass, ``Annotated`` stripped (cached)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _strip_optional(hint: Any) -> Any:
    """``X | None`` → ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _item_hint(hint: Any) -> Any:
    """The element annotation of ``list[X]``, ``tuple[X, ...]`` or ``dict[K, X]``."""
    args = [arg for arg in typing.get_args(_strip_optional(hint)) if arg is not Ellipsis]
    return args[-1] if args else Any


def _is_map(field: FieldDescriptor) -> bool:
    message_type = field.message_type
    return message_type is not None and bool(message_type.GetOptions().map_entry)


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


# --------------------------------------------------------------------------- pb → dataclass


def _message_decoder(hint: Any, descriptor: Descriptor) -> Convert:
    """How a sub-message (or a map value, a list item) becomes its dataclass-side value."""
    target = _strip_optional(hint)
    if _is_dataclass_type(target):

        def to_dataclass(value: Message) -> Any:
            return decode(target, value)

        return to_dataclass
    if len(descriptor.fields) == 1 and "value" in descriptor.fields_by_name:

        def unwrap(value: Message) -> Any:  # BoolValue / Int32Value
            return getattr(value, "value")  # noqa: B009 - Message declares no ``value``

        return unwrap

    def refuse(value: Message) -> Any:
        raise TypeError(f"no dataclass annotated for {value.DESCRIPTOR.full_name}")

    return refuse


def _field_decoder(field: FieldDescriptor, hint: Any) -> Convert | None:
    """How one set field's value becomes the dataclass's (None: as it is)."""
    if _is_map(field):
        value_type = field.message_type.fields_by_name["value"].message_type
        if value_type is None:
            return dict
        item = _message_decoder(_item_hint(hint), value_type)

        def decode_map(value: Any) -> dict[Any, Any]:
            return {key: item(val) for key, val in value.items()}

        return decode_map
    if field.is_repeated:
        sequence: Callable[[Any], Any] = (
            tuple if typing.get_origin(_strip_optional(hint)) is tuple else list
        )
        if field.message_type is None:
            return sequence
        element = _message_decoder(_item_hint(hint), field.message_type)

        def decode_repeated(value: Any) -> Any:
            return sequence([element(val) for val in value])

        return decode_repeated
    if field.message_type is not None:
        return _message_decoder(hint, field.message_type)
    return None


_DecodePlan = tuple[dict[str, tuple[str, Convert | None]], tuple[str, ...], bool]
"""Wire field name → (dataclass field, converter); scalars to read even when zero;
whether :func:`~whirlwind.api.types.build` may make the dataclass."""

_DECODE_PLANS: dict[tuple[type, Descriptor], _DecodePlan] = {}


def _decode_plan(cls: type, descriptor: Descriptor) -> _DecodePlan:
    plan = _DECODE_PLANS.get((cls, descriptor))
    if plan is not None:
        return plan
    hints = _hints(cls)
    fields: dict[str, tuple[str, Convert | None]] = {}
    always: list[str] = []
    for field in dataclasses.fields(cls):
        pb_field = descriptor.fields_by_name.get(field.name)
        if not field.init or pb_field is None:
            continue
        fields[field.name] = (field.name, _field_decoder(pb_field, hints[field.name]))
        scalar = pb_field.message_type is None and not pb_field.is_repeated
        if scalar and (field.default is dataclasses.MISSING or field.default):
            # A scalar at zero is not listed as set: read it when zero is not the
            # default (none of types.py's, all zero-valued).
            always.append(field.name)
    plan = _DECODE_PLANS[(cls, descriptor)] = (fields, tuple(always), buildable(cls))
    return plan


def decode(cls: type[T], message: Message) -> T:
    """Build the dataclass ``cls`` from ``message``, field by field.

    Raises:
        TypeError, ValueError: the dataclass refuses the values (its own validation), or
            ``cls`` annotates a scalar where the message has a sub-message.
    """
    fields, always, buildable = _decode_plan(cls, message.DESCRIPTOR)
    kwargs: dict[str, Any] = {name: getattr(message, name) for name in always}
    # Only what is set: an unset scalar is zero, the field's default.
    for pb_field, value in message.ListFields():
        entry = fields.get(pb_field.name)
        if entry is not None:
            name, convert = entry
            kwargs[name] = value if convert is None else convert(value)
    if buildable:
        return build(cls, kwargs)
    return cls(**kwargs)


# --------------------------------------------------------------------------- dataclass → pb


def _encode_value(value: Any, message: Any) -> None:
    """Write one dataclass-side value into the (sub-)message ``message``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        encode(value, message)
    elif (
        isinstance(value, bool | int | float | str) and "value" in message.DESCRIPTOR.fields_by_name
    ):
        message.value = value  # BoolValue / Int32Value
    else:
        raise TypeError(f"can not write {type(value).__name__} into {message.DESCRIPTOR.name}")


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_BYTES and isinstance(value, str):
        return value.encode()
    return value


_SCALAR, _MESSAGE, _MAP, _MAP_OF_MESSAGES, _REPEATED, _REPEATED_MESSAGES = range(6)

_EncodePlan = tuple[tuple[str, int, FieldDescriptor], ...]
_ENCODE_PLANS: dict[tuple[type, Descriptor], _EncodePlan] = {}


def _encode_plan(cls: type, descriptor: Descriptor) -> _EncodePlan:
    plan = _ENCODE_PLANS.get((cls, descriptor))
    if plan is not None:
        return plan
    entries: list[tuple[str, int, FieldDescriptor]] = []
    for field in dataclasses.fields(cls):
        pb_field = descriptor.fields_by_name.get(field.name)
        if pb_field is None:
            continue
        if _is_map(pb_field):
            value_type = pb_field.message_type.fields_by_name["value"].message_type
            kind = _MAP if value_type is None else _MAP_OF_MESSAGES
        elif pb_field.is_repeated:
            kind = _REPEATED if pb_field.message_type is None else _REPEATED_MESSAGES
        else:
            kind = _SCALAR if pb_field.message_type is None else _MESSAGE
        entries.append((field.name, kind, pb_field))
    plan = _ENCODE_PLANS[(cls, descriptor)] = tuple(entries)
    return plan


def encode(obj: object, message: M) -> M:
    """Fill ``message`` from the dataclass instance ``obj``, field by field; return it.

    Raises:
        TypeError: a value does not fit its message field.
    """
    for name, kind, pb_field in _encode_plan(type(obj), message.DESCRIPTOR):
        value = getattr(obj, name)
        if value is None:
            continue
        if kind == _SCALAR:
            setattr(message, name, _scalar(pb_field, value))
            continue
        target: Any = getattr(message, name)
        if kind == _MESSAGE:
            target.SetInParent()
            _encode_value(value, target)
        elif kind == _MAP:
            for key, val in value.items():
                target[key] = val
        elif kind == _MAP_OF_MESSAGES:
            for key, val in value.items():
                _encode_value(val, target[key])
        elif kind == _REPEATED:
            target.extend(_scalar(pb_field, val) for val in value)
        else:
            # Equal neighbours (a batch of publishes without history) are written once.
            last: Any = None
            written: Any = None
            for val in value:
                item = target.add()
                if val is last and written is not None:
                    item.CopyFrom(written)
                    continue
                _encode_value(val, item)
                last, written = val, item
    return message
