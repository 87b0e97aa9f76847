"""Postgres writes of the worker (aggregates, sensor status) and the chart query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

# Rows: (sensor_id, window_start, window_seconds, count, min, max, mean, sum, last)
AggregateRow = tuple[str, datetime, int, int, float, float, float, float, float]
# Rows: (sensor_id, status, last_seen_at, last_value)
LiveRow = tuple[str, str, datetime | None, float | None]


class AnalyticsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert_aggregates(self, rows: Sequence[AggregateRow]) -> None:
        """Idempotent: a replayed window overwrites itself. One statement for all rows (``unnest``):
        a minute boundary closes every sensor's window at once. Rows must have distinct keys."""
        if not rows:
            return
        await self._pool.execute(
            """
            INSERT INTO aggregates (sensor_id, window_start, window_seconds, count, min, max, mean, sum, last)
            SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::bigint[], $5::float8[],
                                 $6::float8[], $7::float8[], $8::float8[], $9::float8[])
            ON CONFLICT (sensor_id, window_start) DO UPDATE SET count = excluded.count, min = excluded.min,
                max = excluded.max, mean = excluded.mean, sum = excluded.sum, last = excluded.last
            """,
            *(list(column) for column in zip(*rows, strict=True)),
        )

    async def upsert_live(self, rows: Sequence[LiveRow]) -> None:
        """Latest status per sensor; ``last_seen_at``/``last_value`` never go back in time."""
        if not rows:
            return
        await self._pool.execute(
            """
            INSERT INTO sensor_live (sensor_id, status, last_seen_at, last_value)
            SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[])
            ON CONFLICT (sensor_id) DO UPDATE SET status = excluded.status,
                last_seen_at = COALESCE(GREATEST(excluded.last_seen_at, sensor_live.last_seen_at),
                                        sensor_live.last_seen_at),
                last_value = CASE WHEN excluded.last_seen_at
                                       >= COALESCE(sensor_live.last_seen_at, excluded.last_seen_at)
                                  THEN excluded.last_value ELSE sensor_live.last_value END,
                updated_at = now()
            """,
            *(list(column) for column in zip(*rows, strict=True)),
        )

    async def series(self, sensor_id: str, start: datetime, end: datetime) -> list[asyncpg.Record]:
        return list(await self._pool.fetch(
            "SELECT * FROM aggregates WHERE sensor_id = $1 AND window_start >= $2 AND window_start < $3 "
            "ORDER BY window_start LIMIT 10080",
            sensor_id, start, end,
        ))
