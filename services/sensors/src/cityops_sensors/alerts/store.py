"""Alert history in Postgres: the latest transition of each alert, for screens that join late."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from cityops.sensors.v1 import sensors_pb2 as pb

# Idempotent on alert_id; a replayed RAISED never reopens an alert already CLEARED.
UPSERT = """
INSERT INTO alerts (alert_id, sensor_id, kind, rule_id, state, level, raised_at, cleared_at, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (alert_id) DO UPDATE SET state = excluded.state, level = excluded.level,
    cleared_at = excluded.cleared_at, payload = excluded.payload, updated_at = now()
WHERE alerts.state <> 'CLEARED'
"""

AlertRow = tuple[str, str, str, str, str, str, datetime, datetime | None, bytes]


class AlertStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert_many(self, rows: Sequence[AlertRow]) -> None:
        await self._pool.executemany(UPSERT, rows)

    async def search(self, *, active_only: bool, sensor_id: str, kinds: Sequence[str], limit: int,
                   before: tuple[datetime, str] | None) -> list[tuple[pb.SensorAlert, datetime]]:
        rows = await self._pool.fetch(
            """
            SELECT payload, raised_at, alert_id FROM alerts
            WHERE (NOT $1 OR state = 'RAISED') AND ($2 = '' OR sensor_id = $2)
              AND ($3::text[] IS NULL OR kind = ANY($3))
              AND ($4::timestamptz IS NULL OR (raised_at, alert_id) < ($4, $5))
            ORDER BY raised_at DESC, alert_id DESC LIMIT $6
            """,
            active_only, sensor_id, list(kinds) or None, before[0] if before else None,
            before[1] if before else "", limit,
        )
        return [(pb.SensorAlert.FromString(r["payload"]), r["raised_at"]) for r in rows]
