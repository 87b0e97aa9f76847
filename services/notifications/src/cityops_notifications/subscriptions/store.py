"""Subscriptions in Postgres (schema ``notifications``). Secrets are stored encrypted, never read back out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from cityops_notifications.geo import Area
from cityops_notifications.subscriptions.models import Subscription, SubscriptionFilter, SubscriptionIn
from cityops_platform.db.rows import from_row
from cityops_platform.geo.admin_units import admin_units

COLUMNS = (
    "id, owner, owner_role, channel, address, language, description, event_types, categories, min_priority, "
    "area, agencies, districts, ward_codes, incident_id, active, created_at, secret_encrypted IS NOT NULL AS has_secret"
)


def to_subscription(r: asyncpg.Record) -> Subscription:
    flt = from_row(
        SubscriptionFilter, r, event_types=tuple(r["event_types"]), categories=tuple(r["categories"]),
        area=Area.from_json(r["area"]), agencies=tuple(r["agencies"]), districts=tuple(r["districts"]),
        ward_codes=_ward_codes(r),
    )
    return from_row(Subscription, r, id=str(r["id"]), filter=flt)


def _ward_codes(r: asyncpg.Record) -> tuple[str, ...]:
    """The stored codes; a subscription made before migration 123 with district names gets the
    units those names mean today (a former district: every unit it became)."""
    codes = tuple(r["ward_codes"])
    if codes or not r["districts"]:
        return codes
    units = admin_units()
    expanded = [c for d in r["districts"] for c in units.filter_codes(d)]
    return tuple(dict.fromkeys(expanded)) or ("-",)  # a name that means nothing now matches nothing


class SubscriptionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(self, *, sub_id: str, owner: str, owner_role: str, sub_in: SubscriptionIn,
                     secret_encrypted: bytes | None) -> Subscription:
        f = sub_in.filter
        row = await self._pool.fetchrow(
            f"INSERT INTO subscriptions (id, owner, owner_role, channel, address, language, secret_encrypted, "
            f"description, event_types, categories, min_priority, area, agencies, districts, incident_id, ward_codes) "
            f"VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) RETURNING {COLUMNS}",
            sub_id, owner, owner_role, sub_in.channel, sub_in.address, sub_in.language, secret_encrypted,
            sub_in.description, list(f.event_types), list(f.categories), f.min_priority,
            f.area.to_json() if f.area else None, list(f.agencies), list(f.districts), f.incident_id,
            list(f.ward_codes),
        )
        return to_subscription(row)

    async def get(self, sub_id: str) -> Subscription | None:
        row = await self._pool.fetchrow(f"SELECT {COLUMNS} FROM subscriptions WHERE id = $1::uuid", sub_id)
        return to_subscription(row) if row else None

    async def list(self, *, owner: str | None, channel: str | None, limit: int, offset: int) -> list[Subscription]:
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM subscriptions WHERE active AND ($1::text IS NULL OR owner = $1) "
            f"AND ($2::text IS NULL OR channel = $2) ORDER BY created_at, id LIMIT $3 OFFSET $4",
            owner, channel, limit, offset,
        )
        return [to_subscription(r) for r in rows]

    async def deactivate(self, sub_id: str) -> None:
        await self._pool.execute("UPDATE subscriptions SET active = false WHERE id = $1::uuid", sub_id)

    async def reporters_of(self, incident_id: str) -> set[str]:
        rows = await self._pool.fetch("SELECT subject FROM incident_followers WHERE incident_id = $1", incident_id)
        return {r["subject"] for r in rows}


async def candidates(conn: asyncpg.Connection, *, event_type: str, incident_id: str) -> list[Subscription]:
    """Active subscriptions that could match: the cheap filters run in SQL, the rest in ``rules.matches``."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM subscriptions WHERE active "
        f"AND (cardinality(event_types) = 0 OR $1 = ANY(event_types)) "
        f"AND (incident_id = '' OR incident_id = $2)",
        event_type, incident_id,
    )
    return [to_subscription(r) for r in rows]


async def record_follower(conn: asyncpg.Connection, incident_id: str, subject: str) -> None:
    await conn.execute(
        "INSERT INTO incident_followers (incident_id, subject) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        incident_id, subject,
    )


async def record_followers(conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]]) -> None:
    """``record_follower`` for many (incident id, subject) pairs in one statement."""
    await conn.execute(
        "INSERT INTO incident_followers (incident_id, subject) SELECT i, s FROM unnest($1::text[], $2::text[]) "
        "AS p(i, s) ON CONFLICT DO NOTHING",
        [i for i, _ in pairs], [s for _, s in pairs],
    )


async def followers(conn: asyncpg.Connection, incident_id: str) -> set[str]:
    return (await followers_of(conn, [incident_id])).get(incident_id, set())


async def followers_of(conn: asyncpg.Connection, incident_ids: Sequence[str]) -> dict[str, set[str]]:
    """The followers of each of ``incident_ids`` that has any (one statement)."""
    rows = await conn.fetch("SELECT incident_id, subject FROM incident_followers WHERE incident_id = ANY($1::text[])",
                            list(incident_ids))
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["incident_id"], set()).add(r["subject"])
    return out


async def secret_of(conn: asyncpg.Connection | asyncpg.Pool, sub_id: str) -> bytes | None:
    value: Any = await conn.fetchval("SELECT secret_encrypted FROM subscriptions WHERE id = $1::uuid", sub_id)
    return bytes(value) if value is not None else None
