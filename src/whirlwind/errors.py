"""Python exceptions raised by Whirlwind.

Wire values (error replies, disconnect codes) live in :mod:`whirlwind.codes`; this module
holds exceptions, split by whose fault they are::

    WhirlwindError
    ├── ProtocolError          the peer sent something invalid (→ reply error or disconnect)
    ├── TokenError             a JWT could not be accepted
    │   ├── TokenExpired       valid signature, expired (→ 109 / 3005)
    │   └── InvalidToken       bad signature, algorithm, claims, format (→ 3500 / 103)
    ├── ConfigError            the configuration has problems; ``problems`` lists each with its key
    ├── InvalidState           our own mistake: a call in the wrong state
    ├── BrokerUnavailable      the broker or presence storage failed
    └── UnrecoverablePosition  a request names a stream epoch that is gone (→ 112)
"""

from __future__ import annotations

from whirlwind.codes import DISCONNECT_BAD_REQUEST, Disconnect


class WhirlwindError(Exception):
    """Base class of every Whirlwind exception."""


class ProtocolError(WhirlwindError):
    """The peer sent bytes that break the protocol; ``disconnect`` says how to close."""

    def __init__(self, message: str, disconnect: Disconnect = DISCONNECT_BAD_REQUEST) -> None:
        super().__init__(message)
        self.disconnect = disconnect


class TokenError(WhirlwindError):
    """A JWT could not be accepted."""


class TokenExpired(TokenError):
    """The token's signature is valid but it has expired."""


class InvalidToken(TokenError):
    """The token is malformed, badly signed, uses a refused algorithm or has bad claims."""


class ConfigError(WhirlwindError):
    """The configuration is invalid; ``problems`` holds one line per problem, key first."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class InvalidState(WhirlwindError):
    """Whirlwind itself called something in the wrong state (a bug, not the peer's fault)."""


class BrokerUnavailable(WhirlwindError):
    """The broker or presence manager could not complete a call."""


class UnrecoverablePosition(WhirlwindError):
    """A history or recovery request names an epoch the stream no longer has (error 112)."""
