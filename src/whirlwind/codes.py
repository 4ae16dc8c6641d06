"""Wire values: client protocol error codes and disconnect codes.

Values and messages are Centrifugo's (client-protocol.md §8 error codes, §9 disconnect
codes, §10 unsubscribe codes; ``centrifugal/centrifuge errors.go``, ``disconnect.go``,
``unsubscribe.go``). The ``temporary`` flag is what makes the SDKs retry: keep it exactly
as in the spec's table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Error:
    """An error reply (``Reply.error``): ``code``, a non-empty ``message``, ``temporary``."""

    code: int
    message: str
    temporary: bool = False

    def with_message(self, message: str) -> Error:
        """Return the same code with another message."""
        return Error(self.code, message, self.temporary)


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A disconnect: a WebSocket close code and a short plain-text reason (§1.5)."""

    code: int
    reason: str

    @property
    def reconnect(self) -> bool:
        """Whether the SDKs reconnect: 3000–3499 and 4000–4499 do (§9)."""
        return 3000 <= self.code < 3500 or 4000 <= self.code < 4500


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """A server unsubscribe push: < 2500 terminal, ≥ 2500 resubscribe (§10)."""

    code: int
    reason: str


# Error codes (client-protocol.md §8).
ERROR_INTERNAL = Error(100, "internal server error", temporary=True)
ERROR_UNAUTHORIZED = Error(101, "unauthorized")
ERROR_UNKNOWN_CHANNEL = Error(102, "unknown channel")
ERROR_PERMISSION_DENIED = Error(103, "permission denied")
ERROR_METHOD_NOT_FOUND = Error(104, "method not found")
ERROR_ALREADY_SUBSCRIBED = Error(105, "already subscribed")
ERROR_LIMIT_EXCEEDED = Error(106, "limit exceeded")
ERROR_BAD_REQUEST = Error(107, "bad request")
ERROR_NOT_AVAILABLE = Error(108, "not available")
ERROR_TOKEN_EXPIRED = Error(109, "token expired")
ERROR_EXPIRED = Error(110, "expired")
ERROR_TOO_MANY_REQUESTS = Error(111, "too many requests", temporary=True)
ERROR_UNRECOVERABLE_POSITION = Error(112, "unrecoverable position")

# Disconnect codes (client-protocol.md §9).
DISCONNECT_CONNECTION_CLOSED = Disconnect(3000, "connection closed")
DISCONNECT_SHUTDOWN = Disconnect(3001, "shutdown")
DISCONNECT_SERVER_ERROR = Disconnect(3004, "internal server error")
DISCONNECT_EXPIRED = Disconnect(3005, "connection expired")
DISCONNECT_SUB_EXPIRED = Disconnect(3006, "subscription expired")
DISCONNECT_SLOW = Disconnect(3008, "slow")
DISCONNECT_WRITE_ERROR = Disconnect(3009, "write error")
DISCONNECT_INSUFFICIENT_STATE = Disconnect(3010, "insufficient state")
DISCONNECT_FORCE_RECONNECT = Disconnect(3011, "force reconnect")
DISCONNECT_NO_PONG = Disconnect(3012, "no pong")
DISCONNECT_TOO_MANY_REQUESTS = Disconnect(3013, "too many requests")
DISCONNECT_STATE_INVALIDATED = Disconnect(3014, "state invalidated")
DISCONNECT_INVALID_TOKEN = Disconnect(3500, "invalid token")
DISCONNECT_BAD_REQUEST = Disconnect(3501, "bad request")
DISCONNECT_STALE = Disconnect(3502, "stale")
DISCONNECT_FORCE_NO_RECONNECT = Disconnect(3503, "force disconnect")
DISCONNECT_CONNECTION_LIMIT = Disconnect(3504, "connection limit")
DISCONNECT_CHANNEL_LIMIT = Disconnect(3505, "channel limit")
DISCONNECT_INAPPROPRIATE_PROTOCOL = Disconnect(3506, "inappropriate protocol")
DISCONNECT_PERMISSION_DENIED = Disconnect(3507, "permission denied")
DISCONNECT_NOT_AVAILABLE = Disconnect(3508, "not available")
DISCONNECT_TOO_MANY_ERRORS = Disconnect(3509, "too many errors")
# Not a Centrifugo code: the WebSocket close code for an oversized message (RFC 6455 §7.4.1).
DISCONNECT_MESSAGE_TOO_BIG = Disconnect(1009, "message too big")

# Unsubscribe push codes (client-protocol.md §10).
UNSUBSCRIBE_SERVER = Unsubscribe(2000, "server unsubscribe")
UNSUBSCRIBE_INSUFFICIENT_STATE = Unsubscribe(2500, "insufficient state")
UNSUBSCRIBE_EXPIRED = Unsubscribe(2501, "subscription expired")
UNSUBSCRIBE_STATE_INVALIDATED = Unsubscribe(2502, "state invalidated")
