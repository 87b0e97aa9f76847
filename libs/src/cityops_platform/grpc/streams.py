"""A cap on the server streams one principal holds open at a time (WatchIncidents, WatchAlerts…).

Each server stream costs the server a long-lived resource (WatchIncidents: a Kafka consumer), so
one credential may hold at most ``CITYOPS_MAX_STREAMS_PER_PRINCIPAL`` of them per process (4 by
default). One more is refused with FAILED_PRECONDITION ("close one of your streams first"), not
UNAVAILABLE: the condition is the caller's own, and retrying clients must not hammer the server.
The count is per token subject and per api process (replicas each count their own).
"""

from __future__ import annotations

from collections import Counter

from cityops_platform.errors import PreconditionFailed


class StreamSlots:
    """Open-stream counts per subject; ``acquire`` refuses past ``limit`` (0 = unlimited)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, subject: str) -> None:
        if self.limit and self._open[subject] >= self.limit:
            raise PreconditionFailed(
                f"Đã mở tối đa {self.limit} luồng cho tài khoản này; hãy đóng bớt một luồng "
                f"(at most {self.limit} open streams per principal; close one first)"
            )
        self._open[subject] += 1

    def release(self, subject: str) -> None:
        self._open[subject] -= 1
        if self._open[subject] <= 0:
            del self._open[subject]

    def open_count(self, subject: str) -> int:
        return self._open.get(subject, 0)
