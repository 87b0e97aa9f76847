"""Group commit for intake: the reports waiting at one moment are filed in one transaction, in a
number of statements that does not grow with the batch.

Why: the day's number counter must have no gaps, so every transaction that creates an incident
holds its row lock until it commits, and a commit waits for the WAL flush. One report per
transaction caps new incidents at a few hundred per second at best; serial round trips per report
inside one transaction cap the batch at N × (round trip) on a busy 2-core machine (issue 13: 38 %
of the api's samples, p99 10 s at 150 reports/s). Here a batch of N reports costs, whatever N:

1. BEGIN; the advisory locks of every report (``intake.lock_keys``), sorted, in one statement;
2. ONE read (``store.read_batch``): the replays of every key with their incidents, the fusion
   candidates of every report's search (each related category only as far and as far back as its
   pair rule allows: ``fusion.search_pairs``; row-locked, in id order), the attached incidents
   (row-locked) and the day counters (row-locked until the commit);
3. the reports filed in memory, in arrival order, by the same code as a single report
   (``intake.file_with`` through ``BatchFiling``): a report sees every earlier report of its batch
   — an idempotent retry replays it, a nearby report merges into the incident it created, a
   counter value follows the previous one;
4. ONE write (``store.write_batch``): counters, new incidents, changed incidents (final state),
   timeline entries, reports and outbox records, multi-row; then COMMIT.

Only an escalation by report count of an incident filed before the batch reads that incident's
reporters (one statement, once per incident and batch). Answers leave only after the COMMIT.

Locks: every advisory lock of the batch is taken first, in one statement, in one global (sorted)
order; row locks then follow the single report's order (candidates, attached incident, counter),
so batches and single-report transactions cannot deadlock. If the batch fails for any reason it is
rolled back and each of its reports is filed alone, so one report's failure is its own — unless
the failure is the database's (connection lost, server restarting, driver state broken): then
every report of the batch fails at once with ``Unavailable`` (UNAVAILABLE, retried by the caller
with the same idempotency key) instead of failing again one by one, and the connection is closed
rather than handed back in an unknown protocol state. A report whose caller has gone (deadline
passed) before its batch starts is not filed. A batch starts as soon as the previous one ended and
takes everything queued up to ``MAX_BATCH``: batches grow with the load, no timer.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import asyncpg

from cityops_incidents import geo
from cityops_incidents.incidents import fusion, store
from cityops_incidents.incidents.changes import prepare_change, search_text
from cityops_incidents.incidents.intake import Filing, file_with, incident_day, lock_keys, report_in_tx
from cityops_incidents.incidents.models import OPEN_STATUSES, Actor, Incident, ReportIn, ReportOutcome, TimelineEntry
from cityops_incidents.rules import Rules
from cityops_platform.db.outbox import OutboxRecord
from cityops_platform.errors import Unavailable
from cityops_platform.grpc.status import is_infrastructure_error

log = logging.getLogger("cityops.incidents.batch")
MAX_BATCH = 256


@dataclass
class _Pending:
    report: ReportIn
    actor: Actor
    now: datetime
    done: asyncio.Future[ReportOutcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    abandoned: bool = False  # the caller stopped waiting (deadline, disconnect)


class IntakeBatcher:
    """Files the queued reports one batch (one transaction, a few statements) at a time."""

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
            # The answers of the batch just committed go out first (their handlers were woken by
            # set_result); the next batch takes whatever queued meanwhile — no timer, no wait.
            await asyncio.sleep(0)
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
        rules = self._rules
        # (category, cell) pairs some report searches, each with the earliest last report it may join.
        searched: dict[tuple[str, str], datetime] = {}
        for item in batch:
            r = item.report
            at = r.occurred_at or item.now
            for category, radius, window in fusion.search_pairs(rules, r.category):
                start = at - window
                for cell in geo.search_cells(r.lat, r.lon, radius):
                    known = searched.get((category, cell))
                    if known is None or start < known:
                        searched[(category, cell)] = start
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    keys = sorted({k for item in batch for k in lock_keys(rules, item.report)})
                    await store.lock_many(conn, keys)
                    read = await store.read_batch(
                        conn, keys=[item.report.idempotency_key for item in batch], searched=sorted(searched.items()),
                        attach_ids=sorted({item.report.attach_to for item in batch if item.report.attach_to}),
                        prefix=rules.number_prefix, days=sorted({incident_day(rules, item.now) for item in batch}),
                    )
                    filing = BatchFiling(conn, rules, read)
                    outcomes = []
                    for item in batch:
                        outcome = await file_with(filing, rules=rules, r=item.report, actor=item.actor, now=item.now)
                        # A later report of the batch may change the incident: each answer keeps its own copy.
                        outcomes.append(replace(outcome, incident=_snapshot(outcome.incident)))
                    await filing.write(conn)
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


def _snapshot(inc: Incident) -> Incident:
    out = copy.copy(inc)
    out.sources, out.sla_breaches, out.sla_warned = list(inc.sources), list(inc.sla_breaches), list(inc.sla_warned)
    out.open_alert_ids, out.external_ids = list(inc.open_alert_ids), dict(inc.external_ids)
    return out


class BatchFiling(Filing):
    """A batch's reports filed in memory against its one read (``store.read_batch``); ``write``
    then stores every change in one statement. The incidents it holds are the current state for
    the batch: a report sees the changes of every earlier one."""

    def __init__(self, conn: asyncpg.Connection, rules: Rules, read: store.BatchRead) -> None:
        self._conn = conn
        self._rules = rules
        self._incidents: dict[str, Incident] = {}  # by id; the row-locked copy wins
        for inc in [*read.candidates, *read.attach_targets.values()]:
            self._incidents.setdefault(inc.id, inc)
        self._known: dict[str, store.KnownReport] = {}
        for key, (known, inc) in read.known.items():
            self._known[key] = known
            self._incidents.setdefault(inc.id, inc)
        # Fusion candidates: the row-locked open incidents read, then those created in the batch.
        self._pool = {inc.id: geo.cell_of(inc.lat, inc.lon) for inc in read.candidates}
        self._attachable = set(read.attach_targets)
        self._counters = dict(read.numbers)
        self._taken: dict[date, int] = {}
        self._reporters: dict[str, set[str]] = {}  # incident id → the reporters of its stored reports
        self._new_reporters: dict[str, set[str]] = {}  # … and of the reports filed in this batch
        self._created: dict[str, Incident] = {}
        self._changed: dict[str, Incident] = {}
        self._entries: list[tuple[str, TimelineEntry]] = []
        self._reports: list[tuple[str, store.NewReport]] = []
        self._records: list[OutboxRecord] = []

    async def lookup(
        self, r: ReportIn, *, categories: list[str], cells: list[str], since: datetime
    ) -> tuple[store.KnownReport | None, Incident | None, list[Incident]]:
        known = self._known.get(r.idempotency_key)
        if known is not None:
            return known, self._incidents[known.incident_id], []
        if not categories:
            return None, None, []
        wanted, near = set(categories), set(cells)
        candidates = [self._incidents[i] for i, cell in self._pool.items() if cell in near]
        return None, None, sorted(
            (c for c in candidates if c.category in wanted and c.last_report_at >= since and c.status in OPEN_STATUSES),
            key=lambda c: c.id)

    async def target(self, incident_id: str) -> Incident | None:
        return self._incidents[incident_id] if incident_id in self._attachable else None

    async def number(self, day: date) -> int:
        if day not in self._counters:
            raise LookupError(f"the batch did not read the counter of {day}")
        self._counters[day] += 1
        self._taken[day] = self._counters[day]
        return self._counters[day]

    async def reporters(self, incident_id: str) -> int:
        if incident_id not in self._reporters:
            self._reporters[incident_id] = (set() if incident_id in self._created
                                            else await store.reporter_keys(self._conn, incident_id))
        return len(self._reporters[incident_id] | self._new_reporters.get(incident_id, set()))

    async def change(self, **change: Any) -> str:
        report: store.NewReport | None = change.pop("report", None)
        inc: Incident = change["inc"]
        entry, record = prepare_change(**change)
        self._entries.append((inc.id, entry))
        self._records.append(record)
        if change.get("new"):
            self._created[inc.id] = inc
            self._incidents[inc.id] = inc
            self._pool[inc.id] = geo.cell_of(inc.lat, inc.lon)
        elif inc.id not in self._created:
            self._changed[inc.id] = inc
        if report is not None:
            self._reports.append((inc.id, report))
            self._known[report.r.idempotency_key] = store.KnownReport(report.report_id, inc.id, report.merged)
            self._new_reporters.setdefault(inc.id, set()).add(store.reporter_key(report.report_id, report.r))
        return entry.event_id

    async def write(self, conn: asyncpg.Connection) -> None:
        """Every change of the batch, in one statement (inside the batch's transaction)."""
        def rows(incidents: dict[str, Incident]) -> list[store.IncidentRow]:
            return [(i, geo.cell_of(i.lat, i.lon), search_text(i)) for i in incidents.values()]

        await store.write_batch(conn, created=rows(self._created), changed=rows(self._changed),
                                entries=self._entries, reports=self._reports, records=self._records,
                                prefix=self._rules.number_prefix, numbers=self._taken)
