"""Keeps dispatch's incident view current from the incident event stream."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.incidents_view import store
from cityops_dispatch.incidents_view.models import IncidentView, Note


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
