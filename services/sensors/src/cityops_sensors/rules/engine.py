"""The rules engine: pure, synchronous, no I/O, so it can be unit- and property-tested.

Per sensor it keeps a small ``SensorState`` and turns readings (and timer ticks) into alert
``Transition``s. Guarantees:

- an alert is RAISED once and later CLEARED once, with the same ``alert_id``; in between it may be
  re-RAISED only to escalate WARN → CRITICAL (same id);
- a RAISED transition is always caused by a reading beyond the rule's level (or, for OFFLINE, by
  silence longer than the limit);
- hysteresis works both ways: once a value is beyond a level, only a value back past
  ``level ∓ hysteresis`` resets it, so a value flapping around a level raises one alert at most
  and the minimum duration counts from the first crossing;
- ids are deterministic (sensor, rule, time of the raising reading), so replaying the same readings
  after a restart produces the same alert ids and event ids, never a different duplicate;
- readings not newer than the last one applied are ignored (replays after a restart).

Times are Unix milliseconds. Rules run on observed time; OFFLINE runs on ingest/tick (wall) time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from cityops_sensors.rules.models import Rule

WARN, CRITICAL = 1, 2
LEVEL_NAMES = {WARN: "WARN", CRITICAL: "CRITICAL"}
RAISED, CLEARED = "RAISED", "CLEARED"
THRESHOLD, RATE, OFFLINE = "THRESHOLD", "RATE_OF_CHANGE", "OFFLINE"
_NS = uuid.UUID("6f1c1c57-53e4-4c4b-9f57-2f8c0e1d5a21")
RATE_BUCKETS = 16  # rate-of-change resolution: window / 16


def alert_id_for(sensor_id: str, rule_id: str, raised_at_ms: int) -> str:
    return str(uuid.uuid5(_NS, f"{sensor_id}|{rule_id}|{raised_at_ms}"))


def event_id_for(alert_id: str, state: str, level: int) -> str:
    return str(uuid.uuid5(_NS, f"{alert_id}|{state}|{level}"))


@dataclass(slots=True)
class Transition:
    """An alert changed state; becomes one SensorAlert on the alerts topic."""

    alert_id: str
    event_id: str
    sensor_id: str
    rule: Rule
    state: str
    level: int
    value: float
    threshold: float
    raised_at_ms: int
    cleared_at_ms: int
    observed_at_ms: int
    ingested_at_ms: int


@dataclass(slots=True)
class RuleState:
    alert_id: str | None = None
    level: int = 0
    raised_at_ms: int = 0
    pending_since_ms: int | None = None
    buckets: list[list[float]] | None = None  # rate of change: [start_ms, min, max]

    def to_json(self) -> list[object]:
        return [self.alert_id, self.level, self.raised_at_ms, self.pending_since_ms, self.buckets]

    @classmethod
    def from_json(cls, raw: list[object]) -> RuleState:
        alert_id, level, raised, pending, buckets = raw
        return cls(alert_id, int(level), int(raised), None if pending is None else int(pending), buckets)  # type: ignore[arg-type,call-overload]


@dataclass(slots=True)
class SensorState:
    """What the worker remembers about one sensor (checkpointed to a changelog-backed table)."""

    last_observed_ms: int = 0
    last_ingested_ms: int = 0
    last_value: float = 0.0
    rules: dict[str, RuleState] | None = None
    # The open 1-minute window: [start_ms, count, min, max, sum, last]
    window: list[float] | None = None

    def rule(self, rule_id: str) -> RuleState:
        if self.rules is None:
            self.rules = {}
        rs = self.rules.get(rule_id)
        if rs is None:
            rs = self.rules[rule_id] = RuleState()
        return rs

    def open_alerts(self) -> dict[str, RuleState]:
        return {k: v for k, v in (self.rules or {}).items() if v.alert_id is not None}

    def to_json(self) -> dict[str, object]:
        return {
            "o": self.last_observed_ms, "i": self.last_ingested_ms, "v": self.last_value, "w": self.window,
            "r": {k: v.to_json() for k, v in (self.rules or {}).items()},
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> SensorState:
        rules = {k: RuleState.from_json(v) for k, v in raw.get("r", {}).items()}  # type: ignore[attr-defined]
        return cls(int(raw["o"]), int(raw["i"]), float(raw["v"]), rules or None, raw.get("w"))  # type: ignore[arg-type,call-overload]


def _raise(out: list[Transition], sid: str, rule: Rule, rs: RuleState, level: int, value: float,
           threshold: float, t_ms: int, ingested_ms: int) -> None:
    if rs.alert_id is None:
        rs.alert_id = alert_id_for(sid, rule.id, t_ms)
        rs.raised_at_ms = t_ms
    rs.level = level
    out.append(Transition(rs.alert_id, event_id_for(rs.alert_id, RAISED, level), sid, rule, RAISED, level,
                          value, threshold, rs.raised_at_ms, 0, t_ms, ingested_ms))


def _clear(out: list[Transition], sid: str, rule: Rule, rs: RuleState, value: float, threshold: float,
           t_ms: int, ingested_ms: int) -> None:
    assert rs.alert_id is not None
    out.append(Transition(rs.alert_id, event_id_for(rs.alert_id, CLEARED, rs.level), sid, rule, CLEARED,
                          rs.level, value, threshold, rs.raised_at_ms, t_ms, t_ms, ingested_ms))
    rs.alert_id, rs.level, rs.raised_at_ms, rs.pending_since_ms = None, 0, 0, None


def _threshold(out: list[Transition], sid: str, rule: Rule, rs: RuleState, v: float, t: int, ing: int) -> bool:
    warn, crit, hyst = rule.warn_level, rule.critical_level, rule.hysteresis
    base = warn if warn != 0.0 else crit
    if rule.direction == "BELOW":
        target = CRITICAL if crit != 0.0 and v <= crit else WARN if warn != 0.0 and v <= warn else 0
        released = v > base + hyst
    else:
        target = CRITICAL if crit != 0.0 and v >= crit else WARN if warn != 0.0 and v >= warn else 0
        released = v < base - hyst
    if rs.alert_id is None:
        if released:
            if rs.pending_since_ms is not None:
                rs.pending_since_ms = None
                return True
            return False
        if target == 0:
            return False  # inside the hysteresis band: keep counting from the first crossing
        changed = False
        if rs.pending_since_ms is None:
            rs.pending_since_ms = t
            changed = True
        if t - rs.pending_since_ms >= rule.min_duration_seconds * 1000:
            level_value = crit if target == CRITICAL else warn
            _raise(out, sid, rule, rs, target, v, level_value, t, ing)
            return True
        return changed
    if released:
        _clear(out, sid, rule, rs, v, base, t, ing)
        return True
    if target > rs.level:
        _raise(out, sid, rule, rs, target, v, crit, t, ing)
        return True
    return False


def _rate(out: list[Transition], sid: str, rule: Rule, rs: RuleState, v: float, t: int, ing: int) -> bool:
    window_ms = rule.rate_window_seconds * 1000
    width = max(1000, window_ms // RATE_BUCKETS)
    start = t - t % width
    buckets = rs.buckets
    if buckets is None:
        buckets = rs.buckets = []
    if buckets and buckets[-1][0] == start:
        last = buckets[-1]
        if v < last[1]:
            last[1] = v
        if v > last[2]:
            last[2] = v
    else:
        buckets.append([start, v, v])
        horizon = t - window_ms - width
        while buckets[0][0] < horizon:
            del buckets[0]
    limit = rule.rate_of_change_per_window
    delta = max(b[2] for b in buckets) - v if rule.direction == "BELOW" else v - min(b[1] for b in buckets)
    if rs.alert_id is None:
        if delta >= limit:
            _raise(out, sid, rule, rs, CRITICAL if rule.level == "CRITICAL" else WARN, v, limit, t, ing)
            return True
        return False
    if delta < limit - rule.hysteresis:
        _clear(out, sid, rule, rs, v, limit, t, ing)
        return True
    return False


def observe(state: SensorState, rules: Sequence[Rule], sid: str, value: float, observed_ms: int,
            ingested_ms: int, out: list[Transition]) -> bool:
    """Apply one reading. Appends transitions to ``out``; True when rule state changed in a way
    that must be checkpointed now (alerts, pending starts), False for routine updates."""
    if observed_ms <= state.last_observed_ms:
        return False
    state.last_observed_ms = observed_ms
    state.last_ingested_ms = ingested_ms
    state.last_value = value
    significant = False
    for rule in rules:
        if not rule.enabled:
            continue
        rt = rule.rule_type
        if rt == THRESHOLD:
            significant |= _threshold(out, sid, rule, state.rule(rule.id), value, observed_ms, ingested_ms)
        elif rt == RATE:
            significant |= _rate(out, sid, rule, state.rule(rule.id), value, observed_ms, ingested_ms)
        elif rt == OFFLINE and state.rules is not None:
            rs = state.rules.get(rule.id)
            if rs is not None and rs.alert_id is not None:
                _clear(out, sid, rule, rs, value, float(rule.offline_after_intervals), observed_ms, ingested_ms)
                significant = True
    return significant


def check_offline(state: SensorState, rules: Sequence[Rule], sid: str, interval_s: int, now_ms: int,
                  out: list[Transition]) -> bool:
    """Raise OFFLINE when a sensor that has reported is silent for N × its interval (wall time)."""
    if state.last_ingested_ms == 0:
        return False
    significant = False
    for rule in rules:
        if rule.rule_type != OFFLINE or not rule.enabled or rule.offline_after_intervals <= 0:
            continue
        limit_ms = rule.offline_after_intervals * interval_s * 1000
        if now_ms - state.last_ingested_ms >= limit_ms:
            rs = state.rule(rule.id)
            if rs.alert_id is None:
                level = CRITICAL if rule.level == "CRITICAL" else WARN
                _raise(out, sid, rule, rs, level, state.last_value, float(limit_ms // 1000), now_ms, now_ms)
                significant = True
    return significant


def status_of(state: SensorState, rules_by_id: dict[str, Rule]) -> str:
    """OFFLINE when an offline alert is open, ALERTING when any other is, else ONLINE."""
    status = "ONLINE"
    for rule_id, rs in (state.rules or {}).items():
        if rs.alert_id is None:
            continue
        rule = rules_by_id.get(rule_id)
        if rule is not None and rule.rule_type == OFFLINE:
            return "OFFLINE"
        status = "ALERTING"
    return status
