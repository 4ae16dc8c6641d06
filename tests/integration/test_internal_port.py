"""`http_server.internal_port`: the API and /health move there (channels-config §5.2)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from harness import free_port

if TYPE_CHECKING:
    from harness import ServerFactory


def _post(port: int, key: str, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/publish",
        data=json.dumps(body).encode(),
        headers={"X-API-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("external", [False, True])
def test_api_on_internal_port(server_factory: ServerFactory, external: bool) -> None:
    internal = free_port()
    overrides = {"http_server": {"internal_port": internal}, "http_api": {"external": external}}
    with server_factory(overrides) as server:
        body = {"channel": "news", "data": {"x": 1}}
        status, reply = _post(internal, server.api_key, body)
        assert status == 200 and json.loads(reply)["result"] is not None
        status, _ = _post(server.port, server.api_key, body)
        assert status == (200 if external else 404)
        with urllib.request.urlopen(f"http://127.0.0.1:{internal}/health", timeout=5) as r:
            assert r.status == 200
