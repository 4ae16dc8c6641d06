"""Admission at the connection endpoints: ``client.connection_limit`` and
``client.connection_rate_limit`` (transports/admission.py), with the time passed in."""

from __future__ import annotations

import logging

import pytest

from whirlwind.transports.admission import LOG_EVERY, Admission, TokenBucket


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(4, 4, now=100.0)  # times in binary fractions: exact floats
    assert [bucket.take(100.0) for _ in range(5)] == [True] * 4 + [False]
    assert not bucket.take(100.125)  # half a token
    assert bucket.take(100.25)  # one token a quarter of a second
    assert not bucket.take(100.25)


def test_bucket_saves_up_no_more_than_the_burst() -> None:
    bucket = TokenBucket(2, 3, now=0.0)
    assert [bucket.take(3600.0) for _ in range(4)] == [True, True, True, False]


def test_bucket_ignores_a_clock_going_back() -> None:
    bucket = TokenBucket(1, 1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert not bucket.take(5.5)  # no credit for the step back
    assert bucket.take(6.5)


def test_no_limits_admit_everything() -> None:
    admission = Admission(connection_limit=0, connection_rate_limit=0, now=0.0)
    assert all(admission.refusal(n, 0.0) is None for n in range(100_000))
    assert admission.refused == 0


def test_the_connection_limit_counts_open_connections() -> None:
    admission = Admission(connection_limit=3, connection_rate_limit=0, now=0.0)
    assert admission.refusal(2, 0.0) is None
    assert admission.refusal(3, 0.0) == "node connection limit reached"
    assert admission.refusal(2, 0.0) is None  # one closed: room again
    assert admission.refused == 1


def test_the_rate_is_checked_first_and_counts_refused_requests() -> None:
    admission = Admission(connection_limit=1, connection_rate_limit=2, now=0.0)
    assert admission.refusal(0, 0.0) is None
    assert admission.refusal(1, 0.0) == "node connection limit reached"  # took a token
    assert admission.refusal(0, 0.0) == "connection rate limit reached"
    assert admission.refusal(0, 0.5) is None


def test_refusals_are_logged_at_most_every_few_seconds(caplog: pytest.LogCaptureFixture) -> None:
    admission = Admission(connection_limit=0, connection_rate_limit=1, now=0.0)
    caplog.set_level(logging.WARNING, logger="whirlwind.node")
    assert admission.refusal(0, 0.0) is None
    for i in range(100):
        assert admission.refusal(0, i / 1000) is not None
    assert admission.refused == 100
    assert [r.getMessage() for r in caplog.records] == [
        "connection rate limit reached (1 new connections/s), refusing new connections with 503"
    ]
    caplog.clear()
    admission.refusal(0, LOG_EVERY + 0.5)  # takes the refilled token: admitted
    assert admission.refusal(0, LOG_EVERY + 0.5) is not None
    assert len(caplog.records) == 1
