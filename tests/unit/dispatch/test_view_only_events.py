"""Which incident events dispatch may apply in a batch, without the auto-dispatch transaction."""

from __future__ import annotations

from cityops.incidents.v1 import events_pb2, incidents_pb2
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.incidents_view.agents import PlannedIncidents, _view_only
from cityops_dispatch.rules import default_rules

P = incidents_pb2.Priority
S = incidents_pb2.Status
ENGINE = AssignmentEngine(rules=default_rules(), ack_timeout_s=60, max_radius_m=50_000)


def _event(priority: int, status: int = S.STATUS_NEW, incident_id: str = "inc-1") -> events_pb2.IncidentEvent:
    return events_pb2.IncidentEvent(event_id=f"ev-{incident_id}-{priority}-{status}", incident_id=incident_id,
                                    incident=incidents_pb2.Incident(id=incident_id, priority=priority, status=status))


def test_an_automatic_priority_is_batched_only_once_its_incident_was_seen_planned() -> None:
    planned = PlannedIncidents()
    assert _view_only(_event(P.PRIORITY_P3), ENGINE, planned)
    assert not _view_only(_event(P.PRIORITY_P1), ENGINE, planned), "an unplanned P1 may need its run card"
    planned.add("inc-1")
    assert _view_only(_event(P.PRIORITY_P1, S.STATUS_DISPATCHED), ENGINE, planned)
    assert not _view_only(_event(P.PRIORITY_P1, S.STATUS_CLOSED), ENGINE, planned), "closing winds assignments down"
    assert not _view_only(_event(P.PRIORITY_P1, incident_id="inc-2"), ENGINE, planned)


def test_the_planned_set_is_bounded_and_keeps_the_newest() -> None:
    planned = PlannedIncidents(limit=2)
    for ident in ("a", "b", "a", "c"):
        planned.add(ident)
    assert "a" in planned and "c" in planned and "b" not in planned
