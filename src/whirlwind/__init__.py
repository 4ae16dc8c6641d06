"""Whirlwind: a real-time messaging server in Python, wire-compatible with Centrifugo."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
