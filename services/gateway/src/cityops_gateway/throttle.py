"""Login throttling and per-client rate limits of the gateway (in memory, per process).

``LoginThrottle`` counts failed logins per username and per client address: after ``threshold``
failures in a row the key is locked for ``base_seconds`` doubling with each further failure
(capped at ``max_seconds``); a successful login clears the username's count. ``RateLimiter`` is
a token bucket per key (anonymous Open311 reads per client address).

Both are per gateway process: with several replicas an attacker gets ``replicas`` times the
budget, still a few guesses a minute instead of thousands.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cityops_gateway.web import ApiError
from cityops_platform.bounded import LruMap

# Keys kept at most: the oldest entries are forgotten first (an attacker cannot exhaust memory).
MAX_KEYS = 50_000


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    """Exponential lockout after repeated login failures, per username and per client address."""

    def __init__(
        self,
        *,
        user_threshold: int = 5,
        address_threshold: int = 20,
        base_seconds: float = 30.0,
        max_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._thresholds = {"user": user_threshold, "addr": address_threshold}
        self._base, self._max, self._clock = base_seconds, max_seconds, clock
        self._failures: LruMap[tuple[str, str], _Failures] = LruMap(MAX_KEYS)

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until a login for ``username`` from ``address`` may be tried again (0 = now)."""
        now = self._clock()
        wait = 0.0
        for key in self._keys(username, address):
            entry = self._failures.peek(key)
            if entry is not None and entry.locked_until > now:
                wait = max(wait, entry.locked_until - now)
        return math.ceil(wait)

    def failed(self, username: str, address: str) -> None:
        """Record a failed login; a key past its threshold is locked, longer each time."""
        now = self._clock()
        for key in self._keys(username, address):
            entry = self._failures.pop(key, None) or _Failures()
            entry.count += 1
            over = entry.count - self._thresholds[key[0]]
            if over >= 0:
                entry.locked_until = now + min(self._max, self._base * 2**over)
            self._failures.put(key, entry)

    def succeeded(self, username: str) -> None:
        """A correct password clears the username's count (not the address's)."""
        self._failures.pop(("user", username.strip().casefold()), None)

    @staticmethod
    def _keys(username: str, address: str) -> tuple[tuple[str, str], ...]:
        return ("user", username.strip().casefold()), ("addr", address)


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(self, *, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst, self._clock = per_minute / 60.0, float(burst), clock
        self._buckets: LruMap[str, tuple[float, float]] = LruMap(MAX_KEYS)

    def take(self, key: str) -> int:
        """0 when the request may go on, else the seconds to wait before the next one."""
        now = self._clock()
        tokens, stamp = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - stamp) * self._rate)
        if tokens >= 1.0:
            self._buckets.put(key, (tokens - 1.0, now))
            return 0
        self._buckets.put(key, (tokens, now))
        return max(1, math.ceil((1.0 - tokens) / self._rate)) if self._rate > 0 else 3600


def client_address(scope_client: tuple[str, int] | None) -> str:
    """The client's address as uvicorn saw it (after its trusted ``X-Forwarded-For`` handling)."""
    return scope_client[0] if scope_client else "unknown"


def throttled(throttle: LoginThrottle, username: str, address: str) -> None:
    """429 with ``Retry-After`` while ``username`` or ``address`` is locked out."""
    wait = throttle.retry_after(username, address)
    if wait:
        raise ApiError(429, "resource_exhausted",
                       f"đăng nhập sai quá nhiều lần, thử lại sau {wait} giây "
                       f"(too many failed logins, try again in {wait} s)", headers={"Retry-After": str(wait)})
