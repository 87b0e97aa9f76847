"""Faust agent: incident events → dispatch's incident view → auto-dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import faust

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch import db
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.incidents_view import service
from cityops_dispatch.incidents_view.models import TERMINAL, IncidentView
from cityops_platform.bounded import LruMap
from cityops_platform.db.groupwrite import GroupWriter
from cityops_platform.faust_app import consume_batches, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.runtime import Resources

CONSUMER = "dispatch.incident-events"


def install(app: faust.App, res: Resources, dispatcher: AssignmentEngine, *, concurrency: int = 1) -> None:
    topic = raw_topic(app, f"{res.settings.topic_prefix}{INCIDENT_EVENTS.name}")
    planned = PlannedIncidents()

    def view_only(event: incidents_pb2.IncidentEvent) -> bool:
        return _view_only(event, dispatcher, planned)

    async def write_snapshots(events: Sequence[incidents_pb2.IncidentEvent]) -> None:
        async with res.db.acquire() as conn:
            await service.apply_snapshots_once(conn, events, consumer=CONSUMER)

    # The view-only events of every actor: marks and view upserts in ONE statement per group.
    snapshots = GroupWriter(write_snapshots)

    async def handle(event: incidents_pb2.IncidentEvent, _: Any) -> None:
        if view_only(event):
            # ``on_incident`` would do nothing for it: the view upsert (one statement that also
            # marks the event) runs without BEGIN/COMMIT, grouped with the other actors' ones.
            await snapshots.write([event])
            return

        async def work(conn: asyncpg.Connection) -> IncidentView | None:
            view = await service.apply_event_once(conn, event, consumer=CONSUMER)
            if view is not None:
                await dispatcher.on_incident(conn, view)
            return view

        view = await db.in_transaction(res.db, work)
        if view is not None and view.open and (view.planned or dispatcher.rules.is_auto(view.priority)):
            planned.add(view.id)  # committed: ``on_incident`` planned it (now or before)

    @app.agent(topic, name="dispatch-incident-events", concurrency=max(1, concurrency))
    async def incident_events(stream: faust.StreamT[Any]) -> None:
        async def handle_many(pairs: Sequence[tuple[incidents_pb2.IncidentEvent, Any]]) -> None:
            await snapshots.write([event for event, _ in pairs])

        await consume_batches(stream, decode=proto_decoder(incidents_pb2.IncidentEvent), handle=handle,
                              batchable=view_only, handle_many=handle_many,
                              within_s=res.settings.stream_batch_ms / 1000,
                              dead_letters=faust_dead_letters(app))


class PlannedIncidents:
    """The ids of incidents this worker saw planned (``incidents_view.planned``, which never goes
    back to false), newest kept: for an open one ``on_incident`` does nothing. Bounded; a worker
    that forgot (or restarted) only takes the transactional path again."""

    def __init__(self, limit: int = 100_000) -> None:
        self._ids: LruMap[str, None] = LruMap(limit)

    def add(self, incident_id: str) -> None:
        self._ids.put(incident_id, None)

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._ids


def _view_only(event: incidents_pb2.IncidentEvent, dispatcher: AssignmentEngine, planned: PlannedIncidents) -> bool:
    """True when the event can only update the view: a snapshot (no note) of an open incident whose
    priority is not dispatched automatically, or that was planned already. Anything else (a
    closed incident winds its assignments down, an automatic priority may plan a run card) runs in
    one transaction with the view update, so the processed mark and the dispatch commit together."""
    incident = event.incident
    return (bool(event.event_id) and event.HasField("incident") and bool(incident.id)
            and not event.HasField("note_added") and incident.status not in TERMINAL
            and (not dispatcher.rules.is_auto(int(incident.priority)) or incident.id in planned))
