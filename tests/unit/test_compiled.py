"""The modules setup.py compiles with mypyc: compiled where CI asks, and free of the
constructs that compile but then fail at run time.

mypyc checks declared types at run time and gives each local one type, so code that is
correct Python (and passes mypy) can still raise ``TypeError`` once compiled. The rules
below are the ones this code base has hit; the test suite then runs on the compiled build.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import os
from pathlib import Path

import pytest

import whirlwind

ROOT = Path(__file__).resolve().parents[2]


def compiled_sources() -> list[Path]:
    setup = ast.parse((ROOT / "setup.py").read_text())
    for node in setup.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COMPILED" for target in node.targets
        ):
            return [ROOT / path for path in ast.literal_eval(node.value)]
    raise AssertionError("setup.py has no COMPILED list")


SOURCES = compiled_sources()


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)


def test_the_compiled_list_names_existing_modules() -> None:
    assert SOURCES and all(path.is_file() for path in SOURCES)


@pytest.mark.skipif(
    os.environ.get("WHIRLWIND_REQUIRE_COMPILED", "") in ("", "0"),
    reason="WHIRLWIND_REQUIRE_COMPILED is not set (a pure Python install is allowed)",
)
def test_every_listed_module_runs_compiled() -> None:
    assert whirlwind.compiled()
    pure = [
        name
        for name in map(module_name, SOURCES)
        if (importlib.import_module(name).__file__ or "").endswith(".py")
    ]
    assert not pure, f"imported from source, not compiled: {pure}"


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_no_exception_name_bound_to_two_types(path: Path) -> None:
    """``except A as exc`` and ``except B as exc`` in one function: mypyc types ``exc`` as
    ``A`` and raises TypeError when ``B`` is caught. Give each its own name."""
    reused = []
    for function in _functions(ast.parse(path.read_text())):
        types: dict[str, set[str]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                types.setdefault(node.name, set()).add(ast.unparse(node.type))
        reused += [f"{function.name}:{name}" for name, kinds in types.items() if len(kinds) > 1]
    assert not reused


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_no_class_attribute_annotated_object(path: Path) -> None:
    """A dataclass field annotated ``object`` fails at import once compiled (KeyError);
    ``Any`` works."""
    found = [
        f"{cls.name}.{ast.unparse(stmt.target)}"
        for cls in ast.walk(ast.parse(path.read_text()))
        if isinstance(cls, ast.ClassDef)
        for stmt in cls.body
        if isinstance(stmt, ast.AnnAssign) and ast.unparse(stmt.annotation) == "object"
    ]
    assert not found


def _immutable_instances() -> list[object]:
    """One of each class that is immutable through ``Final`` fields and a written
    ``__init__`` (protocol/messages.py explains why they are not ``frozen``)."""
    from whirlwind.auth.tokens import ConnectToken
    from whirlwind.channels import ChannelRules
    from whirlwind.client.events import CommandReceived
    from whirlwind.config.schema import ChannelConfig
    from whirlwind.protocol import messages as m
    from whirlwind.transports.websocket import Handshake

    resolved = ChannelRules(ChannelConfig()).resolve("news")
    assert resolved is not None
    return [
        m.Command(id=1, request=m.SubscribeRequest(channel="news")),
        m.SubscribeRequest(channel="news"),
        m.ConnectRequest(token="t"),
        m.SubscribeResult(offset=1),
        m.ConnectResult(client="c"),
        m.Publication(data=b"{}"),
        CommandReceived(m.Command(id=1)),
        ConnectToken(user="u"),
        Handshake(head=b"", binary=False, deflate=False),
        resolved,
    ]


@pytest.mark.skipif(
    os.environ.get("WHIRLWIND_REQUIRE_COMPILED", "") in ("", "0"),
    reason="only compiled code enforces Final at run time (mypy enforces it in both builds)",
)
@pytest.mark.parametrize("instance", _immutable_instances(), ids=lambda i: type(i).__name__)
def test_final_fields_cannot_be_assigned_once_compiled(instance: object) -> None:
    fields = dataclasses.fields(instance)  # type: ignore[arg-type]
    assert fields
    for f in fields:
        before = getattr(instance, f.name)
        with pytest.raises(AttributeError):
            setattr(instance, f.name, before)
    assert dataclasses.replace(instance) == instance  # type: ignore[type-var]
