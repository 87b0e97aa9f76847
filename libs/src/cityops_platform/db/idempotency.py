"""Idempotent consumers: remember which event ids a consumer has applied, in the same transaction."""

from __future__ import annotations

import asyncpg


async def first_time(conn: asyncpg.Connection, consumer: str, event_id: str) -> bool:
    """Record ``event_id`` for ``consumer``; True only the first time (call inside the transaction
    that applies the event, so the mark and the effect commit together)."""
    result = await conn.execute(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        event_id,
    )
    return str(result).endswith(" 1")
