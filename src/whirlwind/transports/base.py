"""Transport: how a connection's frames leave the process.

Kept deliberately small so the WebSocket stack can be swapped (aiohttp today; picows or
another one if the benchmark says so) and emulation transports can share the client
driver (``centrifugal/centrifuge transport.go``).
"""

from __future__ import annotations

from typing import Protocol

from whirlwind.codes import Disconnect


class Transport(Protocol):
    """One client connection's outgoing side; every method returns without waiting."""

    @property
    def name(self) -> str:
        """``websocket``, ``http_stream``, ``sse``…"""
        ...

    def write(self, frame: bytes) -> None:
        """Send one frame (already joined from queued messages)."""
        ...

    def close(self, disconnect: Disconnect) -> None:
        """Close with a code and reason (WebSocket close frame, or disconnect push)."""
        ...

    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the kernel (slow-client detection)."""
        ...
