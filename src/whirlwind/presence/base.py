"""PresenceManager: who is subscribed to a channel, across nodes.

Mirrors ``centrifugal/centrifuge presence.go``. Entries are keyed by client id and expire
``presence_ttl`` after their last update unless refreshed (a node that dies without cleaning
up loses its entries that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from whirlwind.protocol.messages import ClientInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceStats:
    """Counts of a channel's presence."""

    num_clients: int
    num_users: int


class PresenceManager(Protocol):
    """Presence storage; Redis and memory implement it."""

    async def add_presence(self, channel: str, client_id: str, info: ClientInfo) -> None:
        """Add or refresh an entry."""
        ...

    async def remove_presence(self, channel: str, client_id: str, user: str) -> None:
        """Remove an entry."""
        ...

    async def presence(self, channel: str) -> dict[str, ClientInfo]:
        """Entries of ``channel`` by client id."""
        ...

    async def presence_stats(self, channel: str) -> PresenceStats:
        """Numbers of clients and distinct users in ``channel``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
