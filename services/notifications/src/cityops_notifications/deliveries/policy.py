"""Pure delivery arithmetic: retry backoff with jitter and the per-recipient token bucket."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_seconds(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry number ``attempt`` (1 = after the first failure).

    Exponential (base · 2^(attempt-1)) capped at ``cap``, with "equal jitter": between half and all of
    it, so a burst of failures does not retry in lockstep.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return float(ceiling / 2 + rand() * ceiling / 2)


def refill(tokens: float, elapsed_s: float, *, burst: int, window_s: float) -> float:
    """Tokens after ``elapsed_s`` seconds: ``burst`` tokens flow back evenly over ``window_s``."""
    return min(float(burst), tokens + max(0.0, elapsed_s) * burst / window_s)


def take(tokens: float, elapsed_s: float, *, burst: int, window_s: float) -> tuple[bool, float]:
    """(allowed, tokens left) for one message."""
    available = refill(tokens, elapsed_s, burst=burst, window_s=window_s)
    if available >= 1.0:
        return True, available - 1.0
    return False, available
