"""The fusion equivalence graph (rules.yaml fusion.equivalences): cross-category matches, their
conditions with diacritics, scores and reasons, and the lock scopes that keep concurrent intake safe."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cityops_incidents import geo
from cityops_incidents.incidents.fusion import (
    Candidate,
    ReportFacts,
    best_fusion,
    fold,
    has_any_phrase,
    has_phrase,
    lock_scopes,
    search_extent,
    text_similarity,
)
from cityops_incidents.rules import load_rules, parse_rules, raw_default_rules

RULES = load_rules()
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
TDM = (10.980, 106.655)


def offset(north_m: float) -> tuple[float, float]:
    return TDM[0] + math.degrees(north_m / geo.EARTH_RADIUS_M), TDM[1]


def flood_sensor_incident(**kw: object) -> Candidate:
    return Candidate("flood", *TDM, NOW - timedelta(minutes=20), category="FLOOD", subcategory="ngap_duong",
                     description="Cảnh báo cảm biến WL-01 (WATER_LEVEL, WARN): 32 cm vượt ngưỡng 20 cm", **kw)  # type: ignore[arg-type]


def test_hotline_field_report_about_flooding_fuses_into_a_sensor_flood_120_m_away() -> None:
    report = ReportFacts("FIELD_REPORT", *offset(120), NOW, description="Đường ngập sâu, xe máy chết máy")
    m = best_fusion(RULES, report, [flood_sensor_incident()])
    assert m is not None and m.incident_id == "flood"
    assert m.relation == "FIELD_REPORT≈FLOOD"
    assert 0 < m.score < 0.9  # the edge's relation 0.9 caps it
    assert any("120 m / 500 m" in r for r in m.reasons)
    assert any("FIELD_REPORT≈FLOOD" in r for r in m.reasons)
    assert any("text similarity" in r for r in m.reasons)


def test_field_report_without_a_flood_word_does_not_fuse_into_a_flood() -> None:
    report = ReportFacts("FIELD_REPORT", *offset(120), NOW, description="Ổ gà lớn giữa đường")
    assert best_fusion(RULES, report, [flood_sensor_incident()]) is None


def test_keywords_are_matched_with_diacritics() -> None:
    assert has_phrase("Đường NGẬP sâu", "ngập")
    assert not has_phrase("Anh ấy ngáp dài", "ngập")  # ngáp (yawn) is not ngập (flooded)
    assert not has_phrase("xe chạy quá tốc độ", "cháy")
    assert has_phrase("có khói đen bốc lên", "khói đen")
    assert not has_phrase("ngập", "")


def test_subcategory_alone_satisfies_the_edge() -> None:
    report = ReportFacts("FIELD_REPORT", *offset(50), NOW, subcategory="ngap_duong", description="")
    assert best_fusion(RULES, report, [flood_sensor_incident()]) is not None


def test_the_edge_holds_in_reverse_a_flood_sensor_joins_a_flooding_field_report() -> None:
    hotline = Candidate("call", *TDM, NOW - timedelta(minutes=5), category="FIELD_REPORT",
                        description="Người dân báo đường ngập nước")
    sensor = ReportFacts("FLOOD", *offset(100), NOW, subcategory="ngap_duong", description="Cảnh báo cảm biến")
    m = best_fusion(RULES, sensor, [hotline])
    assert m is not None and m.incident_id == "call"


def test_cross_category_uses_the_incidents_radius() -> None:
    # 400 m: inside FLOOD's 500 m (the incident's rule), outside FIELD_REPORT's own 150 m.
    report = ReportFacts("FIELD_REPORT", *offset(400), NOW, description="đường ngập")
    assert best_fusion(RULES, report, [flood_sensor_incident()]) is not None
    assert best_fusion(RULES, ReportFacts("FIELD_REPORT", *offset(600), NOW, description="đường ngập"),
                       [flood_sensor_incident()]) is None


def test_smoke_reported_as_environment_fuses_into_a_fire() -> None:
    fire = Candidate("fire", *TDM, NOW - timedelta(minutes=3), category="FIRE", subcategory="khoi_chay")
    report = ReportFacts("ENVIRONMENT", *offset(150), NOW, description="Khói đen bốc lên từ nhà xưởng")
    m = best_fusion(RULES, report, [fire])
    assert m is not None and m.relation == "ENVIRONMENT≈FIRE"


def test_unrelated_categories_never_fuse() -> None:
    medical = Candidate("med", *TDM, NOW, category="EMERGENCY_MEDICAL", description="đường ngập")
    report = ReportFacts("FIELD_REPORT", *offset(10), NOW, description="đường ngập")
    assert best_fusion(RULES, report, [medical]) is None


def test_same_category_beats_a_related_one_at_the_same_place() -> None:
    same = Candidate("same", *TDM, NOW, category="FIELD_REPORT", description="đường ngập")
    other = flood_sensor_incident()
    m = best_fusion(RULES, ReportFacts("FIELD_REPORT", *offset(20), NOW, description="đường ngập"), [other, same])
    assert m is not None and m.incident_id == "same"


def test_text_similarity_is_a_jaccard_index_with_diacritics() -> None:
    assert text_similarity("đường ngập sâu", "Đường ngập sâu") == 1.0
    assert text_similarity("đường ngập", "") == 0.0
    assert text_similarity("nở hoa", "nổ lớn") == 0.0


def test_search_extent_of_a_field_report_covers_its_related_categories() -> None:
    cats, radius, window = search_extent(RULES, "FIELD_REPORT")
    assert cats[0] == "FIELD_REPORT" and "FLOOD" in cats and "FIRE" in cats
    assert radius == 500 and window == timedelta(hours=3)
    assert search_extent(RULES, "ADMINISTRATIVE_PROCEDURE") == ([], 0.0, timedelta(0))


def test_lock_scopes_are_shared_by_both_sides_of_an_edge() -> None:
    field = dict(lock_scopes(RULES, "FIELD_REPORT"))
    flood = dict(lock_scopes(RULES, "FLOOD"))
    assert "FIELD_REPORT+FLOOD" in field and "FIELD_REPORT+FLOOD" in flood
    assert field["FIELD_REPORT+FLOOD"] == flood["FIELD_REPORT+FLOOD"] == 500
    assert lock_scopes(RULES, "ADMINISTRATIVE_PROCEDURE") == []


def test_graph_is_data_a_city_can_remove_an_edge() -> None:
    raw = raw_default_rules()
    raw["fusion"]["equivalences"] = [e for e in raw["fusion"]["equivalences"] if e["to"] != "FLOOD"]
    rules = parse_rules(raw)
    report = ReportFacts("FIELD_REPORT", *offset(120), NOW, description="Đường ngập sâu")
    assert best_fusion(rules, report, [flood_sensor_incident()]) is None


def test_resolve_on_sensor_clear_is_read_per_category() -> None:
    assert RULES.fusion_rule("FLOOD").resolve_on_sensor_clear
    assert not RULES.fusion_rule("FIRE").resolve_on_sensor_clear


def test_an_edge_to_its_own_category_is_refused() -> None:
    raw = raw_default_rules()
    raw["fusion"]["equivalences"] = [{"from": "FLOOD", "to": "FLOOD"}]
    try:
        parse_rules(raw)
    except ValueError as exc:
        assert "two categories" in str(exc)
    else:
        raise AssertionError("an edge from a category to itself must be refused")


def test_edge_subcategories_must_be_vocabulary_codes() -> None:
    raw = raw_default_rules()
    raw["fusion"]["equivalences"] = [{"from": "FIELD_REPORT", "to": "FLOOD", "subcategories": ["ngap_gi_do"]}]
    try:
        parse_rules(raw)
    except ValueError as exc:
        assert "ngap_gi_do" in str(exc) and "vocabulary" in str(exc)
    else:
        raise AssertionError("an unknown subcategory in the fusion graph must be refused")


_TEXT = st.text(alphabet="ngập cháy khói nổ nở đen Ngáp NGẬP .,-\t\n", max_size=40)


@settings(max_examples=400, deadline=None)
@given(text=_TEXT, phrases=st.lists(_TEXT, max_size=4))
def test_one_search_for_all_keywords_finds_what_one_search_per_keyword_finds(text: str, phrases: list[str]) -> None:
    """has_any_phrase (one pattern per keyword list, texts folded once) against the plain definition."""
    def plain(t: str, phrase: str) -> bool:
        needle = fold(phrase)
        return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", fold(t)) is not None

    assert has_any_phrase(text, tuple(phrases)) == any(plain(text, p) for p in phrases)


@settings(max_examples=200, deadline=None)
@given(a=_TEXT, b=_TEXT)
def test_text_similarity_from_the_memoised_word_sets_is_the_jaccard_index(a: str, b: str) -> None:
    wa, wb = set(re.findall(r"\w+", fold(a))), set(re.findall(r"\w+", fold(b)))
    expected = len(wa & wb) / len(wa | wb) if wa and wb else 0.0
    assert text_similarity(a, b) == expected
