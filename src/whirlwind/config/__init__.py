"""Configuration: schema (frozen dataclasses), loading and validation (STYLE.md §8).

``whirlwind.config.schema`` is imported by sans-I/O modules, so this package imports
nothing else eagerly; use ``whirlwind.config.load`` and ``whirlwind.config.validate``.
"""
