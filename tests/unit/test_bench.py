"""The bench's minimal WebSocket framing (no sockets)."""

from __future__ import annotations

from whirlwind.bench import _frame, parse_frames, percentiles
from whirlwind.transports.websocket import frame_header


def test_parse_frames_returns_complete_frames_and_keeps_the_rest() -> None:
    small = frame_header(0x81, 2) + b"{}"
    big_payload = b"x" * 70000
    big = frame_header(0x81, len(big_payload)) + big_payload
    buffer = bytearray(small + big[:100])
    assert parse_frames(buffer) == [(1, b"{}")]
    assert bytes(buffer) == big[:100]
    buffer += big[100:]
    assert parse_frames(buffer) == [(1, big_payload)]
    assert buffer == bytearray()


def test_client_frames_are_masked_with_zero_key() -> None:
    frame = _frame(b"{}")
    assert frame == b"\x81\x82\x00\x00\x00\x00{}"
    assert _frame(b"x" * 200)[1] == 0x80 | 126


def test_percentiles() -> None:
    assert percentiles([]) == {}
    p = percentiles([float(n) for n in range(1, 101)])
    assert (p["p50"], p["p99"], p["max"]) == (50.0, 99.0, 100.0)
