"""Admission of new connections at a transport's door, sans I/O.

``client.connection_limit`` and ``client.connection_rate_limit`` (channels-config.md §5.3):
Centrifugo v6 checks both in an HTTP middleware in front of its connection endpoints
(``internal/middleware/connlimit.go``) and answers a refused request with 503 before any
upgrade, so a client treats it as a transport failure and reconnects with backoff. The
rate is checked first and counts every request to the endpoint.

Two differences, both deliberate:

* the limit counts the connections this node has open, not only the ones that finished
  their connect command (Centrifugo's ``Hub().NumClients()``): a burst of handshakes
  cannot take the node past the limit before their connect commands arrive;
* ``connection_rate_limit`` is N new connections per second with a burst of N, as its
  documentation says. Centrifugo's code builds ``rate.NewLimiter(rate.Every(time.Second),
  N)``, which refills one token per second after the burst.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("whirlwind.node")

LOG_EVERY = 3.0
"""Seconds between two warnings about refused connections (Centrifugo's throttle)."""


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; the caller passes the time."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, *, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def take(self, now: float) -> bool:
        """Take a token if one is there."""
        tokens = self._tokens + max(0.0, now - self._at) * self.rate
        self._tokens = tokens if tokens < self.burst else self.burst
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Admission:
    """Decides whether a new connection may start its handshake."""

    def __init__(self, *, connection_limit: int, connection_rate_limit: int, now: float) -> None:
        self._limit = connection_limit
        self._bucket = (
            TokenBucket(connection_rate_limit, connection_rate_limit, now=now)
            if connection_rate_limit > 0
            else None
        )
        self._logged_at: dict[str, float] = {}
        self.refused = 0
        """Requests refused so far."""

    def refusal(self, open_connections: int, now: float) -> str | None:
        """None to admit; otherwise why the request is refused (the 503's body)."""
        if self._bucket is not None and not self._bucket.take(now):
            return self._refuse(
                "connection rate limit reached", self._bucket.rate, "new connections/s", now
            )
        if self._limit and open_connections >= self._limit:
            return self._refuse("node connection limit reached", self._limit, "connections", now)
        return None

    def _refuse(self, reason: str, limit: float, unit: str, now: float) -> str:
        self.refused += 1
        logged_at = self._logged_at.get(reason)
        if logged_at is None or now - logged_at >= LOG_EVERY:
            self._logged_at[reason] = now
            logger.warning("%s (%g %s), refusing new connections with 503", reason, limit, unit)
        return reason
