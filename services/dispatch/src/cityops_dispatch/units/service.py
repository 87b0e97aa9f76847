"""Units: registry, guarded status changes (which drive the active assignment) and AVL positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch import events
from cityops_dispatch.assignments import store as assignments_store
from cityops_dispatch.assignments.models import Actor, Assignment, AssignmentStatus
from cityops_dispatch.rules import Rules
from cityops_dispatch.geo import check_point, haversine_m
from cityops_dispatch.incidents_view import store as view_store
from cityops_dispatch.recommend.service import eta_seconds
from cityops_dispatch.units import store
from cityops_dispatch.units.models import LocationFix, Unit, UnitIn, UnitStatus, check_requested
from cityops_platform.errors import FieldViolation, NotFound, PreconditionFailed, require

A = AssignmentStatus
MAX_FUTURE_SKEW = timedelta(seconds=60)
MAX_ID_LEN = 64


def validate_unit(unit_in: UnitIn, *, known_agencies: set[str], path: str = "unit") -> None:
    """Raise ValidationFailed naming every bad field."""
    violations: list[FieldViolation] = []
    if not unit_in.id.strip() or len(unit_in.id) > MAX_ID_LEN:
        violations.append(FieldViolation(f"{path}.id", "bắt buộc, tối đa 64 ký tự (required, <= 64 chars)"))
    if not unit_in.call_sign.strip() or len(unit_in.call_sign) > MAX_ID_LEN:
        violations.append(FieldViolation(f"{path}.call_sign", "bắt buộc, tối đa 64 ký tự (required, <= 64 chars)"))
    if unit_in.agency not in known_agencies:
        violations.append(FieldViolation(f"{path}.agency", "cơ quan không hợp lệ (unknown or unspecified agency); "
                                         f"known codes: {', '.join(sorted(known_agencies))}"))
    if not unit_in.capabilities or any(not c.strip() or len(c) > 40 for c in unit_in.capabilities):
        violations.append(FieldViolation(f"{path}.capabilities", "cần ít nhất một năng lực (at least one capability)"))
    violations += check_point(unit_in.lat, unit_in.lon, f"{path}.location")
    require(violations)


async def register(conn: asyncpg.Connection, unit_in: UnitIn) -> Unit:
    """Create or update a unit by id and publish its state. A unit on an assignment keeps its status."""
    existing = await store.get(conn, unit_in.id, for_update=True)
    if existing is not None and existing.active_assignment_id:
        unit_in.status = None
    elif unit_in.status in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE):
        raise PreconditionFailed("Trạng thái này chỉ có qua phân công (status only reachable through an assignment)")
    try:
        unit = await store.upsert(conn, unit_in)
    except asyncpg.UniqueViolationError as exc:
        raise PreconditionFailed(f"Hô hiệu '{unit_in.call_sign}' đã được dùng (call sign taken)") from exc
    assert unit is not None
    await events.unit_status(conn, unit)
    return unit


async def get(conn: asyncpg.Connection, unit_id: str) -> Unit:
    unit = await store.get(conn, unit_id)
    if unit is None:
        raise NotFound("đơn vị (unit)", unit_id)
    return unit


async def update_status(
    conn: asyncpg.Connection,
    *,
    unit_id: str,
    target: UnitStatus,
    location: tuple[float, float, str] | None,
    reason: str,
    actor: Actor,
    rules: Rules,
) -> Unit:
    """Guarded move of a unit. EN_ROUTE, ON_SCENE and the clear after ON_SCENE (RETURNING or AVAILABLE)
    move the unit's active assignment too and publish UnitEnRoute / UnitArrived / UnitCleared."""
    if location is not None:
        require(check_point(location[0], location[1], "location"))
    unit = await store.get(conn, unit_id, for_update=True)
    if unit is None:
        raise NotFound("đơn vị (unit)", unit_id)
    check_requested(unit.status, target)
    now = datetime.now(UTC)
    if location is not None:
        moved = await store.set_position(
            conn, unit_id, lat=location[0], lon=location[1], address=location[2] or None,
            heading_deg=unit.heading_deg, speed_kmh=unit.speed_kmh, observed_at=now,
        )
        unit = moved or unit
    assignment = None
    if unit.active_assignment_id:
        assignment = await assignments_store.get_assignment(conn, unit.active_assignment_id, for_update=True)
    keep_assignment = target in (UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE)
    updated = await store.set_status(
        conn, unit_id, target,
        assignment_id=unit.active_assignment_id if keep_assignment else None,
        incident_id=unit.active_incident_id if keep_assignment else None,
    )
    if assignment is not None and assignment.active:
        await _advance_assignment(conn, assignment, updated, target, reason, actor, rules, now)
    await events.unit_status(conn, updated)
    return updated


async def _advance_assignment(
    conn: asyncpg.Connection,
    assignment: Assignment,
    unit: Unit,
    target: UnitStatus,
    reason: str,
    actor: Actor,
    rules: Rules,
    now: datetime,
) -> None:
    point = common_pb2.GeoPoint(lat=unit.lat, lon=unit.lon, address=unit.address)
    common: dict[str, Any] = {
        "incident_id": assignment.incident_id, "incident_number": assignment.incident_number, "actor": actor
    }
    current = assignment
    if target in (UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE) and current.status == A.ASSIGNED:
        # Moving is an implicit acceptance.
        current = await assignments_store.update_assignment(conn, current.id, A.ACKNOWLEDGED, acknowledged_at=now)
        await events.dispatch_event(
            conn, body_name="assignment_acknowledged",
            body=dispatch_pb2.AssignmentAcknowledged(ack_latency_seconds=(now - current.assigned_at).total_seconds()),
            assignment=current, **common,
        )
    if target == UnitStatus.EN_ROUTE:
        current = await assignments_store.update_assignment(conn, current.id, A.EN_ROUTE, en_route_at=now)
        view = await view_store.get(conn, current.incident_id)
        eta = 0.0
        if view is not None:
            eta = eta_seconds(haversine_m(unit.lat, unit.lon, view.lat, view.lon), unit.unit_type, rules)
        await events.dispatch_event(
            conn, body_name="unit_en_route", body=dispatch_pb2.UnitEnRoute(location=point, eta_seconds=eta),
            assignment=current, unit=unit, **common,
        )
    elif target == UnitStatus.ON_SCENE:
        current = await assignments_store.update_assignment(conn, current.id, A.ON_SCENE, on_scene_at=now)
        await events.dispatch_event(
            conn, body_name="unit_arrived", body=dispatch_pb2.UnitArrived(location=point),
            assignment=current, unit=unit, **common,
        )
    elif target in (UnitStatus.RETURNING, UnitStatus.AVAILABLE):
        text = reason.strip() or "hoàn thành (cleared)"
        current = await assignments_store.update_assignment(conn, current.id, A.CLEARED, reason=text, ended_at=now)
        if current.slot_id:
            await assignments_store.update_slot(conn, current.slot_id, status="DONE", assignment_id=current.id)
        await events.dispatch_event(
            conn, body_name="unit_cleared", body=dispatch_pb2.UnitCleared(reason=text),
            assignment=current, unit=unit, **common,
        )


def check_fix(fix: LocationFix, now: datetime) -> str | None:
    """Why an AVL fix is refused, or None."""
    if check_point(fix.lat, fix.lon, "location"):
        return "tọa độ không hợp lệ (bad coordinates)"
    if fix.observed_at is not None and fix.observed_at > now + MAX_FUTURE_SKEW:
        return "thời điểm ở tương lai (future timestamp)"
    if not (0.0 <= fix.heading_deg <= 360.0) or fix.speed_kmh < 0 or fix.speed_kmh > 400:
        return "hướng hoặc tốc độ không hợp lệ (bad heading or speed)"
    return None


async def apply_fix(conn: asyncpg.Connection, fix: LocationFix, now: datetime) -> tuple[Unit | None, str | None]:
    """Store one AVL fix and publish the unit's state. Returns (unit, None) or (None, why refused)."""
    problem = check_fix(fix, now)
    if problem:
        return None, problem
    if await store.get(conn, fix.unit_id) is None:
        return None, "đơn vị không tồn tại (unknown unit)"
    unit = await store.set_position(
        conn, fix.unit_id, lat=fix.lat, lon=fix.lon, address=fix.address or None, heading_deg=fix.heading_deg,
        speed_kmh=fix.speed_kmh, observed_at=fix.observed_at or now,
    )
    if unit is None:
        return None, "vị trí cũ hơn vị trí đã lưu (stale fix)"
    await events.unit_status(conn, unit)
    return unit, None
