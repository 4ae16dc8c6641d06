"""JSON protocol codec (client-protocol.md §1.2, §2–§5).

A frame holds one or more JSON objects separated by ``\\n``. ``bytes`` payload fields are raw
JSON embedded verbatim (§3): decoding re-serialises the client's value compactly with orjson
(so a payload never holds a raw newline that would break framing), encoding embeds the
bytes with :class:`orjson.Fragment`. Zero values are omitted except where the spec requires
a key (§2.2, §4.1, §5.5–§5.7); key order follows Centrifugo's encoder
(``centrifugal/protocol client.pb_easyjson.go``).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from whirlwind.codes import Error
from whirlwind.errors import ProtocolError
from whirlwind.protocol.messages import (
    ClientInfo,
    Command,
    ConnectPush,
    ConnectRequest,
    ConnectResult,
    DisconnectPush,
    HistoryRequest,
    HistoryResult,
    Join,
    Leave,
    Message,
    PingRequest,
    PresenceRequest,
    PresenceResult,
    PresenceStatsRequest,
    PresenceStatsResult,
    Publication,
    PublishRequest,
    PublishResult,
    Push,
    RefreshPush,
    RefreshRequest,
    RefreshResult,
    Request,
    Result,
    RPCRequest,
    RPCResult,
    SendRequest,
    StreamPosition,
    SubRefreshRequest,
    SubRefreshResult,
    SubscribePush,
    SubscribeRequest,
    SubscribeResult,
    UnsubscribePush,
    UnsubscribeRequest,
    UnsubscribeResult,
)

_Fragment = orjson.Fragment
_dumps = orjson.dumps
_loads = orjson.loads
_UINT32_MAX: Final = 2**32 - 1
_UINT64_MAX: Final = 2**64 - 1


def is_json(data: bytes) -> bool:
    """Whether ``data`` is one valid JSON value (and so may be embedded in a JSON frame)."""
    try:
        _loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def json_payload(data: bytes) -> bytes | None:
    """``data`` as it may be embedded in a JSON frame, or None when it is not JSON.

    Client-protocol §3: payloads are embedded raw, so they must be valid JSON and hold no
    raw newline (which would split the frame); whitespace-formatted JSON is compacted.
    """
    if not data:
        return data
    try:
        value = _loads(data)
    except orjson.JSONDecodeError:
        return None
    if b"\n" in data or b"\r" in data:
        return _dumps(value)
    return data


def compact_json(data: bytes) -> bytes:
    """Return ``data`` re-serialised without insignificant whitespace (no raw newlines).

    Raises:
        ValueError: ``data`` is not valid JSON.
    """
    if b"\n" not in data and b"\r" not in data:
        return data
    return _dumps(_loads(data))


# ---------------------------------------------------------------------------
# Decoding


def _field(obj: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = obj.get(key)
    if value is None:
        return default
    # bool is a subclass of int: refuse true/false where a number is expected.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"field {key!r} must be {kind.__name__}")
    return value


def _str(obj: dict[str, Any], key: str) -> str:
    value: str = _field(obj, key, str, "")
    return value


def _bool(obj: dict[str, Any], key: str) -> bool:
    value: bool = _field(obj, key, bool, False)
    return value


def _int(obj: dict[str, Any], key: str, low: int, high: int) -> int:
    value: int = _field(obj, key, int, 0)
    if not low <= value <= high:
        raise ProtocolError(f"field {key!r} out of range")
    return value


def _data(obj: dict[str, Any], key: str = "data") -> bytes:
    value = obj.get(key)
    if value is None:
        return b""
    return _dumps(value)


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be an object")
    return value


def _str_map(value: Any, what: str) -> dict[str, str]:
    obj = _object(value, what)
    if not all(isinstance(v, str) for v in obj.values()):
        raise ProtocolError(f"{what} values must be strings")
    return obj


def _subscribe(obj: dict[str, Any]) -> SubscribeRequest:
    return SubscribeRequest(
        channel=_str(obj, "channel"),
        token=_str(obj, "token"),
        recover=_bool(obj, "recover"),
        epoch=_str(obj, "epoch"),
        offset=_int(obj, "offset", 0, _UINT64_MAX),
        data=_data(obj),
        positioned=_bool(obj, "positioned"),
        recoverable=_bool(obj, "recoverable"),
        join_leave=_bool(obj, "join_leave"),
        delta=_str(obj, "delta"),
        has_tags_filter=obj.get("tf") is not None,
        flag=_int(obj, "flag", -(2**63), 2**63 - 1),
        type=_int(obj, "type", -(2**31), 2**31 - 1),
    )


def _connect(obj: dict[str, Any]) -> ConnectRequest:
    subs = _object(obj.get("subs"), "connect.subs")
    return ConnectRequest(
        token=_str(obj, "token"),
        data=_data(obj),
        subs={ch: _subscribe(_object(sub, "connect.subs entry")) for ch, sub in subs.items()},
        name=_str(obj, "name"),
        version=_str(obj, "version"),
        headers=_str_map(obj.get("headers"), "connect.headers"),
    )


def _history(obj: dict[str, Any]) -> HistoryRequest:
    since_obj = obj.get("since")
    since = None
    if since_obj is not None:
        since_obj = _object(since_obj, "history.since")
        since = StreamPosition(
            offset=_int(since_obj, "offset", 0, _UINT64_MAX), epoch=_str(since_obj, "epoch")
        )
    return HistoryRequest(
        channel=_str(obj, "channel"),
        limit=_int(obj, "limit", -(2**31), 2**31 - 1),
        since=since,
        reverse=_bool(obj, "reverse"),
    )


_REQUESTS: Final[tuple[tuple[str, Any], ...]] = (
    # Field-number order (§2.1): the first request present wins.
    ("connect", _connect),
    ("subscribe", _subscribe),
    ("unsubscribe", lambda o: UnsubscribeRequest(channel=_str(o, "channel"))),
    (
        "publish",
        lambda o: PublishRequest(
            channel=_str(o, "channel"),
            data=_data(o),
            type=_int(o, "type", -(2**31), 2**31 - 1),
        ),
    ),
    ("presence", lambda o: PresenceRequest(channel=_str(o, "channel"))),
    ("presence_stats", lambda o: PresenceStatsRequest(channel=_str(o, "channel"))),
    ("history", _history),
    ("ping", lambda o: PingRequest()),
    ("send", lambda o: SendRequest(data=_data(o))),
    ("rpc", lambda o: RPCRequest(method=_str(o, "method"), data=_data(o))),
    ("refresh", lambda o: RefreshRequest(token=_str(o, "token"))),
    (
        "sub_refresh",
        lambda o: SubRefreshRequest(
            channel=_str(o, "channel"),
            token=_str(o, "token"),
            type=_int(o, "type", -(2**31), 2**31 - 1),
        ),
    ),
)


def decode_command(line: bytes | str) -> Command:
    """Decode one JSON command.

    Raises:
        ProtocolError: not JSON, not an object, or a field of the wrong type.
    """
    try:
        obj = _loads(line)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("malformed JSON command") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("command must be a JSON object")
    command_id = _int(obj, "id", 0, _UINT32_MAX)
    request: Request | None = None
    for key, build in _REQUESTS:
        value = obj.get(key)
        if value is not None:
            request = build(_object(value, key))
            break
    return Command(id=command_id, request=request)


# ---------------------------------------------------------------------------
# Encoding


def _info(info: ClientInfo) -> dict[str, Any]:
    # §4.1: user and client are always present.
    out: dict[str, Any] = {"user": info.user, "client": info.client}
    if info.conn_info:
        out["conn_info"] = _Fragment(info.conn_info)
    if info.chan_info:
        out["chan_info"] = _Fragment(info.chan_info)
    return out


def _publication(pub: Publication, delta: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if pub.data:
        # §15: on a delta-negotiated JSON subscription data is a JSON string.
        out["data"] = pub.data.decode("utf-8", "replace") if delta else _Fragment(pub.data)
    if pub.info is not None:
        out["info"] = _info(pub.info)
    if pub.offset:
        out["offset"] = pub.offset
    if pub.tags:
        out["tags"] = pub.tags
    if pub.delta:
        out["delta"] = True
    if pub.time:
        out["time"] = pub.time
    return out


def _subscribe_result(res: SubscribeResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if res.expires:
        out["expires"] = True
        out["ttl"] = res.ttl
    if res.recoverable:
        out["recoverable"] = True
    if res.epoch:
        out["epoch"] = res.epoch
    if res.publications:
        out["publications"] = [_publication(p, res.delta) for p in res.publications]
    if res.recovered:
        out["recovered"] = True
    if res.offset:
        out["offset"] = res.offset
    if res.positioned:
        out["positioned"] = True
    if res.data:
        out["data"] = _Fragment(res.data)
    if res.was_recovering:
        out["was_recovering"] = True
    if res.delta:
        out["delta"] = True
    return out


def _connect_result(res: ConnectResult) -> dict[str, Any]:
    out: dict[str, Any] = {"client": res.client}
    if res.version:
        out["version"] = res.version
    if res.expires:
        out["expires"] = True
        out["ttl"] = res.ttl
    if res.data:
        out["data"] = _Fragment(res.data)
    if res.subs:
        out["subs"] = {ch: _subscribe_result(sub) for ch, sub in res.subs.items()}
    if res.ping:
        out["ping"] = res.ping
    if res.pong:
        out["pong"] = True
    if res.session:
        out["session"] = res.session
    if res.node:
        out["node"] = res.node
    if res.time:
        out["time"] = res.time
    return out


def _expires_ttl(expires: bool, ttl: int) -> dict[str, Any]:
    return {"expires": True, "ttl": ttl} if expires else {}


def _result(result: Result) -> tuple[str, dict[str, Any]]:
    match result:
        case ConnectResult():
            return "connect", _connect_result(result)
        case SubscribeResult():
            return "subscribe", _subscribe_result(result)
        case UnsubscribeResult():
            return "unsubscribe", {}
        case PublishResult():
            return "publish", {}
        case PresenceResult():
            return "presence", {
                "presence": {cid: _info(info) for cid, info in result.presence.items()}
            }
        case PresenceStatsResult():
            return "presence_stats", {
                "num_clients": result.num_clients,
                "num_users": result.num_users,
            }
        case HistoryResult():
            return "history", {
                "publications": [_publication(p) for p in result.publications],
                "epoch": result.epoch,
                "offset": result.offset,
            }
        case RPCResult():
            return "rpc", {"data": _Fragment(result.data)} if result.data else {}
        case RefreshResult():
            out: dict[str, Any] = {}
            if result.client:
                out["client"] = result.client
            if result.version:
                out["version"] = result.version
            out.update(_expires_ttl(result.expires, result.ttl))
            return "refresh", out
        case SubRefreshResult():
            return "sub_refresh", _expires_ttl(result.expires, result.ttl)
    raise TypeError(f"unknown result {type(result).__name__}")  # pragma: no cover


def _push(push: Push) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if push.channel:
        out["channel"] = push.channel
    body = push.body
    match body:
        case Publication():
            out["pub"] = _publication(body)
        case Join():
            out["join"] = {"info": _info(body.info)}
        case Leave():
            out["leave"] = {"info": _info(body.info)}
        case UnsubscribePush():
            out["unsubscribe"] = {"code": body.code, "reason": body.reason}
        case Message():
            out["message"] = {"data": _Fragment(body.data)} if body.data else {}
        case SubscribePush():
            sub: dict[str, Any] = {}
            if body.recoverable:
                sub["recoverable"] = True
            if body.epoch:
                sub["epoch"] = body.epoch
            if body.offset:
                sub["offset"] = body.offset
            if body.positioned:
                sub["positioned"] = True
            if body.data:
                sub["data"] = _Fragment(body.data)
            out["subscribe"] = sub
        case ConnectPush():
            out["connect"] = _connect_result(body.result)
        case DisconnectPush():
            out["disconnect"] = {"code": body.code, "reason": body.reason}
        case RefreshPush():
            out["refresh"] = _expires_ttl(body.expires, body.ttl)
    return out


class JsonCodec:
    """The JSON variant of the client protocol (no subprotocol or ``centrifuge-json``)."""

    name: Final = "json"
    binary: Final = False

    def decode_commands(self, frame: bytes) -> list[Command]:
        """Decode the newline-separated commands of a frame, in order (§1.2).

        Blank lines are skipped; an empty frame or an undecodable line is a ProtocolError
        (Centrifugo: disconnect 3501).
        """
        commands = [decode_command(line) for line in frame.split(b"\n") if line.strip()]
        if not commands:
            raise ProtocolError("empty frame")
        return commands

    def encode_result(self, command_id: int, result: Result) -> bytes:
        """Encode ``{"id":N,"<kind>":{…}}``; the result key is always present (§2.2)."""
        key, body = _result(result)
        return _dumps({"id": command_id, key: body})

    def encode_error(self, command_id: int, error: Error) -> bytes:
        """Encode ``{"id":N,"error":{"code":C,"message":M}}`` (§2.4)."""
        err: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.temporary:
            err["temporary"] = True
        return _dumps({"id": command_id, "error": err})

    def encode_push(self, push: Push) -> bytes:
        """Encode ``{"push":{…}}``; unidirectional transports use :func:`encode_bare_push`."""
        return _dumps({"push": _push(push)})

    def encode_bare_push(self, push: Push) -> bytes:
        """Encode a bare Push, as unidirectional transports send them (§1.9)."""
        return _dumps(_push(push))

    def encode_publication(
        self, channel: str, publication: Publication, *, delta: bool = False
    ) -> bytes:
        """Encode a publication push once for every JSON subscriber of ``channel``."""
        return _dumps({"push": {"channel": channel, "pub": _publication(publication, delta)}})

    def encode_ping(self) -> bytes:
        """The server ping: ``{}`` (§7)."""
        return b"{}"

    def join(self, messages: list[bytes]) -> bytes:
        """Join messages with a single ``\\n``: no blank lines, no trailing newline (§1.2)."""
        if len(messages) == 1:
            return messages[0]
        return b"\n".join(messages)


JSON_CODEC: Final = JsonCodec()
"""The shared JSON codec instance (it holds no state)."""
