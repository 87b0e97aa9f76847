"""Postgres access to the reports filed against incidents (schema ``incidents``): listing them,
moving one to another incident (SplitReport), and the reporter check of reopen and rating."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from cityops_incidents.incidents.models import StoredReport
from cityops_incidents.text import mask_phone, phone_hash, phone_key_id
from cityops_platform.db.rows import from_row

_COLUMNS = (
    "id, incident_id, merged, distance_m, source, category, subcategory, description, lat, lon, address, "
    "reporter_phone_masked, reporter_subject, sensor_alert_id, external_ids, occurred_at, received_at, idempotency_key"
)


def _report(row: asyncpg.Record) -> StoredReport:
    return from_row(StoredReport, row, id=str(row["id"]), incident_id=str(row["incident_id"]),
                    external_ids=dict(row["external_ids"] or {}))


async def list_for(conn: asyncpg.Connection, incident_id: str) -> list[StoredReport]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM reports WHERE incident_id = $1 ORDER BY received_at, id", incident_id
    )
    return [_report(r) for r in rows]


async def get(conn: asyncpg.Connection, report_id: str, *, for_update: bool = False) -> StoredReport | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM reports WHERE id = $1{' FOR UPDATE' if for_update else ''}", report_id
    )
    return _report(row) if row else None


async def move(conn: asyncpg.Connection, *, report_id: str, from_incident_id: str, to_incident_id: str) -> None:
    """The report now belongs to ``to_incident_id``, as its founding (unmerged) report."""
    await conn.execute(
        "UPDATE reports SET incident_id = $2, merged = false, distance_m = 0, split_from = $3 WHERE id = $1",
        report_id, to_incident_id, from_incident_id,
    )


async def move_alert(conn: asyncpg.Connection, *, alert_id: str, to_incident_id: str) -> None:
    await conn.execute("UPDATE alert_links SET incident_id = $2 WHERE alert_id = $1", alert_id, to_incident_id)


async def is_reporter(conn: asyncpg.Connection, incident_id: str, subject: str) -> bool:
    """True when ``subject`` filed one of the incident's reports (a citizen's JWT subject)."""
    if not subject:
        return False
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM reports WHERE incident_id = $1 AND reporter_subject = $2)",
        incident_id, subject,
    ))


async def filed_by(conn: asyncpg.Connection, incident_id: str, subject: str) -> bool:
    """True when ``subject`` (any role) filed a report that created or merged into the incident:
    the timeline's IncidentReported / IncidentMerged entries carry who filed them."""
    if not subject:
        return False
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM timeline WHERE incident_id = $1 AND actor_subject = $2
                          AND action IN ('IncidentReported', 'IncidentMerged'))""",
        incident_id, subject,
    ))


@dataclass(frozen=True)
class CallerReport:
    report: StoredReport
    incident_number: str
    incident_status: str


async def by_phone_hash(conn: asyncpg.Connection, phone_hashes: list[str], limit: int) -> list[CallerReport]:
    """Reports whose reporter phone hashes to one of ``phone_hashes`` (text.phone_hash under the
    current key and the previous one), newest first, with their incident (index reports_phone_hash)."""
    columns = ", ".join(f"r.{c.strip()}" for c in _COLUMNS.split(","))
    rows = await conn.fetch(
        f"SELECT {columns}, i.number AS incident_number, i.status AS incident_status "
        f"FROM reports r JOIN incidents i ON i.id = r.incident_id "
        "WHERE r.reporter_phone_hash = ANY($1::text[]) ORDER BY r.received_at DESC LIMIT $2",
        phone_hashes, limit,
    )
    out = []
    for row in rows:
        values = dict(row)
        number, status = values.pop("incident_number"), values.pop("incident_status")
        out.append(CallerReport(_report(values), str(number), str(status)))
    return out


async def rehash_phone(conn: asyncpg.Connection, *, old_hash: str, new_hash: str, new_key_id: str) -> int:
    """One caller's rows move from the previous key's hash to the current one (the caller's phone
    is at hand, so nothing else is needed); returns how many rows changed."""
    if not old_hash or old_hash == new_hash:
        return 0
    status = await conn.execute(
        "UPDATE reports SET reporter_phone_hash = $2, reporter_phone_key_id = $3 WHERE reporter_phone_hash = $1",
        old_hash, new_hash, new_key_id,
    )
    return int(status.rsplit(" ", 1)[-1])


async def hash_legacy_phones(pool: asyncpg.Pool, key: bytes, *, batch: int = 500) -> int:
    """Rows written before migration 175 still hold the number: hash and mask it, then empty it.
    Run by the api at start-up (the key is not in the database); returns how many rows changed."""
    done = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, reporter_phone FROM reports WHERE reporter_phone <> '' LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch,
            )
            if not rows:
                return done
            await conn.executemany(
                "UPDATE reports SET reporter_phone_hash = $2, reporter_phone_masked = $3, reporter_phone = '', "
                "reporter_phone_key_id = $4 WHERE id = $1",
                [(r["id"], phone_hash(key, r["reporter_phone"]), mask_phone(r["reporter_phone"]), phone_key_id(key))
                 for r in rows],
            )
            done += len(rows)


async def phone_key_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Reports with a phone hash by the fingerprint of the key that made it ('' = unknown: hashed
    before migration 180), plus ``"\x00raw"``: rows still holding a number (before migration 175)."""
    rows = await conn.fetch(
        "SELECT reporter_phone_key_id AS key_id, count(*) AS n FROM reports WHERE reporter_phone_hash <> '' "
        "GROUP BY reporter_phone_key_id"
    )
    counts = {str(r["key_id"]): int(r["n"]) for r in rows}
    counts[RAW] = int(await conn.fetchval("SELECT count(*) FROM reports WHERE reporter_phone <> ''"))
    return counts


RAW = "\x00raw"
