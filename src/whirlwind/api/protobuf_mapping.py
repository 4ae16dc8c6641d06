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
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["decode", "encode"]

T = TypeVar("T")
M = TypeVar("M", bound=Message)

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


def _decode_value(value: Any, hint: Any) -> Any:
    """One field value (or element) → its dataclass-side value."""
    if not isinstance(value, Message):
        return value
    target = _strip_optional(hint)
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        return decode(target, value)
    fields = value.DESCRIPTOR.fields_by_name
    if len(fields) == 1 and "value" in fields:  # BoolValue / Int32Value
        return getattr(value, "value")  # noqa: B009 - Message declares no ``value``
    raise TypeError(f"no dataclass annotated for {value.DESCRIPTOR.full_name}")


def decode(cls: type[T], message: Message) -> T:
    """Build the dataclass ``cls`` from ``message``, field by field.

    Raises:
        TypeError, ValueError: the dataclass refuses the values (its own validation), or
            ``cls`` annotates a scalar where the message has a sub-message.
    """
    hints = _hints(cls)
    descriptor: Descriptor = message.DESCRIPTOR
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        pb_field = descriptor.fields_by_name.get(field.name)
        if not field.init or pb_field is None:
            continue
        value = getattr(message, field.name)
        hint = hints[field.name]
        if _is_map(pb_field):
            item = _item_hint(hint)
            kwargs[field.name] = {key: _decode_value(val, item) for key, val in value.items()}
        elif pb_field.is_repeated:
            item = _item_hint(hint)
            items = [_decode_value(val, item) for val in value]
            is_tuple = typing.get_origin(_strip_optional(hint)) is tuple
            kwargs[field.name] = tuple(items) if is_tuple else items
        elif pb_field.message_type is not None:
            if message.HasField(field.name):
                kwargs[field.name] = _decode_value(value, hint)
        else:
            kwargs[field.name] = value
    return cls(**kwargs)


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


def encode(obj: object, message: M) -> M:
    """Fill ``message`` from the dataclass instance ``obj``, field by field; return it.

    Raises:
        TypeError: a value does not fit its message field.
    """
    descriptor: Descriptor = message.DESCRIPTOR
    target: Any
    for field in dataclasses.fields(obj):  # type: ignore[arg-type]
        pb_field = descriptor.fields_by_name.get(field.name)
        value = getattr(obj, field.name)
        if pb_field is None or value is None:
            continue
        target = getattr(message, field.name)
        if _is_map(pb_field):
            message_valued = pb_field.message_type.fields_by_name["value"].message_type
            for key, val in value.items():
                if message_valued is not None:
                    _encode_value(val, target[key])
                else:
                    target[key] = val
        elif pb_field.is_repeated:
            if pb_field.message_type is not None:
                for val in value:
                    _encode_value(val, target.add())
            else:
                target.extend(_scalar(pb_field, val) for val in value)
        elif pb_field.message_type is not None:
            target.SetInParent()
            _encode_value(value, target)
        else:
            setattr(message, field.name, _scalar(pb_field, value))
    return message
