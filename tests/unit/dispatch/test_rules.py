"""Dispatch rules as data: run cards, substitutes, the speed model and ETA ranking."""

from __future__ import annotations

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.recommend.service import eta_seconds, rank
from cityops_dispatch.rules import default_rules, load_units_data, rules_from_dict
from cityops_dispatch.units.models import Unit, UnitStatus

P = incidents_pb2.Priority


def _unit(ident: str, caps: list[str], unit_type: str, lat: float, lon: float) -> Unit:
    return Unit(ident, ident.upper(), 3, caps, unit_type, UnitStatus.AVAILABLE, lat, lon)


def test_fire_p1_run_card_sends_two_engines_and_an_ambulance() -> None:
    card = default_rules().run_card_for("FIRE", P.PRIORITY_P1)
    assert card is not None and card.name == "fire_structure"
    assert [(s.capability, s.count) for s in card.units] == [("FIRE_ENGINE", 2), ("ALS", 1)]
    assert card.capabilities == ["FIRE_ENGINE", "ALS"]


def test_medical_p1_needs_als_and_p3_needs_bls() -> None:
    rules = default_rules()
    p1 = rules.run_card_for("EMERGENCY_MEDICAL", P.PRIORITY_P1)
    p3 = rules.run_card_for("EMERGENCY_MEDICAL", P.PRIORITY_P3)
    assert p1 is not None and p1.capabilities == ["ALS"]
    assert p3 is not None and p3.capabilities == ["BLS"]


def test_administrative_procedures_have_no_run_card() -> None:
    assert default_rules().run_card_for("ADMINISTRATIVE_PROCEDURE", P.PRIORITY_P1) is None


def test_p1_and_p2_are_automatic_by_default_and_the_environment_can_change_it() -> None:
    rules = default_rules()
    assert rules.is_auto(P.PRIORITY_P1) and rules.is_auto(P.PRIORITY_P2) and not rules.is_auto(P.PRIORITY_P3)
    only_p1 = rules_from_dict({"auto_dispatch_priorities": ["P1", "P2"]}, auto_override="P1")
    assert only_p1.auto_priorities == frozenset({P.PRIORITY_P1})


def test_als_ambulance_may_fill_a_bls_slot() -> None:
    assert default_rules().accepted("BLS") == ["BLS", "ALS"]


def test_eta_follows_the_unit_type_speed_model() -> None:
    rules = default_rules()
    # 10 km at 45 km/h with a 1.3 road factor: 1040 s.
    assert round(eta_seconds(10_000, "AMBULANCE", rules)) == 1040
    assert eta_seconds(10_000, "BOAT", rules) > eta_seconds(10_000, "AMBULANCE", rules)
    assert eta_seconds(1_000, "UNKNOWN_TYPE", rules) == 1_000 * 1.3 / (35 / 3.6)


def test_ranking_is_by_eta_so_a_faster_farther_unit_can_win() -> None:
    rules = rules_from_dict({"speeds_kmh": {"FAST": 60, "SLOW": 10}, "road_factor": 1.0})
    near_slow = _unit("near-slow", ["X"], "SLOW", 10.9900, 106.6519)  # ~1.1 km at 10 km/h
    far_fast = _unit("far-fast", ["X"], "FAST", 11.0000, 106.6519)  # ~2.2 km at 60 km/h
    ranked = rank([near_slow, far_fast], 10.9804, 106.6519, ["X"], rules)
    assert [c.unit.id for c in ranked] == ["far-fast", "near-slow"]
    assert ranked[0].distance_m > ranked[1].distance_m


def test_units_without_a_wanted_capability_are_not_candidates() -> None:
    rules = default_rules()
    ranked = rank([_unit("police", ["POLICE_PATROL"], "POLICE_CAR", 10.98, 106.65)], 10.98, 106.65, ["ALS"], rules)
    assert ranked == []


def test_default_data_covers_every_district_with_unique_units_inside_binh_duong() -> None:
    data = load_units_data()
    districts = {s["district"] for s in data["stations"]}
    assert districts == {"Thủ Dầu Một", "Thuận An", "Dĩ An", "Tân Uyên", "Bến Cát", "Bàu Bàng", "Bắc Tân Uyên",
                         "Phú Giáo", "Dầu Tiếng"}
    units = [u for s in data["stations"] for u in s["units"]]
    assert len({u["id"] for u in units}) == len(units)
    assert len({u["call_sign"] for u in units}) == len(units)
    for station in data["stations"]:
        assert 10.8 < station["lat"] < 11.5 and 106.3 < station["lon"] < 107.0, station["id"]
    capabilities = {c for u in units for c in u["capabilities"]}
    for card in default_rules().run_cards:
        for slot in card.units:
            assert slot.capability in capabilities, f"{card.name}: no default unit can fill {slot.capability}"
