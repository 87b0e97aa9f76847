"""Event decoding for the screens, and the fan-out that never lets one slow screen block others."""

from __future__ import annotations

import pytest

from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops.sensors.v1 import sensors_pb2
from cityops_gateway.events.decode import STREAMS, UndecodableRecord, decode_record
from cityops_gateway.events.hub import RESYNC, Subscription

BY_KIND = {s.kind: s for s in STREAMS}


def test_incident_event_becomes_json_named_after_its_body() -> None:
    event = incidents_pb2.IncidentEvent(
        event_id="e1", incident_id="i1",
        incident=incidents_pb2.Incident(id="i1", status=incidents_pb2.STATUS_NEW, version=3),
        reported=incidents_pb2.IncidentReported(source=incidents_pb2.SOURCE_OPEN311),
    )
    decoded = decode_record(BY_KIND["incident"], b"i1", event.SerializeToString())
    assert decoded["kind"] == "incident" and decoded["type"] == "IncidentReported"
    assert decoded["data"]["incident"]["status"] == "STATUS_NEW"
    assert decoded["data"]["incident"]["version"] == "3"
    assert decoded["data"]["reported"]["source"] == "SOURCE_OPEN311"


def test_dispatch_event_type_is_the_body_message_name() -> None:
    event = dispatch_pb2.DispatchEvent(incident_id="i1", unit_assigned=dispatch_pb2.UnitAssigned(call_sign="CC115-01"))
    assert decode_record(BY_KIND["dispatch"], b"i1", event.SerializeToString())["type"] == "UnitAssigned"


def test_unit_status_tombstone_means_the_unit_was_removed() -> None:
    assert decode_record(BY_KIND["unit"], b"bd-115-01", None) == {
        "kind": "unit", "type": "UnitRemoved", "data": {"unit_id": "bd-115-01"}}


@pytest.mark.parametrize(("state", "name"), [(sensors_pb2.ALERT_STATE_RAISED, "SensorAlertRaised"),
                                             (sensors_pb2.ALERT_STATE_CLEARED, "SensorAlertCleared")])
def test_sensor_alert_type_follows_its_state(state: int, name: str) -> None:
    alert = sensors_pb2.SensorAlert(alert_id="a1", state=state)  # type: ignore[arg-type]
    assert decode_record(BY_KIND["alert"], b"s1", alert.SerializeToString())["type"] == name


def test_garbage_bytes_are_undecodable() -> None:
    with pytest.raises(UndecodableRecord):
        decode_record(BY_KIND["incident"], b"k", b"\xff\xff\xff\xff")


def test_a_screen_that_falls_behind_is_told_to_resync() -> None:
    sub = Subscription(size=3)
    for i in range(3):
        sub.offer({"kind": "incident", "type": "IncidentReported", "data": {"n": i}})
    sub.offer({"kind": "incident", "type": "IncidentReported", "data": {"n": 3}})
    assert sub.queue.qsize() == 1
    assert sub.queue.get_nowait() is RESYNC
