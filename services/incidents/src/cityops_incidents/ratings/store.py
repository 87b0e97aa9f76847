"""Postgres access for satisfaction ratings (schema ``incidents``, table ``ratings``)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from cityops_incidents.incidents.models import Rating, SatisfactionRow, TimelineEntry
from cityops_platform.db import outbox
from cityops_platform.db.outbox import OutboxRecord

SCHEMA = "incidents"


async def insert(
    conn: asyncpg.Connection, *, rating: Rating, rater: str, entry: TimelineEntry, record: OutboxRecord
) -> bool:
    """The rating, its timeline entry and its event, in one statement; False (nothing written)
    when this rater already rated the incident or the link was used (the unique indexes)."""
    row_id = await conn.fetchval(
        "INSERT INTO ratings (id, incident_id, rating, comment, agency, category, channel, rater, rated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id",
        rating.id, rating.incident_id, rating.rating, rating.comment, rating.agency, rating.category,
        rating.channel, rater, rating.rated_at,
    )
    if row_id is None:
        return False
    await outbox.enqueue_records(
        conn, schema=SCHEMA, records=[record],
        with_sql="timeline_written AS (INSERT INTO timeline (incident_id, at, actor_subject, actor_role, action, "
                 "before, after, detail, version, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))",
        with_args=[rating.incident_id, entry.at, entry.actor.subject, entry.actor.role, entry.action, entry.before,
                   entry.after, entry.detail, entry.version, entry.event_id],
    )
    return True


async def report(
    conn: asyncpg.Connection, *, since: datetime, until: datetime, agencies: list[str], categories: list[str]
) -> list[SatisfactionRow]:
    """Count, average and 1..5 distribution per agency and category of ratings in [since, until)."""
    rows = await conn.fetch(
        "SELECT agency, category, count(*) AS n, avg(rating)::float8 AS average, "
        "count(*) FILTER (WHERE rating = 1) AS r1, count(*) FILTER (WHERE rating = 2) AS r2, "
        "count(*) FILTER (WHERE rating = 3) AS r3, count(*) FILTER (WHERE rating = 4) AS r4, "
        "count(*) FILTER (WHERE rating = 5) AS r5 FROM ratings WHERE rated_at >= $1 AND rated_at < $2 "
        "AND (cardinality($3::text[]) = 0 OR agency = ANY($3::text[])) "
        "AND (cardinality($4::text[]) = 0 OR category = ANY($4::text[])) "
        "GROUP BY agency, category ORDER BY agency, category",
        since, until, agencies, categories,
    )
    return [SatisfactionRow(r["agency"], r["category"], int(r["n"]), round(float(r["average"]), 2),
                            (int(r["r1"]), int(r["r2"]), int(r["r3"]), int(r["r4"]), int(r["r5"]))) for r in rows]
