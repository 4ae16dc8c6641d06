"""Configuration: schema (frozen dataclasses), loading and validation (STYLE.md §8)."""

from __future__ import annotations

from .load import LoadedConfig, load_config
from .schema import ChannelOptions, Config, NamespaceConfig
from .validate import validate

__all__ = ["ChannelOptions", "Config", "LoadedConfig", "NamespaceConfig", "load_config", "validate"]
