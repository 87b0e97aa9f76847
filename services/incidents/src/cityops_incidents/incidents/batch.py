"""Group commit for intake: the reports waiting at one moment are filed in one transaction.

Why: the day's number counter must have no gaps, so every transaction that creates an incident
holds its row lock until it commits, and a commit waits for the WAL flush (≈4 ms on a cloud disk).
One report per transaction therefore caps new incidents at a few hundred per second at best, and
far lower once round trips queue behind the lock. Here the reports that arrived while the previous
batch was committing go together: one transaction, one lock statement, one counter read and write,
one flush.

Guarantees are those of ``report_in_tx``, report by report, in arrival order: a report sees every
earlier report of its batch (an idempotent retry replays, a nearby report merges). Round trips per
batch: the locks (one statement), the counter (read once, written once) and the commit; per report,
its reads (one statement) and its change (one statement). Locks: every
advisory lock of the batch is taken first, in one statement, in one global (sorted) order, so
batches and single-report transactions cannot deadlock on them. If the batch fails for any reason
it is rolled back and each of its reports is filed alone, so one report's failure is its own —
unless the failure is the database's (connection lost, server restarting, driver state broken):
then every report of the batch fails at once with ``Unavailable`` (UNAVAILABLE, retried by the
caller with the same idempotency key) instead of failing again one by one, and the connection is
closed rather than handed back in an unknown protocol state.
A report whose caller has gone (deadline passed) before its batch starts is not filed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from cityops_incidents.incidents import store
from cityops_incidents.incidents.intake import lock_keys, report_in_tx
from cityops_incidents.incidents.models import Actor, ReportIn, ReportOutcome
from cityops_incidents.rules import Rules
from cityops_platform.errors import Unavailable
from cityops_platform.grpc.status import is_infrastructure_error

log = logging.getLogger("cityops.incidents.batch")
MAX_BATCH = 64


@dataclass
class _Pending:
    report: ReportIn
    actor: Actor
    now: datetime
    done: asyncio.Future[ReportOutcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    abandoned: bool = False  # the caller stopped waiting (deadline, disconnect)


class IntakeBatcher:
    """Files reports through ``report_in_tx``, one batch (one transaction) at a time."""

    def __init__(self, *, pool: asyncpg.Pool, rules: Rules, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._rules = rules
        self._max = max_batch
        self._queue: list[_Pending] = []
        self._runner: asyncio.Task[None] | None = None

    async def file(self, r: ReportIn, *, actor: Actor, now: datetime) -> ReportOutcome:
        item = _Pending(r, actor, now)
        self._queue.append(item)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="incidents-intake-batches")
        try:
            # The batch goes on when a caller gives up: its transaction holds other callers' reports.
            return await asyncio.shield(item.done)
        except asyncio.CancelledError:
            item.abandoned = True
            raise

    async def _run(self) -> None:
        while self._queue:
            batch = [p for p in self._queue[: self._max] if not p.abandoned]
            del self._queue[: self._max]
            if batch:
                try:
                    await self._file_batch(batch)
                except Exception as exc:  # never leave a caller waiting on a dead runner
                    self._fail(batch, exc)

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        error = exc if not is_infrastructure_error(exc) else Unavailable(
            f"Cơ sở dữ liệu tạm thời không dùng được, vui lòng thử lại (database unavailable): {type(exc).__name__}")
        for item in batch:
            if not item.done.done():
                item.done.set_exception(error)
            if item.abandoned:
                item.done.exception()  # retrieved: no "exception never retrieved" warning

    async def _file_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._in_one_transaction(batch)
        except Exception as exc:
            if is_infrastructure_error(exc):
                log.warning("intake batch failed: database unavailable",
                            extra={"size": len(batch), "error": repr(exc)[:300]})
                self._fail(batch, exc)
                return
            # One report's failure must stay its own: file them one by one.
            if len(batch) > 1:
                log.info("intake batch failed; filing its reports one by one",
                         extra={"size": len(batch), "error": repr(exc)[:300]})
            for item in batch:
                await self._file_alone(item)
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if not item.done.done():
                item.done.set_result(outcome)

    async def _in_one_transaction(self, batch: list[_Pending]) -> list[ReportOutcome]:
        numbers = store.DayNumbers(self._rules.number_prefix)
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    keys = sorted({k for item in batch for k in lock_keys(self._rules, item.report)})
                    await store.lock_many(conn, keys)
                    # Each report reads the database (its transaction sees the earlier reports'
                    # rows), so no outcome shares an object that a later report of the batch changes.
                    outcomes = [
                        await report_in_tx(conn, rules=self._rules, r=item.report, actor=item.actor,
                                           now=item.now, locked=True, numbers=numbers)
                        for item in batch
                    ]
                    await numbers.flush(conn)
            except Exception as exc:
                _discard_if_broken(conn, exc)
                raise
        return outcomes

    async def _file_alone(self, item: _Pending) -> None:
        try:
            async with self._pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        outcome = await report_in_tx(conn, rules=self._rules, r=item.report, actor=item.actor,
                                                     now=item.now)
                except Exception as exc:
                    _discard_if_broken(conn, exc)
                    raise
        except Exception as exc:
            if is_infrastructure_error(exc):
                self._fail([item], exc)
                return
            if item.abandoned:
                log.info("report failed after its caller left", extra={"error": repr(exc)[:300]})
            elif not item.done.done():
                item.done.set_exception(exc)
            return
        if not item.done.done():
            item.done.set_result(outcome)


def _discard_if_broken(conn: asyncpg.Connection, exc: BaseException) -> None:
    """A connection that failed with a dependency error may be mid-protocol (Postgres died during
    a statement): close it so the pool opens a fresh one instead of reusing it."""
    if is_infrastructure_error(exc) and not conn.is_closed():
        conn.terminate()
