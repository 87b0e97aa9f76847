"""Units: registry, guarded status changes and AVL positions.

The public functions own their transaction and take their dependencies by keyword (``pool=``);
``register``, ``update_status`` and ``apply_fix`` are their bodies, run inside a transaction. A
status change that moves the unit's active assignment hands it to ``assignments.service``
(``follow_unit_status``): the assignment state machine lives there only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from cityops_dispatch import db, events
from cityops_dispatch.assignments import store as assignments_store
from cityops_dispatch.assignments.models import Actor
from cityops_dispatch.assignments.service import follow_unit_status
from cityops_dispatch.geo import check_point
from cityops_dispatch.rules import Rules
from cityops_dispatch.units import store
from cityops_dispatch.units.models import LocationFix, Unit, UnitIn, UnitStatus, check_requested
from cityops_platform.errors import FieldViolation, NotFound, PreconditionFailed, require

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
        await follow_unit_status(conn, assignment, updated, target, reason=reason, actor=actor, rules=rules, now=now)
    await events.unit_status(conn, updated)
    return updated


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


# ---- the api's entry points: each owns its transaction ---------------------------------------


async def register_unit(unit_in: UnitIn, *, pool: asyncpg.Pool, known_agencies: set[str]) -> Unit:
    """Validate ``unit_in`` (every bad field named) and create or update the unit in one transaction."""
    validate_unit(unit_in, known_agencies=known_agencies)
    return await db.in_transaction(pool, lambda conn: register(conn, unit_in))


async def get_unit(unit_id: str, *, pool: asyncpg.Pool) -> Unit:
    """The unit, or NotFound."""
    async with pool.acquire() as conn:
        return await get(conn, unit_id)


async def list_units(
    *, pool: asyncpg.Pool, agencies: Sequence[str], statuses: Sequence[UnitStatus], capability: str, district: str,
    ward_codes: Sequence[str], after_id: str, limit: int,
) -> list[Unit]:
    """Units matching every given filter, ordered by id, after ``after_id``, at most ``limit``."""
    async with pool.acquire() as conn:
        return await store.list_units(
            conn, agencies=list(agencies), statuses=[int(s) for s in statuses], capability=capability,
            district=district, after_id=after_id, limit=limit, ward_codes=list(ward_codes),
        )


async def change_status(
    *, pool: asyncpg.Pool, unit_id: str, target: UnitStatus, location: tuple[float, float, str] | None,
    reason: str, actor: Actor, rules: Rules,
) -> Unit:
    """``update_status`` in one transaction (retried when Postgres picks it as a deadlock victim)."""
    return await db.in_transaction(
        pool,
        lambda conn: update_status(
            conn, unit_id=unit_id, target=target, location=location, reason=reason, actor=actor, rules=rules,
        ),
    )


async def record_fix(fix: LocationFix, *, pool: asyncpg.Pool, now: datetime | None = None
                     ) -> tuple[Unit | None, str | None]:
    """``apply_fix`` in its own transaction: one AVL fix is all-or-nothing, the stream goes on."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        return await apply_fix(conn, fix, now)
