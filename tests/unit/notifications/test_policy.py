"""Retry backoff with jitter and the per-recipient token bucket."""

from __future__ import annotations

from cityops_notifications.deliveries.policy import backoff_seconds, refill, take


def test_backoff_doubles_with_equal_jitter_and_is_capped() -> None:
    assert backoff_seconds(1, base=2, cap=600, rand=lambda: 0.0) == 1.0
    assert backoff_seconds(1, base=2, cap=600, rand=lambda: 1.0) == 2.0
    assert backoff_seconds(4, base=2, cap=600, rand=lambda: 1.0) == 16.0
    assert backoff_seconds(30, base=2, cap=600, rand=lambda: 1.0) == 600.0
    assert 300.0 <= backoff_seconds(30, base=2, cap=600) <= 600.0


def test_bucket_allows_a_burst_then_refuses_until_refilled() -> None:
    tokens, allowed = 3.0, []
    for _ in range(5):
        ok, tokens = take(tokens, 0.0, burst=3, window_s=3600)
        allowed.append(ok)
    assert allowed == [True, True, True, False, False]
    ok, _ = take(tokens, 1200.0, burst=3, window_s=3600)  # one token flows back every 20 minutes
    assert ok


def test_refill_never_exceeds_the_burst() -> None:
    assert refill(0.0, 10**9, burst=5, window_s=60) == 5.0
