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

    @property
    def frame_key(self) -> object:
        """Equal for transports that frame a payload the same way (shared frames)."""
        ...

    def encode_frame(self, payload: bytes) -> bytes:
        """Frame a payload (joined messages) for this kind of transport."""
        ...

    def write_frame(self, frame: bytes) -> None:
        """Send bytes made by :meth:`encode_frame` (possibly by another transport's)."""
        ...

    def write(self, payload: bytes) -> None:
        """Frame and send one payload."""
        ...

    def close(self, disconnect: Disconnect) -> None:
        """Close with a code and reason (WebSocket close frame, or disconnect push)."""
        ...

    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the kernel (slow-client detection)."""
        ...
