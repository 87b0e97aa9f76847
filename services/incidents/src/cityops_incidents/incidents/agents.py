"""Faust agents of the incidents worker: decode → Reactions → (outbox). Translation only."""

from __future__ import annotations

import logging

from cityops.dispatch.v1 import events_pb2 as dispatch_pb
from cityops.sensors.v1 import events_pb2 as sensors_pb
from cityops_incidents.incidents.convert import AGENCY_CODES, agency_name, from_ts
from cityops_incidents.incidents.models import SYSTEM_ACTOR, Actor, DispatchEventIn, SensorAlertIn
from cityops_incidents.incidents.reactions import Reactions
from cityops_platform.codecs import enum_name

log = logging.getLogger("cityops.incidents.agents")


_name = enum_name


def sensor_alert_in(m: sensors_pb.SensorAlert) -> SensorAlertIn:
    state = _name(sensors_pb.AlertState, "ALERT_STATE_", m.state)
    at_field = m.cleared_at if state == "CLEARED" and m.HasField("cleared_at") else m.raised_at
    at = from_ts(at_field if at_field.seconds or at_field.nanos else m.observed_at)
    return SensorAlertIn(
        event_id=m.event_id, alert_id=m.alert_id, sensor_id=m.sensor_id,
        kind=_name(sensors_pb.SensorKind, "SENSOR_KIND_", m.kind), state=state,
        level=_name(sensors_pb.AlertLevel, "ALERT_LEVEL_", m.level),
        rule_type=_name(sensors_pb.RuleType, "RULE_TYPE_", m.rule_type), value=m.value, threshold=m.threshold,
        unit=m.unit, sensor_name=m.sensor_name, lat=m.location.lat, lon=m.location.lon,
        address=m.location.address, at=at,
    )


def dispatch_event_in(m: dispatch_pb.DispatchEvent) -> DispatchEventIn:
    kind = m.WhichOneof("body") or ""
    actor = Actor(m.actor.subject, m.actor.role or "system") if m.actor.subject else SYSTEM_ACTOR
    if kind == "unit_assigned":
        agency = m.unit_assigned.agency_code or AGENCY_CODES.by_enum.get(agency_name(m.unit_assigned.agency), "")
    else:
        agency = m.unit.agency_code or AGENCY_CODES.by_enum.get(agency_name(m.unit.agency), "")
    return DispatchEventIn(
        event_id=m.event_id, incident_id=m.incident_id, assignment_id=m.assignment_id, kind=kind,
        call_sign=m.unit_assigned.call_sign if kind == "unit_assigned" else m.unit.call_sign,
        agency=agency, actor=actor, unit_id=m.unit_id,
        override_reason=m.unit_assigned.override_reason if kind == "unit_assigned" else "",
    )


async def on_sensor_alert(reactions: Reactions, message: sensors_pb.SensorAlert) -> None:
    outcome = await reactions.sensor_alert(sensor_alert_in(message))
    log.info("sensor alert applied", extra={"alert_id": message.alert_id, "outcome": outcome})


async def on_dispatch_event(reactions: Reactions, message: dispatch_pb.DispatchEvent) -> None:
    outcome = await reactions.dispatch_event(dispatch_event_in(message))
    log.debug("dispatch event applied", extra={"event_id": message.event_id, "outcome": outcome})
