"""Replay without a database: two rule sets over the same recorded reports."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from cityops_incidents.replay.models import Lifecycle, RecordedReport
from cityops_incidents.replay.service import replay
from cityops_incidents.rules import load_rules, parse_rules, raw_default_rules

RULES = load_rules()
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def report(n: int, *, at: datetime, lat: float = 10.98, category: str = "FIELD_REPORT", subcategory: str = "",
           description: str = "", lifecycle: Lifecycle | None = None) -> RecordedReport:
    lc = lifecycle or Lifecycle(f"BD-1-{n}", "NEW", at, None, None, None, None)
    return RecordedReport(f"r{n}", at, at, "HOTLINE_1022", category, subcategory, description, lat, 106.655, "", lc)


def variant(**changes: object) -> object:
    raw = copy.deepcopy(raw_default_rules())
    for path, value in changes.items():
        node = raw
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return parse_rules(raw)


def test_same_rules_change_nothing() -> None:
    reports = [report(1, at=T0, description="Cây đổ"), report(2, at=T0 + timedelta(minutes=1), description="Cây đổ")]
    s = replay(reports, current=RULES, candidate=RULES, now=T0 + timedelta(minutes=5))
    assert (s.reports, s.priority_changed, s.agency_changed, s.fusion_changed) == (2, 0, 0, 0)
    assert s.incidents_before == s.incidents_after == 1 and s.merged_before == 1


def test_a_report_after_its_incident_ended_does_not_merge_in_the_replay() -> None:
    ended = Lifecycle("BD-1-1", "RESOLVED", T0, T0, None, T0 + timedelta(minutes=2), T0 + timedelta(minutes=2))
    reports = [report(1, at=T0, lifecycle=ended), report(2, at=T0 + timedelta(minutes=5))]
    s = replay(reports, current=RULES, candidate=RULES, now=T0 + timedelta(minutes=10))
    assert s.incidents_before == 2 and s.merged_before == 0


def test_smaller_radius_splits_a_merge_and_counts_it_as_a_fusion_change() -> None:
    candidate = variant(fusion__categories__FIELD_REPORT={"radius_m": 10, "window": "30m"})
    reports = [report(1, at=T0), report(2, at=T0 + timedelta(minutes=1), lat=10.9809)]
    s = replay(reports, current=RULES, candidate=candidate, now=T0)  # type: ignore[arg-type]
    assert s.fusion_changed == 1 and (s.incidents_before, s.incidents_after) == (1, 2)
    assert s.samples[0].report.report_id == "r2"


def test_stage_clocks_start_when_the_stage_starts() -> None:
    # P3 FLOOD: acknowledge 15 m, dispatch 1 h. Acknowledged after 10 m, dispatched 55 m later: no breach
    # (the dispatch clock runs from the acknowledgement, not from creation).
    lc = Lifecycle("BD-1-1", "DISPATCHED", T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=65), None, None)
    s = replay([report(1, at=T0, category="FLOOD", lifecycle=lc)], current=RULES, candidate=RULES,
               now=T0 + timedelta(minutes=70))
    assert (s.sla_before.acknowledge, s.sla_before.dispatch, s.sla_before.resolve) == (0, 0, 0)
    # A stage still running counts once its deadline is past.
    late = replay([report(1, at=T0, category="FLOOD", lifecycle=lc)], current=RULES, candidate=RULES,
                  now=T0 + timedelta(days=2))
    assert late.sla_before.resolve == 1


def test_replay_fuses_across_categories_by_the_equivalence_graph_and_sees_it_removed() -> None:
    # A water-level sensor's FLOOD incident, then a hotline "đường ngập" field report 120 m away:
    # intake fuses them (FIELD_REPORT ≈ FLOOD); candidate rules without the graph would not.
    sensor = report(1, at=T0, category="FLOOD", subcategory="ngap_duong", description="Mực nước vượt ngưỡng")
    hotline = report(2, at=T0 + timedelta(minutes=3), lat=10.98 + 0.00108, description="Đường ngập sâu, xe chết máy")
    s = replay([sensor, hotline], current=RULES, candidate=variant(fusion__equivalences=[]),  # type: ignore[arg-type]
               now=T0 + timedelta(minutes=5))
    assert (s.incidents_before, s.merged_before) == (1, 1)
    assert s.incidents_after == 2 and s.fusion_changed == 1
