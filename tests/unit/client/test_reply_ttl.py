"""The ``ttl`` of connect, subscribe, refresh and sub_refresh replies."""

from __future__ import annotations

from whirlwind.client.client import _reply_ttl


def test_counted_from_the_current_unix_second_as_centrifuge_does() -> None:
    # Centrifuge: ExpireAt - time.Now().Unix(); not int(1000 - 998.9) == 1.
    assert _reply_ttl(1000, 998.9) == 2
    # 0.05 s left is still a second to the SDK, not 0 (which would refresh at once).
    assert _reply_ttl(1000, 999.95) == 1


def test_capped_at_one_year() -> None:
    assert _reply_ttl(10**10, 1_000_000.5) == 365 * 24 * 3600
