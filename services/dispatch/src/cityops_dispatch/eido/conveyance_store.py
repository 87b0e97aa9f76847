"""Postgres access for EIDO conveyances (migration 040)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class Conveyance:
    id: str
    partner: str
    incident_id: str
    event_id: str
    status: str
    attempts: int
    created_at: datetime | None = None


async def queue(conn: asyncpg.Connection, rows: list[tuple[str, str, str, str]]) -> int:
    """Queue (id, partner, incident id, event id) rows; an id seen before is ignored. Returns how many were new."""
    if not rows:
        return 0
    inserted = await conn.fetch(
        """INSERT INTO eido_conveyances (id, partner, incident_id, event_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           ON CONFLICT (id) DO NOTHING RETURNING id""",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
    )
    return len(inserted)


async def claim_due(pool: asyncpg.Pool, *, now: datetime, lease_until: datetime, limit: int) -> list[Conveyance]:
    """Due PENDING conveyances, leased until ``lease_until`` so no other sender takes them meanwhile
    (a crashed sender's lease simply runs out and the row is due again)."""
    rows = await pool.fetch(
        """UPDATE eido_conveyances c SET next_attempt_at = $2, updated_at = now()
           FROM (SELECT id FROM eido_conveyances WHERE status = 'PENDING' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
           WHERE c.id = due.id
           RETURNING c.id, c.partner, c.incident_id, c.event_id, c.status, c.attempts, c.created_at""",
        now, lease_until, limit,
    )
    return [Conveyance(r["id"], r["partner"], r["incident_id"], r["event_id"], r["status"], r["attempts"],
                       r["created_at"]) for r in rows]


async def record(
    conn: asyncpg.Connection, conveyance_id: str, *, status: str, attempts: int, next_attempt_at: datetime | None,
    error: str, http_status: int,
) -> None:
    """The outcome of one attempt."""
    await conn.execute(
        """UPDATE eido_conveyances SET status = $2, attempts = $3, next_attempt_at = coalesce($4, next_attempt_at),
               last_error = $5, last_http_status = $6, updated_at = now(),
               sent_at = CASE WHEN $2 = 'SENT' THEN now() ELSE sent_at END
           WHERE id = $1""",
        conveyance_id, status, attempts, next_attempt_at, error[:1000], http_status,
    )
