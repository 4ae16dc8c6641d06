"""The compiled build answers exactly as the pure Python one does.

mypyc compiles the hot path (setup.py) and checks declared types at run time, so a value
of an unexpected type that pure Python would carry along can become a ``TypeError`` once
compiled. Here the same random, mostly malformed client commands and server API requests
go to two servers, one running the installed (compiled) build and one a copy of the same
sources without the extensions, and every reply must be the same. Skipped when the
installed build is pure Python (nothing to compare).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from harness import RunningServer, deep_merge, default_config, run_server

import whirlwind

pytestmark = pytest.mark.skipif(
    not whirlwind.compiled(), reason="the installed build is pure Python: nothing to compare"
)

CONFIG = deep_merge(
    default_config(),
    {
        "log": {"level": "info"},
        "channel": {
            "without_namespace": {
                "allow_publish_for_client": True,
                "allow_history_for_client": True,
                "history_size": 10,
                "history_ttl": "60s",
                "force_recovery": True,
            },
            "namespaces": [{"name": "ns", "allow_subscribe_for_client": True}],
        },
    },
)

CLIENT_FIELDS: dict[str, list[str]] = {
    "connect": ["token", "data", "subs", "name", "version"],
    "subscribe": [
        *("channel", "token", "recover", "epoch", "offset", "data", "positioned"),
        *("recoverable", "join_leave", "delta"),
    ],
    "unsubscribe": ["channel"],
    "publish": ["channel", "data"],
    "presence": ["channel"],
    "presence_stats": ["channel"],
    "history": ["channel", "limit", "since", "reverse"],
    "ping": [],
    "send": ["data"],
    "rpc": ["data", "method"],
    "refresh": ["token"],
    "sub_refresh": ["channel", "token"],
}

API_FIELDS: dict[str, list[str]] = {
    "publish": ["channel", "data", "skip_history", "tags", "idempotency_key", "b64data"],
    "broadcast": ["channels", "data", "skip_history", "tags", "b64data"],
    "subscribe": ["user", "channel", "client", "session", "info", "data", "recover_since"],
    "unsubscribe": ["user", "channel", "client", "session"],
    "disconnect": ["user", "client", "session", "disconnect", "whitelist"],
    "refresh": ["user", "client", "session", "expired", "expire_at"],
    "presence": ["channel"],
    "presence_stats": ["channel"],
    "history": ["channel", "limit", "since", "reverse"],
    "history_remove": ["channel"],
    "channels": ["pattern"],
    "info": [],
    "batch": ["commands", "parallel"],
}

CHANNELS = ["bench", "ns:x", "$private", "bench#42", ""]


def value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of a random type, nested at most three deep."""
    makers: list[Callable[[], Any]] = [
        lambda: None,
        lambda: True,
        lambda: False,
        lambda: rng.randint(-5, 5),
        lambda: 2**70,
        lambda: -1.5,
        lambda: "",
        lambda: "bench",
        lambda: "x" * rng.randrange(3),
        lambda: [value(rng, depth + 1)],
        lambda: {"a": value(rng, depth + 1)},
        lambda: {"offset": rng.randint(-1, 3), "epoch": "e"},
    ]
    return makers[rng.randrange(len(makers) if depth < 2 else 9)]()


def fields(rng: random.Random, names: list[str]) -> dict[str, Any]:
    body = {name: value(rng) for name in names if rng.random() < 0.6}
    if "channel" in names and rng.random() < 0.6:
        body["channel"] = rng.choice(CHANNELS)
    if "data" in names and rng.random() < 0.5:
        body["data"] = {"text": "hi"}
    return body


def client_command(rng: random.Random, command_id: int) -> Any:
    if rng.random() < 0.05:
        return value(rng)  # not a command at all
    method = rng.choice(list(CLIENT_FIELDS))
    return {
        "id": command_id if rng.random() < 0.9 else value(rng),
        method: fields(rng, CLIENT_FIELDS[method]),
    }


def api_request(rng: random.Random) -> tuple[str, bytes]:
    method = rng.choice(list(API_FIELDS))
    body = fields(rng, API_FIELDS[method])
    if method == "batch" and rng.random() < 0.7:
        body["commands"] = [
            {rng.choice(["publish", "presence", "history", "bogus"]): fields(rng, ["channel"])}
            for _ in range(rng.randrange(3))
        ]
    if rng.random() < 0.05:
        return method, rng.choice([b"", b"{", b"[]", b"null", b'{"channel":1e999}', b"\xff"])
    return method, json.dumps(body).encode()


_VARYING = [
    (re.compile(r'"(client|epoch|session|name|uid|version)":"[^"]*"'), r'"\1":"X"'),
    (re.compile(r'"(ping|ttl|expires|time|offset|num_\w+)":-?\d+'), r'"\1":0'),
    (re.compile(r'"uptime":\d+,?'), ""),  # 0 is left out: one server may be a second younger
]


def normalize(text: str) -> str:
    """Drop what differs between two servers by design (ids, epochs, times, names)."""
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return text


def messages(frame: str) -> list[str]:
    """A frame's replies and pushes: how they were batched into frames is timing."""
    return [normalize(line) for line in frame.split("\n")]


async def client_session(server: RunningServer, commands: list[Any]) -> list[str]:
    """Connect, send ``commands``, and collect every frame up to a marker reply after each
    (a command that is answered with nothing is then still seen as nothing)."""
    frames: list[str] = []
    try:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"id": 1, "connect": {"token": server.token("u1")}}))
            frames += messages(str(await ws.recv()))
            for n, command in enumerate(commands):
                marker = 9000 + n
                await ws.send(json.dumps(command))
                await ws.send(json.dumps({"id": marker, "presence_stats": {"channel": "ns:x"}}))
                while True:
                    frame = str(await ws.recv())
                    frames += messages(frame)
                    if f'"id":{marker}' in frame:
                        break
    except websockets.ConnectionClosed as exc:
        close = exc.rcvd
        frames.append(f"closed {close.code} {close.reason}" if close else "closed")
    return frames


def api_call(server: RunningServer, method: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{server.http_url}/api/{method}", data=body, headers={"X-API-Key": server.api_key}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, normalize(response.read().decode())
    except urllib.error.HTTPError as error:
        return error.code, normalize(error.read().decode())


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, ...]]:
    """(pure, compiled): the same sources, once without the mypyc extensions."""
    package = Path(whirlwind.__file__).parent
    pure_root = tmp_path_factory.mktemp("pure-src")
    shutil.copytree(
        package, pure_root / "whirlwind", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    with (
        run_server(
            tmp_path_factory.mktemp("pure"), CONFIG, env={"PYTHONPATH": str(pure_root)}
        ) as pure,
        run_server(tmp_path_factory.mktemp("compiled"), CONFIG) as compiled,
    ):
        assert "pure Python" in pure.log() and ", compiled)" in compiled.log()
        yield pure, compiled


async def test_client_commands_get_the_same_replies(servers: tuple[RunningServer, ...]) -> None:
    pure, compiled = servers
    rng = random.Random(20261129)
    differ = []
    for _ in range(150):
        commands = [client_command(rng, 2 + n) for n in range(rng.randrange(1, 4))]
        replies = await asyncio.gather(
            client_session(pure, commands), client_session(compiled, commands)
        )
        if replies[0] != replies[1]:
            differ.append((commands, *replies))
    assert not differ, f"{len(differ)} sessions differ; the first: {differ[0]}"
    for server in servers:
        assert "Traceback" not in server.log()


def test_server_api_requests_get_the_same_replies(servers: tuple[RunningServer, ...]) -> None:
    pure, compiled = servers
    rng = random.Random(20261130)
    differ = []
    for _ in range(600):
        method, body = api_request(rng)
        replies = api_call(pure, method, body), api_call(compiled, method, body)
        if replies[0] != replies[1]:
            differ.append((method, body, *replies))
    assert not differ, f"{len(differ)} requests differ; the first: {differ[0]}"
    for server in servers:
        assert "Traceback" not in server.log()
