"""OutgoingQueue: one connection's encoded messages waiting for the writer, sans I/O.

Bounded in bytes (``client.queue_max_size``, client-protocol.md §6): the fan-out path
appends to it without waiting, and a push that takes it over the limit is the "too slow"
verdict (disconnect 3008). The writer takes everything queued at once and sends it as one
frame (coalescing). Kept to plain attributes so the hot path in the driver can append
without a method call per message.
"""

from __future__ import annotations


class OutgoingQueue:
    """Encoded messages not yet written."""

    __slots__ = ("closed", "limit", "messages", "size")

    def __init__(self, limit: int) -> None:
        self.messages: list[bytes] = []
        """Messages in order; the writer joins them into one frame."""
        self.size = 0
        """Bytes in :attr:`messages`."""
        self.limit = limit
        """Bytes allowed before the connection is too slow."""
        self.closed = False
        """No more pushes are accepted (what is queued may still be taken)."""

    def push(self, message: bytes) -> bool:
        """Queue ``message``; False when closed or when it overflows the limit."""
        if self.closed:
            return False
        self.messages.append(message)
        self.size += len(message)
        return self.size <= self.limit

    def take(self) -> list[bytes]:
        """Return and forget everything queued."""
        messages = self.messages
        if messages:
            self.messages = []
            self.size = 0
        return messages

    def clear(self) -> None:
        """Drop everything queued (a slow client's backlog is not worth writing)."""
        self.messages = []
        self.size = 0
