"""Helpers of the integration tests: start a real Whirlwind server process on a free port.

A plain module (``conftest.py`` files all share one module name, so tests cannot import
them reliably); ``conftest.py`` builds its fixtures from it. The server runs as
``python -m whirlwind serve --config FILE --http_server.port N``, exactly
as a user starts it; readiness is awaited on ``/health``; the process is stopped with
SIGTERM (graceful shutdown) and its log is kept for assertions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

SECRET = "integration-secret-0123456789abcdef"
API_KEY = "integration-api-key"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_config() -> dict[str, Any]:
    """A Centrifugo v6 config most integration tests share."""
    return {
        "client": {"token": {"hmac_secret_key": SECRET}, "allowed_origins": ["*"]},
        "http_api": {"key": API_KEY},
        "health": {"enabled": True},
        "log": {"level": "debug"},
        "channel": {
            "without_namespace": {
                "allow_subscribe_for_client": True,
                "allow_publish_for_subscriber": True,
                "allow_presence_for_subscriber": True,
                "allow_history_for_subscriber": True,
                "presence": True,
                "join_leave": True,
                "history_size": 100,
                "history_ttl": "300s",
                "force_recovery": True,
            },
            "namespaces": [
                {
                    "name": "public",
                    "allow_subscribe_for_client": True,
                    "allow_subscribe_for_anonymous": True,
                    "allow_publish_for_client": True,
                    "allow_publish_for_anonymous": True,
                },
                {"name": "personal", "allow_user_limited_channels": True},
                {"name": "secret"},
            ],
        },
    }


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into a copy of ``base`` (dicts recursively, other values replaced)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class RunningServer:
    """A Whirlwind process under test."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    config: dict[str, Any]
    secret: str = SECRET
    api_key: str = API_KEY
    _stopped: bool = field(default=False, repr=False)

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint (JSON and Protobuf)."""
        return f"ws://127.0.0.1:{self.port}/connection/websocket"

    @property
    def http_url(self) -> str:
        """The HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def token(self, user: str = "42", ttl: float | None = 3600, **claims: Any) -> str:
        """An HS256 connection token."""
        payload: dict[str, Any] = {"sub": user, **claims}
        if ttl is not None:
            payload.setdefault("exp", int(time.time() + ttl))
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def sub_token(self, user: str, channel: str, ttl: float | None = 3600, **claims: Any) -> str:
        """An HS256 subscription token."""
        payload: dict[str, Any] = {"sub": user, "channel": channel, **claims}
        if ttl is not None:
            payload.setdefault("exp", int(time.time() + ttl))
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def api(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call the server HTTP API (blocking; fine from tests, not from the loop)."""
        request = urllib.request.Request(
            f"{self.http_url}/api/{method}",
            data=json.dumps(params).encode(),
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def log(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop the process (SIGTERM: graceful) and return its exit code."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _wait_ready(server: RunningServer, deadline: float) -> None:
    # With an internal port, /health lives there (channels-config §5.2).
    internal = server.config.get("http_server", {}).get("internal_port")
    url = f"http://127.0.0.1:{internal}/health" if internal else f"{server.http_url}/health"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.05)  # polling a port that is not open yet: no event to await
    raise RuntimeError(f"server did not become ready:\n{server.log()}")


@contextlib.contextmanager
def run_server(
    tmp_path: Path,
    config: dict[str, Any],
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Start ``python -m whirlwind serve`` with ``config`` (and ``env`` added to the
    environment); stop it afterwards."""
    port = free_port()
    config_path = tmp_path / f"config-{port}.json"
    config_path.write_text(json.dumps(config))
    log_path = tmp_path / f"server-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "whirlwind",
                "serve",
                "--config",
                str(config_path),
                "--http_server.port",
                str(port),
                *args,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = RunningServer(port=port, process=process, log_path=log_path, config=config)
    try:
        _wait_ready(server, time.monotonic() + 20)
        yield server
    finally:
        server.stop()


ServerFactory = Callable[..., contextlib.AbstractContextManager[RunningServer]]


REQUIRE_SERVICES = os.environ.get("WHIRLWIND_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip for a missing external binary, or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)
