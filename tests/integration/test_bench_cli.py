"""`whirlwind bench` against a real server: it connects, publishes and counts deliveries,
or holds idle connections answering pings."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness import RunningServer, ServerFactory


async def _bench(*args: str) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "whirlwind", "bench", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout, stderr


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


async def test_bench_hold_answers_pings_and_keeps_every_connection(
    server_factory: ServerFactory,
) -> None:
    # Pings every second: a 2.5 s hold sees at least two per client, and a client that
    # missed one would be closed 0.5 s later (3012) and counted as dropped.
    overrides = {
        "client": {"ping_interval": "1s", "pong_timeout": "0.5s"},
        "log": {"level": "info"},
    }
    with server_factory(overrides) as srv:
        returncode, stdout, stderr = await _bench(
            "--url", srv.ws_url, "--token-secret", srv.secret, "-n", "50",
            "--source-addresses", "127.0.0.2-127.0.0.3", "--hold", "2.5",
            "--server-pid", str(srv.process.pid), "--json",
        )  # fmt: skip
    assert returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert result["connected"] == 50 and result["connect_errors"] == 0
    assert result["disconnects"] == 0
    assert result["clients_pinged"] == 50
    assert result["pings_answered"] >= 100
    assert result["server_rss_end_kb"] >= result["server_rss_baseline_kb"] > 0
    assert result["kb_per_connection"] is not None
    assert b"hold:" in stderr


async def test_bench_refuses_more_clients_than_it_can_open() -> None:
    """N beyond the open-files limit is refused up front, with the reason."""
    returncode, _, stderr = await _bench("-n", "100000000", "--hold", "1")
    assert returncode == 2
    assert b"open files" in stderr and b"ephemeral ports" in stderr
