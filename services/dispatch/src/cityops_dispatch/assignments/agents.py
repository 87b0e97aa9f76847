"""Worker timers: acknowledgement timeouts, retries of incidents waiting for units, and the expiry of
AssignUnit idempotency keys (request_keys.py)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import asyncpg
import faust
from prometheus_client import Counter

from cityops_dispatch import db
from cityops_dispatch.assignments import store
from cityops_dispatch.assignments.models import Assignment
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.units.board import UnitBoard
from cityops_platform.db import request_keys
from cityops_platform.failures import count_and_log
from cityops_platform.runtime import Resources

log = logging.getLogger("cityops.dispatch.timers")
# Even when the board says nothing fits, try the database every this many retry rounds: the board
# is a hint and may lag.
FULL_RETRY_EVERY = 6
KEY_SWEEP_S = 600.0  # how often expired idempotency keys are removed
KEY_SWEEP_BATCH, KEY_SWEEP_MAX_BATCHES = 1000, 50
KEYS_EXPIRED = Counter(
    "cityops_dispatch_request_keys_expired_total",
    "AssignUnit idempotency keys removed after CITYOPS_DISPATCH_REQUEST_KEY_RETENTION_DAYS",
)


class Sweeper:
    """One tick: expire overdue acknowledgements, and now and then retry waiting incidents."""

    def __init__(
        self, *, res: Resources, dispatcher: AssignmentEngine, board: UnitBoard, retry_interval_s: float,
        key_retention_days: float = 7.0,
    ) -> None:
        self._res = res
        self._key_retention_days = key_retention_days
        self._last_key_sweep = float("-inf")
        self._dispatcher = dispatcher
        self._board = board
        self._retry_interval = retry_interval_s
        self._last_retry = 0.0
        self._rounds = 0

    async def tick(self) -> None:
        if self._res.pool is None:
            return
        try:
            await self.expire_due()
            if time.monotonic() - self._last_retry >= self._retry_interval:
                self._last_retry = time.monotonic()
                await self.retry_waiting()
            if time.monotonic() - self._last_key_sweep >= KEY_SWEEP_S:
                self._last_key_sweep = time.monotonic()
                await self.expire_keys()
        except (OSError, asyncpg.PostgresError) as exc:
            count_and_log("dispatch_timer", log, "dispatch timer failed; next tick retries", exc)

    async def expire_keys(self) -> int:
        """Remove the AssignUnit idempotency keys older than the retention, in bounded batches."""
        removed = await request_keys.expire(
            self._res.db, before=request_keys.expiry_cutoff(datetime.now(UTC), self._key_retention_days),
            batch=KEY_SWEEP_BATCH, max_batches=KEY_SWEEP_MAX_BATCHES,
        )
        KEYS_EXPIRED.inc(removed)
        return removed

    async def expire_due(self) -> int:
        now = datetime.now(UTC)
        async with self._res.db.acquire() as conn:
            due = await store.expired_ids(conn, now)
        done = 0
        for assignment_id in due:
            async def work(conn: asyncpg.Connection, ident: str = assignment_id) -> Assignment | None:
                return await self._dispatcher.expire(conn, ident, now=now)

            if await db.in_transaction(self._res.db, work) is not None:
                done += 1
        return done

    async def retry_waiting(self) -> int:
        self._rounds += 1
        full = self._rounds % FULL_RETRY_EVERY == 0 or not self._board.ready.is_set()
        async with self._res.db.acquire() as conn:
            waiting = await store.open_capabilities(conn)
        made = 0
        for incident_id, capabilities in waiting.items():
            accepted = {c for cap in capabilities for c in self._dispatcher.rules.accepted(cap)}
            if not full and not self._board.any_available(accepted):
                continue

            async def work(conn: asyncpg.Connection, ident: str = incident_id) -> list[Assignment]:
                return await self._dispatcher.retry_incident(conn, ident)

            made += len(await db.in_transaction(self._res.db, work))
        return made


def install(app: faust.App, sweeper: Sweeper, interval_s: float) -> None:
    @app.timer(interval=interval_s, name="dispatch-sweeper")  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        await sweeper.tick()
