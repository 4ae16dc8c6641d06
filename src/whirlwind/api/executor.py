"""The server API's logic, shared by the HTTP and GRPC fronts (server-api.md §9).

Each method takes its request dataclass (:mod:`whirlwind.api.types`) and returns its result
dataclass, or raises :class:`APIError` with one of the codes of server-api.md §6 and its
exact message. The fronts only authenticate, decode and encode; they call
:meth:`Executor.call`, which also turns an unexpected failure into error 100.

Rules (server-api.md §9):

* Channel-taking methods resolve the namespace first (unknown → 102); the server API does
  not apply the client-side name rules (length, ``channel_regex``, ``$``, ``#``).
* ``b64data`` / ``b64info`` win over ``data`` / ``info`` when non-empty; bad base64 → 107.
* ``publish``: the payload is checked against ``publication_data_format`` after the
  namespace lookup (v6 order); ``version`` filtering only applies when the publication
  goes into history, as in Centrifugo's brokers.
* ``broadcast`` publishes concurrently; per-channel outcomes stay in request order.
* ``history`` is not capped by ``client.history_max_publication_limit``; reverse from
  offset 0 is error 100 (a Centrifugo quirk); an epoch mismatch is 112.
* ``batch`` runs commands in order, or concurrently with ``parallel``; replies keep the
  order; a ``null`` command is 107 and one naming no known method 104.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from whirlwind import codes
from whirlwind.api import types as t
from whirlwind.api.glob import GlobError, compile_glob
from whirlwind.auth.tokens import SubscriptionOverride
from whirlwind.broker.base import HistoryOptions, PublishOptions
from whirlwind.broker.base import PublishResult as BrokerPublishResult
from whirlwind.channels import ResolvedChannel
from whirlwind.errors import UnrecoverablePosition, WhirlwindError
from whirlwind.node import ChannelPublishOptions, Node
from whirlwind.protocol import messages as m

__all__ = [
    "ERROR_BAD_REQUEST",
    "ERROR_CONFLICT",
    "ERROR_INTERNAL",
    "ERROR_NOT_AVAILABLE",
    "ERROR_NOT_FOUND",
    "ERROR_UNKNOWN_CHANNEL",
    "ERROR_UNRECOVERABLE_POSITION",
    "APIError",
    "Executor",
]

logger = logging.getLogger("whirlwind.api")

R = TypeVar("R")

MAX_CONCURRENCY: Final = 1024
"""Concurrent publishes of one ``broadcast`` / commands of one parallel ``batch``."""

ERROR_INTERNAL: Final = t.Error(code=100, message="internal server error")
ERROR_UNKNOWN_CHANNEL: Final = t.Error(code=102, message="unknown channel")
ERROR_NOT_FOUND: Final = t.Error(code=104, message="not found")
ERROR_BAD_REQUEST: Final = t.Error(code=107, message="bad request")
ERROR_NOT_AVAILABLE: Final = t.Error(code=108, message="not available")
ERROR_UNRECOVERABLE_POSITION: Final = t.Error(code=112, message="unrecoverable position")
ERROR_CONFLICT: Final = t.Error(code=113, message="conflict")


class APIError(WhirlwindError):
    """A server API error: ``{"error": {"code": C, "message": M}}`` (server-api.md §5).

    ``detail`` says what exactly was wrong; it goes to the debug log, never on the wire.
    """

    def __init__(self, code: int, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail

    @classmethod
    def of(cls, error: t.Error, detail: str = "") -> APIError:
        """The exception for one of the ``ERROR_*`` values."""
        return cls(error.code, error.message, detail=detail)

    @property
    def error(self) -> t.Error:
        """The wire error object."""
        return t.Error(code=self.code, message=self.message)


def _decode_b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIError.of(ERROR_BAD_REQUEST, f"{field} is not valid base64") from exc


def _payload(raw: bytes, b64: str, field: str) -> bytes:
    """``b64<field>`` replaces ``<field>`` when non-empty (server-api.md §4)."""
    return _decode_b64(b64, f"b64{field}") if b64 else raw


_NO_OPTIONS: Final = ChannelPublishOptions()

PUBLISH_TARGETS_CACHED: Final = 4096
"""Channels whose namespace and default publish options an executor remembers."""

# Frozen values shared by every publish without history (the common case): a batch of
# them builds no result objects, and the encoder sees one object again and again.
_NO_POSITION_RESULT: Final = t.PublishResult()
_NO_POSITION_REPLY: Final = t.Reply(publish=_NO_POSITION_RESULT)
_BAD_REQUEST_REPLY: Final = t.Reply(error=ERROR_BAD_REQUEST)
_NOT_FOUND_REPLY: Final = t.Reply(error=ERROR_NOT_FOUND)


@dataclass(frozen=True, slots=True, kw_only=True)
class _PublishTarget:
    """What publishing into one channel needs from the configuration (cached)."""

    resolved: ResolvedChannel
    options: PublishOptions
    """The broker's options for a publish request that sets none of its own."""
    any_payload: bool
    """No ``publication_data_format``: any non-empty payload fits."""


def _publish_result(result: BrokerPublishResult) -> t.PublishResult:
    position = result.position
    if not position.offset and not position.epoch:
        return _NO_POSITION_RESULT
    return t.build(t.PublishResult, {"offset": position.offset, "epoch": position.epoch})


def _reply(method: str, result: t.Result) -> t.Reply:
    """The batch reply holding ``result``; Reply's fields are named after the methods."""
    if result is _NO_POSITION_RESULT:
        return _NO_POSITION_REPLY
    return t.build(t.Reply, {method: result})


def _has_options(request: t.PublishRequest | t.BroadcastRequest) -> bool:
    """Whether ``request`` sets any publish option (else the channel's defaults apply)."""
    return bool(
        request.tags
        or request.skip_history
        or request.idempotency_key
        or request.delta
        or request.version
        or request.version_epoch
    )


def _override(value: t.SubscribeOptionOverride | None) -> SubscriptionOverride | None:
    if value is None:
        return None
    return SubscriptionOverride(
        presence=value.presence,
        join_leave=value.join_leave,
        force_push_join_leave=value.force_push_join_leave,
        force_recovery=value.force_recovery,
        force_positioning=value.force_positioning,
    )


def _client_info(info: m.ClientInfo) -> t.ClientInfo:
    return t.ClientInfo(
        user=info.user, client=info.client, conn_info=info.conn_info, chan_info=info.chan_info
    )


def _publication(pub: m.Publication) -> t.Publication:
    return t.Publication(
        data=pub.data,
        info=None if pub.info is None else _client_info(pub.info),
        offset=pub.offset,
        tags=dict(pub.tags) if pub.tags else {},
    )


class Executor:
    """Runs server API methods against a node.

    With a broker that never waits (the memory broker), ``publish`` (alone, in a batch or
    in a broadcast) runs synchronously: no coroutine, task or gather on its way, which is
    most of the cost of a batch of publishes otherwise.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self._handlers: dict[str, Callable[[Any], Awaitable[t.Result]]] = {
            name: getattr(self, name) for name in t.METHODS
        }
        self._request_types = {name: types[0] for name, types in t.METHODS.items()}
        self._nowait: dict[str, Callable[[Any], t.Result]] = {}
        """Methods that can run synchronously, by name."""
        if node.publishes_nowait:
            self._nowait["publish"] = self._publish_nowait
        self._targets: dict[str, _PublishTarget] = {}

    # ------------------------------------------------------------------ dispatch

    async def call(self, method: str, request: t.Request) -> t.Result:
        """Run ``method`` with ``request`` (its type from :data:`~whirlwind.api.types.METHODS`).

        Raises:
            APIError: the method is unknown (104), the request is invalid, or it failed;
                an unexpected exception is logged and becomes error 100.
            TypeError: ``request`` is not ``method``'s request type (the caller's bug).
        """
        handler = self._handlers.get(method)
        if handler is None:
            raise APIError.of(ERROR_NOT_FOUND, f"unknown method {method!r}")
        expected = self._request_types[method]
        if not isinstance(request, expected):
            raise TypeError(f"{method} takes {expected.__name__}, not {type(request).__name__}")
        nowait = self._nowait.get(method)
        if nowait is None:
            return await self._guard(method, handler(request))
        try:
            return nowait(request)
        except APIError:
            raise
        except Exception as exc:
            raise _internal(method, exc) from exc

    @staticmethod
    async def _guard(method: str, work: Awaitable[R]) -> R:
        """Await ``work``; anything but an :class:`APIError` becomes error 100."""
        try:
            return await work
        except APIError:
            raise
        except Exception as exc:
            raise _internal(method, exc) from exc

    def _resolve(self, channel: str) -> ResolvedChannel:
        if not channel:
            raise APIError.of(ERROR_BAD_REQUEST, "channel required")
        resolved = self.node.rules.resolve(channel)
        if resolved is None:
            raise APIError.of(ERROR_UNKNOWN_CHANNEL, f"unknown namespace in {channel!r}")
        return resolved

    # ------------------------------------------------------------------ publish

    def _publish_target(
        self, channel: str, data: bytes, request: t.PublishRequest | t.BroadcastRequest
    ) -> tuple[str, PublishOptions]:
        """Check a publication; returns the channel and the broker's options for it."""
        target = self._targets.get(channel)
        if target is None:
            resolved = self._resolve(channel)
            # The configuration is fixed, so a channel's namespace and default options are.
            target = _PublishTarget(
                resolved=resolved,
                options=self.node.publish_options(resolved, _NO_OPTIONS),
                any_payload=not resolved.publication_data_format,
            )
            if len(self._targets) >= PUBLISH_TARGETS_CACHED:
                self._targets.clear()
            self._targets[channel] = target
        resolved = target.resolved
        # check_data passes any non-empty payload when no format is set (the default).
        if (
            not (data and target.any_payload)
            and self.node.rules.check_data(resolved, data) is not None
        ):
            raise APIError.of(
                ERROR_BAD_REQUEST,
                f"data does not fit publication_data_format {resolved.publication_data_format!r}"
                if data
                else "data required",
            )
        if not _has_options(request):
            return resolved.name, target.options
        # Centrifugo's brokers compare versions only for publications kept in history.
        with_history = resolved.history_enabled and not request.skip_history
        options = self.node.publish_options(
            resolved,
            ChannelPublishOptions(
                tags=dict(request.tags) if request.tags else None,
                skip_history=request.skip_history,
                idempotency_key=request.idempotency_key,
                delta=True if request.delta else None,
                version=request.version if with_history else 0,
                version_epoch=request.version_epoch if with_history else "",
            ),
        )
        return resolved.name, options

    async def _publish_one(
        self,
        channel: str,
        data: bytes,
        request: t.PublishRequest | t.BroadcastRequest,
    ) -> t.PublishResult:
        name, options = self._publish_target(channel, data, request)
        return _publish_result(await self.node.broker.publish(name, data, options))

    def _publish_one_nowait(
        self,
        channel: str,
        data: bytes,
        request: t.PublishRequest | t.BroadcastRequest,
    ) -> t.PublishResult:
        name, options = self._publish_target(channel, data, request)
        return _publish_result(self.node.publish_nowait(name, data, options))

    async def publish(self, request: t.PublishRequest) -> t.PublishResult:
        """``publish`` into one channel (§9.1). Errors: 102, 107, 100."""
        data = _payload(request.data, request.b64data, "data")
        return await self._publish_one(request.channel, data, request)

    def _publish_nowait(self, request: t.PublishRequest) -> t.PublishResult:
        """:meth:`publish` with a broker that never waits."""
        data = _payload(request.data, request.b64data, "data")
        return self._publish_one_nowait(request.channel, data, request)

    async def broadcast(self, request: t.BroadcastRequest) -> t.BroadcastResult:
        """``broadcast``: the same publication into many channels (§9.2).

        Per-channel errors (107, 102, 100) land in that channel's response; only an empty
        ``channels`` list or bad ``b64data`` fail the whole call (107).
        """
        if not request.channels:
            raise APIError.of(ERROR_BAD_REQUEST, "channels required")
        data = _payload(request.data, request.b64data, "data")
        if self.node.publishes_nowait:
            return t.BroadcastResult(
                responses=[
                    self._broadcast_one_nowait(channel, data, request)
                    for channel in request.channels
                ]
            )
        limit = asyncio.Semaphore(MAX_CONCURRENCY)

        async def one(channel: str) -> t.PublishResponse:
            async with limit:
                try:
                    result = await self._guard(
                        "broadcast", self._publish_one(channel, data, request)
                    )
                except APIError as exc:
                    return _broadcast_error(channel, exc)
                return t.PublishResponse(result=result)

        responses = await asyncio.gather(*(one(channel) for channel in request.channels))
        return t.BroadcastResult(responses=list(responses))

    def _broadcast_one_nowait(
        self, channel: str, data: bytes, request: t.BroadcastRequest
    ) -> t.PublishResponse:
        try:
            result = self._publish_one_nowait(channel, data, request)
        except APIError as failure:
            return _broadcast_error(channel, failure)
        except Exception as exc:
            return _broadcast_error(channel, _internal("broadcast", exc))
        return t.PublishResponse(result=result)

    # ------------------------------------------------------------------ connections

    async def subscribe(self, request: t.SubscribeRequest) -> t.SubscribeResult:
        """Subscribe the user's live connections server-side (§9.3). Errors: 107, 102, 100."""
        self._resolve(request.channel)
        info = _payload(request.info, request.b64info, "info")
        data = _payload(request.data, request.b64data, "data")
        since = request.recover_since
        await self.node.subscribe_user(
            request.user,
            request.channel,
            client_id=request.client,
            session=request.session,
            expire_at=request.expire_at or None,
            info=info,
            data=data,
            recover_since=None
            if since is None
            else m.StreamPosition(offset=since.offset, epoch=since.epoch),
            override=_override(request.override),
        )
        return t.SubscribeResult()

    async def unsubscribe(self, request: t.UnsubscribeRequest) -> t.UnsubscribeResult:
        """Unsubscribe the user's connections (§9.4); an empty channel is a no-op."""
        if not request.channel:
            return t.UnsubscribeResult()
        self._resolve(request.channel)
        await self.node.unsubscribe_user(
            request.user, request.channel, client_id=request.client, session=request.session
        )
        return t.UnsubscribeResult()

    async def disconnect(self, request: t.DisconnectRequest) -> t.DisconnectResult:
        """Disconnect the user's connections (§9.5), by default with 3503 "force disconnect".

        A custom ``disconnect`` with code 0 counts as absent (no close frame carries 0).
        """
        custom = request.disconnect
        disconnect = codes.DISCONNECT_FORCE_NO_RECONNECT
        if custom is not None and custom.code:
            disconnect = codes.Disconnect(custom.code, custom.reason)
        self.node.disconnect_user(
            request.user,
            disconnect,
            client_id=request.client,
            session=request.session,
            whitelist=tuple(request.whitelist),
        )
        return t.DisconnectResult()

    async def refresh(self, request: t.RefreshRequest) -> t.RefreshResult:
        """Refresh the user's connections (§9.6): expire them (3005), move expiry, set info."""
        self.node.refresh_user(
            request.user,
            client_id=request.client,
            session=request.session,
            expired=request.expired,
            expire_at=request.expire_at or None,
            info=request.info or None,
        )
        return t.RefreshResult()

    # ------------------------------------------------------------------ presence

    def _presence_channel(self, channel: str) -> str:
        resolved = self._resolve(channel)
        if not resolved.options.presence:
            raise APIError.of(ERROR_NOT_AVAILABLE, "presence is off in this namespace")
        return resolved.name

    async def presence(self, request: t.PresenceRequest) -> t.PresenceResult:
        """Who is subscribed (§9.7). Errors: 107, 102, 108, 100."""
        channel = self._presence_channel(request.channel)
        entries = await self.node.presence.presence(channel)
        return t.PresenceResult(presence={cid: _client_info(info) for cid, info in entries.items()})

    async def presence_stats(self, request: t.PresenceStatsRequest) -> t.PresenceStatsResult:
        """Counts of clients and distinct users (§9.8). Errors: 107, 102, 108, 100."""
        channel = self._presence_channel(request.channel)
        stats = await self.node.presence.presence_stats(channel)
        return t.PresenceStatsResult(num_clients=stats.num_clients, num_users=stats.num_users)

    # ------------------------------------------------------------------ history

    def _history_channel(self, channel: str) -> ResolvedChannel:
        resolved = self._resolve(channel)
        if not resolved.history_enabled:
            raise APIError.of(ERROR_NOT_AVAILABLE, "history is off in this namespace")
        return resolved

    async def history(self, request: t.HistoryRequest) -> t.HistoryResult:
        """Read the channel's stream (§9.9). Errors: 107, 102, 108, 112, 100."""
        resolved = self._history_channel(request.channel)
        since = request.since
        if request.reverse and since is not None and since.offset == 0:
            # centrifuge rejects this as a bad request; Centrifugo's API reports it as 100.
            raise APIError.of(ERROR_INTERNAL, "reverse history since offset 0")
        try:
            history = await self.node.broker.history(
                resolved.name,
                HistoryOptions(
                    since=None
                    if since is None
                    else m.StreamPosition(offset=since.offset, epoch=since.epoch),
                    limit=request.limit,
                    reverse=request.reverse,
                    meta_ttl=resolved.history_meta_ttl,
                ),
            )
        except UnrecoverablePosition as exc:
            raise APIError.of(ERROR_UNRECOVERABLE_POSITION, "epoch mismatch") from exc
        return t.HistoryResult(
            publications=[_publication(pub) for pub in history.publications],
            epoch=history.position.epoch,
            offset=history.position.offset,
        )

    async def history_remove(self, request: t.HistoryRemoveRequest) -> t.HistoryRemoveResult:
        """Drop the stored publications, keep the stream position (§9.10)."""
        resolved = self._history_channel(request.channel)
        await self.node.broker.remove_history(resolved.name)
        return t.HistoryRemoveResult()

    # ------------------------------------------------------------------ node

    async def channels(self, request: t.ChannelsRequest) -> t.ChannelsResult:
        """Channels with subscribers, optionally filtered by a glob (§9.11). Bad glob → 100."""
        hub = self.node.hub
        names = hub.channels()
        if request.pattern:
            try:
                regex = compile_glob(request.pattern)
            except GlobError as exc:
                raise APIError.of(ERROR_INTERNAL, str(exc)) from exc
            names = [name for name in names if regex.fullmatch(name)]
        result: dict[str, t.ChannelInfo] = {}
        for name in names:
            count = hub.num_subscribers(name)
            if count:
                result[name] = t.ChannelInfo(num_clients=count)
        return t.ChannelsResult(channels=result)

    async def info(self, request: t.InfoRequest) -> t.InfoResult:
        """This node's counters (§9.12); Whirlwind sends no ``metrics``."""
        node = self.node
        hub = node.hub
        return t.InfoResult(
            nodes=[
                t.NodeResult(
                    uid=node.id,
                    name=node.name,
                    version=node.version,
                    num_clients=hub.num_clients,
                    num_users=hub.num_users,
                    num_channels=hub.num_channels,
                    uptime=max(0, int(node.clock() - node.started_at)),
                    num_subs=hub.num_subscriptions,
                )
            ]
        )

    async def rpc(self, request: t.RPCRequest) -> t.RPCResult:
        """Server-side RPC extensions (§9.13): none exist, so every method is 104."""
        if not request.method:
            raise APIError.of(ERROR_BAD_REQUEST, "method required")
        raise APIError.of(ERROR_NOT_FOUND, f"no rpc extension {request.method!r}")

    # ------------------------------------------------------------------ batch

    async def batch(self, request: t.BatchRequest) -> t.BatchResult:
        """Many commands in one call (§9.14), in order or in parallel.

        Commands that run synchronously (:attr:`Executor._nowait`) run right away, also
        in a parallel batch made only of them: nothing would interleave with them anyway.
        """
        commands = request.commands
        run_nowait = self._batch_one_nowait
        if request.parallel and not all(map(self._runs_nowait, commands)):
            limit = asyncio.Semaphore(MAX_CONCURRENCY)

            async def limited(command: t.Command | None) -> t.Reply:
                async with limit:
                    return await self._batch_one(command)

            replies = list(await asyncio.gather(*(limited(c) for c in commands)))
        else:
            replies = []
            append = replies.append
            publish_nowait = self._nowait.get("publish")
            for command in commands:
                publish = None if command is None else command.publish
                if publish is not None and publish_nowait is not None:
                    # The batch everybody sends, inlined: _batch_one_nowait for a publish.
                    try:
                        result = publish_nowait(publish)
                    except APIError as failure:
                        append(_batch_error("publish", failure))
                        continue
                    except Exception as exc:
                        append(_batch_error("publish", _internal("publish", exc)))
                        continue
                    append(_reply("publish", result))
                    continue
                reply = run_nowait(command)
                if reply is None:
                    reply = await self._batch_one(command)
                append(reply)
        return t.BatchResult(replies=replies)

    def _runs_nowait(self, command: t.Command | None) -> bool:
        if command is None:
            return True
        method, _ = _command_method(command)
        return method is None or method in self._nowait

    def _batch_one_nowait(self, command: t.Command | None) -> t.Reply | None:
        """The reply to ``command`` if it runs synchronously, else None."""
        if command is None:
            return _BAD_REQUEST_REPLY
        method, request = _command_method(command)
        if method is None:
            return _NOT_FOUND_REPLY
        nowait = self._nowait.get(method)
        if nowait is None:
            return None
        try:
            result = nowait(request)
        except APIError as failure:
            return _batch_error(method, failure)
        except Exception as exc:
            return _batch_error(method, _internal(method, exc))
        return _reply(method, result)

    async def _batch_one(self, command: t.Command | None) -> t.Reply:
        reply = self._batch_one_nowait(command)
        if reply is not None:
            return reply
        assert command is not None
        method, request = _command_method(command)
        assert method is not None
        try:
            result = await self._guard(method, self._handlers[method](request))
        except APIError as exc:
            return _batch_error(method, exc)
        return _reply(method, result)


def _command_method(command: t.Command) -> tuple[str | None, t.Request | None]:
    """The method a batch command names and its request, in Centrifugo's order."""
    request: t.Request | None = command.publish  # the first of BATCH_DISPATCH_ORDER
    if request is not None:
        return "publish", request
    for method in t.BATCH_DISPATCH_ORDER:
        request = getattr(command, method)
        if request is not None:
            return method, request
    return None, None


def _internal(method: str, exc: Exception) -> APIError:
    """Error 100 for an unexpected failure of ``method``, logged with its traceback."""
    logger.exception("server API %s failed", method, exc_info=exc)
    return APIError.of(ERROR_INTERNAL, str(exc))


def _batch_error(method: str, exc: APIError) -> t.Reply:
    logger.debug("batch %s failed: %s %s", method, exc.message, exc.detail)
    return t.build(t.Reply, {"error": exc.error})


def _broadcast_error(channel: str, exc: APIError) -> t.PublishResponse:
    logger.debug("broadcast into %r failed: %s %s", channel, exc.message, exc.detail)
    return t.PublishResponse(error=exc.error)
