"""configure_logging: Centrifugo level names, JSON lines or text, extra fields."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from whirlwind.log import client_logger, config_logger, configure_logging, whirlwind_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, own_level = list(root.handlers), root.level, whirlwind_logger.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    whirlwind_logger.setLevel(own_level)


def test_json_lines_with_extra_fields() -> None:
    out = io.StringIO()
    configure_logging("info", json_output=True, stream=out)
    client_logger.info("client connected: %s", "ok", extra={"client": "c1", "user": "42"})
    entry = orjson.loads(out.getvalue())
    assert entry["level"] == "info"
    assert entry["logger"] == "whirlwind.client"
    assert entry["message"] == "client connected: ok"
    assert (entry["client"], entry["user"]) == ("c1", "42")
    assert entry["time"].endswith("Z")


def test_text_output_for_terminals() -> None:
    out = io.StringIO()
    configure_logging("debug", json_output=False, stream=out)
    config_logger.warning("unknown key %s", '"x"', extra={"path": "x"})
    line = out.getvalue().strip()
    assert line.endswith('WRN unknown key "x" path=x')


def test_json_is_chosen_when_not_a_terminal() -> None:
    out = io.StringIO()  # isatty() is False
    configure_logging("info", stream=out)
    client_logger.info("hello")
    assert orjson.loads(out.getvalue())["message"] == "hello"


@pytest.mark.parametrize(
    ("level", "shown", "hidden"),
    [
        ("trace", logging.DEBUG, None),
        ("warn", logging.WARNING, logging.INFO),
        ("error", logging.ERROR, logging.WARNING),
        ("none", None, logging.CRITICAL),
    ],
)
def test_centrifugo_level_names(level: str, shown: int | None, hidden: int | None) -> None:
    out = io.StringIO()
    configure_logging(level, json_output=True, stream=out)
    if shown is not None:
        client_logger.log(shown, "shown")
    if hidden is not None:
        client_logger.log(hidden, "hidden")
    messages = [orjson.loads(line)["message"] for line in out.getvalue().splitlines()]
    assert messages == (["shown"] if shown is not None else [])


def test_reconfiguring_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", json_output=True, stream=first)
    configure_logging("info", json_output=True, stream=second)
    client_logger.info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_log_file(tmp_path: Path) -> None:
    path = tmp_path / "whirlwind.log"
    configure_logging("info", file=str(path))
    client_logger.info("to the file")
    configure_logging("info", stream=io.StringIO())  # closes the file handler
    assert orjson.loads(path.read_text())["message"] == "to the file"


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("verbose")
