"""Group commit for intake: the reports waiting at one moment are filed in one transaction.

Why: the day's number counter must have no gaps, so every transaction that creates an incident
holds its row lock until it commits, and a commit waits for the WAL flush (≈4 ms on a cloud disk).
One report per transaction therefore caps new incidents at a few hundred per second at best, and
far lower once round trips queue behind the lock. Here the reports that arrived while the previous
batch was committing go together: one transaction, one lock statement, one counter read and write,
one flush.

Guarantees are those of ``report_in_tx``, report by report, in arrival order: a report sees every
earlier report of its batch (an idempotent retry replays, a nearby report merges). Round trips per
batch: the locks, the replay check and the fusion candidates of every report (two statements), the
counter (read once, written once), then one statement per report and the commit. Locks: every
advisory lock of the batch is taken first, in one statement, in one global (sorted) order, so
batches and single-report transactions cannot deadlock on them. If the batch fails for any reason
it is rolled back and each of its reports is filed alone, so one report's failure is its own.
A report whose caller has gone (deadline passed) before its batch starts is not filed.
"""

from __future__ import annotations

import asyncio
import logging
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import datetime

import asyncpg

from cityops_incidents import geo
from cityops_incidents.config import Rules
from cityops_incidents.incidents import fusion, store
from cityops_incidents.incidents.intake import file_report, lock_keys, report_in_tx
from cityops_incidents.incidents.models import OPEN_STATUSES, Actor, Incident, ReportIn, ReportOutcome

log = logging.getLogger("cityops.incidents.batch")
MAX_BATCH = 64


def _in_query(inc: Incident, q: store.CandidateQuery) -> bool:
    """``store.fusion_candidates_of``'s condition, for an incident created earlier in the batch."""
    return (inc.category == q.category and geo.cell_of(inc.lat, inc.lon) in q.cells
            and inc.last_report_at >= q.since and inc.status in OPEN_STATUSES)


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
                await self._file_batch(batch)

    async def _file_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._in_one_transaction(batch)
        except Exception as exc:  # one report's failure must stay its own: file them one by one
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
        rules = self._rules
        numbers = store.DayNumbers(rules.number_prefix)
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_many(conn, sorted({k for item in batch for k in lock_keys(rules, item.report)}))
            # The reads of every report at once (after the locks: they see every committed report).
            known = await store.known_reports(conn, [item.report.idempotency_key for item in batch])
            queries: dict[int, store.CandidateQuery] = {}
            for i, item in enumerate(batch):
                r, rule = item.report, rules.fusion_rule(item.report.category)
                if fusion.fuses(rule):
                    queries[i] = store.CandidateQuery(r.category, geo.search_cells(r.lat, r.lon, rule.radius_m),
                                                      (r.occurred_at or item.now) - rule.window)
            order = sorted(queries)
            found, state = await store.fusion_candidates_of(conn, [queries[i] for i in order])
            candidates_of = {i: found.get(n, []) for n, i in enumerate(order)}
            # Then report by report, in arrival order, each seeing what the earlier ones did.
            filed: dict[str, ReportOutcome] = {}
            created: list[Incident] = []
            outcomes = []
            for i, item in enumerate(batch):
                r = item.report
                earlier = filed.get(r.idempotency_key)
                if earlier is not None:
                    outcomes.append(replace(earlier, incident=deepcopy(state[earlier.incident.id]), replayed=True))
                    continue
                if r.idempotency_key in known:
                    k = known[r.idempotency_key]
                    existing = state.get(k.incident_id) or await store.get(conn, k.incident_id)
                    assert existing is not None  # reports reference incidents (foreign key)
                    outcomes.append(ReportOutcome(deepcopy(existing), k.merged, k.report_id, replayed=True))
                    continue
                near = [state[c] for c in candidates_of.get(i, [])]
                if i in queries:
                    near += [c for c in created if _in_query(c, queries[i])]
                outcome = await file_report(conn, rules=rules, r=r, actor=item.actor, now=item.now,
                                            candidates=near, numbers=numbers)
                state[outcome.incident.id] = outcome.incident
                if not outcome.merged:
                    created.append(outcome.incident)
                filed[r.idempotency_key] = outcome
                # A snapshot: later reports of the batch may change the incident again.
                outcomes.append(replace(outcome, incident=deepcopy(outcome.incident)))
            await numbers.flush(conn)
        return outcomes

    async def _file_alone(self, item: _Pending) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                outcome = await report_in_tx(conn, rules=self._rules, r=item.report, actor=item.actor, now=item.now)
        except Exception as exc:
            if item.abandoned:
                log.info("report failed after its caller left", extra={"error": repr(exc)[:300]})
            elif not item.done.done():
                item.done.set_exception(exc)
            return
        if not item.done.done():
            item.done.set_result(outcome)
