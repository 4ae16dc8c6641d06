"""Origin checks for browser transports (channels-config.md §5.2 ``client.allowed_origins``).

Empty list: a request **with** an Origin header is refused, one without passes (node and
Python SDKs send none). Patterns are globs matched against the lower-cased Origin;
``"*"`` allows every origin.
"""

from __future__ import annotations

import fnmatch


class OriginChecker:
    """Decides whether a request's Origin header is allowed."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self._any = "*" in allowed
        self._patterns = tuple(p.lower() for p in allowed)

    def allowed(self, origin: str | None) -> bool:
        """Whether a request with this Origin header value (None: absent) may proceed."""
        if not origin or self._any:
            return True
        origin = origin.lower()
        return any(fnmatch.fnmatchcase(origin, p) for p in self._patterns)
