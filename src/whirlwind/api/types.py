"""Server API requests and results, shared by the HTTP and GRPC fronts.

Names follow Centrifugo's ``internal/apiproto/api.proto`` exactly (server-api.md §11,
§12.4): message names, field names and field order (which is the order Go's
``encoding/json`` emits). Rules:

* Every field has its zero value as default, so a request decoded from ``{}`` is valid to
  construct; the executor decides what is required (server-api.md §9).
* ``bytes`` fields annotated :data:`RawJSON` (``data``, ``info``, ``params``, ``conn_info``,
  ``chan_info``) hold a payload: raw JSON text over HTTP, any bytes over GRPC. Empty means
  absent.
* Integers carry their protobuf width (:data:`Uint32`, :data:`Int64`, …) so decoders can
  range-check them and the OpenAPI document can name the format.
* ``SubscribeOptionOverride`` fields are protobuf ``BoolValue`` wrappers: ``None`` means
  "not set" (keep the namespace's value), over JSON they are ``{"value": bool}`` objects.
* :data:`ALWAYS` marks the fields Centrifugo emits even when they hold a zero value
  (server-api.md §4, "Always present").
* The messages are frozen dataclasses *without* ``__slots__``: a field with a plain
  default is also a class attribute, so :func:`build` makes an instance from only the
  fields that are set. A batch of 100 publishes builds some 300 of these objects; a
  14-field ``Reply`` costs one attribute this way instead of 14 frozen ``__setattr__``
  calls (issue 5).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, TypeVar

__all__ = [
    "ALWAYS",
    "BATCH_DISPATCH_ORDER",
    "METHODS",
    "BatchRequest",
    "BatchResult",
    "BoolValue",
    "BoolValueMarker",
    "BroadcastRequest",
    "BroadcastResult",
    "ChannelInfo",
    "ChannelsRequest",
    "ChannelsResult",
    "ClientInfo",
    "Command",
    "Disconnect",
    "DisconnectRequest",
    "DisconnectResult",
    "Error",
    "HistoryRemoveRequest",
    "HistoryRemoveResult",
    "HistoryRequest",
    "HistoryResult",
    "InfoRequest",
    "InfoResult",
    "Int32",
    "Int64",
    "IntFormat",
    "Metrics",
    "NodeResult",
    "PresenceRequest",
    "PresenceResult",
    "PresenceStatsRequest",
    "PresenceStatsResult",
    "Process",
    "Publication",
    "PublishRequest",
    "PublishResponse",
    "PublishResult",
    "RPCRequest",
    "RPCResult",
    "RawJSON",
    "RawJSONMarker",
    "RefreshRequest",
    "RefreshResult",
    "Reply",
    "Request",
    "Result",
    "StreamPosition",
    "SubscribeOptionOverride",
    "SubscribeRequest",
    "SubscribeResult",
    "Uint32",
    "Uint64",
    "UnsubscribeRequest",
    "UnsubscribeResult",
    "build",
]

M = TypeVar("M")


# --------------------------------------------------------------------------- annotations


@dataclass(frozen=True, slots=True)
class IntFormat:
    """The protobuf integer type of a field: its name and inclusive range."""

    name: str
    minimum: int
    maximum: int


@dataclass(frozen=True, slots=True)
class RawJSONMarker:
    """Marks a ``bytes`` field holding a payload (raw JSON over HTTP, server-api.md §4)."""


@dataclass(frozen=True, slots=True)
class BoolValueMarker:
    """Marks a ``bool | None`` field that is a protobuf ``BoolValue`` (``{"value": b}``)."""


Uint32 = Annotated[int, IntFormat("uint32", 0, 2**32 - 1)]
Uint64 = Annotated[int, IntFormat("uint64", 0, 2**64 - 1)]
Int32 = Annotated[int, IntFormat("int32", -(2**31), 2**31 - 1)]
Int64 = Annotated[int, IntFormat("int64", -(2**63), 2**63 - 1)]
RawJSON = Annotated[bytes, RawJSONMarker()]
BoolValue = Annotated[bool | None, BoolValueMarker()]

ALWAYS: Final = {"always": True}
"""Field metadata: emit this field even when it holds its zero value."""


class Request:
    """Base of every method's request (a marker: the fronts decode into subclasses)."""

    __slots__ = ()


class Result:
    """Base of every method's result."""

    __slots__ = ()


# --------------------------------------------------------------------------- shared types


@dataclass(frozen=True, kw_only=True)
class Error:
    """An API error (server-api.md §5, §6): both keys always present."""

    code: Uint32 = field(default=0, metadata=ALWAYS)
    message: str = field(default="", metadata=ALWAYS)


@dataclass(frozen=True, kw_only=True)
class StreamPosition:
    """A position in a channel's history stream."""

    offset: Uint64 = 0
    epoch: str = ""


@dataclass(frozen=True, kw_only=True)
class SubscribeOptionOverride:
    """Per-call overrides of namespace flags; ``None`` keeps the namespace's value."""

    presence: BoolValue = None
    join_leave: BoolValue = None
    force_recovery: BoolValue = None
    force_positioning: BoolValue = None
    force_push_join_leave: BoolValue = None


@dataclass(frozen=True, kw_only=True)
class Disconnect:
    """A custom disconnect for the ``disconnect`` method."""

    code: Uint32 = 0
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ClientInfo:
    """A connection as presence and publications show it; ``user``/``client`` always."""

    user: str = field(default="", metadata=ALWAYS)
    client: str = field(default="", metadata=ALWAYS)
    conn_info: RawJSON = b""
    chan_info: RawJSON = b""


@dataclass(frozen=True, kw_only=True)
class Publication:
    """A publication in history (no ``uid``, no timestamp: server-api.md §9.9)."""

    data: RawJSON = b""
    info: ClientInfo | None = None
    offset: Uint64 = 0
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Metrics:
    """Aggregated metrics of a node (server-api.md §9.12.1)."""

    interval: float = 0.0
    items: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Process:
    """Process statistics (Centrifugo PRO only; never sent by Whirlwind)."""

    cpu: float = 0.0
    rss: Int64 = 0


@dataclass(frozen=True, kw_only=True)
class NodeResult:
    """One node of the cluster in ``info``."""

    uid: str = field(default="", metadata=ALWAYS)
    name: str = field(default="", metadata=ALWAYS)
    version: str = field(default="", metadata=ALWAYS)
    num_clients: Uint32 = field(default=0, metadata=ALWAYS)
    num_users: Uint32 = field(default=0, metadata=ALWAYS)
    num_channels: Uint32 = field(default=0, metadata=ALWAYS)
    uptime: Uint32 = 0
    metrics: Metrics | None = None
    process: Process | None = None
    num_subs: Uint32 = field(default=0, metadata=ALWAYS)


@dataclass(frozen=True, kw_only=True)
class ChannelInfo:
    """A channel in the ``channels`` result."""

    num_clients: Uint32 = 0


# --------------------------------------------------------------------------- publish


@dataclass(frozen=True, kw_only=True)
class PublishRequest(Request):
    """``publish`` (server-api.md §9.1)."""

    channel: str = ""
    data: RawJSON = b""
    b64data: str = ""
    skip_history: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    delta: bool = False
    version: Uint64 = 0
    version_epoch: str = ""


@dataclass(frozen=True, kw_only=True)
class PublishResult(Result):
    """Where the publication landed; empty without history."""

    offset: Uint64 = 0
    epoch: str = ""


@dataclass(frozen=True, kw_only=True)
class PublishResponse:
    """One channel's outcome inside ``broadcast``: ``error`` or ``result``."""

    error: Error | None = None
    result: PublishResult | None = None


@dataclass(frozen=True, kw_only=True)
class BroadcastRequest(Request):
    """``broadcast`` (server-api.md §9.2)."""

    channels: list[str] = field(default_factory=list)
    data: RawJSON = b""
    b64data: str = ""
    skip_history: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    delta: bool = False
    version: Uint64 = 0
    version_epoch: str = ""


@dataclass(frozen=True, kw_only=True)
class BroadcastResult(Result):
    """One response per requested channel, in request order."""

    responses: list[PublishResponse] = field(default_factory=list)


# --------------------------------------------------------------------------- connections


@dataclass(frozen=True, kw_only=True)
class SubscribeRequest(Request):
    """``subscribe``: server-side subscription of live connections (§9.3).

    ``label_filter`` and ``all_users`` (PRO) are not modelled: unknown keys are ignored.
    """

    channel: str = ""
    user: str = ""
    expire_at: Int64 = 0
    info: RawJSON = b""
    b64info: str = ""
    client: str = ""
    data: RawJSON = b""
    b64data: str = ""
    recover_since: StreamPosition | None = None
    override: SubscribeOptionOverride | None = None
    session: str = ""


@dataclass(frozen=True, kw_only=True)
class SubscribeResult(Result):
    """Empty."""


@dataclass(frozen=True, kw_only=True)
class UnsubscribeRequest(Request):
    """``unsubscribe`` (§9.4)."""

    channel: str = ""
    user: str = ""
    client: str = ""
    session: str = ""


@dataclass(frozen=True, kw_only=True)
class UnsubscribeResult(Result):
    """Empty."""


@dataclass(frozen=True, kw_only=True)
class DisconnectRequest(Request):
    """``disconnect`` (§9.5)."""

    user: str = ""
    disconnect: Disconnect | None = None
    client: str = ""
    whitelist: list[str] = field(default_factory=list)
    session: str = ""


@dataclass(frozen=True, kw_only=True)
class DisconnectResult(Result):
    """Empty."""


@dataclass(frozen=True, kw_only=True)
class RefreshRequest(Request):
    """``refresh`` (§9.6)."""

    user: str = ""
    client: str = ""
    expired: bool = False
    expire_at: Int64 = 0
    info: RawJSON = b""
    session: str = ""


@dataclass(frozen=True, kw_only=True)
class RefreshResult(Result):
    """Empty."""


# --------------------------------------------------------------------------- presence


@dataclass(frozen=True, kw_only=True)
class PresenceRequest(Request):
    """``presence`` (§9.7)."""

    channel: str = ""


@dataclass(frozen=True, kw_only=True)
class PresenceResult(Result):
    """Connections in the channel by client id; ``{}`` when nobody."""

    presence: dict[str, ClientInfo] = field(default_factory=dict, metadata=ALWAYS)


@dataclass(frozen=True, kw_only=True)
class PresenceStatsRequest(Request):
    """``presence_stats`` (§9.8)."""

    channel: str = ""


@dataclass(frozen=True, kw_only=True)
class PresenceStatsResult(Result):
    """Counts; both always present."""

    num_clients: Uint32 = field(default=0, metadata=ALWAYS)
    num_users: Uint32 = field(default=0, metadata=ALWAYS)


# --------------------------------------------------------------------------- history


@dataclass(frozen=True, kw_only=True)
class HistoryRequest(Request):
    """``history`` (§9.9): ``limit`` 0 → position only, -1 → everything."""

    channel: str = ""
    limit: Int32 = 0
    since: StreamPosition | None = None
    reverse: bool = False


@dataclass(frozen=True, kw_only=True)
class HistoryResult(Result):
    """Publications and the stream's current top position; all three always present."""

    publications: list[Publication] = field(default_factory=list, metadata=ALWAYS)
    epoch: str = field(default="", metadata=ALWAYS)
    offset: Uint64 = field(default=0, metadata=ALWAYS)


@dataclass(frozen=True, kw_only=True)
class HistoryRemoveRequest(Request):
    """``history_remove`` (§9.10)."""

    channel: str = ""


@dataclass(frozen=True, kw_only=True)
class HistoryRemoveResult(Result):
    """Empty."""


# --------------------------------------------------------------------------- node


@dataclass(frozen=True, kw_only=True)
class ChannelsRequest(Request):
    """``channels`` (§9.11): ``pattern`` is a gobwas/glob pattern; empty lists all."""

    pattern: str = ""


@dataclass(frozen=True, kw_only=True)
class ChannelsResult(Result):
    """Channels with subscribers; ``{}`` when none."""

    channels: dict[str, ChannelInfo] = field(default_factory=dict, metadata=ALWAYS)


@dataclass(frozen=True, kw_only=True)
class InfoRequest(Request):
    """``info`` (§9.12): no fields."""


@dataclass(frozen=True, kw_only=True)
class InfoResult(Result):
    """One entry per live node."""

    nodes: list[NodeResult] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class RPCRequest(Request):
    """``rpc`` (§9.13): no server-side extensions are registered in OSS."""

    method: str = ""
    params: RawJSON = b""


@dataclass(frozen=True, kw_only=True)
class RPCResult(Result):
    """The extension's answer."""

    data: RawJSON = b""


# --------------------------------------------------------------------------- batch


@dataclass(frozen=True, kw_only=True)
class Command:
    """One batch element: exactly one field set, named after its method (§9.14)."""

    publish: PublishRequest | None = None
    broadcast: BroadcastRequest | None = None
    subscribe: SubscribeRequest | None = None
    unsubscribe: UnsubscribeRequest | None = None
    disconnect: DisconnectRequest | None = None
    presence: PresenceRequest | None = None
    presence_stats: PresenceStatsRequest | None = None
    history: HistoryRequest | None = None
    history_remove: HistoryRemoveRequest | None = None
    info: InfoRequest | None = None
    rpc: RPCRequest | None = None
    refresh: RefreshRequest | None = None
    channels: ChannelsRequest | None = None


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One batch reply: ``error``, or the field named after the command's method."""

    error: Error | None = None
    publish: PublishResult | None = None
    broadcast: BroadcastResult | None = None
    subscribe: SubscribeResult | None = None
    unsubscribe: UnsubscribeResult | None = None
    disconnect: DisconnectResult | None = None
    presence: PresenceResult | None = None
    presence_stats: PresenceStatsResult | None = None
    history: HistoryResult | None = None
    history_remove: HistoryRemoveResult | None = None
    info: InfoResult | None = None
    rpc: RPCResult | None = None
    refresh: RefreshResult | None = None
    channels: ChannelsResult | None = None


@dataclass(frozen=True, kw_only=True)
class BatchRequest(Request):
    """``batch``: ``null`` elements are kept (they get error 107)."""

    commands: list[Command | None] = field(default_factory=list)
    parallel: bool = False


@dataclass(frozen=True, kw_only=True)
class BatchResult(Result):
    """One reply per command, in command order (sent without a ``result`` wrapper)."""

    replies: list[Reply] = field(default_factory=list)


# --------------------------------------------------------------------------- methods

METHODS: Final[dict[str, tuple[type[Request], type[Result]]]] = {
    "publish": (PublishRequest, PublishResult),
    "broadcast": (BroadcastRequest, BroadcastResult),
    "subscribe": (SubscribeRequest, SubscribeResult),
    "unsubscribe": (UnsubscribeRequest, UnsubscribeResult),
    "disconnect": (DisconnectRequest, DisconnectResult),
    "refresh": (RefreshRequest, RefreshResult),
    "presence": (PresenceRequest, PresenceResult),
    "presence_stats": (PresenceStatsRequest, PresenceStatsResult),
    "history": (HistoryRequest, HistoryResult),
    "history_remove": (HistoryRemoveRequest, HistoryRemoveResult),
    "channels": (ChannelsRequest, ChannelsResult),
    "info": (InfoRequest, InfoResult),
    "rpc": (RPCRequest, RPCResult),
    "batch": (BatchRequest, BatchResult),
}
"""Every OSS method with its request and result types (server-api.md §2.1)."""

BATCH_DISPATCH_ORDER: Final = (
    "publish",
    "broadcast",
    "subscribe",
    "unsubscribe",
    "disconnect",
    "history",
    "history_remove",
    "presence",
    "presence_stats",
    "info",
    "rpc",
    "refresh",
    "channels",
)
"""Centrifugo's order of checking a batch ``Command``'s fields: the first set one wins."""


# --------------------------------------------------------------------------- construction

_new = object.__new__
_set = object.__setattr__
_FACTORIES: dict[type[Any], tuple[tuple[str, Callable[[], Any]], ...]] = {}


def _factories(cls: type[Any]) -> tuple[tuple[str, Callable[[], Any]], ...]:
    """The ``default_factory`` fields of a message (they have no class attribute)."""
    if not dataclasses.is_dataclass(cls) or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls!r} is not a message of this module")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} validates in __post_init__: construct it")
    factories = _FACTORIES[cls] = tuple(
        (f.name, f.default_factory)
        for f in dataclasses.fields(cls)
        if f.default_factory is not dataclasses.MISSING
    )
    return factories


def buildable(cls: type) -> bool:
    """Whether :func:`build` may make ``cls``: no slots to write around, no
    ``__post_init__`` to skip."""
    return "__slots__" not in cls.__dict__ and not hasattr(cls, "__post_init__")


def build(cls: type[M], fields: dict[str, Any]) -> M:
    """``cls(**fields)`` without ``__init__``: the fast constructor of the hot paths.

    A field ``fields`` lacks reads its class default; one with a default factory gets a
    new value. The caller passes field names only (no check). The values are set one by
    one, so they stay inline in the instance: no ``__dict__`` object for the cyclic GC.
    """
    factories = _FACTORIES.get(cls)
    if factories is None:
        factories = _factories(cls)
    obj: M = _new(cls)
    for name, factory in factories:
        if name not in fields:
            _set(obj, name, factory())
    for name, value in fields.items():
        _set(obj, name, value)
    return obj
