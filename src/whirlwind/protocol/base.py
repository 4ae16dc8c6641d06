"""The codec interface: bytes ⇄ :mod:`whirlwind.protocol.messages`.

A codec turns one transport frame into commands and encodes replies and pushes into
*messages*; ``join`` turns queued messages into one frame (client-protocol.md §1.2: JSON
messages joined by ``\\n``; §1.3: Protobuf messages already carry their varint length prefix,
so they are concatenated).
"""

from __future__ import annotations

from typing import Protocol

from whirlwind.codes import Error
from whirlwind.protocol.messages import Command, Publication, Push, Result


class Codec(Protocol):
    """Encodes and decodes one protocol variant (JSON or Protobuf)."""

    @property
    def name(self) -> str:
        """``"json"`` or ``"protobuf"``."""
        ...

    @property
    def binary(self) -> bool:
        """Whether frames are binary WebSocket frames."""
        ...

    def decode_commands(self, frame: bytes) -> list[Command]:
        """Decode every command of a frame, in order.

        Raises:
            ProtocolError: the frame is empty or holds an undecodable command.
        """
        ...

    def encode_result(self, command_id: int, result: Result) -> bytes:
        """Encode a successful reply to command ``command_id``."""
        ...

    def encode_error(self, command_id: int, error: Error) -> bytes:
        """Encode an error reply to command ``command_id``."""
        ...

    def encode_push(self, push: Push) -> bytes:
        """Encode a push (a reply without id)."""
        ...

    def encode_publication(
        self, channel: str, publication: Publication, *, delta: bool = False
    ) -> bytes:
        """Encode a publication push; the fan-out hot path.

        ``delta`` selects the delta-negotiated variant (JSON: ``data`` as a JSON string, §15).
        """
        ...

    def encode_ping(self) -> bytes:
        """Encode a server ping: the empty reply (§7)."""
        ...

    def join(self, messages: list[bytes]) -> bytes:
        """Join encoded messages into one frame."""
        ...
