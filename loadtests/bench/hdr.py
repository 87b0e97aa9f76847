"""Latency recording with HDR histograms (microsecond resolution, 3 significant digits).

Every latency of the bench goes through ``Latency``: a histogram for the whole phase plus one per
second, so the plots can show percentiles over time without keeping every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour: anything slower is a failure, not a latency
_DIGITS = 3
PERCENTILES = (50.0, 95.0, 99.0, 99.9)


def _new() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


@dataclass
class Latency:
    """One named latency: ``record(seconds, at=wall_time)``; ``summary()`` in milliseconds."""

    name: str
    description: str = ""
    total: HdrHistogram = field(default_factory=_new)
    per_second: dict[int, HdrHistogram] = field(default_factory=dict)
    negative: int = 0  # clock-order anomalies (should stay 0 on one machine)

    def record(self, seconds: float, *, at: float | None = None) -> None:
        if not math.isfinite(seconds):
            return
        if seconds < 0:
            # Kafka timestamps have 1-ms resolution: tiny negatives are rounding, not time travel.
            self.negative += 1
            seconds = 0.0
        micros = min(max(int(seconds * 1_000_000), _LOWEST_US), _HIGHEST_US)
        self.total.record_value(micros)
        if at is not None:
            bucket = self.per_second.get(int(at))
            if bucket is None:
                bucket = self.per_second[int(at)] = _new()
            bucket.record_value(micros)

    @property
    def count(self) -> int:
        return int(self.total.get_total_count())

    def percentile_ms(self, p: float) -> float | None:
        if self.count == 0:
            return None
        return round(float(self.total.get_value_at_percentile(p)) / 1000.0, 3)

    def summary(self) -> dict[str, Any]:
        """count, p50/p95/p99/p99.9, mean and max, in milliseconds (None when nothing was recorded)."""
        out: dict[str, Any] = {"count": self.count, "description": self.description}
        for p in PERCENTILES:
            out[f"p{p:g}_ms"] = self.percentile_ms(p)
        out["mean_ms"] = round(self.total.get_mean_value() / 1000.0, 3) if self.count else None
        out["max_ms"] = round(self.total.get_max_value() / 1000.0, 3) if self.count else None
        if self.negative:
            out["clamped_negative"] = self.negative
        return out

    def series(self, t0: float) -> list[dict[str, float]]:
        """Per-second p50/p99 (ms) from t0, for the latency-over-time plot."""
        rows = []
        for second in sorted(self.per_second):
            h = self.per_second[second]
            rows.append({
                "t": second - int(t0),
                "count": h.get_total_count(),
                "p50_ms": h.get_value_at_percentile(50) / 1000.0,
                "p99_ms": h.get_value_at_percentile(99) / 1000.0,
            })
        return rows

    def encoded(self) -> str:
        """The whole histogram, HdrHistogram's compressed base64 form (loadable by any HDR tool)."""
        return self.total.encode().decode() if self.count else ""
