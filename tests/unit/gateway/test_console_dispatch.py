"""The run card next to what is sent (the dispatcher's screen): pure counting, no services."""

from __future__ import annotations

from cityops_gateway.console.dispatch import run_card_progress

CARD = {"name": "fire_structure", "units": [{"capability": "FIRE_ENGINE", "count": 2}, {"capability": "ALS", "count": 1}]}


def _sent(unit: str, capability: str, status: str = "ASSIGNMENT_STATUS_ASSIGNED") -> dict[str, str]:
    return {"unit_id": unit, "call_sign": unit.upper(), "capability": capability, "status": status}


def test_nothing_sent_means_every_unit_is_missing() -> None:
    progress = run_card_progress(CARD, [])
    assert progress["missing"] == 3
    assert [(s["capability"], s["count"], s["assigned"], s["missing"]) for s in progress["units"]] == [
        ("FIRE_ENGINE", 2, [], 2), ("ALS", 1, [], 1)]


def test_sent_units_fill_their_slots_and_ended_ones_do_not() -> None:
    assignments = [_sent("cc1", "FIRE_ENGINE"), _sent("cc2", "FIRE_ENGINE", "ASSIGNMENT_STATUS_DECLINED"),
                   _sent("cc3", "FIRE_ENGINE", "ASSIGNMENT_STATUS_ON_SCENE"), _sent("cc4", "FIRE_ENGINE"),
                   _sent("amb", "LADDER", "ASSIGNMENT_STATUS_CLEARED")]
    progress = run_card_progress(CARD, assignments)
    assert progress["units"][0] == {"capability": "FIRE_ENGINE", "count": 2, "assigned": ["CC1", "CC3"], "missing": 0}
    assert progress["units"][1]["missing"] == 1
    assert progress["missing"] == 1
    # Beyond the card: the third fire engine and the ladder are listed apart, not lost.
    assert progress["extra"] == [{"capability": "FIRE_ENGINE", "call_sign": "CC4"},
                                 {"capability": "LADDER", "call_sign": "AMB"}]


def test_no_card_has_no_slots() -> None:
    assert run_card_progress({"name": "", "units": []}, [_sent("x", "ALS")])["units"] == []
