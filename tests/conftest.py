"""Shared test configuration."""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("WHIRLWIND_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip for a missing external binary, or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)
