"""Postgres access for slots and assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from cityops_dispatch.assignments.models import Assignment, AssignmentStatus, Slot
from cityops_dispatch.units.models import UnitStatus
from cityops_platform.db.rows import from_row

UNIT_DISPATCHED = UnitStatus.DISPATCHED

A_COLUMNS = (
    "id, incident_id, slot_id, unit_id, status, capability, run_card, attempt, auto, distance_m, eta_seconds, "
    "reason, call_sign, incident_number, assigned_by_subject, assigned_by_role, replaces_assignment_id, "
    "assigned_at, ack_deadline, acknowledged_at, en_route_at, on_scene_at, ended_at, updated_at, "
    "override_reason, recommended_unit_id"
)
S_COLUMNS = "id, incident_id, capability, run_card, status, assignment_id, attempts, auto, waiting_since"


def to_assignment(row: asyncpg.Record) -> Assignment:
    return from_row(Assignment, row, status=AssignmentStatus(row["status"]))


_SLOT_FIELDS = tuple(c.strip() for c in S_COLUMNS.split(","))


def to_slot(row: asyncpg.Record | dict[str, Any]) -> Slot:
    return from_row(Slot, row)


async def assign_unit(conn: asyncpg.Connection, a: Assignment, *, unit_version: int) -> int | None:
    """Insert ``a`` (ASSIGNED), fill its slot and put its unit on it (DISPATCHED), in one statement.

    The caller holds the unit's row lock (read at ``unit_version``). Returns the unit's new version,
    or None when the unit is already on another active assignment: the partial unique index
    ``assignments_one_active_per_unit`` refused the insert (the invariant), and nothing changed.
    """
    value = await conn.fetchval(
        """WITH added AS (
                INSERT INTO assignments (id, incident_id, slot_id, unit_id, status, capability, run_card, attempt,
                    auto, distance_m, eta_seconds, reason, call_sign, incident_number, assigned_by_subject,
                    assigned_by_role, replaces_assignment_id, assigned_at, ack_deadline, updated_at,
                    override_reason, recommended_unit_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $18,
                    $22, $23)
                ON CONFLICT (unit_id) WHERE status IN (1, 2, 3, 4) DO NOTHING RETURNING id),
            slot_filled AS (
                UPDATE slots SET status = 'FILLED', assignment_id = $1, attempts = $8, waiting_since = NULL,
                    updated_at = now()
                WHERE id = $3 AND EXISTS (SELECT 1 FROM added)),
            unit_sent AS (
                UPDATE units SET status = $20, active_assignment_id = $1, active_incident_id = $2,
                    version = $21 + 1, updated_at = $18
                WHERE id = $4 AND EXISTS (SELECT 1 FROM added) RETURNING version)
            SELECT version FROM unit_sent""",
        a.id,
        a.incident_id,
        a.slot_id,
        a.unit_id,
        int(a.status),
        a.capability,
        a.run_card,
        a.attempt,
        a.auto,
        a.distance_m,
        a.eta_seconds,
        a.reason,
        a.call_sign,
        a.incident_number,
        a.assigned_by_subject,
        a.assigned_by_role,
        a.replaces_assignment_id,
        a.assigned_at,
        a.ack_deadline,
        int(UNIT_DISPATCHED),
        unit_version,
        a.override_reason,
        a.recommended_unit_id,
    )
    return int(value) if value is not None else None


async def plan_incident(conn: asyncpg.Connection, incident_id: str) -> tuple[list[Slot], list[str]]:
    """Mark the incident planned (auto-dispatch runs once); returns its slots, row-locked, and the
    units tried on it already (see ``units_tried``) — one statement."""
    rows = await conn.fetch(
        f"""WITH planned AS (UPDATE incidents_view SET planned = true WHERE id = $1),
            locked AS (SELECT {S_COLUMNS}, created_at AS created FROM slots WHERE incident_id = $1
                       ORDER BY created_at, id FOR UPDATE)
            SELECT tried.units, l.* FROM (SELECT array(SELECT DISTINCT unit_id FROM assignments
                WHERE incident_id = $1 AND status IN (1, 2, 3, 4, 6, 7)) AS units) AS tried
            LEFT JOIN locked AS l ON true ORDER BY l.created, l.id""",
        incident_id,
    )
    slots = [to_slot({k: r[k] for k in _SLOT_FIELDS}) for r in rows if r["id"] is not None]
    return slots, list(rows[0]["units"]) if rows else []


async def insert_slots(conn: asyncpg.Connection, slots: list[Slot]) -> list[Slot]:
    """Insert several OPEN slots with one statement."""
    if not slots:
        return []
    rows = await conn.fetch(
        f"""INSERT INTO slots (id, incident_id, capability, run_card, status, assignment_id, attempts, auto)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::int[], $8::bool[])
            RETURNING {S_COLUMNS}""",
        [s.id for s in slots],
        [s.incident_id for s in slots],
        [s.capability for s in slots],
        [s.run_card for s in slots],
        [s.status for s in slots],
        [s.assignment_id for s in slots],
        [s.attempts for s in slots],
        [s.auto for s in slots],
    )
    by_id = {r["id"]: to_slot(r) for r in rows}
    return [by_id[s.id] for s in slots]


async def get_assignment(
    conn: asyncpg.Connection, assignment_id: str, *, for_update: bool = False
) -> Assignment | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {A_COLUMNS} FROM assignments WHERE id = $1{lock}", assignment_id)
    return to_assignment(row) if row else None


async def update_assignment(
    conn: asyncpg.Connection, assignment_id: str, status: AssignmentStatus, **stamps: Any
) -> Assignment:
    """Set the status and any of reason/acknowledged_at/en_route_at/on_scene_at/ended_at."""
    allowed = {"reason", "acknowledged_at", "en_route_at", "on_scene_at", "ended_at"}
    unknown = set(stamps) - allowed
    if unknown:
        raise ValueError(f"unknown assignment columns: {unknown}")
    sets = ["status = $2", "updated_at = now()"]
    args: list[Any] = [assignment_id, int(status)]
    for name, value in stamps.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    row = await conn.fetchrow(
        f"UPDATE assignments SET {', '.join(sets)} WHERE id = $1 RETURNING {A_COLUMNS}", *args
    )
    return to_assignment(row)


async def list_assignments(
    conn: asyncpg.Connection, *, incident_id: str, unit_id: str, active_only: bool
) -> list[Assignment]:
    clauses, args = [], []
    if incident_id:
        args.append(incident_id)
        clauses.append(f"incident_id = ${len(args)}")
    if unit_id:
        args.append(unit_id)
        clauses.append(f"unit_id = ${len(args)}")
    if active_only:
        clauses.append("status IN (1, 2, 3, 4)")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await conn.fetch(f"SELECT {A_COLUMNS} FROM assignments {where} ORDER BY assigned_at, id LIMIT 1000", *args)
    return [to_assignment(r) for r in rows]


async def units_tried(conn: asyncpg.Connection, incident_id: str) -> list[str]:
    """Units that declined, timed out or are already on this incident: never proposed for it again."""
    rows = await conn.fetch(
        "SELECT DISTINCT unit_id FROM assignments WHERE incident_id = $1 AND status IN (1, 2, 3, 4, 6, 7)",
        incident_id,
    )
    return [r["unit_id"] for r in rows]


async def expired_ids(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM assignments WHERE status = 1 AND ack_deadline <= $1 ORDER BY ack_deadline LIMIT $2",
        now,
        limit,
    )
    return [r["id"] for r in rows]


async def insert_slot(conn: asyncpg.Connection, slot: Slot) -> Slot:
    row = await conn.fetchrow(
        f"""INSERT INTO slots (id, incident_id, capability, run_card, status, assignment_id, attempts, auto)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {S_COLUMNS}""",
        slot.id,
        slot.incident_id,
        slot.capability,
        slot.run_card,
        slot.status,
        slot.assignment_id,
        slot.attempts,
        slot.auto,
    )
    return to_slot(row)


async def get_slot(conn: asyncpg.Connection, slot_id: str, *, lock: str = "") -> Slot | None:
    """``lock``: "" | "FOR UPDATE" | "FOR UPDATE SKIP LOCKED"."""
    row = await conn.fetchrow(f"SELECT {S_COLUMNS} FROM slots WHERE id = $1 {lock}", slot_id)
    return to_slot(row) if row else None


async def slots_of(conn: asyncpg.Connection, incident_id: str, *, lock: str = "") -> list[Slot]:
    rows = await conn.fetch(
        f"SELECT {S_COLUMNS} FROM slots WHERE incident_id = $1 ORDER BY created_at, id {lock}", incident_id
    )
    return [to_slot(r) for r in rows]


async def update_slot(
    conn: asyncpg.Connection,
    slot_id: str,
    *,
    status: str,
    assignment_id: str | None,
    attempts: int | None = None,
    waiting: bool | None = None,
) -> None:
    """``waiting``: True sets waiting_since (when unset), False clears it, None leaves it."""
    waiting_sql = {True: "COALESCE(waiting_since, now())", False: "NULL", None: "waiting_since"}[waiting]
    await conn.execute(
        f"""UPDATE slots SET status = $2, assignment_id = $3, attempts = COALESCE($4, attempts),
                waiting_since = {waiting_sql}, updated_at = now() WHERE id = $1""",
        slot_id,
        status,
        assignment_id,
        attempts,
    )


async def incidents_waiting(conn: asyncpg.Connection, limit: int = 200) -> list[str]:
    rows = await conn.fetch(
        """SELECT incident_id FROM slots WHERE status = 'OPEN'
           GROUP BY incident_id ORDER BY min(created_at) LIMIT $1""",
        limit,
    )
    return [r["incident_id"] for r in rows]


async def open_capabilities(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """incident id → capabilities of its OPEN slots."""
    rows = await conn.fetch("SELECT incident_id, capability FROM slots WHERE status = 'OPEN'")
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["incident_id"], []).append(r["capability"])
    return out
