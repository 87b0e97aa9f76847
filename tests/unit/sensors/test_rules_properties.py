"""Property test: random reading sequences through the threshold engine."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cityops_sensors.rules.engine import CRITICAL, SensorState, Transition, observe
from cityops_sensors.rules.models import Rule

readings = st.lists(st.tuples(st.integers(1, 120_000), st.floats(-50, 150, allow_nan=False)), max_size=200)
rules = st.builds(
    lambda d, warn, gap, hyst, dur: Rule(
        id="r", kind="WATER_LEVEL", rule_type="THRESHOLD", direction=d, warn_level=warn,
        critical_level=warn + gap if d == "ABOVE" else warn - gap, hysteresis=hyst, min_duration_seconds=dur,
    ),
    st.sampled_from(["ABOVE", "BELOW"]), st.floats(10, 90), st.floats(1, 40), st.floats(0, 15), st.integers(0, 60),
)


@settings(max_examples=300, deadline=None)
@given(rule=rules, seq=readings)
def test_raise_and_clear_alternate_and_every_raise_has_a_reading_beyond_the_level(
    rule: Rule, seq: list[tuple[int, float]]
) -> None:
    state = SensorState()
    out: list[Transition] = []
    t = 1_700_000_000_000
    for dt, v in seq:
        t += dt
        observe(state, [rule], "s", v, t, t, out)
    open_id: str | None = None
    level = 0
    for tr in out:
        beyond_level = rule.critical_level if tr.level == CRITICAL else rule.warn_level
        if tr.state == "RAISED":
            assert (tr.value >= beyond_level) if rule.direction == "ABOVE" else (tr.value <= beyond_level)
            if open_id is None:
                open_id = tr.alert_id
            else:  # only an escalation may re-raise an open alert
                assert tr.alert_id == open_id and tr.level > level
            level = tr.level
        else:
            assert open_id is not None and tr.alert_id == open_id
            open_id, level = None, 0
