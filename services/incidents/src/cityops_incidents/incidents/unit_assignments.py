"""Which units are assigned to an incident, as the incidents worker learns it from dispatch events.

Incidents never reads dispatch's schema: the worker keeps this read model from
``cityops.dispatch.events.v1`` (keyed by incident id, so one incident's events arrive in order) in
the same transaction that records the event as processed. A ``field_unit`` credential may add notes
only to an incident its unit (``unit_id`` claim) is actively assigned to: assigned, acknowledged,
en route or on scene; a declined, timed-out, cancelled or cleared assignment no longer counts.
The model lags dispatch by the worker's consumer lag (docs/security.md).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from cityops_platform import auth
from cityops_platform.auth import Role

# Dispatch event (oneof case) → whether the assignment is active afterwards.
ASSIGNMENT_STATES: dict[str, bool] = {
    "unit_assigned": True,
    "assignment_acknowledged": True,
    "unit_en_route": True,
    "unit_arrived": True,
    "assignment_declined": False,
    "assignment_timed_out": False,
    "assignment_cancelled": False,
    "unit_cleared": False,
}


def bound_unit(principal: auth.Principal) -> str | None:
    """The unit a field-unit caller speaks for, or None when the caller is staff (any incident)."""
    return auth.bound_object(
        principal, role=Role.FIELD_UNIT.value, claim="unit_id", unbound=auth.STAFF,
        refusal="token field_unit không gắn với đơn vị nào (claim unit_id) (field-unit token is not bound to a unit)",
    )


async def record(conn: asyncpg.Connection, *, kind: str, assignment_id: str, incident_id: str, unit_id: str,
                 at: datetime) -> bool:
    """Apply one dispatch event to the read model; False when the event says nothing about an assignment."""
    active = ASSIGNMENT_STATES.get(kind)
    if active is None or not assignment_id or not incident_id or not unit_id:
        return False
    await conn.execute(
        """INSERT INTO unit_assignments (assignment_id, incident_id, unit_id, active, updated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (assignment_id) DO UPDATE SET active = EXCLUDED.active, updated_at = EXCLUDED.updated_at""",
        assignment_id, incident_id, unit_id, active, at,
    )
    return True


async def is_assigned(conn: asyncpg.Connection, incident_id: str, unit_id: str) -> bool:
    """True when ``unit_id`` holds an active assignment to the incident."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM unit_assignments WHERE incident_id = $1 AND unit_id = $2 AND active)",
        incident_id, unit_id,
    ))
