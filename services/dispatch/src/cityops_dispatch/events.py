"""The events dispatch publishes, always through the outbox inside the caller's transaction.

- ``cityops.dispatch.events.v1`` (key = incident id): DispatchEvent, event type = the body's name.
- ``cityops.dispatch.unit-status.v1`` (compacted, key = unit id): UnitStatusUpdate after every unit change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch.assignments.models import Actor, Assignment
from cityops_dispatch.convert import actor_pb, assignment_pb, set_ts, unit_pb
from cityops_dispatch.units.models import Unit
from cityops_platform.db.outbox import OutboxRecord, enqueue_records, outbox_record
from cityops_platform.kafka.topics import DISPATCH_EVENTS, UNIT_STATUS

SCHEMA = "dispatch"
PRODUCER = "dispatch"

# oneof field name → the PascalCase event type written in the record headers.
BODY_TYPES = {
    "unit_assigned": "UnitAssigned",
    "assignment_acknowledged": "AssignmentAcknowledged",
    "assignment_declined": "AssignmentDeclined",
    "assignment_timed_out": "AssignmentTimedOut",
    "unit_en_route": "UnitEnRoute",
    "unit_arrived": "UnitArrived",
    "unit_cleared": "UnitCleared",
    "incident_awaiting_units": "IncidentAwaitingUnits",
    "assignment_cancelled": "AssignmentCancelled",
}


def dispatch_event_record(
    *,
    body_name: str,
    body: Any,
    incident_id: str,
    incident_number: str,
    actor: Actor,
    assignment: Assignment | None = None,
    unit: Unit | None = None,
) -> OutboxRecord:
    """One DispatchEvent, ready for ``enqueue_records``."""
    event_id = str(uuid.uuid4())
    event = dispatch_pb2.DispatchEvent(
        event_id=event_id,
        incident_id=incident_id,
        incident_number=incident_number,
        actor=actor_pb(actor),
        assignment_id=assignment.id if assignment else "",
        unit_id=assignment.unit_id if assignment else (unit.id if unit else ""),
    )
    set_ts(event.occurred_at, datetime.now(UTC))
    if assignment is not None:
        event.assignment.CopyFrom(assignment_pb(assignment))
    if unit is not None:
        event.unit.CopyFrom(unit_pb(unit))
    getattr(event, body_name).CopyFrom(body)
    return outbox_record(
        topic=DISPATCH_EVENTS.name,
        key=incident_id,
        message=event,
        event_type=BODY_TYPES[body_name],
        producer=PRODUCER,
        event_id=event_id,
    )


def unit_status_record(unit: Unit) -> OutboxRecord:
    """The unit's latest state for the compacted unit-status topic, ready for ``enqueue_records``."""
    event_id = str(uuid.uuid4())
    update = dispatch_pb2.UnitStatusUpdate(unit=unit_pb(unit), event_id=event_id)
    set_ts(update.occurred_at, datetime.now(UTC))
    return outbox_record(
        topic=UNIT_STATUS.name, key=unit.id, message=update, event_type="UnitStatusUpdate", producer=PRODUCER,
        event_id=event_id,
    )


async def enqueue(conn: asyncpg.Connection, *records: OutboxRecord) -> None:
    """Several events in the outbox with one statement, in this order."""
    await enqueue_records(conn, schema=SCHEMA, records=records)


async def unit_status(conn: asyncpg.Connection, unit: Unit) -> str:
    """Enqueue the unit's latest state on the compacted unit-status topic."""
    record = unit_status_record(unit)
    await enqueue(conn, record)
    return record.event_id
