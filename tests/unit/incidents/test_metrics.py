"""Incident response times and SLA breaches are taken from the published IncidentEvents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from cityops.incidents.v1 import events_pb2, resources_pb2
from cityops_incidents.incidents import metrics as m

CREATED = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _event(body: str, *, after_s: float, priority: int = resources_pb2.PRIORITY_P2, **fields: int) -> bytes:
    incident = resources_pb2.Incident(id=str(uuid.uuid4()), category=resources_pb2.CATEGORY_FLOOD, priority=priority)  # type: ignore[arg-type]
    incident.created_at.FromDatetime(CREATED)
    event = events_pb2.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=incident.id, incident=incident)
    event.occurred_at.FromDatetime(CREATED + timedelta(seconds=after_s))
    getattr(event, body).SetInParent()
    for name, value in fields.items():
        setattr(getattr(event, body), name, value)
    return event.SerializeToString()


def _count(milestone: str, priority: str) -> float:
    value = REGISTRY.get_sample_value("cityops_incident_response_seconds_count",
                                      {"milestone": milestone, "priority": priority})
    return value or 0.0


def _le(milestone: str, priority: str, le: str) -> float:
    return REGISTRY.get_sample_value("cityops_incident_response_seconds_bucket",
                                     {"milestone": milestone, "priority": priority, "le": le}) or 0.0


def test_acknowledgement_is_measured_from_the_incident_creation() -> None:
    before, fast_before = _count("acknowledged", "P2"), _le("acknowledged", "P2", "60.0")
    faster_before = _le("acknowledged", "P2", "30.0")
    m.observe_incident_event(_event("transitioned", after_s=45, from_status=resources_pb2.STATUS_NEW,
                                    to_status=resources_pb2.STATUS_ACKNOWLEDGED))
    assert _count("acknowledged", "P2") == before + 1
    assert _le("acknowledged", "P2", "60.0") == fast_before + 1  # 45 s falls in the 60 s bucket
    assert _le("acknowledged", "P2", "30.0") == faster_before  # and not in the 30 s one


def test_dispatch_and_on_scene_are_milestones_by_priority() -> None:
    dispatched, on_scene = _count("dispatched", "P1"), _count("on_scene", "P1")
    m.observe_incident_event(_event("transitioned", after_s=20, priority=resources_pb2.PRIORITY_P1,
                                    from_status=resources_pb2.STATUS_NEW, to_status=resources_pb2.STATUS_DISPATCHED))
    m.observe_incident_event(_event("transitioned", after_s=400, priority=resources_pb2.PRIORITY_P1,
                                    from_status=resources_pb2.STATUS_DISPATCHED,
                                    to_status=resources_pb2.STATUS_ON_SCENE))
    assert _count("dispatched", "P1") == dispatched + 1
    assert _count("on_scene", "P1") == on_scene + 1


def test_reopened_or_resumed_incident_is_not_measured_again_and_other_moves_are_ignored() -> None:
    before = _count("acknowledged", "P3")
    m.observe_incident_event(_event("transitioned", after_s=9000, priority=resources_pb2.PRIORITY_P3,
                                    from_status=resources_pb2.STATUS_RESOLVED,
                                    to_status=resources_pb2.STATUS_ACKNOWLEDGED))
    m.observe_incident_event(_event("transitioned", after_s=10, priority=resources_pb2.PRIORITY_P3,
                                    from_status=resources_pb2.STATUS_ON_SCENE,
                                    to_status=resources_pb2.STATUS_RESOLVED))
    m.observe_incident_event(_event("transitioned", after_s=9000, priority=resources_pb2.PRIORITY_P3,
                                    from_status=resources_pb2.STATUS_AWAITING_DOSSIER,
                                    to_status=resources_pb2.STATUS_ACKNOWLEDGED))
    m.observe_incident_event(_event("reported", after_s=0, priority=resources_pb2.PRIORITY_P3))
    assert _count("acknowledged", "P3") == before


def test_sla_escalation_counts_a_breach_by_stage_category_and_priority_before_it() -> None:
    labels = {"stage": "acknowledge", "category": "flood", "priority": "P2"}
    before = REGISTRY.get_sample_value("cityops_sla_breaches_total", labels) or 0.0
    m.observe_incident_event(_event("escalated", after_s=200, priority=resources_pb2.PRIORITY_P1,
                                    reason=resources_pb2.ESCALATION_REASON_SLA_ACK,
                                    old_priority=resources_pb2.PRIORITY_P2, new_priority=resources_pb2.PRIORITY_P1))
    manual = {"stage": "acknowledge", "category": "flood", "priority": "P1"}
    manual_before = REGISTRY.get_sample_value("cityops_sla_breaches_total", manual) or 0.0
    m.observe_incident_event(_event("escalated", after_s=200, priority=resources_pb2.PRIORITY_P1,
                                    reason=resources_pb2.ESCALATION_REASON_MANUAL,
                                    old_priority=resources_pb2.PRIORITY_P2, new_priority=resources_pb2.PRIORITY_P1))
    assert REGISTRY.get_sample_value("cityops_sla_breaches_total", labels) == before + 1
    assert (REGISTRY.get_sample_value("cityops_sla_breaches_total", manual) or 0.0) == manual_before


def test_labels_are_short_and_fixed() -> None:
    assert m.priority_label(1) == "P1" and m.priority_label(0) == "unspecified"
    assert m.category_label(resources_pb2.CATEGORY_FLOOD) == "flood"
    assert m.category_label(999) == "unspecified"
    assert m.category_label(0, "BRAND") == "brand"  # a city code without an enum
