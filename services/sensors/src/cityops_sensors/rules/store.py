"""Postgres access for rules (schema ``sensors``)."""

from __future__ import annotations

import asyncpg

from cityops_platform.db.rows import from_row
from cityops_sensors.rules.models import Rule, RuleFilter

_FIELDS = ("id", "kind", "sensor_id", "rule_type", "direction", "warn_level", "critical_level", "hysteresis",
           "min_duration_seconds", "rate_of_change_per_window", "rate_window_seconds",
           "offline_after_intervals", "level", "enabled", "description")


def _rule(row: asyncpg.Record) -> Rule:
    return from_row(Rule, row)


class RuleStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, rule: Rule) -> Rule:
        cols = ", ".join(_FIELDS)
        params = ", ".join(f"${i + 1}" for i in range(len(_FIELDS)))
        updates = ", ".join(f"{f} = excluded.{f}" for f in _FIELDS[1:])
        row = await self._pool.fetchrow(
            f"INSERT INTO rules ({cols}) VALUES ({params}) ON CONFLICT (id) DO UPDATE SET {updates}, "
            f"updated_at = clock_timestamp() RETURNING *",
            *(getattr(rule, f) for f in _FIELDS),
        )
        return _rule(row)

    async def get(self, rule_id: str) -> Rule | None:
        row = await self._pool.fetchrow("SELECT * FROM rules WHERE id = $1", rule_id)
        return _rule(row) if row else None

    async def search(self, flt: RuleFilter) -> list[Rule]:
        rows = await self._pool.fetch(
            "SELECT * FROM rules WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR sensor_id = $2) "
            "ORDER BY kind, sensor_id, rule_type, id",
            flt.kind, flt.sensor_id,
        )
        return [_rule(r) for r in rows]

    async def all(self) -> list[Rule]:
        return await self.search(RuleFilter())

    async def delete(self, rule_id: str) -> bool:
        result = await self._pool.execute("DELETE FROM rules WHERE id = $1", rule_id)
        return str(result).endswith(" 1")
