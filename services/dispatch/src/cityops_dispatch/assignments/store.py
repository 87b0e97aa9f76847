"""Postgres access for slots and assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from cityops_dispatch.assignments.models import Assignment, AssignmentStatus, Slot

A_COLUMNS = (
    "id, incident_id, slot_id, unit_id, status, capability, run_card, attempt, auto, distance_m, eta_seconds, "
    "reason, call_sign, incident_number, assigned_by_subject, assigned_by_role, replaces_assignment_id, "
    "assigned_at, ack_deadline, acknowledged_at, en_route_at, on_scene_at, ended_at, updated_at"
)
S_COLUMNS = "id, incident_id, capability, run_card, status, assignment_id, attempts, auto, waiting_since"


def to_assignment(row: asyncpg.Record) -> Assignment:
    data = dict(row)
    data["status"] = AssignmentStatus(data["status"])
    return Assignment(**data)


def to_slot(row: asyncpg.Record) -> Slot:
    return Slot(**dict(row))


async def insert_assignment(conn: asyncpg.Connection, a: Assignment) -> Assignment:
    """Insert; a second active assignment of the unit raises asyncpg.UniqueViolationError (the invariant)."""
    row = await conn.fetchrow(
        f"""INSERT INTO assignments (id, incident_id, slot_id, unit_id, status, capability, run_card, attempt, auto,
                distance_m, eta_seconds, reason, call_sign, incident_number, assigned_by_subject, assigned_by_role,
                replaces_assignment_id, assigned_at, ack_deadline, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $18)
            RETURNING {A_COLUMNS}""",
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
    )
    return to_assignment(row)


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
