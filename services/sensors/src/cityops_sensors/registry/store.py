"""Postgres access for the registry (schema ``sensors``)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from cityops_platform.db.rows import from_row
from cityops_sensors.registry.models import Sensor, SensorFilter

_COLUMNS = (
    "s.id, s.kind, s.name, s.lat, s.lon, s.address, s.district, s.unit, s.reporting_interval_seconds, "
    "s.labels, s.created_at, COALESCE(l.status, 'OFFLINE') AS status, l.last_seen_at, "
    "COALESCE(l.last_value, 0) AS last_value, COALESCE(s.gateway_id, '') AS gateway_id, s.ward_code, s.ward_name"
)


def _sensor(row: asyncpg.Record) -> Sensor:
    return from_row(Sensor, row, labels=dict(row["labels"] or {}))


class SensorStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, s: Sensor, *, gateway: str | None = None) -> Sensor | None:
        """Create or update; with ``gateway`` (a bound sensor gateway) a new sensor belongs to it and an
        existing one is updated only when it already does: None when it belongs to someone else."""
        written = await self._pool.fetchval(
            """
            INSERT INTO sensors (id, kind, name, lat, lon, address, district, unit, reporting_interval_seconds, labels,
                                 gateway_id, ward_code, ward_name)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, lat = excluded.lat,
                lon = excluded.lon, address = excluded.address, district = excluded.district, unit = excluded.unit,
                reporting_interval_seconds = excluded.reporting_interval_seconds, labels = excluded.labels,
                ward_code = excluded.ward_code, ward_name = excluded.ward_name, updated_at = clock_timestamp()
            WHERE $11::text IS NULL OR sensors.gateway_id = $11::text
            RETURNING id
            """,
            s.id, s.kind, s.name, s.lat, s.lon, s.address, s.district, s.unit, s.reporting_interval_seconds,
            s.labels, gateway, s.ward_code, s.ward_name,
        )
        if written is None:
            return None
        found = await self.get(s.id)
        assert found is not None
        return found

    async def get(self, sensor_id: str) -> Sensor | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM sensors s LEFT JOIN sensor_live l ON l.sensor_id = s.id WHERE s.id = $1",
            sensor_id,
        )
        return _sensor(row) if row else None

    async def kind_of(self, sensor_id: str) -> str | None:
        kind = await self._pool.fetchval("SELECT kind FROM sensors WHERE id = $1", sensor_id)
        return str(kind) if kind is not None else None

    async def search(self, flt: SensorFilter) -> list[Sensor]:
        rows = await self._pool.fetch(
            f"""
            SELECT {_COLUMNS} FROM sensors s LEFT JOIN sensor_live l ON l.sensor_id = s.id
            WHERE ($1::text[] IS NULL OR s.kind = ANY($1))
              AND ($2::text[] IS NULL OR COALESCE(l.status, 'OFFLINE') = ANY($2))
              AND ($3 = '' OR s.district = $3)
              AND ($6::text[] IS NULL OR s.ward_code = ANY($6))
              AND s.id > $4
            ORDER BY s.id LIMIT $5
            """,
            list(flt.kinds) or None, list(flt.statuses) or None, flt.district, flt.after_id, flt.page_size,
            list(flt.ward_codes) or None,
        )
        return [_sensor(r) for r in rows]

    async def changed_since(self, since: datetime | None) -> list[asyncpg.Record]:
        """Registry rows for caches: all of them, or those updated after ``since``."""
        return list(await self._pool.fetch(
            "SELECT id, kind, name, lat, lon, address, district, unit, reporting_interval_seconds, updated_at, "
            "coalesce(gateway_id, '') AS gateway_id, ward_code, ward_name "
            "FROM sensors WHERE $1::timestamptz IS NULL OR updated_at > $1 ORDER BY updated_at",
            since,
        ))

    async def kinds_of(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """id → (kind, owning gateway id or "") for the ids that exist."""
        rows = await self._pool.fetch(
            "SELECT id, kind, coalesce(gateway_id, '') AS gateway_id FROM sensors WHERE id = ANY($1::text[])", ids
        )
        return {r["id"]: (r["kind"], r["gateway_id"]) for r in rows}
