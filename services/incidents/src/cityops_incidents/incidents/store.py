"""Postgres access for incidents (schema ``incidents``). Every function runs on the caller's
connection, so the service decides the transaction boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from cityops_incidents.incidents.models import OPEN_STATUSES, Actor, Incident, ReportIn, TimelineEntry
from cityops_incidents.text import mask_phone
from cityops_platform.db import outbox
from cityops_platform.db.outbox import OutboxRecord

SCHEMA = "incidents"

# The SLA clock of the running stage (migration 010; models.Incident, incidents/sla.py).
SLA_CLOCK_COLUMNS = (
    "sla_started_at", "sla_priority", "sla_warn_at", "sla_warned", "sla_paused_at", "sla_remaining_s",
    "sla_warn_remaining_s", "sla_working_time",
)
_COLUMNS = (
    "id, number, category, subcategory, priority, status, description, lat, lon, address, district, "
    "report_count, sources, agency, created_at, updated_at, occurred_at, last_report_at, sla_stage, "
    "sla_due_at, sla_breaches, version, escalation_level, duplicate_of, external_ids, open_alert_ids, "
    "acknowledged_at, dispatched_at, resolved_at, closed_at, reopen_count, split_from, ward_code, ward_name, "
    + ", ".join(SLA_CLOCK_COLUMNS)
)
# Mutable columns written by ``save`` ($1 is the id).
_MUTABLE = (
    "category", "subcategory", "priority", "status", "description", "address", "district", "report_count",
    "sources", "agency", "updated_at", "last_report_at", "sla_stage", "sla_due_at", "sla_breaches", "version",
    "escalation_level", "duplicate_of", "external_ids", "open_alert_ids", "acknowledged_at", "dispatched_at",
    "resolved_at", "closed_at", "reopen_count", "split_from", "ward_code", "ward_name", *SLA_CLOCK_COLUMNS,
    "search_text",
)


def to_incident(row: asyncpg.Record | dict[str, Any]) -> Incident:
    values = dict(row)
    values["id"] = str(values["id"])
    values["duplicate_of"] = str(values["duplicate_of"]) if values["duplicate_of"] else ""
    values["split_from"] = str(values["split_from"]) if values.get("split_from") else ""
    values["sources"] = list(values["sources"])
    values["sla_breaches"] = list(values["sla_breaches"])
    values["sla_warned"] = list(values["sla_warned"])
    values["open_alert_ids"] = list(values["open_alert_ids"])
    values["external_ids"] = dict(values["external_ids"] or {})
    return Incident(**values)


async def lock(conn: asyncpg.Connection, key: str) -> None:
    """A transaction-scoped advisory lock on ``key`` (hash collisions only over-serialise)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)


async def lock_many(conn: asyncpg.Connection, keys: list[str]) -> None:
    """Advisory locks on ``keys`` in list order, in one round trip (an unnest scan yields the
    array in order, so callers keep their deadlock-free lock order)."""
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest($1::text[]) AS k", keys
    )


@dataclass(frozen=True)
class KnownReport:
    report_id: str
    incident_id: str
    merged: bool


async def report_by_key(conn: asyncpg.Connection, key: str) -> KnownReport | None:
    row = await conn.fetchrow("SELECT id, incident_id, merged FROM reports WHERE idempotency_key = $1", key)
    return KnownReport(str(row["id"]), str(row["incident_id"]), row["merged"]) if row else None


# Who filed a report: a citizen by its token subject, a caller by the phone's keyed hash (the
# number itself is not stored, migration 175); a report with neither (a sensor, an anonymous form)
# counts on its own. ``reporter_key`` is the same in Python.
_REPORTER_SQL = ("COALESCE(NULLIF('s:' || reporter_subject, 's:'), "
                 "NULLIF('p:' || reporter_phone_hash, 'p:'), id::text)")


def reporter_key(report_id: str, r: ReportIn) -> str:
    """``_REPORTER_SQL`` of a report not yet written (``reporter_phone_hash`` set by the service)."""
    if r.reporter_subject:
        return f"s:{r.reporter_subject}"
    return f"p:{r.reporter_phone_hash}" if r.reporter_phone_hash else report_id


async def distinct_reporters(conn: asyncpg.Connection, incident_id: str) -> int:
    """How many different people reported the incident (``_REPORTER_SQL``)."""
    value = await conn.fetchval(
        f"SELECT count(DISTINCT {_REPORTER_SQL}) FROM reports WHERE incident_id = $1", incident_id)
    return int(value or 0)


async def reporter_keys(conn: asyncpg.Connection, incident_id: str) -> set[str]:
    """The distinct reporters of the incident's stored reports (``_REPORTER_SQL``)."""
    rows = await conn.fetch(f"SELECT DISTINCT {_REPORTER_SQL} AS k FROM reports WHERE incident_id = $1",
                            incident_id)
    return {str(r["k"]) for r in rows}


async def next_number(conn: asyncpg.Connection, prefix: str, day: date) -> int:
    """The next per-day sequence value; rolled back with the transaction, so numbers have no gaps."""
    value = await conn.fetchval(
        "INSERT INTO number_sequences (prefix, day, last_value) VALUES ($1, $2, 1) "
        "ON CONFLICT (prefix, day) DO UPDATE SET last_value = number_sequences.last_value + 1 "
        "RETURNING last_value",
        prefix, day,
    )
    return int(value)


@dataclass(frozen=True)
class NewReport:
    """A report row to insert with the change of the incident it was filed against."""

    report_id: str
    r: ReportIn
    merged: bool
    distance_m: float
    occurred_at: datetime
    received_at: datetime


class _Args:
    """Numbered query parameters: ``args(value)`` appends ``value`` and returns its ``$n``."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def row(self, *values: Any) -> str:
        return ", ".join(self(v) for v in values)


async def write_change(
    conn: asyncpg.Connection, *, inc: Incident, new: bool, h3_cell: str, search_text: str, entry: TimelineEntry,
    record: OutboxRecord, report: NewReport | None = None,
) -> None:
    """The incident row (insert when ``new``, else every mutable column; the caller holds the row
    lock), its timeline entry, the report filed with it and its event in the outbox: ONE statement,
    so the transaction holds its locks (the day's number counter above all) for as short as possible."""
    a = _Args()
    if new:
        incident = (
            "INSERT INTO incidents (id, number, category, subcategory, priority, status, description, lat, lon, "
            "address, district, h3_cell, report_count, sources, agency, created_at, updated_at, occurred_at, "
            "last_report_at, sla_stage, sla_due_at, sla_breaches, version, escalation_level, external_ids, "
            "open_alert_ids, " + ", ".join(SLA_CLOCK_COLUMNS) + ", search_text, split_from, ward_code, ward_name"
            ") VALUES (" + a.row(
                inc.id, inc.number, inc.category, inc.subcategory, inc.priority, inc.status, inc.description,
                inc.lat, inc.lon, inc.address, inc.district, h3_cell, inc.report_count, inc.sources, inc.agency,
                inc.created_at, inc.updated_at, inc.occurred_at, inc.last_report_at, inc.sla_stage, inc.sla_due_at,
                inc.sla_breaches, inc.version, inc.escalation_level, inc.external_ids, inc.open_alert_ids,
                *(getattr(inc, c) for c in SLA_CLOCK_COLUMNS), search_text, inc.split_from or None,
                inc.ward_code, inc.ward_name) + ")"
        )
    else:
        values: list[Any] = [getattr(inc, c) for c in _MUTABLE[:-1]]
        values[_MUTABLE.index("duplicate_of")] = inc.duplicate_of or None
        values[_MUTABLE.index("split_from")] = inc.split_from or None
        sets = ", ".join(f"{c} = {a(v)}" for c, v in zip(_MUTABLE, [*values, search_text], strict=True))
        incident = f"UPDATE incidents SET {sets} WHERE id = {a(inc.id)}"
    ctes = [
        f"incident_written AS ({incident})",
        "timeline_written AS (INSERT INTO timeline (incident_id, at, actor_subject, actor_role, action, before, "
        "after, detail, version, event_id) VALUES (" + a.row(
            inc.id, entry.at, entry.actor.subject, entry.actor.role, entry.action, entry.before, entry.after,
            entry.detail, entry.version, entry.event_id) + "))",
    ]
    if report is not None:
        r = report.r
        ctes.append(
            "report_written AS (INSERT INTO reports (id, incident_id, idempotency_key, merged, distance_m, source, "
            "category, subcategory, description, lat, lon, address, reporter_name, reporter_phone_hash, "
            "reporter_phone_key_id, reporter_phone_masked, reporter_subject, sensor_alert_id, external_ids, "
            "occurred_at, received_at) "
            "VALUES (" + a.row(
                report.report_id, inc.id, r.idempotency_key, report.merged, report.distance_m, r.source,
                r.category, r.subcategory, r.description, r.lat, r.lon, r.address, r.reporter_name,
                r.reporter_phone_hash, r.reporter_phone_key_id, mask_phone(r.reporter_phone), r.reporter_subject,
                r.sensor_alert_id,
                r.external_ids, report.occurred_at,
                report.received_at) + "))"
        )
    await outbox.enqueue_records(conn, schema=SCHEMA, records=[record], with_sql=", ".join(ctes),
                                 with_args=a.values)


async def get(conn: asyncpg.Connection, incident_id: str, *, for_update: bool = False,
              skip_locked: bool = False) -> Incident | None:
    lock_clause = " FOR UPDATE" + (" SKIP LOCKED" if skip_locked else "") if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE id = $1{lock_clause}", incident_id)
    return to_incident(row) if row else None


async def get_by_number(conn: asyncpg.Connection, number: str) -> Incident | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE number = $1", number)
    return to_incident(row) if row else None


async def known_and_candidates(
    conn: asyncpg.Connection, *, key: str, categories: list[str], cells: list[str], since: datetime
) -> tuple[KnownReport | None, list[Incident]]:
    """One round trip for intake: the report already filed under ``key`` (a replay), and the open
    incidents of ``categories`` in ``cells`` with a report since ``since``, row-locked (a concurrent
    transition that closes one is waited for and then excluded)."""
    rows = await conn.fetch(
        f"WITH known AS (SELECT id, incident_id, merged FROM reports WHERE idempotency_key = $1), "
        f"candidates AS (SELECT {_COLUMNS} FROM incidents WHERE category = ANY($2::text[]) "
        "AND h3_cell = ANY($3::text[]) "
        "AND last_report_at >= $4 AND status = ANY($5::text[]) ORDER BY id FOR UPDATE) "
        "SELECT k.id AS known_report_id, k.incident_id AS known_incident_id, k.merged AS known_merged, c.* "
        "FROM (SELECT 1) AS one LEFT JOIN known AS k ON true LEFT JOIN candidates AS c ON true",
        key, categories, cells, since, list(OPEN_STATUSES),
    )
    known = None
    incidents = []
    for row in rows:
        values = dict(row)
        report_id, incident_id, merged = (values.pop(k) for k in ("known_report_id", "known_incident_id",
                                                                   "known_merged"))
        if report_id is not None:
            known = KnownReport(str(report_id), str(incident_id), merged)
        if values["id"] is not None:
            incidents.append(to_incident(values))
    return known, incidents


@dataclass
class BatchRead:
    """What one intake batch reads in one statement (``read_batch``)."""

    known: dict[str, tuple[KnownReport, Incident]]  # idempotency key → the report filed under it, its incident
    candidates: list[Incident]  # open incidents near the batch's reports, row-locked, in id order
    attach_targets: dict[str, Incident]  # incidents the call-takers chose, row-locked
    numbers: dict[date, int]  # the day's counter, row-locked, as of the read


def _nulls(n: int) -> str:
    return ", ".join(["NULL"] * n)


_N_COLUMNS = len(_COLUMNS.split(","))
_I_COLUMNS = ", ".join(f"i.{c.strip()}" for c in _COLUMNS.split(","))
# The partial indexes' predicate (migration 001), from the one list of open statuses.
_OPEN_LITERAL = "(" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"
_READ_BATCH = (
    # Locks in the single report's order: fusion candidates (in id order), the attached incidents,
    # then the day counters; each CTE waits for the one before it (the one-time filter reads it).
    # The candidates: one probe of the open-cell index per searched pair (LATERAL … OFFSET 0 keeps
    # the planner from hashing every open incident of the city instead: 3× the time in a surge,
    # whatever the statistics), then those rows locked in id order. The open statuses are spelled
    # as the partial index's predicate: with a parameter there, the driver's cached (generic) plan
    # cannot use the index and scans the table once per pair.
    "WITH found AS (SELECT o.id FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS p(category, cell, since) "
    "CROSS JOIN LATERAL (SELECT id FROM incidents AS o WHERE o.category = p.category AND o.h3_cell = p.cell "
    f"AND o.last_report_at >= p.since AND o.status IN {_OPEN_LITERAL} OFFSET 0) AS o), "
    f"cand AS (SELECT {_I_COLUMNS} FROM incidents AS i WHERE i.id = ANY(ARRAY(SELECT id FROM found)) "
    "AND i.status = ANY($4::text[]) ORDER BY i.id FOR UPDATE OF i), "
    f"att AS (SELECT {_COLUMNS} FROM incidents WHERE id = ANY($5::uuid[]) AND (SELECT count(*) FROM cand) >= 0 "
    "ORDER BY id FOR UPDATE), "
    "days AS (INSERT INTO number_sequences (prefix, day, last_value) SELECT $6, d, 0 FROM unnest($7::date[]) AS d "
    "WHERE (SELECT count(*) FROM att) >= 0 "
    "ON CONFLICT (prefix, day) DO UPDATE SET last_value = number_sequences.last_value RETURNING day, last_value) "
    "SELECT 'c' AS kind, NULL::text AS key, NULL::uuid AS report_id, NULL::boolean AS merged, NULL::date AS day, "
    "NULL::integer AS last_value, cand.* FROM cand "
    "UNION ALL SELECT 'a', NULL, NULL, NULL, NULL, NULL, att.* FROM att "
    f"UNION ALL SELECT 'k', k.idempotency_key, k.id, k.merged, NULL, NULL, {_I_COLUMNS} "
    "FROM reports AS k JOIN incidents AS i ON i.id = k.incident_id WHERE k.idempotency_key = ANY($8::text[]) "
    f"UNION ALL SELECT 'd', NULL, NULL, NULL, day, last_value, {_nulls(_N_COLUMNS)} FROM days"
)


async def read_batch(
    conn: asyncpg.Connection, *, keys: list[str], searched: list[tuple[tuple[str, str], datetime]],
    attach_ids: list[str], prefix: str, days: list[date],
) -> BatchRead:
    """ONE round trip for a whole intake batch (after its advisory locks): the reports already
    filed under ``keys`` with their incidents (replays), the open incidents of each ``searched``
    (category, cell) pair with a report since that pair's time (the union of every report's search,
    row-locked; each report then keeps its own), the ``attach_ids`` incidents (row-locked) and the
    number counters of ``days`` (created at 0 if missing, row-locked until the commit)."""
    rows = await conn.fetch(_READ_BATCH, [c for (c, _), _ in searched], [h for (_, h), _ in searched],
                            [t for _, t in searched], list(OPEN_STATUSES), attach_ids, prefix, days, keys)
    out = BatchRead({}, [], {}, {})
    for row in rows:
        values = dict(row)
        kind, key, report_id, merged, day, last = (values.pop(k) for k in (
            "kind", "key", "report_id", "merged", "day", "last_value"))
        if kind == "d":
            out.numbers[day] = int(last)
            continue
        inc = to_incident(values)
        if kind == "c":
            out.candidates.append(inc)
        elif kind == "a":
            out.attach_targets[inc.id] = inc
        else:
            out.known[key] = (KnownReport(str(report_id), inc.id, merged), inc)
    return out


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def _incident_row(inc: Incident, h3_cell: str, search_text: str) -> dict[str, Any]:
    row = {c: _json_value(getattr(inc, c)) for c in _MUTABLE[:-1]}
    row.update(id=inc.id, number=inc.number, lat=inc.lat, lon=inc.lon, created_at=_json_value(inc.created_at),
               occurred_at=_json_value(inc.occurred_at), duplicate_of=inc.duplicate_of or None,
               split_from=inc.split_from or None, h3_cell=h3_cell, search_text=search_text)
    return row


IncidentRow = tuple[Incident, str, str]  # the incident, its h3 cell and its search text
_INSERTED = ("id", "number", "lat", "lon", "h3_cell", "created_at", "occurred_at", *_MUTABLE)


async def write_batch(
    conn: asyncpg.Connection, *, created: list[IncidentRow], changed: list[IncidentRow],
    entries: list[tuple[str, TimelineEntry]], reports: list[tuple[str, NewReport]], records: list[OutboxRecord],
    prefix: str, numbers: dict[date, int],
) -> None:
    """Everything an intake batch changed, in ONE statement: the counters' last values, the
    ``created`` incidents (inserted as they are now), the ``changed`` ones (every mutable column;
    the caller holds their row locks), the timeline entries and reports (in order; pairs of incident id and
    row) and the outbox records (in order)."""
    a = _Args()
    ctes = []
    if numbers:
        ctes.append(
            f"numbers_written AS (UPDATE number_sequences AS s SET last_value = v.last FROM unnest({a(list(numbers))}"
            f"::date[], {a(list(numbers.values()))}::int[]) AS v(day, last) WHERE s.prefix = {a(prefix)} "
            "AND s.day = v.day)"
        )
    if created:
        cols = ", ".join(_INSERTED)
        ctes.append(
            f"incidents_created AS (INSERT INTO incidents ({cols}) SELECT {cols} FROM jsonb_populate_recordset("
            f"NULL::incidents, {a([_incident_row(*i) for i in created])}::jsonb))"
        )
    if changed:
        ctes.append(
            f"incidents_changed AS (UPDATE incidents AS i SET ({', '.join(_MUTABLE)}) = ("
            + ", ".join(f"v.{c}" for c in _MUTABLE)
            + f") FROM jsonb_populate_recordset(NULL::incidents, {a([_incident_row(*i) for i in changed])}::jsonb) "
            "AS v WHERE i.id = v.id)"
        )
    if entries:
        rows = [{"incident_id": incident_id, "at": e.at.isoformat(), "actor_subject": e.actor.subject,
                 "actor_role": e.actor.role, "action": e.action, "before": e.before, "after": e.after,
                 "detail": e.detail, "version": e.version, "event_id": e.event_id} for incident_id, e in entries]
        cols = ", ".join(rows[0])
        ctes.append(
            f"timeline_written AS (INSERT INTO timeline ({cols}) SELECT {cols} FROM jsonb_populate_recordset("
            f"NULL::timeline, {a(rows)}::jsonb) WITH ORDINALITY AS v ORDER BY v.ordinality)"
        )
    if reports:
        rows = [{"id": n.report_id, "incident_id": incident_id, "idempotency_key": n.r.idempotency_key,
                 "merged": n.merged, "distance_m": n.distance_m, "source": n.r.source, "category": n.r.category,
                 "subcategory": n.r.subcategory, "description": n.r.description, "lat": n.r.lat, "lon": n.r.lon,
                 "address": n.r.address, "reporter_name": n.r.reporter_name,
                 # the number itself is never written: its keyed hash and its masked form (migration 175)
                 "reporter_phone_hash": n.r.reporter_phone_hash, "reporter_phone_key_id": n.r.reporter_phone_key_id,
                 "reporter_phone_masked": mask_phone(n.r.reporter_phone),
                 "reporter_subject": n.r.reporter_subject, "sensor_alert_id": n.r.sensor_alert_id,
                 "external_ids": n.r.external_ids, "occurred_at": n.occurred_at.isoformat(),
                 "received_at": n.received_at.isoformat()} for incident_id, n in reports]
        cols = ", ".join(rows[0])
        ctes.append(
            f"reports_written AS (INSERT INTO reports ({cols}) SELECT {cols} FROM jsonb_populate_recordset("
            f"NULL::reports, {a(rows)}::jsonb) WITH ORDINALITY AS v ORDER BY v.ordinality)"
        )
    await outbox.enqueue_records(conn, schema=SCHEMA, records=records, with_sql=", ".join(ctes), with_args=a.values)


async def add_timeline(conn: asyncpg.Connection, incident_id: str, e: TimelineEntry) -> None:
    await conn.execute(
        "INSERT INTO timeline (incident_id, at, actor_subject, actor_role, action, before, after, detail, "
        "version, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        incident_id, e.at, e.actor.subject, e.actor.role, e.action, e.before, e.after, e.detail, e.version,
        e.event_id,
    )


async def timeline(conn: asyncpg.Connection, incident_id: str) -> list[TimelineEntry]:
    rows = await conn.fetch(
        "SELECT at, actor_subject, actor_role, action, before, after, detail, version, event_id "
        "FROM timeline WHERE incident_id = $1 ORDER BY id", incident_id,
    )
    return [TimelineEntry(r["at"], Actor(r["actor_subject"], r["actor_role"]), r["action"], r["before"],
                          r["after"], r["detail"], r["version"], r["event_id"]) for r in rows]


async def insert_note(conn: asyncpg.Connection, *, note_id: str, incident_id: str, text: str, actor: Actor,
                      at: datetime) -> None:
    await conn.execute(
        "INSERT INTO notes (id, incident_id, text, author_subject, author_role, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)", note_id, incident_id, text, actor.subject, actor.role, at,
    )


async def search(
    conn: asyncpg.Connection, *, where: list[str], args: list[Any], limit: int
) -> list[Incident]:
    """Incidents matching the AND of ``where`` clauses, newest first."""
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM incidents{clause} ORDER BY created_at DESC, id DESC LIMIT {int(limit)}", *args
    )
    return [to_incident(r) for r in rows]


async def open_in_box(
    conn: asyncpg.Connection, *, box: tuple[float, float, float, float], categories: list[str]
) -> list[Incident]:
    min_lat, max_lat, min_lon, max_lon = box
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM incidents WHERE status = ANY($1::text[]) AND lat BETWEEN $2 AND $3 "
        "AND lon BETWEEN $4 AND $5 AND (cardinality($6::text[]) = 0 OR category = ANY($6::text[])) LIMIT 5000",
        list(OPEN_STATUSES), min_lat, max_lat, min_lon, max_lon, categories,
    )
    return [to_incident(r) for r in rows]


async def alert_link(conn: asyncpg.Connection, alert_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT alert_id, incident_id, sensor_id, level, raised_at, cleared_at FROM alert_links "
        "WHERE alert_id = $1 FOR UPDATE", alert_id,
    )


async def link_alert(conn: asyncpg.Connection, *, alert_id: str, incident_id: str, sensor_id: str, level: str,
                     raised_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO alert_links (alert_id, incident_id, sensor_id, level, raised_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (alert_id) DO NOTHING", alert_id, incident_id, sensor_id, level, raised_at,
    )


async def update_alert_link(conn: asyncpg.Connection, alert_id: str, *, level: str | None = None,
                            cleared_at: datetime | None = None) -> None:
    await conn.execute(
        "UPDATE alert_links SET level = coalesce($2, level), cleared_at = coalesce($3, cleared_at) "
        "WHERE alert_id = $1", alert_id, level, cleared_at,
    )


async def sla_breach_candidates(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[str]:
    """Ids whose running SLA stage is overdue and not yet escalated for that stage, or whose
    pre-breach warning is due and not yet published; most urgent first. Each half uses its index."""
    rows = await conn.fetch(
        "(SELECT id, sla_due_at AS at FROM incidents WHERE sla_due_at < $1 AND sla_stage <> '' "
        "AND NOT (sla_stage = ANY(sla_breaches)) ORDER BY sla_due_at LIMIT $2) UNION "
        "(SELECT id, sla_warn_at AS at FROM incidents WHERE sla_warn_at <= $1 AND sla_stage <> '' "
        "AND NOT (sla_stage = ANY(sla_warned)) AND NOT (sla_stage = ANY(sla_breaches)) ORDER BY sla_warn_at "
        "LIMIT $2) ORDER BY at LIMIT $2", now, limit,
    )
    seen: dict[str, None] = {}
    for r in rows:
        seen.setdefault(str(r["id"]), None)
    return list(seen)
