"""Every Kafka payload survives a serialize/parse round trip with all its fields and oneof members set.

A consumer must decode exactly what a producer wrote, including Vietnamese text.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

ROOT = Path(__file__).resolve().parents[3]


def _message_class(qualified: str) -> type[Message]:
    """`incidents.IncidentEvent` -> the generated class, generating the code first when it is missing."""
    domain, name = qualified.split(".")
    module_name = f"cityops.{domain}.v1.{domain}_pb2"
    if str(ROOT / "libs" / "src") not in sys.path:
        sys.path.insert(0, str(ROOT / "libs" / "src"))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py")], check=True)
        importlib.invalidate_caches()
        module = importlib.import_module(module_name)
    cls: type[Message] = getattr(module, name)
    return cls


# Every Kafka payload, by topic: a consumer must be able to decode what a producer wrote.
KAFKA_PAYLOADS = [
    "incidents.IncidentEvent",
    "dispatch.DispatchEvent",
    "dispatch.UnitStatusUpdate",
    "sensors.ReadingRecord",
    "sensors.SensorAlert",
    "sensors.SensorStatusChanged",
    "sensors.Aggregate",
    "notifications.DeliveryEvent",
    "notifications.CapAlertEvent",
]

SAMPLE_SCALARS: dict[int, object] = {
    FieldDescriptor.CPPTYPE_INT32: -7,
    FieldDescriptor.CPPTYPE_INT64: 1_790_000_000_123,
    FieldDescriptor.CPPTYPE_UINT32: 7,
    FieldDescriptor.CPPTYPE_UINT64: 7,
    FieldDescriptor.CPPTYPE_DOUBLE: 10.980123,
    FieldDescriptor.CPPTYPE_FLOAT: 1.5,
    FieldDescriptor.CPPTYPE_BOOL: True,
}


def _sample(field: FieldDescriptor) -> object:
    if field.enum_type is not None:
        return field.enum_type.values[-1].number
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return b"\x01\x02" if field.type == FieldDescriptor.TYPE_BYTES else "Đường ngập ở Dĩ An"
    return SAMPLE_SCALARS[field.cpp_type]


def _fill(message: Message, oneof_choice: str = "", depth: int = 0) -> None:
    """Set every field (both repeated elements and nested messages), one member per oneof."""
    # cast: the stubs type DESCRIPTOR as a union of the pure-Python and upb classes.
    for field in cast(Descriptor, message.DESCRIPTOR).fields:
        oneof = field.containing_oneof
        if oneof is not None and field.name != (oneof_choice or oneof.fields[0].name):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            getattr(message, field.name)["eido"] = _sample(value_field)
        elif field.message_type is not None:
            if depth >= 4:
                continue
            container = getattr(message, field.name)
            children = [container.add(), container.add()] if field.is_repeated else [container]
            for child in children:
                _fill(child, depth=depth + 1)
                if field.message_type.full_name == "google.protobuf.Timestamp":
                    child.seconds, child.nanos = 1_790_000_000, 5000
        elif field.is_repeated:
            getattr(message, field.name).extend([_sample(field), _sample(field)])
        else:
            setattr(message, field.name, _sample(field))


@pytest.mark.parametrize("qualified", KAFKA_PAYLOADS)
def test_kafka_payload_round_trips_with_every_field_and_oneof_member(
    qualified: str,
) -> None:
    cls = _message_class(qualified)
    body = cls.DESCRIPTOR.oneofs_by_name.get("body")
    choices = [f.name for f in body.fields] if body is not None else [""]
    for choice in choices:
        original = cls()
        _fill(original, choice)
        parsed = cls.FromString(original.SerializeToString())
        assert parsed == original, (qualified, choice)
        assert parsed.ListFields(), qualified
        if choice:
            assert parsed.WhichOneof("body") == choice


def test_incident_event_snapshot_keeps_vietnamese_text_and_masked_phone() -> None:
    event_cls = _message_class("incidents.IncidentEvent")
    event: Any = event_cls()  # Any: the class is looked up by name, its fields are not statically known
    event.incident.location.address = "Đại lộ Bình Dương, Thủ Dầu Một"
    event.reported.reporter_phone_masked = "*******678"
    parsed: Any = event_cls.FromString(event.SerializeToString())
    assert parsed.incident.location.address == "Đại lộ Bình Dương, Thủ Dầu Một"
    assert parsed.reported.reporter_phone_masked == "*******678"
