"""The HTTP front of the server API (server-api.md §2–§8).

Routes, under ``http_api.handler_prefix`` (default ``/api``):

* ``POST <prefix>/<method>`` for every OSS method; any other path under the prefix is the
  router's plain 404; another HTTP method on a method path is 405 with an empty body,
  checked before the API key (§3).
* ``POST <prefix>``: the legacy protocol, concatenated ``{"id","method","params"}`` objects,
  one reply line each (§2.2); 503 while the node shuts down; no transport error mode.
* ``GET <prefix>/openapi.json``: the OpenAPI document, without authentication.

Authentication (§3), in this order: ``http_api.insecure`` skips it; an empty configured
key refuses everything; ``X-API-Key`` if present, else ``Authorization: apikey KEY``; then,
if still refused and there is a query string, ``?api_key=``. Refusal is 401, empty body.
Keys are compared in constant time.

Bodies: at most ``http_api.max_request_body_size`` bytes (413 beyond); a body that does
not decode into the method's request type is 400 with a text message naming the problem
(§7). API errors are HTTP 200 ``{"error": …}`` unless transport error mode (§8) is on, by
``http_api.error_mode: transport`` or the ``X-Centrifugo-Error-Mode: transport`` header;
then the status comes from :data:`TRANSPORT_STATUS` and the body is the bare error.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

import orjson

from whirlwind.api import json_mapping
from whirlwind.api.executor import ERROR_BAD_REQUEST, ERROR_NOT_FOUND, APIError, Executor
from whirlwind.api.openapi import openapi_document
from whirlwind.api.types import METHODS, Error
from whirlwind.config.schema import HTTPAPIConfig
from whirlwind.web import Request, Response, Route, Routes

__all__ = [
    "LEGACY_METHODS",
    "TRANSPORT_STATUS",
    "add_api_routes",
    "api_paths",
]

logger = logging.getLogger("whirlwind.api")

BodyHandler = Callable[[Request], Coroutine[Any, Any, Response]]
"""A route's handler once the method, the API key and the body size are checked."""

TRANSPORT_STATUS: Final[dict[int, int]] = {
    100: 500,
    102: 404,
    104: 404,
    107: 400,
    108: 400,
    112: 416,
    113: 409,
}
"""HTTP status of an API error code in transport error mode (§6); others are 500."""

LEGACY_METHODS: Final[tuple[str, ...]] = (
    "publish",
    "broadcast",
    "unsubscribe",
    "disconnect",
    "presence",
    "presence_stats",
    "history",
    "history_remove",
    "channels",
    "info",
    "rpc",
    "subscribe",
    "refresh",
    "",  # 13 is unused
    "connections",
    "update_user_status",
    "get_user_status",
    "delete_user_status",
    "block_user",
    "unblock_user",
    "revoke_token",
    "invalidate_user_tokens",
    "device_register",
    "device_update",
    "device_remove",
    "device_list",
    "device_topic_list",
    "device_topic_update",
    "user_topic_list",
    "user_topic_update",
    "send_push_notification",
    "update_push_status",
    "cancel_push",
    "map_publish",
    "map_remove",
    "map_read_state",
    "map_read_stream",
    "map_stats",
    "map_clear",
    "shared_poll_publish",
)
"""Legacy ``Command.MethodType`` names, indexed by enum value (§2.2)."""

_LEGACY_BY_NAME: Final = {name: value for value, name in enumerate(LEGACY_METHODS) if name}
_JSON: Final = "application/json"
_MAX_UINT32: Final = 2**32 - 1


def api_paths(config: HTTPAPIConfig) -> dict[str, tuple[str, str | None]]:
    """Every route :func:`add_api_routes` mounts: path → (HTTP method, API method or None).

    ``None`` marks the legacy route; the OpenAPI document is ``GET``.
    """
    base = config.handler_prefix.rstrip("/")
    paths: dict[str, tuple[str, str | None]] = {
        f"{base}/{method}": ("POST", method) for method in METHODS
    }
    paths[base or "/"] = ("POST", None)
    paths[f"{base}/openapi.json"] = ("GET", None)
    return paths


def _bad_request(problem: str) -> Response:
    return Response.text(f"Bad Request: {problem}", 400)


def _internal_error() -> Response:
    return Response.text("Internal Server Error", 500)


@dataclass(frozen=True, slots=True)
class _Auth:
    """The API key check of §3."""

    insecure: bool
    key: bytes

    def allows(self, request: Request) -> bool:
        if self.insecure:
            return True
        if not self.key:
            return False  # Centrifugo: "API key is empty" refuses everything
        valid = False
        headers = request.headers
        x_api_key = headers.get("x-api-key", "")
        if x_api_key:
            valid = self._matches(x_api_key)
        else:
            authorization = headers.get("authorization", "")
            if authorization:
                parts = authorization.split()
                valid = len(parts) == 2 and parts[0].lower() == "apikey" and self._matches(parts[1])
        if not valid and request.query_string:
            valid = self._matches(request.query.get("api_key", ""))
        return valid

    def _matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.key)


@dataclass(slots=True)
class _LegacyCommand:
    id: int
    method: str
    """Empty for an enum value that names no method."""
    params: Any  # any JSON value (mypyc: a dataclass field typed `object` fails)
    has_params: bool


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_LEGACY_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _parse_legacy(body: bytes) -> list[_LegacyCommand]:
    """Split a legacy body into commands (a streaming decode of concatenated objects).

    Raises:
        json_mapping.DecodeError: not JSON, not objects, or a bad ``id`` / ``method``.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as not_utf8:
        raise json_mapping.DecodeError("body is not UTF-8") from not_utf8
    commands: list[_LegacyCommand] = []
    n = len(text)
    index = 0
    while True:
        while index < n and text[index] in " \t\r\n":
            index += 1
        if index >= n:
            break
        try:
            value, index = _LEGACY_DECODER.raw_decode(text, index)
        except ValueError as exc:
            raise json_mapping.DecodeError(f"command {len(commands) + 1}: {exc}") from exc
        commands.append(_legacy_command(value, len(commands) + 1))
    if not commands:
        raise json_mapping.DecodeError("empty body")
    return commands


def _legacy_command(value: object, number: int) -> _LegacyCommand:
    where = f"command {number}"
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise json_mapping.DecodeError(f"{where}: expected an object")
    command_id = value.get("id")
    if command_id is None:
        command_id = 0
    if (
        isinstance(command_id, bool)
        or not isinstance(command_id, int)
        or not 0 <= command_id <= _MAX_UINT32
    ):
        raise json_mapping.DecodeError(f"{where}: id must be a uint32")
    method = value.get("method")
    if method is None:
        method = 0  # the enum's zero value: publish (a Centrifugo quirk)
    if isinstance(method, str):
        number_ = _LEGACY_BY_NAME.get(method.lower())
        if number_ is None:
            raise json_mapping.DecodeError(f"{where}: unknown method {method[:64]!r}")
        name = LEGACY_METHODS[number_]
    elif isinstance(method, int) and not isinstance(method, bool):
        name = LEGACY_METHODS[method] if 0 <= method < len(LEGACY_METHODS) else ""
    else:
        raise json_mapping.DecodeError(f"{where}: method must be a string or an integer")
    return _LegacyCommand(
        id=command_id, method=name, params=value.get("params"), has_params="params" in value
    )


def add_api_routes(routes: Routes, executor: Executor, config: HTTPAPIConfig) -> None:
    """Mount the server API routes of ``config`` on ``routes`` (see the module docstring)."""
    auth = _Auth(insecure=config.insecure, key=config.key.encode())
    limit = config.max_request_body_size
    transport_mode = config.error_mode == "transport"
    too_large = Response.text(
        f"Request Entity Too Large: the body limit is {limit} bytes "
        "(http_api.max_request_body_size)",
        413,
    )

    def guarded(handler: BodyHandler) -> Route:
        def guard(request: Request) -> Response | Coroutine[Any, Any, Response]:
            if request.method != "POST":
                return Response(405, headers=(("Allow", "POST"),))
            if not auth.allows(request):
                return Response(401)
            if request.body_too_large:
                logger.info("server API request body over %d bytes refused", limit)
                return too_large
            return handler(request)

        return Route(guard, max_body=limit, answers_too_large=True)

    def method_handler(method: str) -> BodyHandler:
        request_type = METHODS[method][0]

        async def handle(request: Request) -> Response:
            try:
                api_request = json_mapping.loads(request_type, request.body)
            except json_mapping.DecodeError as decode_error:
                logger.info("bad server API %s request: %s", method, decode_error)
                return _bad_request(str(decode_error))
            try:
                result = await executor.call(method, api_request)
                if method == "batch":  # §9.14: replies are not wrapped in "result"
                    return Response.json(json_mapping.dumps(result))
                return Response.json(orjson.dumps({"result": json_mapping.encode(result)}))
            except APIError as failure:
                logger.debug(
                    "server API %s error %d %s: %s",
                    method,
                    failure.code,
                    failure.message,
                    failure.detail,
                )
                error = json_mapping.encode(failure.error)
                if transport_mode or request.headers.get("x-centrifugo-error-mode") == "transport":
                    return Response.json(
                        orjson.dumps(error), status=TRANSPORT_STATUS.get(failure.code, 500)
                    )
                return Response.json(orjson.dumps({"error": error}))
            except json_mapping.EncodeError as encode_error:
                logger.error("server API %s: cannot encode the result: %s", method, encode_error)
                return _internal_error()

        return handle

    async def legacy(request: Request) -> Response:
        if executor.node.shutting_down:
            return Response(503)
        try:
            commands = _parse_legacy(request.body)
        except json_mapping.DecodeError as decode_error:
            logger.info("bad legacy server API request: %s", decode_error)
            return _bad_request(str(decode_error))
        lines: list[bytes] = []
        try:
            for command in commands:
                lines.append(orjson.dumps(await _run_legacy(executor, command)))
        except json_mapping.EncodeError as encode_error:
            logger.error("legacy server API: cannot encode a result: %s", encode_error)
            return _internal_error()
        return Response.json(b"\n".join(lines))

    document = Response.json(orjson.dumps(openapi_document(api_paths(config))))
    for path, (http_method, api_method) in api_paths(config).items():
        if http_method == "GET":
            routes.get(path, lambda request: document)
        elif api_method is None:
            routes.add(path, guarded(legacy))
        else:
            routes.add(path, guarded(method_handler(api_method)))


async def _run_legacy(executor: Executor, command: _LegacyCommand) -> dict[str, Any]:
    """One legacy reply: ``{"id"?, "error"}`` or ``{"id"?, "result"}`` (§2.2)."""
    reply: dict[str, Any] = {}
    if command.id:
        reply["id"] = command.id
    method = command.method
    error: Error | None = None
    if method not in METHODS or method == "batch":
        error = ERROR_NOT_FOUND
    elif method != "info" and not command.has_params:
        error = ERROR_BAD_REQUEST
    if error is None:
        request_type = METHODS[method][0]
        try:
            # §2.2: info ignores its params.
            params = {} if method == "info" else command.params
            api_request = json_mapping.decode(request_type, params)
        except json_mapping.DecodeError as decode_error:
            logger.info("bad legacy server API %s params: %s", method, decode_error)
            error = ERROR_BAD_REQUEST
        else:
            try:
                result = await executor.call(method, api_request)
            except APIError as failure:
                logger.debug(
                    "server API %s error %d %s: %s",
                    method,
                    failure.code,
                    failure.message,
                    failure.detail,
                )
                error = failure.error
            else:
                reply["result"] = json_mapping.encode(result)
                return reply
    reply["error"] = json_mapping.encode(error)
    return reply
