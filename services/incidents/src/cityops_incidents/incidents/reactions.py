"""What the worker does: react to sensor alerts and dispatch events, and escalate SLA breaches.

Each reaction runs in one transaction that also records the consumed event id
(``processed_events``), so a redelivered record (after a crash, before the offset commit) changes
nothing. Sensor alerts are additionally idempotent on the alert id (the report's idempotency key
is ``sensor-alert:<alert_id>``; a clear is applied once per alert).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents import lifecycle, sla, store, unit_assignments
from cityops_incidents.incidents.changes import record_only, write_change
from cityops_incidents.incidents.convert import status_label, ts
from cityops_incidents.incidents.intake import report_in_tx
from cityops_incidents.incidents.models import (
    SYSTEM_ACTOR,
    DispatchEventIn,
    Incident,
    ReportIn,
    SensorAlertIn,
    TransitionIn,
)
from cityops_incidents.incidents.transitions import apply_transition, escalate, utcnow
from cityops_incidents.incidents.triage import raise_priority
from cityops_incidents.incidents.validation import validate_report
from cityops_incidents.rules import Rules
from cityops_platform.db.idempotency import first_time

log = logging.getLogger("cityops.incidents.reactions")
ALERTS_CONSUMER = "incidents:sensor-alerts"
DISPATCH_CONSUMER = "incidents:dispatch-events"
# Dispatch event → the status it moves the incident to.
DISPATCH_TARGETS = {"unit_assigned": "DISPATCHED", "unit_arrived": "ON_SCENE"}
KIND_LABELS = {"unit_assigned": "UnitAssigned", "unit_arrived": "UnitArrived"}
OVERRIDE_TEXT = "điều phối viên chọn thay đề xuất (dispatcher override)"


def auto_resolves(rules: Rules, inc: Incident) -> bool:
    """A sensor clear resolves the incident when its category's rule says so, no linked alert is
    still open, and it is open (CLEARED on a resolved or closed incident changes nothing more)."""
    return (rules.fusion_rule(inc.category).resolve_on_sensor_clear and not inc.open_alert_ids
            and inc.status in lifecycle.AUTO_RESOLVE_FROM)


async def sensor_alert(
    a: SensorAlertIn, *, pool: asyncpg.Pool, rules: Rules, clock: Callable[[], datetime] = utcnow
) -> str:
    """RAISED creates or merges an incident (source SENSOR); a re-raised alert that worsened to
    CRITICAL escalates it; CLEARED is recorded on the timeline and, when the category's rule has
    ``resolve_on_sensor_clear`` and no linked alert is left open, resolves the incident.
    Idempotent on the event id and on the alert id. Returns what happened, for logs and tests."""
    async with pool.acquire() as conn, conn.transaction():
        if not await first_time(conn, ALERTS_CONSUMER, a.event_id or f"{a.alert_id}:{a.state}:{a.level}"):
            return "duplicate-event"
        if a.state == "CLEARED":
            return await _alert_cleared(conn, a, rules=rules, clock=clock)
        if a.state != "RAISED" or a.rule_type == "OFFLINE":
            return "ignored"
        category = rules.sensor_category.get(a.kind)
        if category is None:
            return "ignored"
        link = await store.alert_link(conn, a.alert_id)
        if link is not None:
            return await _alert_worsened(conn, a, link, rules=rules, clock=clock)
        now = clock()
        r = ReportIn(
            category=category, source="SENSOR", lat=a.lat, lon=a.lon, address=a.address,
            idempotency_key=f"sensor-alert:{a.alert_id}",
            subcategory=rules.sensor_subcategory.get(a.kind, ""),
            description=(f"Cảnh báo cảm biến {a.sensor_name or a.sensor_id} ({a.kind}, {a.level}): "
                         f"{a.value:g} {a.unit} vượt ngưỡng {a.threshold:g} {a.unit}").strip(),
            occurred_at=min(a.at, now), sensor_alert_id=a.alert_id, sensor_level=a.level,
            external_ids={"sensor": a.sensor_id[:256]} if a.sensor_id else {},
        )
        validate_report(rules, r, now=now)
        outcome = await report_in_tx(conn, rules=rules, r=r, actor=SYSTEM_ACTOR, now=now)
        await store.link_alert(conn, alert_id=a.alert_id, incident_id=outcome.incident.id, sensor_id=a.sensor_id,
                               level=a.level, raised_at=a.at)
        return "merged" if outcome.merged else "created"

async def _alert_worsened(conn: asyncpg.Connection, a: SensorAlertIn, link: asyncpg.Record, *, rules: Rules,
                          clock: Callable[[], datetime]) -> str:
    if not (a.level == "CRITICAL" and link["level"] != "CRITICAL"):
        return "unchanged"
    await store.update_alert_link(conn, a.alert_id, level=a.level)
    inc = await store.get(conn, str(link["incident_id"]), for_update=True)
    wanted = rules.sensor_level_priority.get(a.level)
    if inc is None or not inc.is_open or wanted is None or wanted >= inc.priority:
        return "unchanged"
    await escalate(conn, rules=rules, inc=inc, actor=SYSTEM_ACTOR, now=clock(), new_priority=wanted,
                   reason="SENSOR_LEVEL", detail=f"cảm biến {a.sensor_id}: {a.value:g} {a.unit} (CRITICAL)")
    return "escalated"

async def _alert_cleared(conn: asyncpg.Connection, a: SensorAlertIn, *, rules: Rules,
                         clock: Callable[[], datetime]) -> str:
    link = await store.alert_link(conn, a.alert_id)
    if link is None or link["cleared_at"] is not None:
        return "ignored"
    await store.update_alert_link(conn, a.alert_id, cleared_at=a.at)
    inc = await store.get(conn, str(link["incident_id"]), for_update=True)
    if inc is None:
        return "ignored"
    if a.alert_id in inc.open_alert_ids:
        inc.open_alert_ids.remove(a.alert_id)
    now = clock()
    body = pb.SensorAlertCleared(alert_id=a.alert_id, sensor_id=a.sensor_id, cleared_at=ts(a.at), value=a.value)
    await write_change(conn, rules=rules, inc=inc, actor=SYSTEM_ACTOR, body=body, now=now,
                        before="RAISED", after="CLEARED",
                        detail=f"Cảm biến {a.sensor_name or a.sensor_id} trở lại bình thường: {a.value:g} {a.unit} "
                               f"(sensor alert cleared)")
    if not auto_resolves(rules, inc):
        return "cleared"
    t = TransitionIn(incident_id=inc.id, to_status="RESOLVED",
                     reason=f"Tự động giải quyết: cảm biến {a.sensor_name or a.sensor_id} đã trở lại bình thường "
                            f"và không còn cảnh báo mở (resolve_on_sensor_clear: every linked alert cleared)")
    await apply_transition(conn, rules=rules, inc=inc, t=t, actor=SYSTEM_ACTOR, now=now)
    return "resolved"

async def dispatch_event(
    d: DispatchEventIn, *, pool: asyncpg.Pool, rules: Rules, clock: Callable[[], datetime] = utcnow
) -> str:
    """UnitAssigned → DISPATCHED, UnitArrived → ON_SCENE; every assignment event also updates
    which units are assigned (``unit_assignments``). Idempotent on the event id; a move
    that is no longer legal (already there, or closed) is recorded on the timeline, not applied."""
    target = DISPATCH_TARGETS.get(d.kind)
    tracked = d.kind in unit_assignments.ASSIGNMENT_STATES
    if (target is None and not tracked) or not d.incident_id:
        return "ignored"
    async with pool.acquire() as conn, conn.transaction():
        if not await first_time(conn, DISPATCH_CONSUMER, d.event_id):
            return "duplicate-event"
        # Who is assigned, for the field units' object rule (AddNote); before the status move,
        # which may find the incident unknown or the move illegal.
        await unit_assignments.record(conn, kind=d.kind, assignment_id=d.assignment_id,
                                      incident_id=d.incident_id, unit_id=d.unit_id, at=clock())
        if target is None:
            return "assignment-recorded"
        inc = await store.get(conn, d.incident_id, for_update=True)
        if inc is None:
            log.warning("dispatch event for an unknown incident", extra={"incident_id": d.incident_id,
                                                                          "event_id": d.event_id})
            return "unknown-incident"
        label = KIND_LABELS[d.kind]
        unit = f"{d.call_sign or '?'} ({d.agency or '?'})"
        # A dispatcher's override of the recommendation stays on the timeline with its reason.
        override = f"; {OVERRIDE_TEXT}: {d.override_reason}" if d.override_reason else ""
        now = clock()
        if not lifecycle.is_legal(inc.status, target):
            await record_only(conn, inc=inc, actor=d.actor, action="DispatchEventSkipped", now=now,
                              before=status_label(inc.status), after=status_label(target),
                              detail=f"{label} {unit}: không áp dụng từ {inc.status} (not legal from {inc.status})"
                                     f"{override}")
            return "skipped"
        reason = (f"Đơn vị {unit} được phân công (unit assigned){override}" if d.kind == "unit_assigned"
                  else f"Đơn vị {unit} đã đến hiện trường (unit arrived)")
        t = TransitionIn(incident_id=inc.id, to_status=target, reason=reason, assignment_id=d.assignment_id)
        await apply_transition(conn, rules=rules, inc=inc, t=t, actor=d.actor, now=now)
        return "transitioned"

async def sweep_sla(
    *, pool: asyncpg.Pool, rules: Rules, limit: int = 200, clock: Callable[[], datetime] = utcnow
) -> int:
    """Publish due pre-breach warnings (IncidentSlaWarning, once per stage) and escalate every
    incident whose running stage is overdue: priority one step up, IncidentEscalated, timeline
    entry; once per stage and incident. The next stage's clock starts when that stage starts,
    so an escalation never makes it overdue. Safe with several workers (rows are taken with
    SKIP LOCKED). Returns the number of warnings and escalations published."""
    now = clock()
    async with pool.acquire() as conn:
        ids = await store.sla_breach_candidates(conn, now=now, limit=limit)
    published = 0
    for incident_id in ids:
        async with pool.acquire() as conn, conn.transaction():
            inc = await store.get(conn, incident_id, for_update=True, skip_locked=True)
            if inc is None:
                continue
            if sla.is_breached(inc, now=now):
                stage, due = inc.sla_stage, inc.sla_due_at
                assert due is not None
                inc.sla_breaches.append(stage)
                if stage not in inc.sla_warned:  # a breach found late replaces its warning
                    inc.sla_warned.append(stage)
                await escalate(conn, rules=rules, inc=inc, actor=SYSTEM_ACTOR, now=now,
                               new_priority=raise_priority(inc.priority),
                               reason=sla.ESCALATION_REASON_BY_STAGE[stage], breached_due_at=due,
                               sla_stage=stage, detail=f"quá hạn {stage} lúc {due:%Y-%m-%d %H:%M:%S} UTC "
                                                        f"(SLA breached)")
                published += 1
            elif sla.needs_warning(inc, now=now):
                await _warn(conn, inc, now, rules=rules)
                published += 1
    return published

async def _warn(conn: asyncpg.Connection, inc: Incident, now: datetime, *, rules: Rules) -> None:
    stage, due = inc.sla_stage, inc.sla_due_at
    assert due is not None
    left = sla.remaining_seconds(rules, inc, now=now) or 0.0
    inc.sla_warned.append(stage)
    body = pb.IncidentSlaWarning(sla_stage=pb.SlaStage.Value(f"SLA_STAGE_{stage}"), due_at=ts(due),
                                 remaining_seconds=round(left, 3), priority=pb.Priority.ValueType(inc.priority),
                                 working_time=inc.sla_working_time)
    unit = "giờ làm việc (working hours)" if inc.sla_working_time else "giờ (hours)"
    await write_change(conn, rules=rules, inc=inc, actor=SYSTEM_ACTOR, body=body, now=now,
                        before=stage, after=f"{due:%Y-%m-%dT%H:%M:%SZ}",
                        detail=f"Sắp quá hạn {stage}: còn {left / 3600:.2f} {unit}, hạn "
                               f"{due:%Y-%m-%d %H:%M:%S} UTC (SLA warning)")
