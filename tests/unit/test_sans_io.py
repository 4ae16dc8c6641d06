"""The sans-I/O core imports no event loop, socket or network client (STYLE.md §1)."""

from __future__ import annotations

import subprocess
import sys

SANS_IO = [
    "whirlwind.codes",
    "whirlwind.errors",
    "whirlwind.protocol.messages",
    "whirlwind.protocol.json_codec",
    "whirlwind.protocol.protobuf_codec",
    "whirlwind.client.protocol",
    "whirlwind.client.events",
    "whirlwind.client.subscription",
    "whirlwind.transports.ws_frames",
    "whirlwind.hub",
    "whirlwind.channels",
    "whirlwind.recovery",
    "whirlwind.config.schema",
]
FORBIDDEN = ["asyncio", "aiohttp", "socket", "ssl", "uvloop", "redis", "nats", "grpc"]


def test_sans_io_modules_import_no_io() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in SANS_IO)
        + f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"sans-I/O modules pulled in: {out}"
