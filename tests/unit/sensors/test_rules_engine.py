"""The rules engine alone: thresholds, hysteresis, minimum duration, rate of change, offline."""

from __future__ import annotations

from cityops_sensors.rules.engine import (
    CRITICAL,
    WARN,
    SensorState,
    Transition,
    check_offline,
    observe,
    status_of,
)
from cityops_sensors.rules.models import Rule

WATER = Rule(id="r-wl", kind="WATER_LEVEL", rule_type="THRESHOLD", warn_level=20, critical_level=40,
             hysteresis=5, min_duration_seconds=0)
T0 = 1_700_000_000_000


def feed(rules: list[Rule], values: list[float], *, step_ms: int = 1000, state: SensorState | None = None,
         start: int = T0) -> tuple[list[Transition], SensorState]:
    state = state or SensorState()
    out: list[Transition] = []
    for i, v in enumerate(values):
        observe(state, rules, "wl-1", v, start + i * step_ms, start + i * step_ms, out)
    return out, state


def test_crossing_the_warn_level_raises_once_and_clears_past_the_hysteresis_band() -> None:
    out, _ = feed([WATER], [10, 21, 25, 22, 16, 14, 10])
    assert [(t.state, t.level, t.value) for t in out] == [("RAISED", WARN, 21), ("CLEARED", WARN, 14)]
    assert out[0].alert_id == out[1].alert_id


def test_value_flapping_around_the_level_raises_one_alert() -> None:
    out, _ = feed([WATER], [19, 21, 19, 21, 18, 22, 19.5, 21, 17] * 5)
    assert [t.state for t in out] == ["RAISED"]


def test_minimum_duration_counts_from_first_crossing_and_survives_dips_inside_the_band() -> None:
    rule = Rule(id="r", kind="WATER_LEVEL", rule_type="THRESHOLD", warn_level=20, hysteresis=5,
                min_duration_seconds=10)
    out, _ = feed([rule], [21, 19, 21, 19, 21, 19, 21, 19, 21, 19, 21, 22])
    assert [(t.state, t.observed_at_ms - T0) for t in out] == [("RAISED", 10_000)]


def test_minimum_duration_restarts_after_the_value_is_released() -> None:
    rule = Rule(id="r", kind="WATER_LEVEL", rule_type="THRESHOLD", warn_level=20, hysteresis=5,
                min_duration_seconds=5)
    out, _ = feed([rule], [21, 21, 21, 10, 21, 21, 21])
    assert out == []


def test_escalation_to_critical_reuses_the_alert_id_and_clear_reports_the_highest_level() -> None:
    out, _ = feed([WATER], [25, 45, 30, 10])
    assert [(t.state, t.level) for t in out] == [("RAISED", WARN), ("RAISED", CRITICAL), ("CLEARED", CRITICAL)]
    assert len({t.alert_id for t in out}) == 1
    assert len({t.event_id for t in out}) == 3


def test_below_direction_alerts_on_low_traffic_speed() -> None:
    rule = Rule(id="r", kind="TRAFFIC_SPEED", rule_type="THRESHOLD", direction="BELOW", warn_level=15,
                critical_level=5, hysteresis=5)
    out, _ = feed([rule], [40, 12, 4, 18, 25])
    assert [(t.state, t.level) for t in out] == [("RAISED", WARN), ("RAISED", CRITICAL), ("CLEARED", CRITICAL)]


def test_alert_ids_are_deterministic_so_a_replay_produces_the_same_ids() -> None:
    first, _ = feed([WATER], [10, 30, 10])
    again, _ = feed([WATER], [10, 30, 10])
    assert [(t.alert_id, t.event_id) for t in first] == [(t.alert_id, t.event_id) for t in again]


def test_readings_not_newer_than_the_last_applied_are_ignored() -> None:
    state = SensorState()
    out: list[Transition] = []
    observe(state, [WATER], "wl-1", 30, T0 + 5000, T0, out)
    observe(state, [WATER], "wl-1", 0, T0 + 4000, T0, out)
    assert [t.state for t in out] == ["RAISED"]
    assert state.last_value == 30


def test_rate_of_change_raises_when_water_rises_faster_than_the_limit() -> None:
    rule = Rule(id="roc", kind="WATER_LEVEL", rule_type="RATE_OF_CHANGE", rate_of_change_per_window=20,
                rate_window_seconds=600)
    rising = [5 + i * 1.0 for i in range(30)]  # +1 cm per 20 s: 20 cm after 400 s
    out, state = feed([rule], rising, step_ms=20_000)
    assert [t.state for t in out] == ["RAISED"]
    assert out[0].value == 25.0
    calm, _ = feed([rule], [34.0] * 40, step_ms=20_000, state=state, start=T0 + 30 * 20_000)
    assert [t.state for t in calm] == ["CLEARED"]


def test_slow_rise_within_the_limit_raises_nothing() -> None:
    rule = Rule(id="roc", kind="WATER_LEVEL", rule_type="RATE_OF_CHANGE", rate_of_change_per_window=20,
                rate_window_seconds=600)
    out, _ = feed([rule], [5 + i * 0.25 for i in range(200)], step_ms=20_000)  # 7.5 cm per 10 min
    assert out == []


def test_offline_raises_after_n_intervals_of_silence_and_clears_on_the_next_reading() -> None:
    rule = Rule(id="off", kind="WATER_LEVEL", rule_type="OFFLINE", offline_after_intervals=3)
    _, state = feed([rule], [10])
    out: list[Transition] = []
    assert not check_offline(state, [rule], "wl-1", 10, T0 + 29_000, out)
    assert check_offline(state, [rule], "wl-1", 10, T0 + 30_000, out)
    assert not check_offline(state, [rule], "wl-1", 10, T0 + 40_000, out)  # already raised
    assert status_of(state, {"off": rule}) == "OFFLINE"
    observe(state, [rule], "wl-1", 11, T0 + 41_000, T0 + 41_000, out)
    assert [t.state for t in out] == ["RAISED", "CLEARED"]
    assert status_of(state, {"off": rule}) == "ONLINE"


def test_state_survives_a_json_round_trip() -> None:
    import json

    _, state = feed([WATER], [30])
    restored = SensorState.from_json(json.loads(json.dumps(state.to_json())))
    out, _ = feed([WATER], [31, 10], state=restored, start=T0 + 10_000)
    assert [t.state for t in out] == ["CLEARED"]
