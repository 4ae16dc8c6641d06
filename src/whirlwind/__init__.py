"""Whirlwind: a real-time messaging server in Python, wire-compatible with Centrifugo."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "compiled"]


def compiled() -> bool:
    """Whether the hot path runs as C extensions built by mypyc (setup.py), not pure Python."""
    from whirlwind import web

    return not (web.__file__ or "").endswith(".py")
