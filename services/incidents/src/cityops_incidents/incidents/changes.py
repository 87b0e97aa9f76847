"""One change to an incident, written once: new version, SLA clock, row, timeline entry and the
IncidentEvent in the outbox — all on the caller's connection, so they commit together or not at all."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from google.protobuf.message import Message

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.config import Rules
from cityops_incidents.geo import cell_of
from cityops_incidents.incidents import sla, store
from cityops_incidents.incidents.convert import actor_pb, incident_pb, ts
from cityops_incidents.incidents.models import Actor, Incident, TimelineEntry
from cityops_incidents.text import normalize
from cityops_platform.db import outbox
from cityops_platform.kafka.topics import INCIDENT_EVENTS

PRODUCER = "incidents"
# IncidentEvent.body field for each body message type.
BODY_FIELDS = {
    "IncidentReported": "reported",
    "IncidentMerged": "merged",
    "IncidentTransitioned": "transitioned",
    "IncidentEscalated": "escalated",
    "NoteAdded": "note_added",
    "SensorAlertCleared": "sensor_alert_cleared",
    "IncidentUpdated": "updated",
    "IncidentSlaWarning": "sla_warning",
    "IncidentReopened": "reopened",
    "ReportSplit": "report_split",
    "IncidentRated": "rated",
}


def search_text(inc: Incident) -> str:
    return normalize(" ".join((inc.number, inc.description, inc.address, inc.subcategory, inc.district)))


def refresh_sla(rules: Rules, inc: Incident, now: datetime) -> None:
    """Bring the SLA clock in line with the status and priority after a change at ``now``:
    a new stage starts its own clock, a pause stops it, an escalation may only tighten it."""
    sla.advance(rules, inc, now=now)


async def write_change(
    conn: asyncpg.Connection,
    *,
    rules: Rules,
    inc: Incident,
    actor: Actor,
    body: Message,
    now: datetime,
    before: str = "",
    after: str = "",
    detail: str = "",
    new: bool = False,
    report: store.NewReport | None = None,
) -> str:
    """Persist ``inc`` (insert when ``new``, else update with version + 1), append the timeline
    entry, insert ``report`` (the report filed against it, if any) and enqueue the IncidentEvent
    carrying ``body`` — one statement, inside the caller's transaction (which commits it, or not).
    Returns the event id."""
    entry, record = prepare_change(rules=rules, inc=inc, actor=actor, body=body, now=now, before=before,
                                   after=after, detail=detail, new=new)
    await store.write_change(conn, inc=inc, new=new, h3_cell=cell_of(inc.lat, inc.lon), search_text=search_text(inc),
                             entry=entry, record=record, report=report)
    return entry.event_id


def prepare_change(
    *, rules: Rules, inc: Incident, actor: Actor, body: Message, now: datetime, before: str = "", after: str = "",
    detail: str = "", new: bool = False,
) -> tuple[TimelineEntry, outbox.OutboxRecord]:
    """The in-memory half of ``write_change``: new version, SLA clock, the timeline entry and the
    serialised IncidentEvent (a snapshot of ``inc`` now). The intake batch writes many at once."""
    action = body.DESCRIPTOR.name
    if new:
        inc.version = 1
    else:
        inc.version += 1
    inc.updated_at = now
    refresh_sla(rules, inc, now)
    event_id = str(uuid.uuid4())
    event = pb.IncidentEvent(
        event_id=event_id, occurred_at=ts(now), incident_id=inc.id, incident_number=inc.number,
        actor=actor_pb(actor), incident=incident_pb(inc, rules.eido),
    )
    getattr(event, BODY_FIELDS[action]).CopyFrom(body)
    record = outbox.outbox_record(topic=INCIDENT_EVENTS.name, key=inc.id, message=event, event_type=action,
                                  producer=PRODUCER, event_id=event_id)
    return TimelineEntry(now, actor, action, before, after, detail, inc.version, event_id), record


async def record_only(
    conn: asyncpg.Connection, *, inc: Incident, actor: Actor, action: str, now: datetime,
    before: str = "", after: str = "", detail: str = "",
) -> None:
    """A timeline entry for something that did not change the incident (e.g. a skipped dispatch
    event): audited, but no new version and no event."""
    await store.add_timeline(conn, inc.id, TimelineEntry(now, actor, action, before, after, detail, inc.version, ""))
