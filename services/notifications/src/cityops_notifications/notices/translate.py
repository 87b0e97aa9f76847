"""Source events (protobuf) → ``Notice``. The only place that knows other domains' event shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import events_pb2 as dispatch_events
from cityops.incidents.v1 import events_pb2 as incident_events
from cityops.sensors.v1 import events_pb2 as sensor_events
from cityops_notifications import codes
from cityops_notifications.geo import Point
from cityops_notifications.notices.models import SENSOR_ALERT, Notice

_INCIDENT_TEMPLATES = {
    "reported": "incident_reported",
    "transitioned": "incident_transitioned",
    "escalated": "incident_escalated",
}
# Sensor kinds → the incident category they would raise (the city's data), so category filters
# apply to alerts too.
_KIND_CATEGORY = {f"SENSOR_KIND_{kind}": category for kind, category in codes.sensor_categories().items()}


def _time(ts: Timestamp, has: bool) -> datetime:
    return ts.ToDatetime(tzinfo=UTC) if has else datetime.now(UTC)


def _iso(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).isoformat() if ts.seconds or ts.nanos else ""


def _name(enum: Any, value: int) -> str:
    """The enum value's name, or '' for an unknown number (a newer producer)."""
    return str(enum.Name(value)) if value in enum.values() else ""


def _point(geo: common_pb2.GeoPoint, present: bool) -> Point | None:
    if not present or (geo.lat == 0 and geo.lon == 0):
        return None
    return Point(geo.lat, geo.lon)


def body_type(message: Message) -> tuple[str, Message | None]:
    """(full type name of the oneof ``body``, the body) of an envelope event."""
    case = message.WhichOneof("body")
    if case is None:
        return "", None
    body = getattr(message, case)
    return body.DESCRIPTOR.full_name, body


def from_incident_event(event: incident_events.IncidentEvent, topic: str) -> Notice | None:
    """An incident change, with the incident snapshot it carries; None for an event without a body."""
    case = event.WhichOneof("body")
    if case is None:
        return None
    event_type, _ = body_type(event)
    inc = event.incident
    pri_enum = incident_events.Priority
    ctx: dict[str, Any] = {
        "change": case,
        "incident_id": event.incident_id or inc.id,
        "number": event.incident_number or inc.number,
        "category": codes.category_of(inc.category_code, inc.category),
        "subcategory": inc.subcategory,
        "priority": inc.priority if inc.priority in pri_enum.values() else 0,
        "status": _name(incident_events.Status, inc.status),
        "description": inc.description[:500],
        "address": inc.location.address,
        "district": inc.ward_name or inc.district,
        "ward": inc.ward_name,
        "ward_code": inc.ward_code,
        "report_count": inc.report_count,
        "agency": codes.agency_of(inc.agency_code, inc.agency),
        "occurred_at": _iso(event.occurred_at) or _iso(inc.updated_at),
    }
    reporter = ""
    if case == "reported":
        ctx["source"] = _name(incident_events.Source, event.reported.source)
        reporter = event.reported.reporter_subject
    elif case == "merged":
        ctx["report_count"] = event.merged.report_count
        reporter = event.merged.reporter_subject
    elif case == "transitioned":
        t = event.transitioned
        ctx["from_status"] = _name(incident_events.Status, t.from_status)
        ctx["to_status"] = _name(incident_events.Status, t.to_status)
        ctx["reason"] = t.reason
    elif case == "escalated":
        e = event.escalated
        ctx["reason"] = _name(incident_events.EscalationReason, e.reason)
        ctx["old_priority"] = e.old_priority
        ctx["new_priority"] = e.new_priority
        ctx["escalation_level"] = e.escalation_level
        ctx["sla_stage"] = _name(incident_events.SlaStage, e.sla_stage)
        ctx["breached_due_at"] = _iso(e.breached_due_at)
    elif case == "note_added":
        ctx["note"] = event.note_added.text[:300]
    return Notice(
        event_id=event.event_id,
        event_type=event_type,
        source_topic=topic,
        occurred_at=_time(event.occurred_at, event.HasField("occurred_at")),
        template=_INCIDENT_TEMPLATES.get(case, "incident_event"),
        incident_id=event.incident_id or inc.id,
        category=ctx["category"],
        priority=int(ctx["priority"]),
        location=_point(inc.location, inc.HasField("location")),
        agencies=frozenset({ctx["agency"]}) if ctx["agency"] else frozenset(),
        district=inc.ward_name or inc.district,
        ward_code=inc.ward_code,
        reporter_subject=reporter,
        context=ctx,
        source=event,
    )


def from_dispatch_event(event: dispatch_events.DispatchEvent, topic: str) -> Notice | None:
    """A unit assignment change; it carries no incident snapshot, so no category or priority."""
    case = event.WhichOneof("body")
    if case is None:
        return None
    event_type, _ = body_type(event)
    agency = codes.agency_of(event.unit.agency_code, event.unit.agency)
    if not agency and case == "unit_assigned":
        agency = codes.agency_of(event.unit_assigned.agency_code, event.unit_assigned.agency)
    ctx: dict[str, Any] = {
        "change": case,
        "incident_id": event.incident_id,
        "number": event.incident_number or event.assignment.incident_number,
        "call_sign": event.unit.call_sign or event.assignment.call_sign or event.unit_assigned.call_sign,
        "agency": agency,
        "eta_seconds": event.unit_assigned.eta_seconds or event.unit_en_route.eta_seconds or 0.0,
        "reason": (event.assignment_declined.reason or event.unit_cleared.reason
                   or event.assignment_cancelled.reason or event.incident_awaiting_units.reason),
        "occurred_at": _iso(event.occurred_at),
    }
    location = None
    if case == "unit_arrived":
        location = _point(event.unit_arrived.location, event.unit_arrived.HasField("location"))
    return Notice(
        event_id=event.event_id,
        event_type=event_type,
        source_topic=topic,
        occurred_at=_time(event.occurred_at, event.HasField("occurred_at")),
        template="dispatch_event",
        incident_id=event.incident_id,
        location=location,
        agencies=frozenset({agency}) if agency else frozenset(),
        district=event.unit.ward_name or event.unit.district,
        ward_code=event.unit.ward_code,
        context=ctx,
        source=event,
    )


def from_sensor_alert(alert: sensor_events.SensorAlert, topic: str) -> Notice:
    """A sensor alert raised or cleared; CRITICAL counts as P2 and WARN as P3 for priority filters."""
    kind = _name(sensor_events.SensorKind, alert.kind)
    state = _name(sensor_events.AlertState, alert.state)
    level = _name(sensor_events.AlertLevel, alert.level)
    priority = 4 if state == "ALERT_STATE_CLEARED" else 2 if level == "ALERT_LEVEL_CRITICAL" else 3
    ctx = {
        "alert_id": alert.alert_id,
        "sensor_id": alert.sensor_id,
        "sensor_name": alert.sensor_name or alert.sensor_id,
        "kind": kind,
        "state": state,
        "level": level,
        "value": alert.value,
        "threshold": alert.threshold,
        "unit": alert.unit,
        "address": alert.location.address,
        "district": alert.ward_name or alert.district,
        "ward": alert.ward_name,
        "ward_code": alert.ward_code,
        "occurred_at": _iso(alert.observed_at) or _iso(alert.raised_at),
    }
    has_time = alert.HasField("observed_at")
    return Notice(
        event_id=alert.event_id or f"{alert.alert_id}:{state}:{level}",
        event_type=SENSOR_ALERT,
        source_topic=topic,
        occurred_at=_time(alert.observed_at if has_time else alert.raised_at,
                          has_time or alert.HasField("raised_at")),
        template="sensor_alert",
        category=_KIND_CATEGORY.get(kind, ""),
        priority=priority,
        location=_point(alert.location, alert.HasField("location")),
        district=alert.ward_name or alert.district,
        ward_code=alert.ward_code,
        context=ctx,
        source=alert,
    )
