"""Kafka records of the event topics → JSON-ready dicts for the screens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops.sensors.v1 import sensors_pb2
from cityops_platform.kafka import topics


@dataclass(frozen=True)
class Stream:
    """One topic the console follows: its SSE event name and its payload type."""

    kind: str
    spec: topics.TopicSpec
    message: type[Message]


STREAMS: tuple[Stream, ...] = (
    Stream("incident", topics.INCIDENT_EVENTS, incidents_pb2.IncidentEvent),
    Stream("dispatch", topics.DISPATCH_EVENTS, dispatch_pb2.DispatchEvent),
    Stream("unit", topics.UNIT_STATUS, dispatch_pb2.UnitStatusUpdate),
    Stream("alert", topics.SENSOR_ALERTS, sensors_pb2.SensorAlert),
)


class UndecodableRecord(ValueError):
    """The record's bytes are not the topic's message type."""


def to_json(message: Message) -> dict[str, Any]:
    """Proto field names, enum names and every field present, so the screens see stable shapes."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def decode_record(stream: Stream, key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """``{"kind", "type", "data"}`` for one record; a tombstone on unit-status means a removed unit."""
    if value is None:
        return {"kind": stream.kind, "type": "UnitRemoved", "data": {"unit_id": (key or b"").decode(errors="replace")}}
    message = stream.message()
    try:
        message.ParseFromString(value)
    except DecodeError as exc:
        raise UndecodableRecord(str(exc)) from exc
    oneof = message.DESCRIPTOR.oneofs_by_name.get("body")
    if oneof is not None:
        case = message.WhichOneof("body")
        # The body's message name is the event type ("IncidentReported", "UnitAssigned").
        body_type = message.DESCRIPTOR.fields_by_name[case].message_type if case else None
        event_type = body_type.name if body_type is not None else "Unknown"
    elif isinstance(message, sensors_pb2.SensorAlert):
        event_type = "SensorAlertRaised" if message.state == sensors_pb2.ALERT_STATE_RAISED else "SensorAlertCleared"
    else:
        event_type = "UnitStatusUpdated"
    return {"kind": stream.kind, "type": event_type, "data": to_json(message)}
