"""The server API's logic, shared by the HTTP and GRPC fronts (server-api.md §9).

Each method takes a decoded request mapping and returns the result mapping or raises
:class:`APIError` with a Centrifugo API error code. The fronts only decode, authenticate
and encode.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from whirlwind.node import ChannelPublishOptions, Node


class APIError(Exception):
    """A server API error: ``{"error": {"code": C, "message": M}}`` (server-api.md §5)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


ERROR_INTERNAL = (100, "internal server error")
ERROR_UNKNOWN_CHANNEL = (102, "unknown channel")
ERROR_METHOD_NOT_FOUND = (104, "method not found")
ERROR_BAD_REQUEST = (107, "bad request")
ERROR_NOT_AVAILABLE = (108, "not available")


def _error(pair: tuple[int, str], detail: str = "") -> APIError:
    return APIError(pair[0], f"{pair[1]}: {detail}" if detail else pair[1])


def _data(params: Mapping[str, Any]) -> bytes:
    """``data`` is raw JSON; ``b64data`` is base64 binary (server-api.md §4)."""
    if params.get("b64data"):
        value = params["b64data"]
        if not isinstance(value, str):
            raise _error(ERROR_BAD_REQUEST, "b64data must be a string")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _error(ERROR_BAD_REQUEST, "b64data is not valid base64") from exc
    if "data" not in params:
        return b""
    return orjson.dumps(params["data"])


def _str(params: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = params.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _error(ERROR_BAD_REQUEST, f"{key} must be a string")
    if required and not value:
        raise _error(ERROR_BAD_REQUEST, f"{key} required")
    return value


def _tags(params: Mapping[str, Any]) -> dict[str, str] | None:
    tags = params.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise _error(ERROR_BAD_REQUEST, "tags must be an object of strings")
    return tags


class Executor:
    """Runs server API methods against a node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.methods: dict[str, Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]] = {
            "publish": self.publish,
            "broadcast": self.broadcast,
        }

    async def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``method``.

        Raises:
            APIError: unknown method, bad parameters or a failed operation.
        """
        handler = self.methods.get(method)
        if handler is None:
            raise _error(ERROR_METHOD_NOT_FOUND)
        if not isinstance(params, Mapping):
            raise _error(ERROR_BAD_REQUEST, "params must be an object")
        return await handler(params)

    async def _publish_one(
        self, channel: str, data: bytes, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        resolved = self.node.rules.resolve(channel)
        if resolved is None:
            raise _error(ERROR_UNKNOWN_CHANNEL)
        error = self.node.rules.check_data(resolved, data)
        if error is not None:
            raise _error(ERROR_BAD_REQUEST, "invalid data")
        skip = params.get("skip_history", False)
        if not isinstance(skip, bool):
            raise _error(ERROR_BAD_REQUEST, "skip_history must be a boolean")
        result = await self.node.publish(
            resolved,
            data,
            ChannelPublishOptions(
                tags=_tags(params),
                skip_history=skip,
                idempotency_key=_str(params, "idempotency_key"),
            ),
        )
        position = result.position
        out: dict[str, Any] = {}
        if position.offset:
            out["offset"] = position.offset
            out["epoch"] = position.epoch
        return out

    async def publish(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``publish``: one channel (server-api.md §9.1)."""
        channel = _str(params, "channel", required=True)
        return await self._publish_one(channel, _data(params), params)

    async def broadcast(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``broadcast``: many channels, one result each (server-api.md §9.2)."""
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            raise _error(ERROR_BAD_REQUEST, "channels required")
        data = _data(params)
        responses: list[dict[str, Any]] = []
        for channel in channels:
            if not isinstance(channel, str) or not channel:
                responses.append({"error": {"code": 107, "message": "bad request"}})
                continue
            try:
                responses.append({"result": await self._publish_one(channel, data, params)})
            except APIError as exc:
                responses.append({"error": {"code": exc.code, "message": exc.message}})
        return {"responses": responses}
