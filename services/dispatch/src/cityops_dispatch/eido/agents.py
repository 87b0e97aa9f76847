"""The dispatch worker's EIDO conveyance: agents that queue a conveyance for every incident and
dispatch event, and the task that sends them (only installed when partners are configured)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import faust

from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch import db
from cityops_dispatch.codes import incident_category
from cityops_dispatch.eido.conveyance import ConveyanceSettings, Conveyor
from cityops_dispatch.eido.partners import load_partners
from cityops_dispatch.eido.service import ExportedEido, export_incident
from cityops_dispatch.eido.standard import installed_standard
from cityops_dispatch.eido.vocabulary import load_vocabulary
from cityops_dispatch.incidents_view import store as view_store
from cityops_dispatch.settings import DispatchSettings
from cityops_platform import netguard
from cityops_platform.faust_app import consume, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.kafka.topics import DISPATCH_EVENTS, INCIDENT_EVENTS
from cityops_platform.runtime import Resources


def create_conveyor(res: Resources, dispatch: DispatchSettings) -> Conveyor | None:
    """The conveyor of the configured partners, or None when there are none."""
    partners = load_partners(dispatch.eido_partners_file)
    if not partners:
        return None
    vocab = load_vocabulary(dispatch.eido_file)
    standard = installed_standard()

    async def export(incident_id: str) -> ExportedEido:
        async with res.db.acquire() as conn:
            return await export_incident(conn, incident_id, domain=dispatch.eido_domain, vocab=vocab,
                                         standard=standard)

    settings = ConveyanceSettings(
        max_attempts=dispatch.eido_conveyance_max_attempts, backoff_s=dispatch.eido_conveyance_backoff_seconds,
        backoff_max_s=dispatch.eido_conveyance_backoff_max_seconds, timeout_s=dispatch.eido_conveyance_timeout_seconds,
        allow=netguard.parse_allow(netguard.OutboundSettings().outbound_allow_cidrs),
    )
    return Conveyor(pool=lambda: res.db, partners=partners, export=export, settings=settings)


def install(app: faust.App, res: Resources, conveyor: Conveyor) -> None:
    prefix = res.settings.topic_prefix

    async def on_incident(event: incidents_pb2.IncidentEvent, _: Any) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            await conveyor.on_change(conn, event_id=event.event_id, incident_id=event.incident_id,
                                     category=incident_category(event.incident))

        await db.in_transaction(res.db, work)

    async def on_dispatch(event: dispatch_pb2.DispatchEvent, _: Any) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            view = await view_store.get(conn, event.incident_id)
            await conveyor.on_change(conn, event_id=event.event_id, incident_id=event.incident_id,
                                     category=view.category if view else "")

        await db.in_transaction(res.db, work)

    @app.agent(raw_topic(app, f"{prefix}{INCIDENT_EVENTS.name}"), name="dispatch-eido-incident-changes")
    async def incident_changes(stream: faust.StreamT[Any]) -> None:
        await consume(stream, decode=proto_decoder(incidents_pb2.IncidentEvent), handle=on_incident,
                      dead_letters=faust_dead_letters(app))

    @app.agent(raw_topic(app, f"{prefix}{DISPATCH_EVENTS.name}"), name="dispatch-eido-dispatch-changes")
    async def dispatch_changes(stream: faust.StreamT[Any]) -> None:
        await consume(stream, decode=proto_decoder(dispatch_pb2.DispatchEvent), handle=on_dispatch,
                      dead_letters=faust_dead_letters(app))

    @app.task  # type: ignore[untyped-decorator]
    async def convey_eidos() -> None:
        await res.wait_open()  # the pool opens in a service started alongside the agents
        stopping = asyncio.Event()
        try:
            await conveyor.run(stopping)
        finally:
            stopping.set()
            await conveyor.close()
