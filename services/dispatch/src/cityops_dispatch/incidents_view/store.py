"""Postgres access for dispatch's incident view and the notes seen on the incident stream."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.codes import incident_agency, incident_category
from cityops_dispatch.incidents_view.models import IncidentView, Note
from cityops_platform.db.rows import from_row

COLUMNS = (
    "id, number, category, subcategory, priority, status, description, lat, lon, address, agency, district, "
    "version, planned, snapshot, updated_at"
)


def to_view(row: asyncpg.Record) -> IncidentView:
    snapshot = incidents_pb2.Incident()
    snapshot.ParseFromString(row["snapshot"])
    return from_row(IncidentView, row, snapshot=snapshot)


async def get(conn: asyncpg.Connection, incident_id: str, *, for_update: bool = False) -> IncidentView | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM incidents_view WHERE id = $1{lock}", incident_id)
    return to_view(row) if row else None


async def find_by_eido_id(conn: asyncpg.Connection, eido_id: str) -> IncidentView | None:
    """The incident whose snapshot carries ``external_ids["eido"] == eido_id``."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM incidents_view WHERE eido_id = $1 ORDER BY updated_at DESC LIMIT 1", eido_id
    )
    return to_view(row) if row else None


_UPSERT_SET = """ON CONFLICT (id) DO UPDATE SET number = EXCLUDED.number, category = EXCLUDED.category,
                subcategory = EXCLUDED.subcategory, priority = EXCLUDED.priority, status = EXCLUDED.status,
                description = EXCLUDED.description, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
                address = EXCLUDED.address, agency = EXCLUDED.agency, district = EXCLUDED.district,
                version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, eido_id = EXCLUDED.eido_id, updated_at = now()
            WHERE incidents_view.version <= EXCLUDED.version"""
_INSERT_COLUMNS = (
    "INSERT INTO incidents_view (id, number, category, subcategory, priority, status, description, lat, lon, "
    "address, agency, district, version, snapshot, eido_id)"
)


def _values(incident: incidents_pb2.Incident) -> tuple[object, ...]:
    loc = incident.location
    return (
        incident.id,
        incident.number,
        incident_category(incident),
        incident.subcategory,
        int(incident.priority),
        int(incident.status),
        incident.description,
        loc.lat,
        loc.lon,
        loc.address,
        incident_agency(incident),
        incident.district,
        incident.version,
        incident.SerializeToString(),
        incident.external_ids.get("eido") or None,
    )


async def upsert(conn: asyncpg.Connection, incident: incidents_pb2.Incident) -> IncidentView | None:
    """Store the snapshot unless a newer version is already stored (None then)."""
    row = await conn.fetchrow(
        f"""{_INSERT_COLUMNS} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            {_UPSERT_SET} RETURNING {COLUMNS}""",
        *_values(incident),
    )
    return to_view(row) if row else None


async def upsert_first_time(
    conn: asyncpg.Connection, incident: incidents_pb2.Incident, *, consumer: str, event_id: str
) -> IncidentView | None:
    """``upsert`` of an event not seen before by ``consumer``, marking it seen in the same statement
    (``processed_events``, as ``idempotency.first_time``). None for a replayed event or an older version."""
    row = await conn.fetchrow(
        f"""WITH fresh AS (INSERT INTO processed_events (consumer, event_id) VALUES ($16, $17)
                ON CONFLICT DO NOTHING RETURNING 1)
            {_INSERT_COLUMNS} SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
            WHERE EXISTS (SELECT 1 FROM fresh)
            {_UPSERT_SET} RETURNING {COLUMNS}""",
        *_values(incident),
        consumer,
        event_id,
    )
    return to_view(row) if row else None


_VIEW_TYPES = ("text", "text", "text", "text", "smallint", "smallint", "text", "float8", "float8", "text", "text",
               "text", "bigint", "bytea", "text")


async def upsert_many_first_time(
    conn: asyncpg.Connection, incidents: Sequence[tuple[str, incidents_pb2.Incident]], *, consumer: str
) -> int:
    """``upsert_first_time`` of many (event id, snapshot) pairs in ONE statement: the events not
    seen before by ``consumer`` are marked seen, and the newest of their snapshots per incident is
    stored unless a newer version is already there. Returns how many events were new. All or
    nothing, like one statement is."""
    if not incidents:
        return 0
    columns = list(zip(*(_values(incident) for _, incident in incidents), strict=True))
    n = len(_VIEW_TYPES)
    unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_VIEW_TYPES))
    names = ", ".join(f"c{i}" for i in range(n))
    return int(await conn.fetchval(
        f"""WITH input AS (SELECT * FROM unnest({unnest}, ${n + 1}::text[]) WITH ORDINALITY
                               AS t({names}, event_id, ord)),
            fresh AS (INSERT INTO processed_events (consumer, event_id) SELECT ${n + 2}, event_id FROM input
                      ON CONFLICT DO NOTHING RETURNING event_id),
            newest AS (SELECT DISTINCT ON (c0) input.* FROM input JOIN fresh USING (event_id)
                       ORDER BY c0, c12 DESC, ord DESC),
            stored AS ({_INSERT_COLUMNS} SELECT {names} FROM newest {_UPSERT_SET} RETURNING 1)
            SELECT count(*) FROM fresh""",
        *columns,
        [event_id for event_id, _ in incidents],
        consumer,
    ))


async def add_note(conn: asyncpg.Connection, incident_id: str, note: Note) -> None:
    await conn.execute(
        """INSERT INTO incident_notes (incident_id, note_id, text, author, added_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING""",
        incident_id,
        note.note_id,
        note.text,
        note.author,
        note.added_at,
    )


async def notes(conn: asyncpg.Connection, incident_id: str) -> list[Note]:
    rows = await conn.fetch(
        "SELECT note_id, text, author, added_at FROM incident_notes WHERE incident_id = $1 ORDER BY added_at, note_id",
        incident_id,
    )
    return [Note(r["note_id"], r["text"], r["author"], r["added_at"]) for r in rows]
