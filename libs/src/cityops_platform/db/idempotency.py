"""Idempotent consumers: remember which event ids a consumer has applied, in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

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


async def first_times(conn: asyncpg.Connection, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """``first_time`` for many events in one statement: the ids of ``event_ids`` seen now for the
    first time (an id given twice is first once)."""
    rows = await conn.fetch(
        "INSERT INTO processed_events (consumer, event_id) SELECT $1, e FROM unnest($2::text[]) AS e "
        "ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        list(event_ids),
    )
    return {r["event_id"] for r in rows}
