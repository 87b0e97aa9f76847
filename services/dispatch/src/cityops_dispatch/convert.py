"""Domain objects → protobuf messages (used by the servicers and by the events we publish), and the
request-field checks every servicer shares."""

from __future__ import annotations

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch.assignments.models import Assignment
from cityops_dispatch.codes import agency_enum
from cityops_dispatch.units.models import Unit, UnitStatus
from cityops_platform import codecs
from cityops_platform.codecs import set_timestamp, timestamp_or_none
from cityops_platform.errors import FieldViolation, ValidationFailed

ts = timestamp_or_none
set_ts = set_timestamp


def unit_pb(unit: Unit) -> dispatch_pb2.Unit:
    msg = dispatch_pb2.Unit(
        id=unit.id,
        call_sign=unit.call_sign,
        agency=agency_enum(unit.agency),  # type: ignore[arg-type]
        agency_code=unit.agency,
        capabilities=unit.capabilities,
        status=int(unit.status),  # type: ignore[arg-type]
        location=common_pb2.GeoPoint(lat=unit.lat, lon=unit.lon, address=unit.address),
        station=unit.station_name,
        active_assignment_id=unit.active_assignment_id or "",
        active_incident_id=unit.active_incident_id or "",
        unit_type=unit.unit_type,
        district=unit.ward_name or unit.district,
        ward_code=unit.ward_code,
        ward_name=unit.ward_name,
        heading_deg=unit.heading_deg,
        speed_kmh=unit.speed_kmh,
    )
    if unit.station_lat is not None and unit.station_lon is not None:
        msg.station_location.CopyFrom(common_pb2.GeoPoint(lat=unit.station_lat, lon=unit.station_lon))
    set_ts(msg.updated_at, unit.updated_at)
    set_ts(msg.location_updated_at, unit.location_updated_at)
    return msg


def assignment_pb(a: Assignment) -> dispatch_pb2.Assignment:
    msg = dispatch_pb2.Assignment(
        id=a.id,
        incident_id=a.incident_id,
        unit_id=a.unit_id,
        status=int(a.status),  # type: ignore[arg-type]
        reason=a.reason,
        auto=a.auto,
        call_sign=a.call_sign,
        incident_number=a.incident_number,
        capability=a.capability,
        run_card=a.run_card,
        attempt=a.attempt,
        distance_m=a.distance_m,
        eta_seconds=a.eta_seconds,
        assigned_by=common_pb2.Actor(subject=a.assigned_by_subject, role=a.assigned_by_role),
        override_reason=a.override_reason,
        recommended_unit_id=a.recommended_unit_id,
    )
    set_ts(msg.assigned_at, a.assigned_at)
    set_ts(msg.acknowledged_at, a.acknowledged_at)
    set_ts(msg.ack_deadline, a.ack_deadline)
    set_ts(msg.updated_at, a.updated_at)
    set_ts(msg.en_route_at, a.en_route_at)
    set_ts(msg.on_scene_at, a.on_scene_at)
    set_ts(msg.ended_at, a.ended_at)
    return msg


actor_pb = codecs.actor_pb


# ---- request fields → checked values (the servicers' shared translation) ----------------------


def required(value: str, path: str) -> list[FieldViolation]:
    """A required identifier: present and at most 128 characters."""
    if not value.strip():
        return [FieldViolation(path, "bắt buộc (required)")]
    if len(value) > 128:
        return [FieldViolation(path, "tối đa 128 ký tự (at most 128 characters)")]
    return []


def unit_status(value: int, path: str, *, allow_unspecified: bool) -> UnitStatus | None:
    """The proto status number as a UnitStatus (None for UNSPECIFIED when allowed), else ValidationFailed."""
    if value == 0 and allow_unspecified:
        return None
    try:
        return UnitStatus(value)
    except ValueError:
        raise ValidationFailed([FieldViolation(path, "trạng thái không hợp lệ (unknown unit status)")]) from None


def page_limit(limit: int, *, default: int, maximum: int, path: str) -> int:
    """A page size or limit within [0, maximum]; 0 means ``default``."""
    if limit < 0 or limit > maximum:
        raise ValidationFailed([FieldViolation(path, f"phải trong [0, {maximum}] (must be within 0..{maximum})")])
    return limit or default
