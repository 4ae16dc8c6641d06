"""`whirlwind bench` against a real server: it connects, publishes and counts deliveries."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness import RunningServer


async def test_bench_reports_every_delivery(server: RunningServer) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "whirlwind", "bench",
        "--url", server.ws_url, "--api", f"{server.http_url}/api",
        "--api-key", server.api_key, "--token-secret", server.secret,
        "-n", "20", "--channel", "bench-cli", "--duration", "1", "--warmup", "0.3",
        "--rate", "50", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert result["connected"] == 20 and result["connect_errors"] == 0
    assert result["published"] > 0 and result["publish_errors"] == 0
    # Each publication reaches all 20 subscribers (publications straddling the window's
    # edges may be counted on one side only).
    assert 90 <= result["delivered_pct"] <= 110
    assert result["latency_ms"]["p50"] > 0
    assert b"connected 20/20" in stderr
