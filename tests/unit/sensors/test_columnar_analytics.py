"""The worker's columnar analytics give what the rules engine gives applied reading by reading.

``Reference`` is the straightforward loop (one ``observe`` per reading, a dict of ``SensorState``);
random records and ticks go through both, and transitions, rows, checkpoints and every sensor's
state must agree after each step.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

from cityops_sensors.alerts.models import SensorMeta
from cityops_sensors.analytics.columns import _BOOL, _FLOAT, _INT, PartitionColumns
from cityops_sensors.analytics.service import WINDOW_MS, Catalog, Outcome, SensorAnalytics, _aggregate_row
from cityops_sensors.convert import dt_ms
from cityops_sensors.rules.engine import SensorState, check_offline, observe, status_of
from cityops_sensors.rules.models import Rule
from cityops_sensors.rules.service import RuleBook

T0 = 1_700_000_000_000 - 1_700_000_000_000 % WINDOW_MS
P = 0  # every test sensor is treated as living in partition 0


class Reference:
    """The per-reading loop the columnar path replaces (kept here as the oracle)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog, self.states, self.status = catalog, {}, {}  # type: ignore[var-annotated]

    def _status(self, sid: str, state: SensorState, rules: Sequence[Rule], out: Outcome) -> None:
        new = status_of(state, {r.id: r for r in rules})
        if self.status.get(sid) != new:
            self.status[sid] = new
            out.live.append((sid, new, dt_ms(state.last_observed_ms) if state.last_observed_ms else None,
                             state.last_value))

    def apply(self, ids: Sequence[str], values: Sequence[float], observed: Sequence[int],
              ingested: Sequence[int]) -> Outcome:
        out = Outcome()
        for i, sid in enumerate(ids):
            state = self.states.setdefault(sid, SensorState())
            v, t = values[i], observed[i]
            if t <= state.last_observed_ms:
                continue
            before = len(out.transitions)
            rules = self.catalog.rules_for(sid)
            significant = observe(state, rules, sid, v, t, ingested[i], out.transitions)
            minute = t - t % WINDOW_MS
            w = state.window
            if w is None or w[0] != minute:
                if w is not None:
                    out.aggregates.append(_aggregate_row(sid, w))
                    out.live.append((sid, self.status.get(sid, "ONLINE"), dt_ms(state.last_observed_ms), v))
                    significant = True
                state.window = [minute, 1, v, v, v, v]
            else:
                w[1] += 1
                w[2], w[3], w[4], w[5] = min(w[2], v), max(w[3], v), w[4] + v, v
            if significant:
                out.checkpoint[sid] = state
            if len(out.transitions) > before or sid not in self.status:
                self._status(sid, state, rules, out)
        return out

    def tick(self, now_ms: int, grace_ms: int) -> Outcome:
        out = Outcome()
        for sid, state in self.states.items():
            meta = self.catalog.sensors.get(sid)
            if meta is None:
                continue
            rules = self.catalog.rules_for(sid)
            before = len(out.transitions)
            significant = check_offline(state, rules, sid, meta.reporting_interval_seconds, now_ms, out.transitions)
            w = state.window
            if w is not None and w[0] < now_ms - WINDOW_MS - grace_ms:
                out.aggregates.append(_aggregate_row(sid, w))
                out.live.append((sid, self.status.get(sid, "ONLINE"), dt_ms(state.last_observed_ms), state.last_value))
                state.window = None
                significant = True
            if significant:
                out.checkpoint[sid] = state
            if len(out.transitions) > before:
                self._status(sid, state, rules, out)
        return out


def norm(state: SensorState, current: set[str] | None = None) -> Any:
    """A state's checkpoint without idle rule states (absent and idle mean the same), nor the idle
    history of rules that no longer apply (the columnar path drops it; documented in docs/sensors.md)."""
    data = json.loads(json.dumps(state.to_json()))
    data["r"] = {k: v for k, v in data["r"].items()
                 if v[0] is not None or v[3] is not None or (v[4] and (current is None or k in current))}
    return data


def per_sensor(out: Outcome, catalog: Catalog) -> dict[str, list[Any]]:
    got: dict[str, list[Any]] = defaultdict(list)
    for tr in out.transitions:
        got[tr.sensor_id].append(("T", tr.alert_id, tr.event_id, tr.state, tr.level, tr.value, tr.threshold,
                                  tr.rule.id, tr.raised_at_ms, tr.cleared_at_ms, tr.observed_at_ms))
    for row in out.aggregates:
        got[row[0]].append(("A", *row))
    for lrow in out.live:
        got[lrow[0]].append(("L", *lrow))
    for sid, state in out.checkpoint.items():
        current = {r.id for r in catalog.rules_for(sid)}
        got[sid].append(("C", json.dumps(norm(state, current), sort_keys=True)))
    return dict(got)


def rules_for_run(rng: random.Random, generation: int) -> list[Rule]:
    g = generation
    roc_window = rng.choice([5, 20, 90, 600])
    return [
        Rule(id=f"thr-a{g}", kind="WATER_LEVEL", rule_type="THRESHOLD", sensor_id="s-a", warn_level=20,
             critical_level=40, hysteresis=rng.choice([0, 2, 5]), min_duration_seconds=rng.choice([0, 3, 30])),
        Rule(id=f"roc-a{g}", kind="WATER_LEVEL", rule_type="RATE_OF_CHANGE", sensor_id="s-a",
             rate_of_change_per_window=rng.choice([6.0, 15.0]), rate_window_seconds=roc_window,
             hysteresis=rng.choice([0, 3])),
        Rule(id=f"off-a{g}", kind="WATER_LEVEL", rule_type="OFFLINE", sensor_id="s-a", offline_after_intervals=3),
        Rule(id=f"thr-b{g}", kind="TRAFFIC_SPEED", rule_type="THRESHOLD", direction="BELOW", warn_level=15,
             critical_level=5, hysteresis=5, min_duration_seconds=rng.choice([0, 10])),
        Rule(id=f"roc-b{g}", kind="TRAFFIC_SPEED", rule_type="RATE_OF_CHANGE", direction="BELOW",
             rate_of_change_per_window=12, rate_window_seconds=rng.choice([10, 60])),
        Rule(id=f"roc-c1{g}", kind="TEMPERATURE", rule_type="RATE_OF_CHANGE", sensor_id="s-c",
             rate_of_change_per_window=8, rate_window_seconds=30),
        Rule(id=f"roc-c2{g}", kind="TEMPERATURE", rule_type="RATE_OF_CHANGE", sensor_id="s-c",
             rate_of_change_per_window=12, rate_window_seconds=120),  # two rate rules: engine only
    ]


SENSORS = {"s-a": "WATER_LEVEL", "s-a2": "WATER_LEVEL", "s-b": "TRAFFIC_SPEED", "s-c": "TEMPERATURE",
           "s-d": "SMOKE", "s-e": "RAINFALL", "s-f": "WATER_LEVEL", "s-g": "TRAFFIC_SPEED", "s-h": "NOISE"}


def make_catalog(rng: random.Random, generation: int) -> Catalog:
    sensors = {sid: SensorMeta(sid, kind, 10.9, 106.7, "", "Thuận An", "", sid, rng.choice([1, 5]))
               for sid, kind in SENSORS.items()}
    return Catalog(sensors=sensors, book=RuleBook(rules_for_run(rng, generation)), version=generation)


def random_record(rng: random.Random, clock: dict[str, int],
                  calm: float) -> tuple[list[str], list[float], list[int], list[int]]:
    ids: list[str] = []
    values: list[float] = []
    times: list[int] = []
    pool = [*SENSORS, "s-unknown"]
    size = rng.choice([1, 3, 6, 10, 40])
    repeat = rng.random() < 0.2  # many readings of few sensors: several rounds, or the engine alone
    for _ in range(size):
        sid = rng.choice(pool[:2] if repeat else pool)
        clock[sid] = clock.get(sid, T0) + rng.choice([-3000, 0, 400, 1000, 2500, 9000, 61_000])
        ids.append(sid)
        times.append(clock[sid])
        base = {"s-b": 30.0, "s-g": 30.0, "s-d": 0.0}.get(sid, 10.0)
        quiet = rng.random() < calm  # mostly calm readings, so sensors go back to the vector path
        offset = rng.choice([0.0, 0.5, 1.0, 2.0]) if quiet else rng.choice(
            [3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, -5.0, -10.0, -22.0, -25.0, -28.0])
        values.append(base + offset * (0.1 if sid == "s-d" else 1))
    return ids, values, times, [max(times)] * len(times)


def compare(ref: Reference, col: SensorAnalytics, a: Outcome, b: Outcome) -> None:
    assert per_sensor(a, ref.catalog) == per_sensor(b, ref.catalog)
    pc = col.cols.get(P)
    for sid, state in ref.states.items():
        slot = pc.index[sid] if pc is not None else None
        assert slot is not None
        current = {r.id for r in ref.catalog.rules_for(sid)}
        assert norm(state, current) == norm(pc.state(slot), current), sid
    assert ref.status == col.status


@pytest.mark.parametrize("seed", range(40))
def test_columnar_analytics_match_the_engine_reading_by_reading(seed: int) -> None:
    rng = random.Random(seed)
    catalog = make_catalog(rng, 0)
    ref = Reference(catalog)
    col = SensorAnalytics(catalog, partitions=1, window_grace_ms=2000, checkpoint_rate=math.inf)
    clock: dict[str, int] = {}
    calm = rng.choice([0.8, 0.97])
    for step in range(120):
        roll = rng.random()
        if roll < 0.12:
            now = max(clock.values(), default=T0) + rng.choice([0, 2000, 8000, 30_000, 70_000])
            compare(ref, col, ref.tick(now, 2000), col.tick(P, now))
            continue
        if roll < 0.15:  # rules change: new ids and windows (the worker's catalog refresh)
            fresh = make_catalog(rng, step + 1)
            catalog.sensors, catalog.book, catalog.version = fresh.sensors, fresh.book, catalog.version + 1
        if roll > 0.985:  # a restart: the columnar side recovers from checkpoints of every state
            col = SensorAnalytics(catalog, partitions=1, window_grace_ms=2000, checkpoint_rate=math.inf)
            ref.status = {}
            for sid, state in ref.states.items():
                col.adopt(sid, SensorState.from_json(json.loads(json.dumps(state.to_json()))))
        ids, values, times, ingested = random_record(rng, clock, calm)
        expected = ref.apply(ids, values, times, ingested)
        got = col.apply(P, col.slots(P, ids), values, times, ingested)
        compare(ref, col, expected, got)


def test_quiet_readings_take_the_vector_path_and_a_crossing_leaves_it() -> None:
    rng = random.Random(1)
    catalog = make_catalog(rng, 0)
    col = SensorAnalytics(catalog, partitions=1)
    ids = ["s-a2"] * 1 + ["s-b"]
    col.apply(P, col.slots(P, ids), [5.0, 30.0], [T0, T0], [T0, T0])  # first sight: engine, then absorbed
    pc = col.cols[P]
    assert not pc.obj.any()
    out = col.apply(P, col.slots(P, ids), [6.0, 31.0], [T0 + 1000, T0 + 1000], [T0, T0])
    assert out.transitions == [] and not pc.obj[:2].any()
    out = col.apply(P, col.slots(P, ["s-a2"]), [45.0], [T0 + 2000], [T0])
    # Default rules: +39 cm at once is a rate-of-change alert; the level alert waits for its minimum duration.
    assert [(t.state, t.rule.rule_type) for t in out.transitions] == [("RAISED", "RATE_OF_CHANGE")]
    assert pc.obj[pc.index["s-a2"]]  # an open alert keeps the sensor on the engine


def test_routine_checkpoints_are_spread_but_alert_checkpoints_are_immediate() -> None:
    rng = random.Random(2)
    catalog = make_catalog(rng, 0)
    sensors = [f"q-{i}" for i in range(250)]
    catalog.sensors.update({sid: SensorMeta(sid, "NOISE", 10.9, 106.7, "", "", "", sid, 60) for sid in sensors})
    clock = [0.0]
    col = SensorAnalytics(catalog, partitions=1, checkpoint_rate=5000, clock=lambda: clock[0])
    col.apply(P, col.slots(P, sensors), [50.0] * 250, [T0 + 1000] * 250, [T0] * 250)
    clock[0] += 1.0  # the bucket holds 20 ms worth: 100 checkpoints
    out = col.apply(P, col.slots(P, sensors), [51.0] * 250, [T0 + WINDOW_MS + 1000] * 250, [T0] * 250)
    assert len(out.aggregates) == 250 and len(out.checkpoint) == 100  # the next minute closed 250 windows
    out = col.apply(P, col.slots(P, ["s-d"]), [1.0], [T0 + WINDOW_MS + 2000], [T0])  # smoke: raised at once
    assert [t.state for t in out.transitions] == ["RAISED"]
    assert list(out.checkpoint) == ["s-d"]  # no token left for routine ones, but the alert is not delayed
    clock[0] += 0.012
    out = col.tick(P, T0 + WINDOW_MS + 3000)
    assert len([sid for sid in out.checkpoint if sid.startswith("q-")]) == 60
    clock[0] += 1.0
    out = col.apply(P, col.slots(P, sensors[-1:]), [52.0], [T0 + WINDOW_MS + 4000], [T0])
    assert len(out.checkpoint) == 90 and not col.cols[P].dirty
    assert out.checkpoint["q-249"].window[1] == 2  # the state as it is now, not as it was queued


def test_windows_closed_at_a_minute_boundary_become_rows_a_few_at_a_time_with_identical_content() -> None:
    rng = random.Random(3)
    sensors = [f"w-{i}" for i in range(300)]

    def run(rate: float) -> tuple[list[Any], list[Any], list[int]]:
        catalog = make_catalog(rng, 0)
        catalog.sensors.update({sid: SensorMeta(sid, "NOISE", 10.9, 106.7, "", "", "", sid, 60) for sid in sensors})
        clock = [0.0]
        col = SensorAnalytics(catalog, partitions=1, checkpoint_rate=math.inf, window_close_rate=rate,
                              clock=lambda: clock[0])
        for i in range(3):
            col.apply(P, col.slots(P, sensors), [50.0 + i + k % 7 for k in range(300)],
                      [T0 + 1000 * (i + 1)] * 300, [T0] * 300)
        aggregates, live, per_call = [], [], []
        out = col.apply(P, col.slots(P, sensors), [60.0] * 300, [T0 + WINDOW_MS + 1000] * 300, [T0] * 300)
        per_call.append(len(out.aggregates))
        aggregates += out.aggregates
        live += out.live
        for step in range(1, 40):
            clock[0] += 0.01
            out = col.apply(P, col.slots(P, sensors[:1]), [61.0], [T0 + WINDOW_MS + 1000 + step], [T0])
            per_call.append(len(out.aggregates))
            aggregates += out.aggregates
            live += out.live
        return aggregates, live, per_call

    now_rows, _, now_calls = run(math.inf)
    spread_rows, spread_live, spread_calls = run(5000.0)  # 20 ms bucket: at most 100 rows a call
    assert now_calls[0] == 300 and sum(now_calls[1:]) == 0
    assert spread_calls[0] == 0 and max(spread_calls) <= 100 and sum(spread_calls) == 300
    assert sorted(spread_rows) == sorted(now_rows)  # the same rows, only later
    assert {row[0] for row in spread_live} == set(sensors)  # every sensor's status refreshed once closed
    latest = {sid: at for sid, _, at, _ in spread_live}
    assert latest["w-0"] >= dt_ms(T0 + WINDOW_MS + 1000)  # never older than the reading that closed it


def _columns_of(pc: PartitionColumns) -> dict[str, Any]:
    n = len(pc)
    arrays = {name: getattr(pc, name)[:n].tolist() for name in (*_INT, *_FLOAT, *_BOOL)}
    arrays.update(ring=pc.ring_start[:n].tolist(), objs=sorted(pc.objs), ids=list(pc.ids),
                  rules=[tuple(r.id for r in rules) for rules in pc.rules],
                  summaries=[(s.hi, s.lo, s.roc.id if s.roc else None, s.off_intervals, s.vector)
                             for s in pc.summaries])
    return arrays


def test_first_readings_and_rule_changes_set_up_many_sensors_exactly_as_one_by_one() -> None:
    """``slots`` gives a record's new sensors their slots in bulk (``add_many`` + ``set_rules_many``,
    grouped by rules) and ``_resync`` re-takes every sensor's rules the same way: the columns must be
    what ``add`` + ``set_rules`` give sensor by sensor, across registry and rule changes, including
    sensors in object mode, unregistered ones and more sensors than the initial capacity."""
    rng = random.Random(5)
    catalog = make_catalog(rng, 0)
    extra = {f"n-{i:03d}": rng.choice(["WATER_LEVEL", "TRAFFIC_SPEED", "TEMPERATURE", "SMOKE", "NOISE"])
             for i in range(600)}
    for sid, kind in extra.items():
        catalog.sensors[sid] = SensorMeta(sid, kind, 10.9, 106.7, "", "", "", sid, rng.choice([1, 5, 60]))
    ids = [*SENSORS, *extra, "s-unknown", "s-a", "n-001"]  # repeats and an unregistered sensor
    bulk = SensorAnalytics(catalog, partitions=1)
    slots = bulk.slots(P, ids)
    one = SensorAnalytics(catalog, partitions=1)
    pc_one = one._columns(P)
    for sid in dict.fromkeys(ids):
        one._add(pc_one, sid)
    assert slots.tolist() == [pc_one.index[sid] for sid in ids]
    assert _columns_of(bulk.cols[P]) == _columns_of(pc_one)
    # Put a few sensors in object mode (an alert opening), then change rules and the registry.
    for col in (bulk, one):
        col.apply(P, col.slots(P, ["s-d", "s-a"]), [1.0, 45.0], [T0, T0], [T0, T0])
    fresh = make_catalog(rng, 1)
    catalog.book = fresh.book
    catalog.sensors["n-002"] = SensorMeta("n-002", "SMOKE", 10.9, 106.7, "", "", "", "n-002", 5)
    del catalog.sensors["n-003"]
    catalog.version += 1
    pc_bulk = bulk._columns(P)  # the version changed: bulk resync
    pc_one.version = catalog.version
    for slot, sid in enumerate(pc_one.ids):  # what ``_resync`` did before, sensor by sensor
        pc_one.set_rules(slot, *one._rules(sid))
        if pc_one.obj[slot]:
            pc_one.absorb(slot, one.status.get(sid))
    assert pc_bulk.objs, "an alert is open: some sensor stays in object mode"
    assert _columns_of(pc_bulk) == _columns_of(pc_one)


def test_a_registry_change_rebuilds_only_the_changed_sensors_and_gives_what_a_full_resync_gives() -> None:
    """The worker's refresh passes sensors registered or edited (rules unchanged) to ``sensors_changed``:
    their columns must end as a full ``_resync`` leaves them; the other sensors are not touched."""
    def scenario(incremental: bool) -> SensorAnalytics:
        rng = random.Random(9)
        catalog = make_catalog(rng, 0)
        col = SensorAnalytics(catalog, partitions=1, checkpoint_rate=math.inf)
        ids = [*SENSORS, "s-new"]  # s-new reads before the worker's registry copy knows it
        col.apply(P, col.slots(P, ids), [5.0, 8.0, 30.0, 10.0, 1.0, 2.0, 9.0, 31.0, 40.0, 3.0],
                  [T0] * len(ids), [T0] * len(ids))
        col.apply(P, col.slots(P, ["s-a"]), [45.0], [T0 + 1000], [T0])  # an alert opens: object mode
        assert not col.cols[P].known[col.cols[P].index["s-new"]]
        catalog.sensors["s-new"] = SensorMeta("s-new", "SMOKE", 10.9, 106.7, "", "", "", "s-new", 5)
        catalog.sensors["s-a"] = SensorMeta("s-a", "WATER_LEVEL", 10.9, 106.7, "", "", "", "s-a", 60)
        catalog.sensors["s-b"] = SensorMeta("s-b", "NOISE", 10.9, 106.7, "", "", "", "s-b", 5)  # kind edited
        if incremental:
            col.sensors_changed(["s-new", "s-a", "s-b", "s-not-seen"])
        else:
            catalog.version += 1
            col._columns(P)
        return col

    quick, full = scenario(True), scenario(False)
    assert _columns_of(quick.cols[P]) == _columns_of(full.cols[P])
    pc = quick.cols[P]
    assert pc.known[pc.index["s-new"]] and pc.off_lim[pc.index["s-a"]] > 0
