"""The worker's translation of Kafka payloads into domain inputs."""

from __future__ import annotations

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import events_pb2 as dispatch_pb
from cityops.sensors.v1 import events_pb2 as sensors_pb
from cityops_incidents.incidents.agents import dispatch_event_in, sensor_alert_in


def test_sensor_alert_maps_enum_names_and_time() -> None:
    m = sensors_pb.SensorAlert(alert_id="a1", sensor_id="s1", kind=sensors_pb.SENSOR_KIND_SMOKE,
                               state=sensors_pb.ALERT_STATE_CLEARED, level=sensors_pb.ALERT_LEVEL_CRITICAL,
                               rule_type=sensors_pb.RULE_TYPE_THRESHOLD, value=0.0, unit="",
                               location=common_pb2.GeoPoint(lat=11.0, lon=106.7))
    m.raised_at.FromSeconds(1_000)
    m.cleared_at.FromSeconds(2_000)
    a = sensor_alert_in(m)
    assert (a.kind, a.state, a.level, a.rule_type) == ("SMOKE", "CLEARED", "CRITICAL", "THRESHOLD")
    assert a.at.timestamp() == 2_000 and (a.lat, a.lon) == (11.0, 106.7)


def test_unknown_sensor_kind_is_marked_not_crashing() -> None:
    assert sensor_alert_in(sensors_pb.SensorAlert(kind=99)).kind == "UNKNOWN(99)"


def test_dispatch_event_maps_kind_unit_and_actor() -> None:
    e = dispatch_pb.DispatchEvent(event_id="e1", incident_id="i1", assignment_id="as1",
                                  actor=common_pb2.Actor(subject="svc-dispatch", role="integrator"))
    e.unit_assigned.call_sign = "CA113-DA-02"
    e.unit_assigned.agency = common_pb2.AGENCY_POLICE_113
    d = dispatch_event_in(e)
    assert (d.kind, d.call_sign, d.agency, d.actor.subject) == ("unit_assigned", "CA113-DA-02", "POLICE_113",
                                                                "svc-dispatch")
    assert dispatch_event_in(dispatch_pb.DispatchEvent(event_id="e2")).actor.subject == "system:incidents"
