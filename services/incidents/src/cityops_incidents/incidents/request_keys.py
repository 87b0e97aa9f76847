"""Idempotency keys of the incident changes that are not reports (TransitionIncident, AddNote).

A caller (the console's offline outbox) sends a key it made when the action was taken and may send
the same request again when an answer was lost. Inside the change's transaction, after the incident
row is locked (so replays of one request queue behind each other), ``seen`` tells whether the key
was applied already; ``remember`` records it with the change. Keys are scoped to the caller's
subject like report keys (service.scoped_key): another caller's key is another request.

Keys are kept ``CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS`` (7 by default) and then removed by
the worker (``expire``, agents.py): a replay after that is a new request (docs/incidents.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from cityops_platform.errors import PreconditionFailed


async def seen(conn: asyncpg.Connection, key: str, *, method: str, incident_id: str) -> bool:
    """True when ``key`` was applied already (to this method and incident). A key used for another
    request is FAILED_PRECONDITION, never applied to this one."""
    row = await conn.fetchrow("SELECT method, incident_id FROM request_keys WHERE key = $1", key)
    if row is None:
        return False
    if row["method"] != method or str(row["incident_id"]) != incident_id:
        raise PreconditionFailed("Khóa idempotency đã dùng cho một yêu cầu khác "
                                 "(idempotency key already used for another request)")
    return True


async def remember(conn: asyncpg.Connection, key: str, *, method: str, incident_id: str, version: int,
                   at: datetime) -> None:
    await conn.execute(
        "INSERT INTO request_keys (key, method, incident_id, version, created_at) VALUES ($1, $2, $3, $4, $5)",
        key, method, incident_id, version, at,
    )


def expiry_cutoff(now: datetime, retention_days: float) -> datetime:
    """Keys created before this instant are expired (kept ``retention_days`` days, then removed)."""
    if retention_days <= 0:
        raise ValueError("retention_days must be > 0")
    return now - timedelta(days=retention_days)


async def expire(pool: asyncpg.Pool, *, before: datetime, batch: int, max_batches: int) -> int:
    """Remove the keys created before ``before``, oldest first, ``batch`` rows per statement (each
    its own short transaction, so no lock is held for long and a change being made meanwhile is never
    waited on: rows locked by a replay are skipped until the next round). At most ``max_batches``
    statements per call; returns how many rows went."""
    removed = 0
    for _ in range(max_batches):
        async with pool.acquire() as conn:
            status = await conn.execute(
                "DELETE FROM request_keys WHERE key IN (SELECT key FROM request_keys WHERE created_at < $1 "
                "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                before, batch,
            )
        gone = int(status.rsplit(" ", 1)[-1])
        removed += gone
        if gone < batch:
            break
    return removed
