"""Idempotency keys a caller sent with a change (the console's offline outbox replays its actions):
the retention both services share. Each service that takes keys keeps them in a table
``request_keys (key text PRIMARY KEY, …, created_at timestamptz)`` in its own schema (incidents:
TransitionIncident, AddNote; dispatch: AssignUnit); how a key is checked and recorded is the
service's, how long it is kept and how it is removed is this module's."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from cityops_platform.errors import PreconditionFailed


def scoped_key(subject: str, key: str) -> str:
    """The stored idempotency key: the caller's subject and its key (a unit separator between), so
    another caller's key is another request."""
    return f"{subject}\x1f{key}"


def key_reused() -> PreconditionFailed:
    """A key already used for another request (another method, incident or unit): refused, never
    applied to this one."""
    return PreconditionFailed("Khóa idempotency đã dùng cho một yêu cầu khác "
                              "(idempotency key already used for another request)")


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
