"""Intake inside one transaction: idempotency, fusion, creation, merge and escalation.

Concurrency: a report first takes an advisory lock on its idempotency key (a retry waits for the
first attempt and then finds its report), then advisory locks on its category's H3 lock cells in
sorted order (two reports closer than the fusion radius share a lock cell, so the second one sees
the incident the first created). The unique index on ``reports.idempotency_key`` backs the first.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents import geo
from cityops_incidents.config import Rules
from cityops_incidents.incidents import fusion, store
from cityops_incidents.incidents.changes import write_change
from cityops_incidents.incidents.convert import category_enum, priority_label, status_label
from cityops_incidents.incidents.models import Actor, Incident, ReportIn, ReportOutcome
from cityops_incidents.incidents.triage import canonical_subcategory, triage
from cityops_incidents.text import mask_phone
from cityops_platform.errors import NotFound, PreconditionFailed


def incident_number(rules: Rules, now: datetime, sequence: int) -> str:
    """"BD-20261126-000123": the prefix, the local date of creation and the per-day sequence."""
    local = now.astimezone(ZoneInfo(rules.timezone))
    return f"{rules.number_prefix}-{local:%Y%m%d}-{sequence:06d}"


def lock_keys(rules: Rules, r: ReportIn) -> list[str]:
    """The advisory locks filing ``r`` needs: its idempotency key and its category's lock cells.
    Always taken sorted, in one statement: one global order, so lockers never deadlock."""
    keys = [f"idem:{r.idempotency_key}"]
    for scope, radius in fusion.lock_scopes(rules, r.category):
        keys += [f"fusion:{scope}:{cell}" for cell in geo.lock_cells(r.lat, r.lon, radius)]
    return sorted(keys)


class Filing:
    """What filing a report asks of its transaction. ``DirectFiling``: each step is its own round
    trip on a connection (one report, the worker's sensor alerts, the batch's fallback);
    ``batch.BatchFiling``: answered from the batch's one read, the changes kept for its one write."""

    async def lookup(
        self, r: ReportIn, *, categories: list[str], cells: list[str], since: datetime
    ) -> tuple[store.KnownReport | None, Incident | None, list[Incident]]:
        """The report already filed under ``r``'s key with its (current) incident, and the open
        incidents of ``categories`` in ``cells`` with a report since ``since``, row-locked, in id order."""
        raise NotImplementedError

    async def target(self, incident_id: str) -> Incident | None:
        """The incident a call-taker attached the report to, row-locked."""
        raise NotImplementedError

    async def number(self, day: date) -> int:
        """The day's next incident number (no gaps: it commits or rolls back with the incident)."""
        raise NotImplementedError

    async def reporters(self, incident_id: str) -> int:
        """``store.distinct_reporters`` of the incident, counting the reports filed so far."""
        raise NotImplementedError

    async def change(self, **change: Any) -> str:
        """``changes.write_change`` (same keywords, without the connection); returns the event id."""
        raise NotImplementedError


class DirectFiling(Filing):
    def __init__(self, conn: asyncpg.Connection, rules: Rules) -> None:
        self.conn = conn
        self.rules = rules

    async def lookup(
        self, r: ReportIn, *, categories: list[str], cells: list[str], since: datetime
    ) -> tuple[store.KnownReport | None, Incident | None, list[Incident]]:
        candidates: list[Incident] = []
        if categories:
            known, candidates = await store.known_and_candidates(
                self.conn, key=r.idempotency_key, categories=categories, cells=cells, since=since)
        else:
            known = await store.report_by_key(self.conn, r.idempotency_key)
        existing = await store.get(self.conn, known.incident_id) if known is not None else None
        return known, existing, candidates

    async def target(self, incident_id: str) -> Incident | None:
        return await store.get(self.conn, incident_id, for_update=True)

    async def number(self, day: date) -> int:
        return await store.next_number(self.conn, self.rules.number_prefix, day)

    async def reporters(self, incident_id: str) -> int:
        return await store.distinct_reporters(self.conn, incident_id)

    async def change(self, **change: Any) -> str:
        return await write_change(self.conn, **change)


def incident_day(rules: Rules, now: datetime) -> date:
    """The local day whose counter numbers an incident created at ``now``."""
    return now.astimezone(ZoneInfo(rules.timezone)).date()


async def report_in_tx(
    conn: asyncpg.Connection, *, rules: Rules, r: ReportIn, actor: Actor, now: datetime,
) -> ReportOutcome:
    """Create an incident for ``r`` or merge it into a nearby open one; the same idempotency key
    always yields the first outcome. Call inside a transaction.

    Round trips: the locks (one statement), the replay check with the fusion candidates (one),
    the day's number for a new incident, then the whole change (one statement)."""
    await store.lock_many(conn, lock_keys(rules, r))
    return await file_with(DirectFiling(conn, rules), rules=rules, r=r, actor=actor, now=now)


async def file_with(filing: Filing, *, rules: Rules, r: ReportIn, actor: Actor, now: datetime) -> ReportOutcome:
    """``report_in_tx`` after the locks, through ``filing``."""
    occurred = r.occurred_at or now
    categories, radius, window = fusion.search_extent(rules, r.category)
    known, existing, candidates = await filing.lookup(
        r, categories=categories, cells=geo.search_cells(r.lat, r.lon, radius) if categories else [],
        since=occurred - window)
    if known is not None:
        assert existing is not None  # reports reference incidents (foreign key)
        return ReportOutcome(existing, known.merged, known.report_id, replayed=True)
    if r.attach_to:
        return await attach_report(filing, rules=rules, r=r, actor=actor, now=now)
    return await file_report(filing, rules=rules, r=r, actor=actor, now=now, candidates=candidates)


async def file_report(
    filing: Filing, *, rules: Rules, r: ReportIn, actor: Actor, now: datetime, candidates: list[Incident],
) -> ReportOutcome:
    """After the locks and the replay check: merge ``r`` into the best of ``candidates`` (open
    incidents of its category near it, row-locked, current) or create an incident for it."""
    occurred = r.occurred_at or now
    match = fusion.best_fusion(
        rules,
        fusion.ReportFacts(category=r.category, lat=r.lat, lon=r.lon, at=occurred, subcategory=r.subcategory,
                           description=r.description),
        [fusion.Candidate(c.id, c.lat, c.lon, c.last_report_at, c.category, c.subcategory, c.description)
         for c in candidates],
    )
    report_id = str(uuid.uuid4())
    report = store.NewReport(report_id=report_id, r=r, merged=match is not None,
                             distance_m=match.distance_m if match else 0.0, occurred_at=occurred, received_at=now)
    if match is None:
        inc = await _create(filing, rules=rules, r=r, actor=actor, now=now, occurred=occurred, report=report)
    else:
        # Locked by the candidate query, read after the lock: the current row.
        locked = next(c for c in candidates if c.id == match.incident_id)
        inc = await _merge(filing, rules=rules, r=r, actor=actor, now=now, occurred=occurred, report=report,
                           inc=locked, match=match)
    return ReportOutcome(inc, match is not None, report_id)


async def attach_report(
    filing: Filing, *, rules: Rules, r: ReportIn, actor: Actor, now: datetime
) -> ReportOutcome:
    """A report the call-taker attached to an incident they chose: merged into it whatever fusion
    would say (distance and category are recorded, the reason names the call-taker's choice).
    The incident must exist and be open."""
    target = await filing.target(r.attach_to)
    if target is None:
        raise NotFound("incident", r.attach_to)
    if not target.is_open:
        raise PreconditionFailed(f"sự cố {target.number} đã đóng ({target.status}), không gộp được "
                                 f"(incident is no longer open)")
    occurred = r.occurred_at or now
    distance = geo.distance_m(r.lat, r.lon, target.lat, target.lon)
    match = fusion.Match(incident_id=target.id, distance_m=distance, score=1.0,
                         reasons=("tổng đài viên gộp vào sự cố này (attached by the call-taker)",))
    report_id = str(uuid.uuid4())
    report = store.NewReport(report_id=report_id, r=r, merged=True, distance_m=distance, occurred_at=occurred,
                             received_at=now)
    inc = await _merge(filing, rules=rules, r=r, actor=actor, now=now, occurred=occurred, report=report,
                       inc=target, match=match)
    return ReportOutcome(inc, True, report_id)


async def _create(
    filing: Filing, *, rules: Rules, r: ReportIn, actor: Actor, now: datetime, occurred: datetime,
    report: store.NewReport,
) -> Incident:
    t = triage(rules, category=r.category, subcategory=r.subcategory, source=r.source, description=r.description,
               sensor_level=r.sensor_level)
    priority = r.priority_override or t.priority
    external = dict(r.external_ids)
    if r.sensor_alert_id:
        external.setdefault("sensor_alert", r.sensor_alert_id)
    ward_code, ward_name = geo.ward_of(r.lat, r.lon, r.address)
    inc = Incident(
        id=str(uuid.uuid4()), number="", category=r.category,
        subcategory=canonical_subcategory(rules, r.subcategory),  # an old code is stored as the catalogue's
        priority=priority, status="NEW", description=r.description, lat=r.lat,
        lon=r.lon, address=r.address, district=ward_name, ward_code=ward_code, ward_name=ward_name,
        report_count=1, sources=[r.source], agency=t.agency, created_at=now, updated_at=now,
        occurred_at=min(occurred, now), last_report_at=occurred, sla_stage="", sla_due_at=None, sla_breaches=[],
        version=1, escalation_level=0, duplicate_of="", external_ids=external,
        open_alert_ids=[r.sensor_alert_id] if r.sensor_alert_id else [],
    )
    why = "ưu tiên do người nhập chỉ định (priority override)" if r.priority_override else "; ".join(t.reasons)
    body = pb.IncidentReported(
        source=pb.Source.Value(f"SOURCE_{r.source}"), report_id=report.report_id,
        reporter_phone_masked=mask_phone(r.reporter_phone), sensor_alert_id=r.sensor_alert_id,
        reporter_subject=r.reporter_subject,
    )
    # The day's counter row is locked from here to the commit (every new incident of the day waits
    # for it): everything else was prepared first, and only one statement follows.
    inc.number = incident_number(rules, now, await filing.number(incident_day(rules, now)))
    await filing.change(rules=rules, inc=inc, actor=actor, body=body, now=now, new=True, before="",
                        after=status_label("NEW"), report=report,
                        detail=f"Tiếp nhận từ {r.source}, {priority_label(priority)}, {t.agency} ({why})")
    return inc


async def _merge(
    filing: Filing, *, rules: Rules, r: ReportIn, actor: Actor, now: datetime, occurred: datetime,
    report: store.NewReport, inc: Incident, match: fusion.Match,
) -> Incident:
    inc.report_count += 1
    if r.source not in inc.sources:
        inc.sources.append(r.source)
    inc.last_report_at = max(inc.last_report_at, occurred)
    for key, value in r.external_ids.items():
        inc.external_ids.setdefault(key, value)
    if r.sensor_alert_id and r.sensor_alert_id not in inc.open_alert_ids:
        inc.open_alert_ids.append(r.sensor_alert_id)
    body = pb.IncidentMerged(
        report_count=inc.report_count, source=pb.Source.Value(f"SOURCE_{r.source}"), report_id=report.report_id,
        reporter_phone_masked=mask_phone(r.reporter_phone), sensor_alert_id=r.sensor_alert_id,
        distance_m=round(match.distance_m, 1), reporter_subject=r.reporter_subject,
        score=match.score, reasons=list(match.reasons),
        report_category=category_enum(r.category), report_category_code=r.category,
    )
    kind = f" loại {r.category}" if r.category != inc.category else ""
    await filing.change(rules=rules, inc=inc, actor=actor, body=body, now=now, report=report,
                        before=str(inc.report_count - 1), after=str(inc.report_count),
                        detail=f"Hợp nhất phản ánh{kind} từ {r.source}, cách {match.distance_m:.0f} m, "
                               f"điểm {match.score:.2f}: {'; '.join(match.reasons)} "
                               f"(merged report {report.report_id}, score {match.score:.2f})")
    t = triage(rules, category=inc.category, subcategory=inc.subcategory, source=r.source,
               description=r.description, report_count=inc.report_count, sensor_level=r.sensor_level)
    if t.priority < inc.priority and inc.report_count > 1:
        # Escalation by report count counts distinct reporters: one person repeating a report is one.
        reporters = await filing.reporters(inc.id)
        if reporters < inc.report_count:
            t = triage(rules, category=inc.category, subcategory=inc.subcategory, source=r.source,
                       description=r.description, report_count=reporters, sensor_level=r.sensor_level)
    wanted = min(t.priority, r.priority_override or 5)
    if wanted < inc.priority and inc.is_open:
        reason = "MANUAL" if r.priority_override and r.priority_override == wanted else "REPORT_COUNT"
        await escalate(filing, rules=rules, inc=inc, actor=actor, now=now, new_priority=wanted, reason=reason,
                       detail="; ".join(t.reasons))
    return inc


async def escalate(
    conn: asyncpg.Connection | Filing, *, rules: Rules, inc: Incident, actor: Actor, now: datetime, new_priority: int,
    reason: str, detail: str = "", breached_due_at: datetime | None = None, sla_stage: str = "",
) -> str:
    """Raise the priority (it may stay at P1), count the escalation and emit IncidentEscalated.
    ``conn``: a connection, or the filing of the report that escalates it."""
    filing = conn if isinstance(conn, Filing) else DirectFiling(conn, rules)
    old = inc.priority
    inc.priority = min(old, new_priority)
    inc.escalation_level += 1
    body = pb.IncidentEscalated(
        reason=pb.EscalationReason.Value(f"ESCALATION_REASON_{reason}"), old_priority=pb.Priority.ValueType(old),
        new_priority=pb.Priority.ValueType(inc.priority), escalation_level=inc.escalation_level,
        sla_stage=pb.SlaStage.Value(f"SLA_STAGE_{sla_stage}") if sla_stage else pb.SLA_STAGE_UNSPECIFIED,
    )
    if breached_due_at is not None:
        body.breached_due_at.FromDatetime(breached_due_at)
    return await filing.change(rules=rules, inc=inc, actor=actor, body=body, now=now,
                               before=priority_label(old), after=priority_label(inc.priority),
                               detail=f"Nâng mức ưu tiên ({reason}): {detail}".rstrip(": "))
