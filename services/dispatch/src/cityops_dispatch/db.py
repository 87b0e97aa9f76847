"""Transactions that retry when Postgres aborts them for a deadlock or a serialization conflict."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from cityops_platform import metrics

log = logging.getLogger("cityops.dispatch.db")
T = TypeVar("T")
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


async def in_transaction(
    pool: asyncpg.Pool, work: Callable[[asyncpg.Connection], Awaitable[T]], *, attempts: int = 5
) -> T:
    """Run ``work(conn)`` in one transaction; a deadlock victim is retried (the work is all-or-nothing)."""
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await work(conn)
        except _RETRYABLE as exc:
            if attempt == attempts:
                raise
            metrics.ERRORS_SWALLOWED.labels("dispatch_tx_retry").inc()
            log.info("transaction retried", extra={"attempt": attempt, "error": type(exc).__name__})
            await asyncio.sleep(0.01 * attempt * (1 + random.random()))
    raise AssertionError("unreachable")
