"""Client protocol v2 messages, independent of the encoding.

Field names, numbers and semantics follow ``../shared/spec/client-protocol.md`` §2–§5 (the
``Command``/``Reply``/``Push`` envelopes and every request and result). ``bytes`` fields hold
the payload exactly as the client sent it: raw JSON text for the JSON protocol, opaque bytes
for Protobuf (§3). An empty ``bytes`` value means "absent".

Rules:

* requests are what a codec decodes; results and pushes are what a codec encodes;
* zero values are omitted on the wire by the codecs (proto3 semantics), except where the spec
  says a key is always present (``ClientInfo.user``/``client``, ``presence``,
  ``publications``, history ``epoch``/``offset``, presence stats counters);
* messages are immutable: ``frozen`` dataclasses, or ``Final`` fields where a class has a
  written ``__init__``. Those are the messages built on every connect, subscribe and publish. This
  module is compiled with mypyc (setup.py), which compiles a written ``__init__`` (about
  50 ns) but keeps the interpreted one ``dataclasses`` generates (about 1 µs for a frozen
  class, which must assign through ``object.__setattr__``). Compiled, a ``Final`` field
  cannot be assigned from outside ``__init__`` (AttributeError); mypy refuses it in either
  build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, TypeAlias

# ---------------------------------------------------------------------------
# Shared types (§4)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """Who published, joined or is present (§4.1)."""

    user: str
    client: str
    conn_info: bytes = b""
    chan_info: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamPosition:
    """A position in a channel's history stream (§4.3)."""

    offset: int = 0
    epoch: str = ""


@dataclass(slots=True, kw_only=True, init=False)
class Publication:
    """A message in a channel (§4.2)."""

    data: Final[bytes]
    info: Final[ClientInfo | None]
    offset: Final[int]
    tags: Final[dict[str, str] | None]
    delta: Final[bool]
    time: Final[int]

    def __init__(
        self,
        *,
        data: bytes = b"",
        info: ClientInfo | None = None,
        offset: int = 0,
        tags: dict[str, str] | None = None,
        delta: bool = False,
        time: int = 0,
    ) -> None:
        self.data = data
        self.info = info
        self.offset = offset
        self.tags = tags
        self.delta = delta
        self.time = time


# ---------------------------------------------------------------------------
# Requests (client → server, §5)


@dataclass(slots=True, kw_only=True, init=False)
class SubscribeRequest:
    """``subscribe`` (§5.2); also the value type of ``ConnectRequest.subs``."""

    channel: Final[str]
    token: Final[str]
    recover: Final[bool]
    epoch: Final[str]
    offset: Final[int]
    data: Final[bytes]
    positioned: Final[bool]
    recoverable: Final[bool]
    join_leave: Final[bool]
    delta: Final[str]
    has_tags_filter: Final[bool]
    flag: Final[int]
    type: Final[int]

    def __init__(
        self,
        *,
        channel: str = "",
        token: str = "",
        recover: bool = False,
        epoch: str = "",
        offset: int = 0,
        data: bytes = b"",
        positioned: bool = False,
        recoverable: bool = False,
        join_leave: bool = False,
        delta: str = "",
        has_tags_filter: bool = False,
        flag: int = 0,
        type: int = 0,
    ) -> None:
        self.channel = channel
        self.token = token
        self.recover = recover
        self.epoch = epoch
        self.offset = offset
        self.data = data
        self.positioned = positioned
        self.recoverable = recoverable
        self.join_leave = join_leave
        self.delta = delta
        self.has_tags_filter = has_tags_filter
        self.flag = flag
        self.type = type


@dataclass(slots=True, kw_only=True, init=False)
class ConnectRequest:
    """``connect`` (§5.1)."""

    token: Final[str]
    data: Final[bytes]
    subs: Final[dict[str, SubscribeRequest]]
    name: Final[str]
    version: Final[str]
    headers: Final[dict[str, str]]

    def __init__(
        self,
        *,
        token: str = "",
        data: bytes = b"",
        subs: dict[str, SubscribeRequest] | None = None,
        name: str = "",
        version: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.token = token
        self.data = data
        self.subs = {} if subs is None else subs
        self.name = name
        self.version = version
        self.headers = {} if headers is None else headers


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeRequest:
    """``unsubscribe`` (§5.3)."""

    channel: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRequest:
    """``publish`` (§5.4)."""

    channel: str = ""
    data: bytes = b""
    type: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceRequest:
    """``presence`` (§5.5)."""

    channel: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceStatsRequest:
    """``presence_stats`` (§5.6)."""

    channel: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRequest:
    """``history`` (§5.7). ``since`` is None when absent."""

    channel: str = ""
    limit: int = 0
    since: StreamPosition | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PingRequest:
    """``ping`` command: defined but unused; answered with 108 (§5.12)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest:
    """``send``: an asynchronous message without reply (§5.9)."""

    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class RPCRequest:
    """``rpc`` (§5.8)."""

    method: str = ""
    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshRequest:
    """``refresh``: a new connection token (§5.10)."""

    token: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubRefreshRequest:
    """``sub_refresh``: a new subscription token (§5.11)."""

    channel: str = ""
    token: str = ""
    type: int = 0


Request: TypeAlias = (
    ConnectRequest
    | SubscribeRequest
    | UnsubscribeRequest
    | PublishRequest
    | PresenceRequest
    | PresenceStatsRequest
    | HistoryRequest
    | PingRequest
    | SendRequest
    | RPCRequest
    | RefreshRequest
    | SubRefreshRequest
)


@dataclass(slots=True, kw_only=True, init=False)
class Command:
    """One client command (§2.1). ``request`` is None for an empty command: a pong."""

    id: Final[int]
    request: Final[Request | None]

    def __init__(self, *, id: int = 0, request: Request | None = None) -> None:
        self.id = id
        self.request = request


# ---------------------------------------------------------------------------
# Results (server → client replies, §5)


@dataclass(slots=True, kw_only=True, init=False)
class SubscribeResult:
    """Reply to ``subscribe`` (§5.2); also the value type of ``ConnectResult.subs``."""

    expires: Final[bool]
    ttl: Final[int]
    recoverable: Final[bool]
    epoch: Final[str]
    publications: Final[tuple[Publication, ...]]
    recovered: Final[bool]
    offset: Final[int]
    positioned: Final[bool]
    data: Final[bytes]
    was_recovering: Final[bool]
    delta: Final[bool]

    def __init__(
        self,
        *,
        expires: bool = False,
        ttl: int = 0,
        recoverable: bool = False,
        epoch: str = "",
        publications: tuple[Publication, ...] = (),
        recovered: bool = False,
        offset: int = 0,
        positioned: bool = False,
        data: bytes = b"",
        was_recovering: bool = False,
        delta: bool = False,
    ) -> None:
        self.expires = expires
        self.ttl = ttl
        self.recoverable = recoverable
        self.epoch = epoch
        self.publications = publications
        self.recovered = recovered
        self.offset = offset
        self.positioned = positioned
        self.data = data
        self.was_recovering = was_recovering
        self.delta = delta


@dataclass(slots=True, kw_only=True, init=False)
class ConnectResult:
    """Reply to ``connect`` (§5.1)."""

    client: Final[str]
    version: Final[str]
    expires: Final[bool]
    ttl: Final[int]
    data: Final[bytes]
    subs: Final[dict[str, SubscribeResult]]
    ping: Final[int]
    pong: Final[bool]
    session: Final[str]
    node: Final[str]
    time: Final[int]

    def __init__(
        self,
        *,
        client: str,
        version: str = "",
        expires: bool = False,
        ttl: int = 0,
        data: bytes = b"",
        subs: dict[str, SubscribeResult] | None = None,
        ping: int = 0,
        pong: bool = False,
        session: str = "",
        node: str = "",
        time: int = 0,
    ) -> None:
        self.client = client
        self.version = version
        self.expires = expires
        self.ttl = ttl
        self.data = data
        self.subs = {} if subs is None else subs
        self.ping = ping
        self.pong = pong
        self.session = session
        self.node = node
        self.time = time


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeResult:
    """Reply to ``unsubscribe``: always empty (§5.3)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """Reply to ``publish``: always empty (§5.4)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceResult:
    """Reply to ``presence``: client id → info (§5.5)."""

    presence: dict[str, ClientInfo] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceStatsResult:
    """Reply to ``presence_stats`` (§5.6)."""

    num_clients: int = 0
    num_users: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryResult:
    """Reply to ``history`` (§5.7)."""

    publications: tuple[Publication, ...] = ()
    epoch: str = ""
    offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RPCResult:
    """Reply to ``rpc`` (§5.8)."""

    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshResult:
    """Reply to ``refresh`` (§5.10)."""

    client: str = ""
    version: str = ""
    expires: bool = False
    ttl: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SubRefreshResult:
    """Reply to ``sub_refresh`` (§5.11)."""

    expires: bool = False
    ttl: int = 0


Result: TypeAlias = (
    ConnectResult
    | SubscribeResult
    | UnsubscribeResult
    | PublishResult
    | PresenceResult
    | PresenceStatsResult
    | HistoryResult
    | RPCResult
    | RefreshResult
    | SubRefreshResult
)

# ---------------------------------------------------------------------------
# Pushes (§2.3, §4)


@dataclass(frozen=True, slots=True, kw_only=True)
class Join:
    """Someone subscribed (§4.4)."""

    info: ClientInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class Leave:
    """Someone unsubscribed (§4.4)."""

    info: ClientInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribePush:
    """The server unsubscribed the client (§4.5)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """An asynchronous message without channel (§4.7)."""

    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribePush:
    """A server-side subscription added at runtime (§4.6)."""

    recoverable: bool = False
    epoch: str = ""
    offset: int = 0
    positioned: bool = False
    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisconnectPush:
    """Disconnect advice for emulation and unidirectional transports (§4.8)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectPush:
    """Connect push: the first message of a unidirectional transport (§4.9)."""

    result: ConnectResult


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshPush:
    """Refresh push, unidirectional transports only (§4.10)."""

    expires: bool = False
    ttl: int = 0


PushBody: TypeAlias = (
    Publication
    | Join
    | Leave
    | UnsubscribePush
    | Message
    | SubscribePush
    | ConnectPush
    | DisconnectPush
    | RefreshPush
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Push:
    """An asynchronous message from the server (§2.3)."""

    channel: str = ""
    body: PushBody
