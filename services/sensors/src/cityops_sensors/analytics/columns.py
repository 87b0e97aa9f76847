"""The worker's per-partition state as columns: one row per sensor in numpy arrays.

A sensor is in one of two modes:

- **vector** (almost every sensor, almost all the time): every rule state is idle (no alert open,
  nothing pending) and its rules fit in arrays (any thresholds and offline rules, at most one
  rate-of-change rule). Its state lives in the arrays; a reading that crosses nothing is applied to
  many sensors at once (``SensorAnalytics``).
- **object**: anything else. Its ``SensorState`` is the truth and the rules engine applies each
  reading, exactly as before.

``materialize`` / ``absorb`` convert exactly between the two (same scalars, same open window, same
rate-of-change buckets), so the rules engine stays the one definition of the semantics. The
rate-of-change buckets of a vector sensor sit in a ring of ``RING`` slots indexed by
``(bucket start // width) % RING``; a slot counts only if its start is at or after the horizon of
the last append, which is exactly the engine's "delete from the front on append". ``roc_floor`` /
``roc_ceil`` bound the lowest / highest value still in the window (never above / below it), so most
readings prove "no rate alert" without looking at the ring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cityops_sensors.rules.engine import OFFLINE, RATE, RATE_BUCKETS, THRESHOLD, RuleState, SensorState
from cityops_sensors.rules.models import Rule

EMPTY = np.iinfo(np.int64).min  # a ring slot that holds no bucket
NEVER = np.iinfo(np.int64).max  # a horizon that hides every ring slot
# A window keeps buckets with start ≥ t - window - width: at most window/width + 2 ≤ 18 of them
# (width = max(1 s, window // 16)), so 20 slots never collide.
RING = RATE_BUCKETS + 4

_INT = ("last_obs", "last_ing", "win_start", "win_count", "roc_w", "roc_width", "off_lim", "ring_h")
_FLOAT = ("last_val", "win_min", "win_max", "win_sum", "win_last", "hi", "lo", "roc_limit", "roc_floor", "roc_ceil")
_FILL = {"ring_h": NEVER, "roc_floor": math.inf, "roc_ceil": -math.inf}
_BOOL = ("has_roc", "roc_below", "known", "seen", "obj")


@dataclass(frozen=True, slots=True)
class Summary:
    """What the vector path needs to know of a sensor's rules."""

    hi: float = math.inf  # a reading ≥ hi may start an ABOVE threshold alert
    lo: float = -math.inf  # a reading ≤ lo may start a BELOW threshold alert
    roc: Rule | None = None  # the rate-of-change rule, if exactly one
    off_intervals: int = 0  # smallest offline_after_intervals (0: no offline rule)
    vector: bool = True  # False: rules the arrays cannot hold (several rate-of-change rules)


def summarize(rules: Sequence[Rule]) -> Summary:
    hi, lo, roc, off, vector = math.inf, -math.inf, None, 0, True
    for r in rules:
        if not r.enabled:
            continue
        if r.rule_type == THRESHOLD:
            levels = [x for x in (r.warn_level, r.critical_level) if x != 0.0]
            if levels and r.direction == "BELOW":
                lo = max(lo, *levels)
            elif levels:
                hi = min(hi, *levels)
        elif r.rule_type == RATE:
            vector = vector and roc is None
            roc = r
        elif r.rule_type == OFFLINE and r.offline_after_intervals > 0:
            off = r.offline_after_intervals if off == 0 else min(off, r.offline_after_intervals)
    return Summary(hi, lo, roc, off, vector)


def rate_geometry(rule: Rule) -> tuple[int, int]:
    """(window ms, bucket width ms) of a rate-of-change rule, as the engine computes them."""
    window_ms = rule.rate_window_seconds * 1000
    return window_ms, max(1000, window_ms // RATE_BUCKETS)


def _idle(rs: RuleState) -> bool:
    return rs.alert_id is None and rs.pending_since_ms is None


class PartitionColumns:
    """The sensors of one readings partition: slots, arrays, and the few sensors in object mode."""

    last_obs: Any
    last_ing: Any
    win_start: Any
    win_count: Any
    roc_w: Any
    roc_width: Any
    off_lim: Any
    ring_h: Any
    last_val: Any
    win_min: Any
    win_max: Any
    win_sum: Any
    win_last: Any
    hi: Any
    lo: Any
    roc_limit: Any
    roc_floor: Any
    roc_ceil: Any
    has_roc: Any
    roc_below: Any
    known: Any
    seen: Any
    obj: Any
    ring_start: Any
    ring_min: Any
    ring_max: Any

    def __init__(self, capacity: int = 256) -> None:
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.rules: list[tuple[Rule, ...]] = []
        self.summaries: list[Summary] = []
        self.objs: dict[int, SensorState] = {}
        self.dirty: dict[int, None] = {}  # routine checkpoints still to write (insertion-ordered)
        # Windows closed by a reading of the next minute, not yet turned into rows: (slots, start, count,
        # min, max, sum, last) snapshots, oldest first (``SensorAnalytics.window_close_rate``).
        self.closed: list[tuple[Any, ...]] = []
        self.version = -1  # the catalog version the rules were taken from
        self.capacity = 0
        self._grow(capacity)

    def __len__(self) -> int:
        return len(self.ids)

    def _grow(self, capacity: int) -> None:
        n = len(self.ids)

        def grown(name: str, dtype: Any, fill: Any, shape: tuple[int, ...] = ()) -> Any:
            arr = np.full((capacity, *shape), fill, dtype=dtype)
            if n:
                arr[:n] = getattr(self, name)[:n]
            return arr

        for name in _INT:
            setattr(self, name, grown(name, np.int64, _FILL.get(name, 0)))
        for name in _FLOAT:
            setattr(self, name, grown(name, np.float64, _FILL.get(name, 0.0)))
        for name in _BOOL:
            setattr(self, name, grown(name, np.bool_, False))
        self.ring_start = grown("ring_start", np.int64, EMPTY, (RING,))
        self.ring_min = grown("ring_min", np.float64, 0.0, (RING,))
        self.ring_max = grown("ring_max", np.float64, 0.0, (RING,))
        self.capacity = capacity

    def add(self, sensor_id: str) -> int:
        """A new slot (vector mode, empty state, no rules until ``set_rules``)."""
        slot = len(self.ids)
        if slot == self.capacity:
            self._grow(self.capacity * 2)
        self.index[sensor_id] = slot
        self.ids.append(sensor_id)
        self.rules.append(())
        self.summaries.append(Summary())
        self.hi[slot], self.lo[slot] = math.inf, -math.inf
        return slot

    def add_many(self, sensor_ids: Sequence[str]) -> Any:
        """New slots for ``sensor_ids`` (distinct, none present yet), as ``add`` gives them, in one go:
        the first readings of 100,000 registered sensors otherwise cost ~60 µs each in ``add`` and
        ``set_rules`` (numpy scalar writes), a second of CPU in the first second of the stream."""
        first = len(self.ids)
        end = first + len(sensor_ids)
        if end > self.capacity:
            capacity = self.capacity
            while capacity < end:
                capacity *= 2
            self._grow(capacity)
        self.index.update(zip(sensor_ids, range(first, end), strict=True))
        self.ids.extend(sensor_ids)
        self.rules.extend([()] * len(sensor_ids))
        self.summaries.extend([Summary()] * len(sensor_ids))  # frozen: one shared instance is fine
        self.hi[first:end], self.lo[first:end] = math.inf, -math.inf
        return np.arange(first, end, dtype=np.int64)

    def set_rules_many(self, slots: Any, rules: tuple[Rule, ...], summary: Summary, intervals_s: Any) -> None:
        """``set_rules`` for many slots sharing ``rules`` (``intervals_s``: each sensor's reporting
        interval, -1 where it is not in the registry), with array writes instead of one per slot."""
        slots = np.asarray(slots, dtype=np.int64)
        if not slots.size:
            return
        key = _roc_key(summary)
        clear: list[int] = []
        for slot in slots[~self.obj[slots]].tolist():
            old = self.summaries[slot]
            if not summary.vector:
                self.to_object(slot)
            elif old is not summary and _roc_key(old) != key:
                clear.append(slot)
        if clear:
            self._clear_ring(np.array(clear, dtype=np.int64))
        rules_list, summaries = self.rules, self.summaries
        for slot in slots.tolist():
            rules_list[slot], summaries[slot] = rules, summary
        intervals = np.asarray(intervals_s, dtype=np.int64)
        self._put_summary(slots, summary, intervals >= 0, summary.off_intervals * np.maximum(intervals, 0) * 1000)

    def set_rules(self, slot: int, rules: tuple[Rule, ...], summary: Summary, interval_s: int | None) -> None:
        """Take a sensor's current rules (``interval_s`` None: the sensor is not in the registry).

        A vector-mode sensor whose rate-of-change rule changed starts that rule's history afresh;
        one whose rules no longer fit the arrays moves to object mode."""
        if not self.obj[slot]:
            if not summary.vector:
                self.to_object(slot)
            elif _roc_key(self.summaries[slot]) != _roc_key(summary):
                self._clear_ring(slot)
        self.rules[slot], self.summaries[slot] = rules, summary
        self._put_summary(slot, summary, interval_s is not None, summary.off_intervals * (interval_s or 0) * 1000)

    def _put_summary(self, at: Any, summary: Summary, known: Any, off_lim: Any) -> None:
        """The arrays' copy of a rules summary, at one slot or an array of slots."""
        self.hi[at], self.lo[at] = summary.hi, summary.lo
        self.known[at] = known
        self.off_lim[at] = off_lim
        roc = summary.roc
        self.has_roc[at] = roc is not None
        if roc is not None:
            self.roc_w[at], self.roc_width[at] = rate_geometry(roc)
            self.roc_limit[at] = roc.rate_of_change_per_window
            self.roc_below[at] = roc.direction == "BELOW"

    # ---- mode changes -------------------------------------------------------------------------

    def materialize(self, slot: int) -> SensorState:
        """The ``SensorState`` of a vector-mode sensor (new objects; the arrays stay as they are)."""
        rules: dict[str, RuleState] | None = None
        roc = self.summaries[slot].roc
        if roc is not None:
            starts = self.ring_start[slot]
            present = np.flatnonzero(starts >= self.ring_h[slot])
            if present.size:
                present = present[np.argsort(starts[present])]
                lows, highs = self.ring_min[slot, present].tolist(), self.ring_max[slot, present].tolist()
                buckets = [[s, lo, hi] for s, lo, hi in zip(starts[present].tolist(), lows, highs, strict=True)]
                rules = {roc.id: RuleState(buckets=buckets)}
        window: list[float] | None = None
        if self.win_count[slot]:
            window = [int(self.win_start[slot]), int(self.win_count[slot]), float(self.win_min[slot]),
                      float(self.win_max[slot]), float(self.win_sum[slot]), float(self.win_last[slot])]
        return SensorState(int(self.last_obs[slot]), int(self.last_ing[slot]), float(self.last_val[slot]),
                           rules, window)

    def state(self, slot: int) -> SensorState:
        """The current state, whatever the mode (for checkpoints: do not keep it)."""
        return self.objs[slot] if self.obj[slot] else self.materialize(slot)

    def to_object(self, slot: int) -> SensorState:
        """Move a sensor to object mode (no-op if it is there) and return its live state."""
        if self.obj[slot]:
            return self.objs[slot]
        state = self.objs[slot] = self.materialize(slot)
        self.obj[slot] = True
        return state

    def adopt(self, slot: int, state: SensorState) -> None:
        """Take a state recovered from the changelog (object mode until ``absorb``)."""
        self.objs[slot] = state
        self.obj[slot] = True

    def absorb(self, slot: int, status: str | None) -> bool:
        """Move an object-mode sensor back to vector mode if its state fits the arrays exactly."""
        state = self.objs.get(slot)
        summary = self.summaries[slot]
        if state is None or not summary.vector or status not in (None, "ONLINE"):
            return False
        roc = summary.roc
        current = {r.id for r in self.rules[slot]}
        buckets: list[list[float]] | None = None
        for rule_id, rs in (state.rules or {}).items():
            if rule_id not in current:
                if _idle(rs):
                    continue  # a rule that no longer applies: its idle state is dropped
                return False  # ... but an alert it raised stays open (and the sensor ALERTING)
            if not _idle(rs):
                return False
            if rs.buckets:
                if roc is None or rule_id != roc.id:
                    return False
                buckets = rs.buckets
        if buckets and not self._fits(buckets, roc):
            return False
        self.last_obs[slot], self.last_ing[slot] = state.last_observed_ms, state.last_ingested_ms
        self.last_val[slot] = state.last_value
        w = state.window
        if w is None:
            self.win_count[slot] = 0
        else:
            self.win_start[slot], self.win_count[slot] = int(w[0]), int(w[1])
            self.win_min[slot], self.win_max[slot], self.win_sum[slot], self.win_last[slot] = w[2], w[3], w[4], w[5]
        self._clear_ring(slot)
        if buckets and roc is not None:
            width = rate_geometry(roc)[1]
            for start, lo, hi in buckets:
                k = (int(start) // width) % RING
                self.ring_start[slot, k], self.ring_min[slot, k], self.ring_max[slot, k] = int(start), lo, hi
            self.ring_h[slot] = min(int(b[0]) for b in buckets)
            self.roc_floor[slot] = min(b[1] for b in buckets)
            self.roc_ceil[slot] = max(b[2] for b in buckets)
        del self.objs[slot]
        self.obj[slot] = False
        return True

    def _clear_ring(self, slot: Any) -> None:
        """Forget the rate-of-change buckets of one slot (or an array of slots)."""
        self.ring_start[slot] = EMPTY
        self.ring_h[slot] = NEVER
        self.roc_floor[slot], self.roc_ceil[slot] = math.inf, -math.inf

    @staticmethod
    def _fits(buckets: list[list[float]], roc: Rule | None) -> bool:
        """Buckets on the current rule's grid and within the ring (not so after a rule edit)."""
        if roc is None:
            return False
        width = rate_geometry(roc)[1]
        starts = [int(b[0]) for b in buckets]
        return all(s % width == 0 for s in starts) and max(starts) - min(starts) < (RING - 1) * width


def _roc_key(summary: Summary) -> tuple[str, int, str] | None:
    roc = summary.roc
    return None if roc is None else (roc.id, roc.rate_window_seconds, roc.direction)
