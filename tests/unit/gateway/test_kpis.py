"""KPI arithmetic: percentiles, time to dispatch, SLA breaches per hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.console.kpis import is_sla_breach, percentile, summarize

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


def _incident(*, category: int = incidents_pb2.CATEGORY_FIRE, created_min_ago: int = 30,
              dispatch_after_s: float | None = None, due_in_min: int | None = None, escalations: int = 0,
              status: int = incidents_pb2.STATUS_NEW) -> incidents_pb2.Incident:
    incident = incidents_pb2.Incident(category=category, priority=incidents_pb2.PRIORITY_P2,  # type: ignore[arg-type]
                                      status=status, escalation_level=escalations)  # type: ignore[arg-type]
    created = NOW - timedelta(minutes=created_min_ago)
    incident.created_at.FromDatetime(created)
    if dispatch_after_s is not None:
        incident.dispatched_at.FromDatetime(created + timedelta(seconds=dispatch_after_s))
    if due_in_min is not None:
        incident.sla_due_at.FromDatetime(NOW + timedelta(minutes=due_in_min))
    return incident


def test_percentile_interpolates_and_is_none_without_data() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0], 90) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(1, 11))), 90) == 9.1


def test_open_incidents_are_counted_by_category_most_first() -> None:
    result = summarize([_incident(), _incident(), _incident(category=incidents_pb2.CATEGORY_FLOOD)], [],
                       now=NOW, timezone="Asia/Ho_Chi_Minh")
    assert result["open_total"] == 3
    assert result["open_by_category"] == [{"category": "FIRE", "count": 2},
                                          {"category": "FLOOD", "count": 1}]


def test_time_to_dispatch_uses_only_dispatched_incidents() -> None:
    recent = [_incident(dispatch_after_s=s) for s in (30, 60, 90, 120)] + [_incident()]
    result = summarize([], recent, now=NOW, timezone="Asia/Ho_Chi_Minh")
    assert result["dispatch"] == {"p50_seconds": 75.0, "p90_seconds": 111.0, "samples": 4}
    assert len(result["hours"]) == 24
    assert result["hours"][-1]["dispatch_p50_seconds"] == 75.0  # all created in the current hour


def test_overdue_or_escalated_incidents_count_as_sla_breaches() -> None:
    overdue = _incident(due_in_min=-5)
    escalated = _incident(escalations=1, due_in_min=10)
    on_time = _incident(due_in_min=10)
    resolved_late = _incident(due_in_min=-5, status=incidents_pb2.STATUS_RESOLVED)
    assert is_sla_breach(overdue, NOW) and is_sla_breach(escalated, NOW)
    assert not is_sla_breach(on_time, NOW) and not is_sla_breach(resolved_late, NOW)
    result = summarize([], [overdue, escalated, on_time, _incident(created_min_ago=25 * 60, due_in_min=-1)],
                       now=NOW, timezone="Asia/Ho_Chi_Minh")
    assert result["sla_breaches_24h"] == 2  # the 25-hour-old one is outside the window


def test_open_incidents_are_counted_by_ward() -> None:
    lai_thieu = _incident()
    lai_thieu.ward_code, lai_thieu.ward_name = "25966", "Phường Lái Thiêu"
    other = _incident()
    other.ward_code, other.ward_name = "25942", "Phường Dĩ An"
    result = summarize([lai_thieu, other, lai_thieu], [], now=NOW, timezone="Asia/Ho_Chi_Minh")
    assert result["open_by_ward"] == [
        {"ward_code": "25966", "ward_name": "Phường Lái Thiêu", "count": 2},
        {"ward_code": "25942", "ward_name": "Phường Dĩ An", "count": 1}]
