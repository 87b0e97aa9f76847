"""SplitReport: undo a wrong merge. The report leaves its incident and becomes a new incident of
its own: its own number, triage, agency and SLA clock (created now), ``split_from`` pointing back.

Both incidents are audited: the source gets a ReportSplit (report_count - 1, sources recomputed,
the report's sensor alert moved with it); the new one an IncidentReported followed by a ReportSplit.
Locks, in the intake order so neither deadlocks with a batch of reports: the fusion advisory locks
of the source's and the report's places (a report that could fuse into either waits for the split
to commit), then the source row, then the day's number counter.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents import geo
from cityops_incidents.incidents import fusion, report_store, store
from cityops_incidents.incidents.changes import write_change
from cityops_incidents.incidents.convert import priority_label, status_label
from cityops_incidents.incidents.intake import incident_number
from cityops_incidents.incidents.models import Actor, Incident, SplitIn, StoredReport
from cityops_incidents.incidents.triage import triage
from cityops_incidents.incidents.validation import check_expected_version, check_required_text, check_uuid
from cityops_incidents.rules import Rules
from cityops_platform.errors import FieldViolation, NotFound, PreconditionFailed, StaleVersion, require


def split_lock_keys(rules: Rules, source: Incident, r: StoredReport) -> list[str]:
    keys: set[str] = set()
    for category, lat, lon in ((source.category, source.lat, source.lon), (r.category, r.lat, r.lon)):
        for scope, radius in fusion.lock_scopes(rules, category):
            keys.update(f"fusion:{scope}:{cell}" for cell in geo.lock_cells(lat, lon, radius))
    return sorted(keys)


async def split_in_tx(
    conn: asyncpg.Connection, *, rules: Rules, s: SplitIn, actor: Actor, now: datetime
) -> tuple[Incident, Incident]:
    """(source after the split, the new incident). Call inside a transaction."""
    peek = await store.get(conn, s.incident_id)
    r = await report_store.get(conn, s.report_id)
    if peek is None:
        raise NotFound("incident", s.incident_id)
    if r is None or r.incident_id != peek.id:
        raise NotFound("report", s.report_id)
    await store.lock_many(conn, split_lock_keys(rules, peek, r))
    source = await store.get(conn, s.incident_id, for_update=True)
    r = await report_store.get(conn, s.report_id, for_update=True)
    assert source is not None  # incidents are never deleted
    if r is None or r.incident_id != source.id:
        raise NotFound("report", s.report_id)
    if s.expected_version != source.version:
        raise StaleVersion(s.expected_version, source.version)
    if not source.is_open:
        raise PreconditionFailed(f"Sự cố {source.number} không còn mở ({source.status}); không tách được "
                                 f"(only an open incident can be split)")
    if source.report_count <= 1:
        raise PreconditionFailed(f"Sự cố {source.number} chỉ có một phản ánh; không có gì để tách "
                                 f"(an incident with one report cannot be split)")
    split = await _create_from(conn, rules=rules, source=source, r=r, actor=actor, now=now, reason=s.reason)
    await report_store.move(conn, report_id=r.id, from_incident_id=source.id, to_incident_id=split.id)
    if r.sensor_alert_id:
        await report_store.move_alert(conn, alert_id=r.sensor_alert_id, to_incident_id=split.id)
    remaining = await report_store.list_for(conn, source.id)
    source.report_count = len(remaining)
    source.sources = list(dict.fromkeys(x.source for x in remaining))
    if remaining:
        source.last_report_at = max(x.occurred_at for x in remaining)
    if r.sensor_alert_id in source.open_alert_ids:
        source.open_alert_ids.remove(r.sensor_alert_id)
    body = pb.ReportSplit(report_id=r.id, from_incident_id=source.id, to_incident_id=split.id,
                          to_incident_number=split.number, reason=s.reason)
    await write_change(conn, rules=rules, inc=source, actor=actor, body=body, now=now,
                        before=str(source.report_count + 1), after=str(source.report_count),
                        detail=f"Tách phản ánh {r.id} sang sự cố mới {split.number}: {s.reason} "
                               f"(report split out into {split.number})")
    await write_change(conn, rules=rules, inc=split, actor=actor, body=body, now=now,
                        before=source.number, after=split.number,
                        detail=f"Tách từ sự cố {source.number}: {s.reason} (split out of {source.number})")
    return source, split


async def _create_from(
    conn: asyncpg.Connection, *, rules: Rules, source: Incident, r: StoredReport, actor: Actor, now: datetime,
    reason: str,
) -> Incident:
    link = await store.alert_link(conn, r.sensor_alert_id) if r.sensor_alert_id else None
    sensor_level = str(link["level"]) if link is not None else ""
    t = triage(rules, category=r.category, subcategory=r.subcategory, source=r.source, description=r.description,
               sensor_level=sensor_level)
    open_alerts = [r.sensor_alert_id] if r.sensor_alert_id and r.sensor_alert_id in source.open_alert_ids else []
    ward_code, ward_name = geo.ward_of(r.lat, r.lon, r.address)
    inc = Incident(
        id=str(uuid.uuid4()), number="", category=r.category, subcategory=r.subcategory, priority=t.priority,
        status="NEW", description=r.description, lat=r.lat, lon=r.lon, address=r.address,
        district=ward_name, ward_code=ward_code, ward_name=ward_name,
        report_count=1, sources=[r.source], agency=t.agency, created_at=now, updated_at=now,
        occurred_at=min(r.occurred_at, now), last_report_at=r.occurred_at, sla_stage="", sla_due_at=None,
        sla_breaches=[], version=1, escalation_level=0, duplicate_of="", external_ids=dict(r.external_ids),
        open_alert_ids=open_alerts, split_from=source.id,
    )
    day = now.astimezone(ZoneInfo(rules.timezone)).date()
    inc.number = incident_number(rules, now, await store.next_number(conn, rules.number_prefix, day))
    body = pb.IncidentReported(
        source=pb.Source.Value(f"SOURCE_{r.source}"), report_id=r.id,
        reporter_phone_masked=r.reporter_phone_masked, sensor_alert_id=r.sensor_alert_id,
        reporter_subject=r.reporter_subject,
    )
    await write_change(conn, rules=rules, inc=inc, actor=actor, body=body, now=now, new=True, before="",
                        after=status_label("NEW"),
                        detail=f"Tách từ {source.number} ({reason}); {priority_label(inc.priority)}, {t.agency} "
                               f"({'; '.join(t.reasons)})")
    return inc


def validate_split(rules: Rules, s: SplitIn) -> None:
    out: list[FieldViolation] = []
    check_uuid(out, "incident_id", s.incident_id)
    check_uuid(out, "report_id", s.report_id)
    check_required_text(out, "reason", s.reason, rules.limit("reason"))
    check_expected_version(out, s.expected_version)
    require(out)
