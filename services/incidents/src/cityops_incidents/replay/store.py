"""Reading recorded reports back for a replay, oldest first, in batches (a server-side cursor)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from cityops_incidents.replay.models import Lifecycle, RecordedReport

_SELECT = """
SELECT r.id::text AS report_id, r.received_at, r.occurred_at, r.source, r.category, r.subcategory,
       r.description, r.lat, r.lon, coalesce(a.level, '') AS sensor_level,
       i.number, i.status, i.created_at, i.acknowledged_at, i.dispatched_at, i.resolved_at,
       coalesce(i.resolved_at, i.closed_at,
                CASE WHEN i.status IN ('CANCELLED', 'DUPLICATE') THEN i.updated_at END) AS ended_at
FROM reports r
JOIN incidents i ON i.id = r.incident_id
LEFT JOIN alert_links a ON r.sensor_alert_id <> '' AND a.alert_id = r.sensor_alert_id
WHERE r.received_at >= $1 AND r.received_at < $2
ORDER BY r.received_at, r.id
"""


async def count_reports(conn: asyncpg.Connection, since: datetime, until: datetime) -> int:
    n = await conn.fetchval("SELECT count(*) FROM reports WHERE received_at >= $1 AND received_at < $2",
                            since, until)
    return int(n or 0)


async def recorded_reports(
    conn: asyncpg.Connection, since: datetime, until: datetime, *, batch: int = 1000,
) -> AsyncIterator[RecordedReport]:
    """Every report received in [since, until), oldest first. Needs an open transaction."""
    async for row in conn.cursor(_SELECT, since, until, prefetch=batch):
        yield RecordedReport(
            report_id=row["report_id"], received_at=row["received_at"], occurred_at=row["occurred_at"],
            source=row["source"], category=row["category"], subcategory=row["subcategory"],
            description=row["description"], lat=row["lat"], lon=row["lon"], sensor_level=row["sensor_level"],
            incident=Lifecycle(
                number=row["number"], status=row["status"], created_at=row["created_at"],
                acknowledged_at=row["acknowledged_at"], dispatched_at=row["dispatched_at"],
                resolved_at=row["resolved_at"], ended_at=row["ended_at"],
            ),
        )
