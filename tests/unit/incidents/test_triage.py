"""Triage rules from rules.yaml: category base, subcategory, source, keywords (with or without
diacritics), sensor level, report count; EIDO mapping and agency routing."""

from __future__ import annotations

import pytest

from cityops_incidents.incidents.triage import canonical_subcategory, count_steps, raise_priority, triage
from cityops_incidents.rules import load_rules, parse_rules, raw_default_rules

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


# --- Vietnamese read with its diacritics (issue 15) ---

@pytest.mark.parametrize(("category", "description", "allowed"), [
    ("FIELD_REPORT", "Hoa nở trên dải phân cách, cần cắt tỉa cây", {4}),
    ("ADMINISTRATIVE_PROCEDURE", "Tôi nợ tiền điện, hỏi thủ tục gia hạn", {4}),
    ("OTHER", "Xe tải chạy quá tốc độ trên đường ĐT743", {3, 4}),
    ("FIELD_REPORT", "Xe tải chạy quá tốc độ trên đường ĐT743", {3, 4}),
    ("FIELD_REPORT", "Mùi khí gas nồng nặc trong chung cư, mọi người đang sơ tán", {1, 2}),
    # the same reports typed without diacritics
    ("FIELD_REPORT", "Hoa no tren dai phan cach, can cat tia cay", {4}),
    ("ADMINISTRATIVE_PROCEDURE", "Toi no tien dien, hoi thu tuc gia han", {4}),
    ("OTHER", "Xe tai chay qua toc do tren duong DT743", {3, 4}),
    ("FIELD_REPORT", "Mui khi gas nong nac trong chung cu, moi nguoi dang so tan", {1, 2}),
])
def test_the_four_misread_reports_of_the_issue_get_their_priority(category: str, description: str,
                                                                   allowed: set[int]) -> None:
    assert triage(RULES, category=category, description=description).priority in allowed


def test_no_is_not_no_the_diacritics_decide() -> None:
    assert triage(RULES, category="OTHER", description="Nghe tiếng nổ lớn ở kho").priority == 1
    assert triage(RULES, category="OTHER", description="Hoa nở lớn quá").priority == 4
    assert triage(RULES, category="OTHER", description="Anh ấy nợ lớn lắm").priority == 4


def test_fold_safety_is_computed_from_the_lexicon_and_the_rules() -> None:
    phrases = {p.text: p for p in RULES.triage_rules.keywords.phrases}
    assert not phrases["nổ lớn"].fold_safe      # "nợ lớn"
    assert not phrases["bị cháy"].fold_safe     # inside "bị chảy máu"
    assert not phrases["bị thương"].fold_safe   # "bi thương"
    assert not phrases["đang cháy"].fold_safe   # "đang chạy"
    assert phrases["cháy nhà"].fold_safe
    assert phrases["người bị thương"].fold_safe
    assert phrases["ngừng thở"].fold_safe       # "ngưng thở" folds alike but means the same


def test_folded_text_matches_only_fold_safe_phrases() -> None:
    assert triage(RULES, category="OTHER", description="xe dang chay tren duong").priority == 4
    assert triage(RULES, category="OTHER", description="bi chay mau o tay").priority == 2  # chảy máu
    assert triage(RULES, category="OTHER", description="chay nha o hem 5").priority == 1


def test_unmarked_words_in_text_with_diacritics_are_read_as_written() -> None:
    # "bong" (peeling) in a text typed with diacritics is not "bỏng" (burn).
    assert triage(RULES, category="FIELD_REPORT", description="Vỉa hè bị bong gạch, đề nghị sửa").priority == 4


def test_negated_keyword_does_not_count() -> None:
    t = triage(RULES, category="FIELD_REPORT", description="Cây đổ nhưng không có ai bị thương")
    assert t.priority == 3
    assert any("negated" in r for r in t.reasons)
    assert triage(RULES, category="OTHER", description="không biết có ai bị thương không").priority == 2
    assert triage(RULES, category="OTHER", description="khong co nguoi bi thuong").priority == 4


def test_fixed_expressions_are_not_keywords() -> None:
    assert triage(RULES, category="OTHER", description="Hỏi về phòng cháy chữa cháy ở chung cư").priority == 4
    assert triage(RULES, category="FIELD_REPORT", description="Bóng đèn cháy ở cột đèn số 3").priority == 4
    assert triage(RULES, category="OTHER", description="Xe máy nổ máy ồn ào").priority == 4


def test_drill_context_caps_even_an_emergency_category() -> None:
    assert triage(RULES, category="FIRE", description="Diễn tập chữa cháy ở chung cư sáng mai").priority == 4


def test_procedure_context_yields_to_a_life_in_danger_outside_procedure_reports() -> None:
    assert triage(RULES, category="EMERGENCY_MEDICAL", description="Hỏi thủ tục bảo hiểm y tế").priority == 4
    assert triage(RULES, category="OTHER",
                  description="Đang làm thủ tục ở ủy ban thì có người bất tỉnh").priority == 1


def test_minor_collision_lowers_the_base_but_injuries_still_count() -> None:
    assert triage(RULES, category="TRAFFIC_ACCIDENT", description="Va chạm nhẹ, không ai bị thương").priority == 3
    assert triage(RULES, category="TRAFFIC_ACCIDENT", subcategory="va_cham_nhe",
                  description="Va chạm nhẹ nhưng có người bị thương ở tay").priority == 2


def test_open311_subcategory_base_replaces_the_emergency_category_base() -> None:
    assert triage(RULES, category="SECURITY", subcategory="mat_trat_tu_cong_cong").priority == 3
    assert triage(RULES, category="SECURITY").priority == 2


@pytest.mark.parametrize(("old", "new"), [("o_ga", "o_ga_mat_duong"), ("den_hong", "den_duong_hong"),
                                          ("cay_do", "cay_xanh_gay_do")])
def test_old_subcategory_codes_are_aliases_of_the_catalogue_codes(old: str, new: str) -> None:
    assert canonical_subcategory(RULES, old) == new
    assert triage(RULES, category="FIELD_REPORT", subcategory=old) == triage(
        RULES, category="FIELD_REPORT", subcategory=new)


def test_street_light_code_of_the_catalogue_routes_to_utilities() -> None:
    assert triage(RULES, category="FIELD_REPORT", subcategory="den_duong_hong").agency == "UTILITIES"


def test_phrases_are_compiled_once_at_load_not_per_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import cityops_incidents.phrases as phrases
    import cityops_incidents.triage_rules as triage_rules

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("compiled per call")

    monkeypatch.setattr(phrases, "compile_phrases", refuse)
    monkeypatch.setattr(triage_rules, "compile_phrases", refuse)
    monkeypatch.setattr(phrases.Lexicon, "build", refuse)
    assert triage(RULES, category="OTHER", description="Có người bị thương nặng").priority == 1


def test_alias_to_an_unknown_code_is_refused() -> None:
    raw = raw_default_rules()
    raw["routing"]["aliases"]["xyz"] = "khong_co_ma_nay"
    with pytest.raises(ValueError, match="khong_co_ma_nay"):
        parse_rules(raw)
