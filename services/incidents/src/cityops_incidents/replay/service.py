"""Replay: recorded reports through two rule sets (the current and a candidate), and what differs.

Each rule set runs its own simulation of intake over the same reports in the order they were
received: triage, fusion into the simulated incidents that rule set created (same decision as
intake: category, radius, window, open), and report-count escalation on merges. A simulated
incident is open as long as the recorded incident of its first report was, and its SLA stages
are judged against the recorded stage times. Pure: no database, no network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cityops_incidents.incidents import fusion
from cityops_incidents.incidents.triage import canonical_subcategory, triage
from cityops_incidents.replay.models import (
    Change,
    Lifecycle,
    Outcome,
    RecordedReport,
    ReplaySummary,
    SlaCount,
)
from cityops_incidents.rules import Rules


@dataclass
class _Simulated:
    group: str
    category: str
    subcategory: str
    lat: float
    lon: float
    last_report_at: datetime
    report_count: int
    priority: int
    first_priority: int
    agency: str
    lifecycle: Lifecycle
    description: str = ""  # the first report's: what the equivalence graph's keywords read

    def open_at(self, at: datetime) -> bool:
        return self.lifecycle.ended_at is None or self.lifecycle.ended_at > at


@dataclass
class Simulation:
    """Intake as one rule set would have done it, fed one recorded report at a time."""

    rules: Rules
    incidents: dict[str, _Simulated] = field(default_factory=dict)
    _by_category: dict[str, list[_Simulated]] = field(default_factory=dict)
    _widest: timedelta | None = None

    def _horizon(self) -> timedelta:
        """The widest fusion window of any category (a candidate older than it can never be joined)."""
        if self._widest is None:
            windows = [fusion.search_extent(self.rules, c)[2] for c in self.rules.agency_by_category]
            self._widest = max(windows, default=timedelta(0))
        return self._widest

    def feed(self, r: RecordedReport) -> Outcome:
        """The outcome of ``r`` given every report fed before it (fed in received order). Fusion is
        intake's own decision (``fusion.best_fusion``): the same category and every category the
        rules' equivalence graph relates to it, scored the same way."""
        at = r.occurred_at
        subcategory = canonical_subcategory(self.rules, r.subcategory)
        categories, _radius, window = fusion.search_extent(self.rules, r.category)
        match = None
        if categories:
            candidates = []
            for category in categories:
                pool = self._by_category.get(category, [])
                # Forget what no report can join any more: last report older than the widest window.
                pool[:] = [s for s in pool if s.last_report_at >= at - self._horizon() - timedelta(seconds=1)]
                candidates += [
                    fusion.Candidate(s.group, s.lat, s.lon, s.last_report_at, s.category, s.subcategory, s.description)
                    for s in pool if s.open_at(r.received_at) and s.last_report_at >= at - window
                ]
            match = fusion.best_fusion(self.rules, fusion.ReportFacts(
                category=r.category, lat=r.lat, lon=r.lon, at=at, subcategory=subcategory,
                description=r.description), candidates)
        if match is None:
            t = triage(self.rules, category=r.category, subcategory=r.subcategory, source=r.source,
                       description=r.description, sensor_level=r.sensor_level)
            sim = _Simulated(r.report_id, r.category, subcategory, r.lat, r.lon,
                             at, 1, t.priority, t.priority, t.agency, r.incident, r.description)
            self.incidents[sim.group] = sim
            if fusion.fuses(self.rules.fusion_rule(r.category)):
                self._by_category.setdefault(r.category, []).append(sim)
            return Outcome(sim.group, False, sim.priority, sim.agency)
        sim = self.incidents[match.incident_id]
        sim.report_count += 1
        sim.last_report_at = max(sim.last_report_at, at)
        t = triage(self.rules, category=sim.category, subcategory=sim.subcategory, source=r.source,
                   description=r.description, report_count=sim.report_count, sensor_level=r.sensor_level)
        sim.priority = min(sim.priority, t.priority)
        return Outcome(sim.group, True, sim.priority, sim.agency)


def sla_breaches(rules: Rules, sims: Iterable[_Simulated], *, now: datetime) -> tuple[SlaCount, int]:
    """Stages whose deadline (for the incident's priority at creation) the recorded stage times
    missed; a stage still running counts when its deadline is already past ``now``. Each stage's
    clock starts when the stage started (acknowledge: creation; dispatch: acknowledgement;
    resolve: dispatch, or acknowledgement when nothing was dispatched). Returns the counts and the
    number of incidents whose stages cannot be judged (no deadline for their category/priority)."""
    count = SlaCount()
    unknown = 0
    for s in sims:
        try:
            deadlines = rules.sla(s.category, s.first_priority)
        except KeyError:
            unknown += 1
            continue
        lc = s.lifecycle
        acked = lc.acknowledged_at or lc.dispatched_at or lc.resolved_at
        stages: list[tuple[str, datetime | None, datetime | None]] = [("acknowledge", lc.created_at, acked)]
        if lc.dispatched_at is not None or (lc.acknowledged_at is not None and lc.resolved_at is None):
            stages.append(("dispatch", lc.acknowledged_at or lc.created_at, lc.dispatched_at))
        if lc.dispatched_at is not None or lc.resolved_at is not None:
            stages.append(("resolve", lc.dispatched_at or lc.acknowledged_at or lc.created_at, lc.resolved_at))
        for stage, start, end in stages:
            if start is None:
                continue
            if end is None and lc.ended_at is not None:
                continue  # ended (cancelled, duplicate) before reaching this stage
            due = start + getattr(deadlines, stage)
            if (end or now) > due:
                setattr(count, stage, getattr(count, stage) + 1)
    return count, unknown


def _priority_histogram(sims: Iterable[_Simulated]) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in sims:
        out[s.priority] = out.get(s.priority, 0) + 1
    return out


def replay(
    reports: Iterable[RecordedReport], *, current: Rules, candidate: Rules, now: datetime, samples: int = 20,
    progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Feed ``reports`` (oldest first) to both rule sets and summarise what the candidate changes.
    Deterministic for the same reports and rules."""
    before, after = Simulation(current), Simulation(candidate)
    summary = ReplaySummary()
    # Groups are named by their first report in both runs, so "the same incident" is comparable.
    for r in reports:
        summary.reports += 1
        a, b = before.feed(r), after.feed(r)
        summary.merged_before += a.merged
        summary.merged_after += b.merged
        fusion_changed = a.merged != b.merged or a.group != b.group
        changed = fusion_changed or a.priority != b.priority or a.agency != b.agency
        if a.priority != b.priority:
            summary.priority_changed += 1
            summary.priority_raised += b.priority < a.priority
            summary.priority_lowered += b.priority > a.priority
            key = (a.priority, b.priority)
            summary.priority_moves[key] = summary.priority_moves.get(key, 0) + 1
        if a.agency != b.agency:
            summary.agency_changed += 1
            move = (a.agency, b.agency)
            summary.agency_moves[move] = summary.agency_moves.get(move, 0) + 1
        summary.fusion_changed += fusion_changed
        if changed and len(summary.samples) < samples:
            summary.samples.append(Change(r, a, b, fusion_changed))
        if progress is not None:
            progress(summary.reports)
    summary.incidents_before = len(before.incidents)
    summary.incidents_after = len(after.incidents)
    summary.priority_before = _priority_histogram(before.incidents.values())
    summary.priority_after = _priority_histogram(after.incidents.values())
    summary.sla_before, unknown_a = sla_breaches(current, before.incidents.values(), now=now)
    summary.sla_after, unknown_b = sla_breaches(candidate, after.incidents.values(), now=now)
    summary.sla_not_computable = max(unknown_a, unknown_b)
    return summary
