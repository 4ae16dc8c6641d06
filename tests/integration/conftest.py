"""Fixtures that start a real Whirlwind server process (helpers in ``harness.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    API_KEY,
    SECRET,
    RunningServer,
    ServerFactory,
    deep_merge,
    default_config,
    free_port,
    run_server,
    skip_or_fail,
)

__all__ = [
    "API_KEY",
    "SECRET",
    "RunningServer",
    "ServerFactory",
    "deep_merge",
    "default_config",
    "free_port",
    "run_server",
    "skip_or_fail",
]


@pytest.fixture
def server_factory(tmp_path: Path) -> ServerFactory:
    """Start a server with ``default_config()`` merged with the given overrides."""

    def factory(overrides: dict[str, Any] | None = None, args: tuple[str, ...] = ()):
        return run_server(tmp_path, deep_merge(default_config(), overrides or {}), args)

    return factory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server with the default config, shared by a module's tests."""
    with run_server(tmp_path_factory.mktemp("server"), default_config()) as running:
        yield running
