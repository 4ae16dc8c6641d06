"""The HTTP front of the server API: ``POST /api/<method>`` (server-api.md §2–§8).

Authentication (fail closed): the key from ``X-API-Key``, ``Authorization: apikey KEY`` or
``?api_key=``; no key configured refuses every request unless ``http_api.insecure``.
"""

from __future__ import annotations

import hmac
import logging

import orjson
from aiohttp import web

from whirlwind.api import json_mapping
from whirlwind.api.executor import APIError, Executor
from whirlwind.api.types import METHODS
from whirlwind.config.schema import HTTPAPIConfig

logger = logging.getLogger("whirlwind.api")


def _request_key(request: web.Request) -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "apikey" and value:
        return value.strip()
    return request.query.get("api_key")


def add_api_routes(app: web.Application, executor: Executor, config: HTTPAPIConfig) -> None:
    """Mount ``POST <prefix>/<method>``."""
    expected = config.key.encode()

    def authorized(request: web.Request) -> bool:
        if config.insecure:
            return True
        if not expected:
            return False
        given = _request_key(request)
        return given is not None and hmac.compare_digest(given.encode(), expected)

    async def handle(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.Response(status=401, text="unauthorized")
        method = request.match_info["method"]
        if method not in METHODS:
            raise web.HTTPNotFound()
        body = await request.read()
        try:
            params = json_mapping.loads(METHODS[method][0], body)
        except json_mapping.DecodeError as exc:
            return web.Response(status=400, text=f"Bad Request: {exc}")
        transport_errors = (
            config.error_mode == "transport"
            or request.headers.get("X-Centrifugo-Error-Mode") == "transport"
        )
        try:
            result = await executor.call(method, params)
        except APIError as exc:
            error = {"code": exc.code, "message": exc.message}
            if transport_errors:
                status = 404 if exc.code == 104 else 400 if exc.code in (102, 107) else 500
                return web.Response(
                    status=status, body=orjson.dumps(error), content_type="application/json"
                )
            return web.Response(
                body=orjson.dumps({"error": error}), content_type="application/json"
            )
        return web.Response(
            body=orjson.dumps({"result": json_mapping.encode(result)}),
            content_type="application/json",
        )

    app.router.add_post(config.handler_prefix.rstrip("/") + "/{method}", handle)
