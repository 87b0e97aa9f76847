"""Triage rules from rules.yaml: category base, subcategory, source, keywords (with or without
diacritics), sensor level, report count; EIDO mapping and agency routing."""

from __future__ import annotations

import pytest

from cityops_incidents.config import load_rules, parse_rules, raw_default_rules
from cityops_incidents.incidents.triage import count_steps, raise_priority, triage

RULES = load_rules()


def test_category_base_priority_applies_without_other_signals() -> None:
    assert triage(RULES, category="FIELD_REPORT").priority == 4
    assert triage(RULES, category="FIRE").priority == 1
    assert triage(RULES, category="SECURITY").priority == 2


def test_keyword_with_diacritics_raises_priority() -> None:
    t = triage(RULES, category="FIELD_REPORT", description="Có người bị thương do cây đổ")
    assert t.priority == 2
    assert any("bị thương" in r for r in t.reasons)


def test_keyword_without_diacritics_matches_the_same_rule() -> None:
    assert triage(RULES, category="FIELD_REPORT", description="co nguoi BI THUONG o nga tu").priority == 2


def test_keyword_matches_whole_words_only() -> None:
    # "chay" (cháy, fire) must not match inside "chaychay"-like words.
    assert triage(RULES, category="FIELD_REPORT", description="xechaynhanh").priority == 4


def test_most_urgent_keyword_wins() -> None:
    assert triage(RULES, category="FLOOD", description="ngập sâu, có người mắc kẹt").priority == 1


def test_subcategory_overrides_base_when_more_urgent() -> None:
    assert triage(RULES, category="FLOOD", subcategory="ngap_sau").priority == 2
    # A less urgent subcategory never lowers the base.
    assert triage(RULES, category="FIRE", subcategory="o_ga").priority == 1


def test_source_cad_integration_is_at_least_p2() -> None:
    assert triage(RULES, category="FIELD_REPORT", source="CAD_INTEGRATION").priority == 2


def test_sensor_critical_level_is_p2() -> None:
    assert triage(RULES, category="FLOOD", sensor_level="CRITICAL").priority == 2
    assert triage(RULES, category="FLOOD", sensor_level="WARN").priority == 3


def test_report_count_thresholds_raise_one_step_each() -> None:
    assert count_steps(RULES, 2) == 0
    assert count_steps(RULES, 3) == 1
    assert count_steps(RULES, 10) == 2
    assert triage(RULES, category="FIELD_REPORT", report_count=3).priority == 3
    assert triage(RULES, category="FIELD_REPORT", report_count=12).priority == 2


def test_priority_never_goes_beyond_p1() -> None:
    assert raise_priority(1) == 1
    assert triage(RULES, category="FIRE", report_count=50).priority == 1


@pytest.mark.parametrize(("priority", "eido"), [(1, 10), (2, 7), (3, 4), (4, 1)])
def test_eido_priority_is_mapped_from_priority(priority: int, eido: int) -> None:
    category = {1: "FIRE", 2: "SECURITY", 3: "FLOOD", 4: "OTHER"}[priority]
    t = triage(RULES, category=category)
    assert (t.priority, t.eido_priority) == (priority, eido)


@pytest.mark.parametrize(
    ("category", "agency"),
    [
        ("ADMINISTRATIVE_PROCEDURE", "ADMIN_CENTER"), ("EMERGENCY_MEDICAL", "MEDICAL_115"),
        ("FIRE", "FIRE_RESCUE_114"), ("SECURITY", "POLICE_113"), ("TRAFFIC_ACCIDENT", "POLICE_113"),
        ("FIELD_REPORT", "PUBLIC_WORKS"), ("FLOOD", "PUBLIC_WORKS"), ("UTILITY_OUTAGE", "UTILITIES"),
        ("ENVIRONMENT", "ENVIRONMENT"), ("OTHER", "ADMIN_CENTER"),
    ],
)
def test_category_routes_to_its_agency(category: str, agency: str) -> None:
    assert triage(RULES, category=category).agency == agency


def test_subcategory_routing_overrides_category() -> None:
    assert triage(RULES, category="FIELD_REPORT", subcategory="den_hong").agency == "UTILITIES"


def test_rules_file_with_unknown_agency_is_refused() -> None:
    raw = raw_default_rules()
    raw["routing"]["categories"]["FIRE"] = "FIRE_BRIGADE"
    with pytest.raises(ValueError, match="FIRE_BRIGADE"):
        parse_rules(raw)


def test_rules_file_with_unknown_category_is_refused() -> None:
    raw = raw_default_rules()
    raw["triage"]["base"]["VOLCANO"] = "P1"
    with pytest.raises(ValueError, match="VOLCANO"):
        parse_rules(raw)
