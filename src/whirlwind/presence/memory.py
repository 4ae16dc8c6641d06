"""In-process presence with TTL expiry on an injected clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from whirlwind.presence.base import PresenceStats
from whirlwind.protocol.messages import ClientInfo


class MemoryPresenceManager:
    """Presence for one node."""

    def __init__(self, *, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._channels: dict[str, dict[str, tuple[float, ClientInfo]]] = {}

    async def add_presence(self, channel: str, client_id: str, info: ClientInfo) -> None:
        """Add or refresh an entry for ``ttl`` seconds."""
        self._channels.setdefault(channel, {})[client_id] = (self._clock() + self._ttl, info)

    async def remove_presence(self, channel: str, client_id: str, user: str) -> None:
        """Remove an entry."""
        entries = self._channels.get(channel)
        if entries is not None:
            entries.pop(client_id, None)
            if not entries:
                del self._channels[channel]

    def _live(self, channel: str) -> dict[str, ClientInfo]:
        entries = self._channels.get(channel)
        if not entries:
            return {}
        now = self._clock()
        expired = [cid for cid, (expires, _) in entries.items() if expires <= now]
        for cid in expired:
            del entries[cid]
        if not entries:
            del self._channels[channel]
        return {cid: info for cid, (_, info) in entries.items()}

    async def presence(self, channel: str) -> dict[str, ClientInfo]:
        """Live entries."""
        return self._live(channel)

    async def presence_stats(self, channel: str) -> PresenceStats:
        """Live counts."""
        live = self._live(channel)
        return PresenceStats(
            num_clients=len(live), num_users=len({info.user for info in live.values()})
        )

    async def close(self) -> None:
        """Nothing to release."""
