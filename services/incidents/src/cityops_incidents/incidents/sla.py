"""SLA clocks: one clock per stage, started when the stage starts.

- ACKNOWLEDGE runs from creation, DISPATCH from acknowledgement, RESOLVE from dispatch (NEW →
  DISPATCHED, an auto-dispatch, starts RESOLVE directly; arriving ON_SCENE does not restart it).
- A stage's deadline is fixed when it starts: start + the allowance of the category and the
  priority of that moment. Deadlines are never recomputed from creation, so a late stage cannot
  make the next one overdue (the cascade P4 → P3 → P2 in one sweep is impossible).
- A priority raised while a stage runs tightens the deadline to ``min(deadline, now + the new
  priority's allowance)``: never earlier than the allowance from the escalation itself. An SLA
  breach escalation leaves its own (missed) deadline as it is.
- A breach escalates once per stage, one priority step (``reactions.sweep_sla``); a pre-breach
  warning is published once per stage when ``warning_fraction`` of the allowance has elapsed.
- Working-time categories (administrative procedures) measure allowances in office hours of the
  working calendar (``working_time.WorkingCalendar``).
- AWAITING_DOSSIER (chờ bổ sung hồ sơ) stops the running clock and keeps what was left; returning
  to the status it paused from resumes the same stage with that remainder.

Pure functions of the incident and the rules: the service and the worker call ``advance`` on
every change (``changes.write_change``), and the unit tests need no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cityops_incidents.incidents.lifecycle import PAUSED_STATUS, sla_stage
from cityops_incidents.incidents.models import Incident
from cityops_incidents.rules import Rules
from cityops_incidents.working_time import WorkingCalendar
from cityops_platform.errors import PreconditionFailed

ESCALATION_REASON_BY_STAGE = {
    "ACKNOWLEDGE": "SLA_ACK",
    "DISPATCH": "SLA_DISPATCH",
    "RESOLVE": "SLA_RESOLVE",
}


@dataclass(frozen=True)
class SlaClock:
    stage: str  # ACKNOWLEDGE | DISPATCH | RESOLVE | "" (no clock)
    due_at: datetime | None


def allowance_seconds(rules: Rules, *, category: str, priority: int, stage: str) -> float:
    """The stage's allowance in seconds (working seconds for working-time categories)."""
    deadlines = rules.sla(category, priority)
    delta: timedelta = getattr(deadlines, stage.lower())
    return delta.total_seconds()


def _add(cal: WorkingCalendar | None, start: datetime, seconds: float) -> datetime:
    return cal.add(start, seconds) if cal is not None else start + timedelta(seconds=seconds)


def _left(cal: WorkingCalendar | None, now: datetime, until: datetime) -> float:
    return cal.between(now, until) if cal is not None else (until - now).total_seconds()


def deadline(rules: Rules, *, category: str, priority: int, stage: str, start: datetime) -> SlaClock:
    """The deadline of ``stage`` started at ``start`` at ``priority``."""
    seconds = allowance_seconds(rules, category=category, priority=priority, stage=stage)
    return SlaClock(stage, _add(rules.working_calendar(category), start, seconds))


def warning_at(rules: Rules, *, category: str, priority: int, stage: str, start: datetime) -> datetime:
    """When the pre-breach warning of ``stage`` started at ``start`` falls due."""
    seconds = allowance_seconds(rules, category=category, priority=priority, stage=stage)
    return _add(rules.working_calendar(category), start, seconds * rules.sla_warning_fraction)


def _start_stage(rules: Rules, inc: Incident, stage: str, now: datetime) -> None:
    # A stage that runs again (a reopened incident) has a fresh clock: it may warn and breach again.
    inc.sla_breaches = [s for s in inc.sla_breaches if s != stage]
    inc.sla_warned = [s for s in inc.sla_warned if s != stage]
    inc.sla_stage = stage
    inc.sla_started_at = now
    inc.sla_priority = inc.priority
    inc.sla_due_at = deadline(rules, category=inc.category, priority=inc.priority, stage=stage, start=now).due_at
    inc.sla_warn_at = warning_at(rules, category=inc.category, priority=inc.priority, stage=stage, start=now)
    inc.sla_paused_at = None
    inc.sla_remaining_s = inc.sla_warn_remaining_s = None


def _stop(inc: Incident) -> None:
    inc.sla_stage = ""
    inc.sla_started_at = inc.sla_due_at = inc.sla_warn_at = inc.sla_paused_at = None
    inc.sla_remaining_s = inc.sla_warn_remaining_s = None


def _pause(rules: Rules, inc: Incident, now: datetime) -> None:
    cal = rules.working_calendar(inc.category)
    if inc.sla_due_at is not None:
        inc.sla_remaining_s = _left(cal, now, inc.sla_due_at)
        inc.sla_warn_remaining_s = _left(cal, now, inc.sla_warn_at) if inc.sla_warn_at is not None else None
    inc.sla_paused_at = now
    inc.sla_due_at = inc.sla_warn_at = None


def _resume(rules: Rules, inc: Incident, now: datetime) -> None:
    cal = rules.working_calendar(inc.category)
    remaining = inc.sla_remaining_s if inc.sla_remaining_s is not None else 0.0
    # An overdue clock stays overdue by the same amount; a running one gets exactly what was left.
    inc.sla_due_at = (_add(cal, now, remaining) if remaining > 0
                      else now - timedelta(seconds=-remaining))
    warn_left = inc.sla_warn_remaining_s
    inc.sla_warn_at = (None if warn_left is None else
                       _add(cal, now, warn_left) if warn_left > 0 else now - timedelta(seconds=-warn_left))
    inc.sla_paused_at = None
    inc.sla_remaining_s = inc.sla_warn_remaining_s = None


def _tighten(rules: Rules, inc: Incident, now: datetime) -> None:
    """The priority rose while the stage runs: the new priority's allowance from now, if sooner."""
    stage = inc.sla_stage
    if inc.sla_due_at is not None and stage not in inc.sla_breaches:
        sooner = deadline(rules, category=inc.category, priority=inc.priority, stage=stage, start=now).due_at
        assert sooner is not None
        inc.sla_due_at = min(inc.sla_due_at, sooner)
        if inc.sla_warn_at is not None and stage not in inc.sla_warned:
            warn = warning_at(rules, category=inc.category, priority=inc.priority, stage=stage, start=now)
            inc.sla_warn_at = min(inc.sla_warn_at, warn)
    inc.sla_priority = inc.priority


def advance(rules: Rules, inc: Incident, *, now: datetime) -> None:
    """Bring ``inc``'s clock in line with its status and priority after a change at ``now``:
    start a new stage, pause, resume, tighten after an escalation, or stop. Idempotent: calling it
    again with nothing changed changes nothing."""
    inc.sla_working_time = rules.working_calendar(inc.category) is not None
    if inc.status == PAUSED_STATUS:
        if inc.sla_paused_at is None and inc.sla_stage:
            _pause(rules, inc, now)
        return
    stage = sla_stage(inc.status)
    if not stage:
        _stop(inc)
        return
    if inc.sla_paused_at is not None and stage == inc.sla_stage:
        _resume(rules, inc, now)
    elif stage != inc.sla_stage or inc.sla_started_at is None:
        _start_stage(rules, inc, stage, now)
        return
    if inc.sla_priority is not None and inc.priority < inc.sla_priority:
        _tighten(rules, inc, now)
    inc.sla_priority = inc.priority


def check_pause_transition(rules: Rules, inc: Incident, to_status: str) -> None:
    """Raise PreconditionFailed unless the pause rules allow ``inc`` → ``to_status``: only a
    pausable category (rules.yaml sla.pausable_categories) enters AWAITING_DOSSIER, and it leaves
    to a status of the stage it paused (or CANCELLED), so the stopped clock resumes where it was."""
    if to_status == PAUSED_STATUS and inc.category not in rules.sla_pausable_categories:
        raise PreconditionFailed(f"Loại {inc.category} không tạm dừng chờ bổ sung hồ sơ được "
                                 f"(category {inc.category} cannot wait for a dossier)")
    if (inc.status == PAUSED_STATUS and to_status != "CANCELLED" and inc.sla_stage
            and sla_stage(to_status) != inc.sla_stage):
        raise PreconditionFailed(f"Hồ sơ đang chờ bổ sung ở giai đoạn {inc.sla_stage}; chỉ tiếp tục về trạng thái "
                                 f"của giai đoạn đó (resume to a status of the paused stage {inc.sla_stage})")


def pause_audit(rules: Rules, inc: Incident, *, before_status: str, now: datetime) -> tuple[str, str] | None:
    """(action, detail) of the audit entry for a pause or resume just applied to ``inc``; None otherwise."""
    unit = "giờ làm việc (working hours)" if inc.sla_working_time else "giờ (hours)"
    if inc.status == PAUSED_STATUS and before_status != PAUSED_STATUS:
        left = (inc.sla_remaining_s or 0.0) / 3600
        return ("SlaClockPaused", f"Tạm dừng đồng hồ {inc.sla_stage or '—'} chờ bổ sung hồ sơ; còn lại "
                                  f"{left:.2f} {unit} (SLA clock paused)")
    if before_status == PAUSED_STATUS and inc.status != PAUSED_STATUS and inc.sla_due_at is not None:
        left = (remaining_seconds(rules, inc, now=now) or 0.0) / 3600
        return ("SlaClockResumed", f"Tiếp tục đồng hồ {inc.sla_stage}: còn {left:.2f} {unit}, hạn mới "
                                   f"{inc.sla_due_at:%Y-%m-%d %H:%M:%S} UTC (SLA clock resumed)")
    return None


def clock(inc: Incident) -> SlaClock:
    """The running stage and its deadline (none while paused or without a clock)."""
    return SlaClock(inc.sla_stage, inc.sla_due_at)


def is_breached(inc: Incident, *, now: datetime) -> bool:
    """The running stage's deadline has passed and was not escalated before (once per stage)."""
    return bool(inc.sla_stage) and inc.sla_due_at is not None and now > inc.sla_due_at \
        and inc.sla_stage not in inc.sla_breaches


def needs_warning(inc: Incident, *, now: datetime) -> bool:
    """The running stage's warning time has passed and no warning (or breach) was published for it."""
    return bool(inc.sla_stage) and inc.sla_warn_at is not None and now >= inc.sla_warn_at \
        and inc.sla_stage not in inc.sla_warned and inc.sla_stage not in inc.sla_breaches


def remaining_seconds(rules: Rules, inc: Incident, *, now: datetime) -> float | None:
    """Time left on the running clock (working seconds for working-time categories); the stored
    remainder while paused; None without a clock."""
    if inc.sla_paused_at is not None:
        return inc.sla_remaining_s
    if inc.sla_due_at is None:
        return None
    return _left(rules.working_calendar(inc.category), now, inc.sla_due_at)
