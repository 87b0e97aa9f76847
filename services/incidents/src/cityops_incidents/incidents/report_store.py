"""Postgres access to the reports filed against incidents (schema ``incidents``): listing them,
moving one to another incident (SplitReport), and the reporter check of reopen and rating."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from cityops_incidents.incidents.models import StoredReport

_COLUMNS = (
    "id, incident_id, merged, distance_m, source, category, subcategory, description, lat, lon, address, "
    "reporter_phone, reporter_subject, sensor_alert_id, external_ids, occurred_at, received_at, idempotency_key"
)


def _report(row: asyncpg.Record) -> StoredReport:
    values: dict[str, Any] = dict(row)
    values["id"] = str(values["id"])
    values["incident_id"] = str(values["incident_id"])
    values["external_ids"] = dict(values["external_ids"] or {})
    return StoredReport(**values)


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


# The phone's digits in national form ("+84 912 345 678" → "0912345678"), hashed. Computed per row
# (no index: the table holds PII in plain text and a lookup happens once per call).
PHONE_HASH_SQL = ("encode(sha256(convert_to(regexp_replace(regexp_replace(reporter_phone, '\\D', '', 'g'), "
                  "'^84', '0'), 'UTF8')), 'hex')")


@dataclass(frozen=True)
class CallerReport:
    report: StoredReport
    incident_number: str
    incident_status: str


async def by_phone_hash(conn: asyncpg.Connection, phone_sha256: str, limit: int) -> list[CallerReport]:
    """Reports whose reporter phone hashes to ``phone_sha256``, newest first, with their incident."""
    columns = ", ".join(f"r.{c.strip()}" for c in _COLUMNS.split(","))
    rows = await conn.fetch(
        f"SELECT {columns}, i.number AS incident_number, i.status AS incident_status "
        f"FROM reports r JOIN incidents i ON i.id = r.incident_id "
        f"WHERE r.reporter_phone <> '' AND {PHONE_HASH_SQL.replace('reporter_phone', 'r.reporter_phone')} = $1 "
        f"ORDER BY r.received_at DESC LIMIT $2",
        phone_sha256, limit,
    )
    out = []
    for row in rows:
        values = dict(row)
        number, status = values.pop("incident_number"), values.pop("incident_status")
        out.append(CallerReport(_report(values), str(number), str(status)))
    return out
