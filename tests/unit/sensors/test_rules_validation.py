"""Rules as data: validation, defaults from config, precedence."""

from __future__ import annotations

import math

import pytest

from cityops_platform.errors import ValidationFailed
from cityops_sensors.rules.models import Rule
from cityops_sensors.rules.service import RuleBook, default_rules, effective_rules, validate_rule


def fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return {v.field for v in exc.value.violations}


def test_threshold_needs_a_level_and_ordered_levels() -> None:
    with pytest.raises(ValidationFailed) as exc:
        validate_rule(Rule(id="", kind="WATER_LEVEL", rule_type="THRESHOLD"))
    assert fields(exc) == {"rule.warn_level"}
    with pytest.raises(ValidationFailed) as exc:
        validate_rule(Rule(id="", kind="WATER_LEVEL", rule_type="THRESHOLD", warn_level=40, critical_level=20))
    assert fields(exc) == {"rule.critical_level"}


def test_every_bad_field_is_named() -> None:
    with pytest.raises(ValidationFailed) as exc:
        validate_rule(Rule(id="", kind="X", rule_type="RATE_OF_CHANGE", hysteresis=-1, warn_level=math.nan))
    assert fields(exc) >= {"rule.kind", "rule.hysteresis", "rule.warn_level", "rule.rate_of_change_per_window",
                           "rule.rate_window_seconds"}


def test_a_valid_rule_gets_an_id() -> None:
    rule = validate_rule(Rule(id="", kind="SMOKE", rule_type="OFFLINE", offline_after_intervals=2))
    assert rule.id


def test_defaults_cover_every_kind_with_an_offline_rule() -> None:
    kinds = {r.kind for r in default_rules() if r.rule_type == "OFFLINE"}
    assert len(kinds) == 7


def test_sensor_rule_overrides_kind_rule_which_overrides_default() -> None:
    kind_rule = Rule(id="k", kind="WATER_LEVEL", rule_type="THRESHOLD", warn_level=30)
    own = Rule(id="s", kind="WATER_LEVEL", sensor_id="wl-1", rule_type="THRESHOLD", warn_level=50)
    off = Rule(id="o", kind="WATER_LEVEL", sensor_id="wl-1", rule_type="OFFLINE", offline_after_intervals=1,
               enabled=False)
    rules = effective_rules("WATER_LEVEL", "wl-1", [kind_rule, own, off], default_rules())
    assert [r.id for r in rules] == ["s", "default:WATER_LEVEL:RATE_OF_CHANGE"]
    book = RuleBook([kind_rule, own], default_rules())
    assert book.for_sensor("WATER_LEVEL", "wl-2")[0].id == "k"
