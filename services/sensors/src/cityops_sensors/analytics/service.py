"""Stream analytics without Faust: per-sensor state, rules, 1-minute windows, status.

``SensorAnalytics`` holds the worker's working set (``PartitionColumns`` per partition) and applies
ReadingRecords and ticks to it. It returns what must happen outside: alert transitions to publish,
states to checkpoint in the changelog table, closed windows and status rows to write.

Two paths, one semantics. Most readings cross nothing for a sensor with no alert open or pending:
for those (the *vector path*) the state update is a handful of numpy operations per record, with
the same arithmetic as the engine (thresholds compared, rate-of-change buckets updated, the minute
window folded). Every other reading (a level reached, a rate limit reached, an alert open, a sensor
seen for the first time) goes through the rules engine (``observe``) on the sensor's
``SensorState``, exactly as the engine is tested. ``tests/unit/sensors/test_columnar_analytics.py``
checks that both give the same transitions, rows and states as the engine applied reading by reading.

Checkpointing is selective on purpose: alert-related changes are checkpointed at once (so a
restarted worker never raises a duplicate), everything else when the sensor's minute closes (so
100k sensors cost ~1.7k changelog writes/s, not one per reading). Those routine checkpoints are
queued per partition and written at most ``checkpoint_rate`` per second (latest state, so a sensor
queued twice is written once): every sensor's minute closes in the same second, and writing them
all at once stalled the stream for seconds.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cityops_sensors.alerts.models import SensorMeta
from cityops_sensors.analytics.columns import PartitionColumns, Summary, summarize
from cityops_sensors.analytics.store import AggregateRow, LiveRow
from cityops_sensors.analytics.vector import occurrence, rate_check, rate_update
from cityops_sensors.convert import dt_ms
from cityops_sensors.ingest.models import partition_for
from cityops_sensors.rules.engine import SensorState, Transition, check_offline, observe, status_of
from cityops_sensors.rules.models import Rule
from cityops_sensors.rules.service import RuleBook

WINDOW_MS = 60_000
# A record that repeats sensors is applied in rounds of distinct sensors; with too many small rounds
# (a few sensors, many readings each) the engine alone is cheaper.
MIN_ROUND_READINGS = 16


@dataclass
class Catalog:
    """The registry and rules as the worker sees them (refreshed periodically).

    ``version`` changes whenever the rules change, so derived data can be rebuilt; sensors registered
    or edited since are passed to ``SensorAnalytics.sensors_changed`` instead."""

    sensors: dict[str, SensorMeta] = field(default_factory=dict)
    book: RuleBook = field(default_factory=lambda: RuleBook(()))
    version: int = 0

    def rules_for(self, sensor_id: str) -> tuple[Rule, ...]:
        meta = self.sensors.get(sensor_id)
        return self.book.for_sensor(meta.kind, sensor_id) if meta is not None else ()


@dataclass
class Outcome:
    transitions: list[Transition] = field(default_factory=list)
    checkpoint: dict[str, SensorState] = field(default_factory=dict)
    aggregates: list[AggregateRow] = field(default_factory=list)
    live: list[LiveRow] = field(default_factory=list)


# ms → datetime for the rows, remembered: at a minute boundary ~100,000 aggregate rows share one window
# start and a record's readings often share their times; ``dt_ms`` was 16 % of the agent's CPU there.
_dt = functools.lru_cache(maxsize=1 << 14)(dt_ms)


def _aggregate_row(sensor_id: str, w: Sequence[float]) -> AggregateRow:
    start, count, lo, hi, total, last = w
    return (sensor_id, _dt(int(start)), 60, int(count), lo, hi, total / count, total, last)


class SensorAnalytics:
    def __init__(self, catalog: Catalog, *, partitions: int, window_grace_ms: int = 5000,
                 checkpoint_rate: float = 2000.0, window_close_rate: float = math.inf,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.catalog = catalog
        self.partitions = partitions
        self.grace_ms = window_grace_ms
        # Routine checkpoints per second, as a token bucket holding at most 20 ms worth: Faust's
        # producer buffer makes the stream wait once it holds more than 100 messages.
        self.checkpoint_rate = checkpoint_rate
        self._burst = max(1.0, checkpoint_rate * 0.02)
        self._tokens = 0.0
        self._clock = clock
        self._refilled = clock()
        # Windows closed by the vector path become rows at most this many per second (same 20 ms
        # bucket): every sensor's minute ends at the same instant (``PartitionColumns.closed``).
        self.window_close_rate = window_close_rate
        self._close_burst = max(1.0, window_close_rate * 0.02)
        self._close_tokens = 0.0
        self._close_refilled = clock()
        self.cols: dict[int, PartitionColumns] = {}
        self.status: dict[str, str] = {}
        self._memo: dict[int, tuple[tuple[Rule, ...], Summary]] = {}
        self._memo_version = -1

    # ---- working set --------------------------------------------------------------------------

    def drop_partitions(self, partitions: Sequence[int]) -> None:
        """Forget revoked partitions: their state comes back from the changelog if reassigned."""
        for p in partitions:
            pc = self.cols.pop(p, None)
            for sid in pc.ids if pc is not None else ():
                self.status.pop(sid, None)

    def adopt(self, sensor_id: str, state: SensorState) -> None:
        """Take a state recovered from the changelog table."""
        pc = self._columns(partition_for(sensor_id, self.partitions))
        slot = pc.index.get(sensor_id)
        if slot is None:
            slot = self._add(pc, sensor_id)
        pc.adopt(slot, state)
        pc.absorb(slot, self.status.get(sensor_id))

    def _columns(self, partition: int) -> PartitionColumns:
        pc = self.cols.get(partition)
        if pc is None:
            pc = self.cols[partition] = PartitionColumns()
            pc.version = self.catalog.version
        elif pc.version != self.catalog.version:
            self._resync(pc)
        return pc

    def _summary(self, rules: tuple[Rule, ...]) -> Summary:
        """``summarize(rules)``, once per rules tuple of the current catalog (the book caches its tuples)."""
        if self._memo_version != self.catalog.version:
            self._memo, self._memo_version = {}, self.catalog.version
        hit = self._memo.get(id(rules))
        if hit is None or hit[0] is not rules:  # the tuple is held here, so its id cannot be reused
            hit = self._memo[id(rules)] = (rules, summarize(rules))
        return hit[1]

    def _rules(self, sensor_id: str) -> tuple[tuple[Rule, ...], Summary, int | None]:
        meta = self.catalog.sensors.get(sensor_id)
        rules = self.catalog.rules_for(sensor_id)
        return rules, self._summary(rules), None if meta is None else meta.reporting_interval_seconds

    def _add(self, pc: PartitionColumns, sensor_id: str) -> int:
        slot = pc.add(sensor_id)
        pc.set_rules(slot, *self._rules(sensor_id))
        return slot

    def _set_rules(self, pc: PartitionColumns, slots: Any) -> None:
        """Take the current rules of the sensors in ``slots``: grouped by their rules tuple (most
        sensors of a kind share one), one ``set_rules_many`` per group. Cost per sensor: two dict
        lookups, instead of ~30 µs of numpy scalar writes (``_resync`` of 100,000 sensors after every
        registration was ~3 s of CPU)."""
        groups: dict[int, tuple[tuple[Rule, ...], list[int], list[int]]] = {}
        sensors, ids = self.catalog.sensors, pc.ids
        for slot in np.asarray(slots, dtype=np.int64).tolist():
            sid = ids[slot]
            meta = sensors.get(sid)
            rules = self.catalog.book.for_sensor(meta.kind, sid) if meta is not None else ()
            group = groups.get(id(rules))
            if group is None:
                group = groups[id(rules)] = (rules, [], [])
            group[1].append(slot)
            group[2].append(-1 if meta is None else meta.reporting_interval_seconds)
        for rules, members, intervals in groups.values():
            pc.set_rules_many(members, rules, self._summary(rules), intervals)

    def _resync(self, pc: PartitionColumns) -> None:
        """The registry or the rules changed: take every sensor's rules again."""
        self._set_rules(pc, np.arange(len(pc)))
        for slot in sorted(pc.objs):
            pc.absorb(slot, self.status.get(pc.ids[slot]))
        pc.version = self.catalog.version

    def sensors_changed(self, sensor_ids: Sequence[str]) -> None:
        """Some sensors were registered or edited, the rules were not: only those sensors take their
        rules again (a full ``_resync`` walks every registered sensor; with 100,000 that was ~0.1–0.2 s
        of CPU after each registration). Sensors not seen yet get theirs at their first reading."""
        by_partition: dict[int, list[int]] = {}
        for sid in sensor_ids:
            partition = partition_for(sid, self.partitions)
            pc = self.cols.get(partition)
            slot = pc.index.get(sid) if pc is not None else None
            if slot is not None:
                by_partition.setdefault(partition, []).append(slot)
        for partition, slots in by_partition.items():
            pc = self.cols[partition]
            if pc.version != self.catalog.version:
                self._resync(pc)  # behind anyway: the full pass covers these sensors too
                continue
            self._set_rules(pc, slots)
            for slot in slots:
                if pc.obj[slot]:
                    pc.absorb(slot, self.status.get(pc.ids[slot]))

    def slots(self, partition: int, ids: Sequence[str]) -> Any:
        """The slots of a record's sensors in their partition (new sensors get one)."""
        pc = self._columns(partition)
        slots = list(map(pc.index.get, ids))
        if None in slots:
            new = list(dict.fromkeys(ids[i] for i, s in enumerate(slots) if s is None))
            self._set_rules(pc, pc.add_many(new))
            index = pc.index
            slots = [index[sid] for sid in ids]
        return np.array(slots, dtype=np.int64)

    def all_known(self, partition: int, slots: Any) -> bool:
        """False when some sensor is not (yet) in the worker's copy of the registry."""
        return bool(self._columns(partition).known[slots].all())

    # ---- readings -----------------------------------------------------------------------------

    def apply(self, partition: int, slots: Any, values: Any, observed: Any, ingested: Any) -> Outcome:
        """Apply one ReadingRecord (readings of one partition, in order; ``slots`` from ``slots``)."""
        out = Outcome()
        n = len(slots)
        if n == 0:
            return out
        pc = self._columns(partition)
        v = np.asarray(values, dtype=np.float64)
        t = np.asarray(observed, dtype=np.int64)
        ing = np.asarray(ingested, dtype=np.int64)
        ckpt: set[int] = set()
        touched: set[int] = set()
        rank = occurrence(slots)
        rounds = int(rank.max()) + 1 if rank is not None else 1
        if rounds > 3 and n < MIN_ROUND_READINGS * rounds:
            self._slow(pc, slots, v, t, ing, np.arange(n), out, ckpt, touched)
        elif rank is None:
            self._round(pc, slots, v, t, ing, out, ckpt, touched)
        else:
            for r in range(rounds):
                idx = np.flatnonzero(rank == r)
                self._round(pc, slots[idx], v[idx], t[idx], ing[idx], out, ckpt, touched)
        self._drain_closed(pc, out)
        for slot in touched:
            pc.absorb(slot, self.status.get(pc.ids[slot]))
        self._checkpoints(pc, ckpt, out)
        return out

    def _checkpoints(self, pc: PartitionColumns, now: set[int], out: Outcome) -> None:
        """Alert-related states now; routine ones (a minute closed) a few at a time, so that a
        minute boundary (every sensor's window closes within a second) does not flood the changelog."""
        dirty = pc.dirty
        for slot in now:
            dirty.pop(slot, None)
        take = list(now)
        if dirty:
            budget = self._routine_budget(len(dirty))
            drained = list(itertools.islice(dirty, budget))
            for slot in drained:
                del dirty[slot]
            take += drained
        out.checkpoint = {pc.ids[s]: pc.state(s) for s in take}

    def _routine_budget(self, wanted: int) -> int:
        if math.isinf(self.checkpoint_rate):
            return wanted
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self.checkpoint_rate)
        self._refilled = now
        budget = min(wanted, int(self._tokens))
        self._tokens -= budget
        return budget

    def _round(self, pc: PartitionColumns, sl: Any, v: Any, t: Any, ing: Any, out: Outcome, ckpt: set[int],
               touched: set[int]) -> None:
        """Readings of distinct sensors: the vector path where it is exact, the engine elsewhere."""
        vec = ~pc.obj[sl]
        fresh = vec & (t > pc.last_obs[sl])  # vector sensors: older readings are replays, skipped
        fast = fresh & (v < pc.hi[sl]) & (v > pc.lo[sl])
        roc_i = np.flatnonzero(fast & pc.has_roc[sl])
        ring: tuple[Any, ...] | None = None
        if roc_i.size:
            ring = rate_check(pc, sl[roc_i], v[roc_i], t[roc_i])
            fast[roc_i[~ring[0]]] = False
        slow = np.flatnonzero(~vec | (fresh & ~fast))
        if slow.size:
            self._slow(pc, sl, v, t, ing, slow, out, ckpt, touched)
        f = np.flatnonzero(fast)
        if not f.size:
            return
        if ring is not None:
            ok = ring[0]
            rate_update(pc, sl[roc_i[ok]], v[roc_i[ok]], t[roc_i[ok]], *(x[ok] for x in ring[1:]))
        s, fv, ft = sl[f], v[f], t[f]
        pc.last_obs[s], pc.last_ing[s], pc.last_val[s] = ft, ing[f], fv
        self._fold_windows(pc, s, fv, ft, out, ckpt)
        first = np.flatnonzero(~pc.seen[s])
        if first.size:  # first reading since start: the sensor's status (ONLINE: nothing is open) is published
            for slot, tm, val in zip(s[first].tolist(), ft[first].tolist(), fv[first].tolist(), strict=True):
                sid = pc.ids[slot]
                self.status[sid] = "ONLINE"
                out.live.append((sid, "ONLINE", _dt(tm), val))
            pc.seen[s[first]] = True

    def _fold_windows(self, pc: PartitionColumns, s: Any, v: Any, t: Any, out: Outcome, ckpt: set[int]) -> None:
        minute = t - t % WINDOW_MS
        open_ = pc.win_count[s] > 0
        same = open_ & (pc.win_start[s] == minute)
        roll = np.flatnonzero(open_ & ~same)
        if roll.size:  # the previous minute of these sensors ends: a row, a status refresh, a checkpoint
            rs = s[roll]
            closed = (rs, pc.win_start[rs], pc.win_count[rs], pc.win_min[rs], pc.win_max[rs], pc.win_sum[rs],
                      pc.win_last[rs])  # fancy indexing: copies, safe from the new minute below
            if math.isinf(self.window_close_rate):
                self._emit_closed(pc, closed, t[roll], v[roll], out)
            else:
                pc.closed.append(closed)
        ss = s[same]
        if ss.size:
            sv = v[same]
            pc.win_count[ss] += 1
            pc.win_min[ss] = np.minimum(pc.win_min[ss], sv)
            pc.win_max[ss] = np.maximum(pc.win_max[ss], sv)
            pc.win_sum[ss] += sv
            pc.win_last[ss] = sv
        new = ~same
        if new.any():
            ns, nv = s[new], v[new]
            pc.win_start[ns], pc.win_count[ns] = minute[new], 1
            pc.win_min[ns] = pc.win_max[ns] = pc.win_sum[ns] = pc.win_last[ns] = nv

    def _emit_closed(self, pc: PartitionColumns, closed: tuple[Any, ...], tm: Any, val: Any, out: Outcome) -> None:
        """Rows of closed windows: the aggregate, a status refresh with ``tm``/``val``, a checkpoint."""
        status = self.status
        rs, start, count, lo, hi, total, last = closed
        for slot, st, c, mn, mx, tot, ls, at, value in zip(
                rs.tolist(), start.tolist(), count.tolist(), lo.tolist(), hi.tolist(), total.tolist(),
                last.tolist(), tm.tolist(), val.tolist(), strict=True):
            sid = pc.ids[slot]
            out.aggregates.append(_aggregate_row(sid, (st, c, mn, mx, tot, ls)))
            if at is not None:
                out.live.append((sid, status.get(sid, "ONLINE"), _dt(at), value))
            pc.dirty[slot] = None

    def _drain_closed(self, pc: PartitionColumns, out: Outcome) -> None:
        """Turn queued closed windows into rows, within the ``window_close_rate`` budget, oldest first.

        The aggregate rows are the snapshots taken at the close (identical content, only later). The
        status refresh carries the sensor's latest reading (never older than one already written); a
        sensor now on the engine path gets none here (the engine writes its status rows)."""
        if not pc.closed:
            return
        budget = self._close_budget(sum(len(c[0]) for c in pc.closed))
        while budget > 0 and pc.closed:
            chunk = pc.closed[0]
            k = min(budget, len(chunk[0]))
            head = tuple(a[:k] for a in chunk)
            if k == len(chunk[0]):
                pc.closed.pop(0)
            else:
                pc.closed[0] = tuple(a[k:] for a in chunk)
            budget -= k
            rs = head[0]
            # three-argument np.where is an ndarray (numpy's stubs type None as x poorly)
            tm = np.asarray(np.where(pc.obj[rs], None, pc.last_obs[rs]), dtype=object)
            self._emit_closed(pc, head, tm, pc.last_val[rs], out)

    def _close_budget(self, wanted: int) -> int:
        now = self._clock()
        self._close_tokens = min(self._close_burst,
                                 self._close_tokens + (now - self._close_refilled) * self.window_close_rate)
        self._close_refilled = now
        budget = min(wanted, int(self._close_tokens))
        self._close_tokens -= budget
        return budget

    def _slow(self, pc: PartitionColumns, sl: Any, v: Any, t: Any, ing: Any, idx: Any, out: Outcome,
              ckpt: set[int], touched: set[int]) -> None:
        """The rules engine, reading by reading (in record order), on object-mode states."""
        transitions = out.transitions
        for slot, val, tm, ig in zip(sl[idx].tolist(), v[idx].tolist(), t[idx].tolist(), ing[idx].tolist(),
                                     strict=True):
            state = pc.to_object(slot)
            touched.add(slot)
            if tm <= state.last_observed_ms:
                continue  # a replay after a restart: already applied
            sid = pc.ids[slot]
            before = len(transitions)
            rules = pc.rules[slot]
            significant = observe(state, rules, sid, val, tm, ig, transitions)
            minute = tm - tm % WINDOW_MS
            w = state.window
            if w is None or w[0] != minute:
                if w is not None:
                    out.aggregates.append(_aggregate_row(sid, w))
                    out.live.append((sid, self.status.get(sid, "ONLINE"), dt_ms(state.last_observed_ms), val))
                    pc.dirty[slot] = None
                state.window = [minute, 1, val, val, val, val]
            else:
                w[1] += 1
                if val < w[2]:
                    w[2] = val
                if val > w[3]:
                    w[3] = val
                w[4] += val
                w[5] = val
            if significant:
                ckpt.add(slot)
            if len(transitions) > before or sid not in self.status:
                self._status_change(pc, slot, state, rules, out)

    def _status_change(self, pc: PartitionColumns, slot: int, state: SensorState, rules: Sequence[Rule],
                       out: Outcome) -> None:
        sid = pc.ids[slot]
        new = status_of(state, {r.id: r for r in rules})
        pc.seen[slot] = True
        if self.status.get(sid) != new:
            self.status[sid] = new
            out.live.append((sid, new, dt_ms(state.last_observed_ms) if state.last_observed_ms else None,
                             state.last_value))

    # ---- time -------------------------------------------------------------------------------------

    def tick(self, partition: int, now_ms: int) -> Outcome:
        """Time-based rules for one partition: offline sensors and windows past their end."""
        out = Outcome()
        pc = self.cols.get(partition)
        if pc is None or not len(pc):
            return out
        if pc.version != self.catalog.version:
            self._resync(pc)
        n = len(pc)
        close_before = now_ms - WINDOW_MS - self.grace_ms
        vec = ~pc.obj[:n] & pc.known[:n]
        silent = vec & (pc.off_lim[:n] > 0) & (pc.last_ing[:n] > 0) & (now_ms - pc.last_ing[:n] >= pc.off_lim[:n])
        for slot in np.flatnonzero(silent).tolist():
            pc.to_object(slot)  # an offline alert is due: the engine raises it below
        ckpt: set[int] = set()
        closing = np.flatnonzero(vec & ~silent & (pc.win_count[:n] > 0) & (pc.win_start[:n] < close_before))
        for slot in closing.tolist():
            sid = pc.ids[slot]
            out.aggregates.append(_aggregate_row(sid, (int(pc.win_start[slot]), int(pc.win_count[slot]),
                                                       float(pc.win_min[slot]), float(pc.win_max[slot]),
                                                       float(pc.win_sum[slot]), float(pc.win_last[slot]))))
            out.live.append((sid, self.status.get(sid, "ONLINE"), _dt(int(pc.last_obs[slot])),
                             float(pc.last_val[slot])))
            pc.dirty[slot] = None
        pc.win_count[closing] = 0
        self._drain_closed(pc, out)
        for slot in sorted(pc.objs):
            self._tick_object(pc, slot, now_ms, close_before, out, ckpt)
            pc.absorb(slot, self.status.get(pc.ids[slot]))
        self._checkpoints(pc, ckpt, out)
        return out

    def _tick_object(self, pc: PartitionColumns, slot: int, now_ms: int, close_before: int, out: Outcome,
                     ckpt: set[int]) -> None:
        sid = pc.ids[slot]
        meta = self.catalog.sensors.get(sid)
        if meta is None:
            return
        state = pc.objs[slot]
        rules = pc.rules[slot]
        before = len(out.transitions)
        significant = check_offline(state, rules, sid, meta.reporting_interval_seconds, now_ms, out.transitions)
        w = state.window
        if w is not None and w[0] < close_before:
            out.aggregates.append(_aggregate_row(sid, w))
            out.live.append((sid, self.status.get(sid, "ONLINE"), dt_ms(state.last_observed_ms), state.last_value))
            state.window = None
            pc.dirty[slot] = None
        if significant:
            ckpt.add(slot)
        if len(out.transitions) > before:
            self._status_change(pc, slot, state, rules, out)
