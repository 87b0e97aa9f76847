"""Keeps dispatch's incident view current from the incident event stream."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.incidents_view import store
from cityops_dispatch.incidents_view.models import IncidentView, Note
from cityops_platform.db.idempotency import first_time


async def apply_event_once(
    conn: asyncpg.Connection, event: incidents_pb2.IncidentEvent, *, consumer: str
) -> IncidentView | None:
    """``apply_event`` once per event id for ``consumer`` (None for a replay). The common case, a
    snapshot without a note, marks the event and upserts the view in one statement."""
    if event.event_id and event.HasField("incident") and event.incident.id and not event.HasField("note_added"):
        return await store.upsert_first_time(conn, event.incident, consumer=consumer, event_id=event.event_id)
    if event.event_id and not await first_time(conn, consumer, event.event_id):
        return None
    return await apply_event(conn, event)


async def apply_snapshots_once(
    conn: asyncpg.Connection, events: Sequence[incidents_pb2.IncidentEvent], *, consumer: str
) -> int:
    """``apply_event_once`` of many snapshot events (each with an event id and an incident, no
    note) in one statement; returns how many were new for ``consumer``."""
    return await store.upsert_many_first_time(conn, [(e.event_id, e.incident) for e in events], consumer=consumer)


async def apply_event(conn: asyncpg.Connection, event: incidents_pb2.IncidentEvent) -> IncidentView | None:
    """Apply one IncidentEvent to the view; returns the stored view (None for an event without a snapshot
    or one older than what is stored). Idempotent: replays converge on the same row."""
    if event.HasField("note_added"):
        added = event.occurred_at.ToDatetime(tzinfo=UTC) if event.HasField("occurred_at") else datetime.now(UTC)
        note = Note(event.note_added.note_id or event.event_id, event.note_added.text, event.actor.subject, added)
        await store.add_note(conn, event.incident_id, note)
    if not event.HasField("incident") or not event.incident.id:
        return None
    return await store.upsert(conn, event.incident)
