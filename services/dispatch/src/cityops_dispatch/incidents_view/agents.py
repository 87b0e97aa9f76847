"""Faust agent: incident events → dispatch's incident view → auto-dispatch."""

from __future__ import annotations

from typing import Any

import asyncpg
import faust

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch import db
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.incidents_view import service
from cityops_platform.faust_app import consume, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.runtime import Resources

CONSUMER = "dispatch.incident-events"


def install(app: faust.App, res: Resources, dispatcher: AssignmentEngine, *, concurrency: int = 1) -> None:
    topic = raw_topic(app, f"{res.settings.topic_prefix}{INCIDENT_EVENTS.name}")

    async def handle(event: incidents_pb2.IncidentEvent, _: Any) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            view = await service.apply_event_once(conn, event, consumer=CONSUMER)
            if view is not None:
                await dispatcher.on_incident(conn, view)

        await db.in_transaction(res.db, work)

    @app.agent(topic, name="dispatch-incident-events", concurrency=max(1, concurrency))
    async def incident_events(stream: faust.StreamT[Any]) -> None:
        await consume(stream, decode=proto_decoder(incidents_pb2.IncidentEvent), handle=handle,
                      dead_letters=faust_dead_letters(app))
