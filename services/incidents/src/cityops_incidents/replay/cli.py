"""``cityops rules replay`` (arguments in cityops_platform.cli): the what-if of a rules change, as tables.

    cityops rules replay --rules candidate.yaml --since 7d [--baseline rules.yaml] [--samples 20]

Reads the recorded reports of the last ``--since`` from the incidents schema
(CITYOPS_DATABASE_URL, or --database-url), replays them through the current rules (the service's
CITYOPS_INCIDENTS_RULES_FILE, or --baseline) and through the candidate, and prints what would
change: priorities, agencies, fusion and SLA breaches, with counts. Progress goes to stderr.
Read-only: it never writes to the database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from cityops_incidents.replay import store
from cityops_incidents.replay.models import RecordedReport, ReplaySummary
from cityops_incidents.replay.service import replay
from cityops_incidents.rules import Rules, load_rules_file, parse_duration
from cityops_incidents.settings import IncidentsSettings
from cityops_platform.db.pool import create_pool


class Progress:
    """A line on stderr every ``every`` reports or ``seconds``, whichever comes first."""

    def __init__(self, total: int, out: TextIO, *, every: int = 1000, seconds: float = 2.0) -> None:
        self.total, self.out, self.every, self.seconds = total, out, every, seconds
        self._last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if done == self.total or done % self.every == 0 or now - self._last >= self.seconds:
            self._last = now
            share = f" ({100 * done / self.total:.0f}%)" if self.total else ""
            print(f"đã phát lại (replayed) {done}/{self.total}{share}", file=self.out, flush=True)


def _rules(path: str, what: str) -> Rules:
    try:
        return load_rules_file(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"luật {what} không hợp lệ (invalid {what} rules) {path}: {exc}") from exc


def render(s: ReplaySummary, *, since: datetime, until: datetime, baseline: str, candidate: str) -> str:
    """The summary as plain-text tables (Vietnamese first)."""
    w = 50
    lines = [
        f"Phát lại luật (rules replay): {s.reports} phản ánh (reports) "
        f"{since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M} UTC",
        f"  hiện hành (current):  {baseline}",
        f"  thử (candidate):      {candidate}",
        "",
        f"{'':<{w}} {'hiện hành':>10} {'thử':>10} {'thay đổi':>10}",
        f"{'sự cố sau hợp nhất (incidents after fusion)':<{w}} {s.incidents_before:>10} {s.incidents_after:>10} "
        f"{s.incidents_after - s.incidents_before:>+10}",
        f"{'phản ánh được hợp nhất (reports merged)':<{w}} {s.merged_before:>10} {s.merged_after:>10} "
        f"{s.merged_after - s.merged_before:>+10}",
    ]
    for p in (1, 2, 3, 4):
        a, b = s.priority_before.get(p, 0), s.priority_after.get(p, 0)
        lines.append(f"{f'sự cố P{p} (incidents at P{p})':<{w}} {a:>10} {b:>10} {b - a:>+10}")
    for stage, label in (("acknowledge", "tiếp nhận"), ("dispatch", "điều phối"), ("resolve", "xử lý")):
        a, b = getattr(s.sla_before, stage), getattr(s.sla_after, stage)
        lines.append(f"{f'trễ hạn SLA {label} (SLA {stage} breaches)':<{w}} {a:>10} {b:>10} {b - a:>+10}")
    lines += [
        "",
        f"phản ánh đổi ưu tiên (priority changed):   {s.priority_changed}  "
        f"(khẩn hơn/raised {s.priority_raised}, bớt khẩn/lowered {s.priority_lowered})",
        f"phản ánh đổi cơ quan (agency changed):     {s.agency_changed}",
        f"phản ánh đổi hợp nhất (fusion changed):    {s.fusion_changed}",
    ]
    if s.priority_moves:
        lines.append("ưu tiên (priority): " + ", ".join(
            f"P{a}→P{b}: {n}" for (a, b), n in sorted(s.priority_moves.items())))
    if s.agency_moves:
        lines.append("cơ quan (agency): " + ", ".join(
            f"{a}→{b}: {n}" for (a, b), n in sorted(s.agency_moves.items())))
    if s.sla_not_computable:
        lines.append(f"SLA không tính được (not computable) cho {s.sla_not_computable} sự cố")
    if s.samples:
        lines += ["", f"{'số hiệu (number)':<20} {'loại (category)':<26} {'ưu tiên':<9} {'cơ quan (agency)':<34} "
                      f"{'hợp nhất':<9} mô tả (description)"]
        for c in s.samples:
            prio = f"P{c.before.priority}→P{c.after.priority}" if c.before.priority != c.after.priority \
                else f"P{c.before.priority}"
            agency = f"{c.before.agency}→{c.after.agency}" if c.before.agency != c.after.agency else c.before.agency
            merged = ("có" if c.before.merged else "không") + "→" + ("có" if c.after.merged else "không") \
                if c.fusion_changed else ""
            text = c.report.description.replace("\n", " ")
            lines.append(f"{c.report.incident.number:<20} {c.report.category:<26} {prio:<9} {agency:<34} "
                         f"{merged:<9} {text[:60]}")
    return "\n".join(lines)


async def _read_all(dsn: str, since: datetime, until: datetime, err: TextIO) -> list[RecordedReport]:
    """The recorded reports of the window, in one read-only transaction (one consistent snapshot)."""
    pool = await create_pool(dsn, "incidents", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
            total = await store.count_reports(conn, since, until)
            print(f"đọc (reading) {total} phản ánh (reports)…", file=err, flush=True)
            return [r async for r in store.recorded_reports(conn, since, until)]
    finally:
        await pool.close()


def run(args: argparse.Namespace, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run a replay from parsed arguments; exit code 0, or 2 for bad input."""
    from cityops_platform.settings import get_settings

    try:
        window = parse_duration(args.since)
    except ValueError as exc:
        print(f"--since: {exc}", file=err)
        return 2
    baseline_path = args.baseline or IncidentsSettings().rules_file
    try:
        current, candidate = _rules(baseline_path, "hiện hành/current"), _rules(args.rules, "thử/candidate")
    except SystemExit as exc:
        print(exc, file=err)
        return 2
    until = datetime.now(UTC)
    since = until - window
    dsn = args.database_url or get_settings().database_url
    reports = asyncio.run(_read_all(dsn, since, until, err))
    progress = Progress(len(reports), err)
    summary = replay(reports, current=current, candidate=candidate, now=until, samples=args.samples,
                     progress=progress)
    print(render(summary, since=since, until=until, baseline=baseline_path, candidate=args.rules), file=out)
    return 0
