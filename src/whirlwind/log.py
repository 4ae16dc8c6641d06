"""Whirlwind's loggers, one per subsystem, and the process-wide logging setup.

Library code only *uses* the loggers declared here (``from whirlwind.log import
client_logger``); it never installs handlers. :func:`configure_logging` is called once by
the composition root (``cli.py`` / ``app.py``), the way ``aiohttp/log.py`` declares its
loggers and leaves configuration to the application.

Field names follow ``centrifugal/centrifuge logging.go``: pass them as ``extra``::

    client_logger.info("client disconnected: %s", reason, extra={"client": cid, "user": uid})

Log levels are Centrifugo's (``log.level``): ``none, trace, debug, info, warn, error``.
Python has no TRACE level, so ``trace`` maps to DEBUG.
"""

from __future__ import annotations

import datetime
import logging
import sys
from typing import IO, Final

import orjson

__all__ = [
    "LOG_LEVELS",
    "access_logger",
    "api_logger",
    "broker_logger",
    "client_logger",
    "config_logger",
    "configure_logging",
    "node_logger",
    "proxy_logger",
    "transport_logger",
    "whirlwind_logger",
]

whirlwind_logger: Final = logging.getLogger("whirlwind")
"""Parent of every Whirlwind logger; :func:`configure_logging` sets its level."""
client_logger: Final = logging.getLogger("whirlwind.client")
"""Client connections: connect, subscribe, disconnect, commands."""
node_logger: Final = logging.getLogger("whirlwind.node")
"""Node lifecycle, hub fan-out, cluster bookkeeping."""
broker_logger: Final = logging.getLogger("whirlwind.broker")
"""Brokers and presence managers (memory, Redis, NATS)."""
api_logger: Final = logging.getLogger("whirlwind.api")
"""Server API (HTTP and GRPC)."""
proxy_logger: Final = logging.getLogger("whirlwind.proxy")
"""Calls to the application backend (connect, subscribe, publish, RPC proxies)."""
transport_logger: Final = logging.getLogger("whirlwind.transport")
"""Transports: WebSocket, HTTP-streaming, SSE, unidirectional ones."""
access_logger: Final = logging.getLogger("whirlwind.access")
"""One line per HTTP request."""
config_logger: Final = logging.getLogger("whirlwind.config")
"""Configuration loading: unknown keys, deprecations, reloads."""

_NONE: Final = logging.CRITICAL + 10
LOG_LEVELS: Final[dict[str, int]] = {
    "none": _NONE,
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
"""Centrifugo ``log.level`` names → Python levels (``none`` silences everything)."""

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

_LEVEL_NAMES: Final = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}
_SHORT_LEVEL_NAMES: Final = {
    logging.DEBUG: "DBG",
    logging.INFO: "INF",
    logging.WARNING: "WRN",
    logging.ERROR: "ERR",
    logging.CRITICAL: "FTL",
}


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``level``, ``time``, ``logger``, ``message``, extras.

    The shape follows Centrifugo's zerolog output (``{"level":"info","time":...,
    "message":...}``) so existing log pipelines keep working.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single JSON line (no trailing newline)."""
        entry: dict[str, object] = {
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "time": _timestamp(record),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extra_fields(record))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal: ``time LVL message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one (or, with a traceback, several) text lines."""
        level = _SHORT_LEVEL_NAMES.get(record.levelno, record.levelname[:3].upper())
        moment = datetime.datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        parts = [moment, level, record.getMessage()]
        parts.extend(f"{key}={value}" for key, value in _extra_fields(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _WhirlwindHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` installed, so a second call replaces it."""

    def __init__(self, stream: IO[str], *, owns_stream: bool) -> None:
        super().__init__(stream)
        self.owns_stream = owns_stream


def configure_logging(
    level: str,
    *,
    json_output: bool | None = None,
    file: str = "",
    stream: IO[str] | None = None,
) -> None:
    """Install Whirlwind's log handler on the root logger.

    Args:
        level: a Centrifugo level name (``none, trace, debug, info, warn, error``).
        json_output: ``True`` for JSON lines, ``False`` for text; ``None`` chooses text
            when the output is a terminal and JSON otherwise.
        file: append to this file instead of writing to standard output.
        stream: write here instead (tests); ignored when ``file`` is set.

    Raises:
        ValueError: ``level`` is not a Centrifugo level name.
    """
    try:
        python_level = LOG_LEVELS[level.lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}, expected one of {', '.join(LOG_LEVELS)}"
        ) from None
    output: IO[str] = (
        open(file, "a", encoding="utf-8")  # noqa: SIM115 - owned by the handler
        if file
        else (stream if stream is not None else sys.stdout)
    )
    if json_output is None:
        json_output = not (hasattr(output, "isatty") and output.isatty())
    handler = _WhirlwindHandler(output, owns_stream=bool(file))
    handler.setFormatter(JSONFormatter() if json_output else TextFormatter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _WhirlwindHandler)]:
        root.removeHandler(old)
        if old.owns_stream:
            old.stream.close()
        old.close()
    root.addHandler(handler)
    # Third-party libraries stay at warning level unless we are debugging.
    root.setLevel(min(python_level, logging.WARNING) if python_level != _NONE else _NONE)
    whirlwind_logger.setLevel(python_level)
