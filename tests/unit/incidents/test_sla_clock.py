"""SLA clock maths: per-stage starts, no cascade, tightening on escalation, warnings, pause/resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops_incidents.incidents import sla
from cityops_incidents.incidents.models import Incident
from cityops_incidents.rules import load_rules, parse_rules, raw_default_rules
from cityops_platform.errors import PreconditionFailed

RULES = load_rules()
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def incident(category: str = "FIELD_REPORT", priority: int = 4, at: datetime = T0) -> Incident:
    inc = Incident(
        id="00000000-0000-0000-0000-000000000001", number="BD-1", category=category, subcategory="",
        priority=priority, status="NEW", description="", lat=10.98, lon=106.65, address="", district="",
        report_count=1, sources=["HOTLINE_1022"], agency="PUBLIC_WORKS", created_at=at, updated_at=at,
        occurred_at=at, last_report_at=at, sla_stage="", sla_due_at=None, sla_breaches=[], version=1,
        escalation_level=0, duplicate_of="", external_ids={}, open_alert_ids=[],
    )
    sla.advance(RULES, inc, now=at)
    return inc


def move(inc: Incident, status: str, at: datetime) -> Incident:
    inc.status = status
    sla.advance(RULES, inc, now=at)
    return inc


def test_acknowledge_clock_runs_from_creation() -> None:
    inc = incident("FIRE", 1)
    assert (inc.sla_stage, inc.sla_started_at, inc.sla_due_at) == ("ACKNOWLEDGE", T0, T0 + timedelta(minutes=1))


def test_dispatch_clock_runs_from_acknowledgement_not_creation() -> None:
    inc = incident("FIRE", 1)
    acked = T0 + timedelta(minutes=10)  # acknowledged late
    move(inc, "ACKNOWLEDGED", acked)
    assert (inc.sla_stage, inc.sla_started_at, inc.sla_due_at) == ("DISPATCH", acked, acked + timedelta(minutes=3))


def test_resolve_clock_runs_from_dispatch_and_arrival_does_not_restart_it() -> None:
    inc = incident("FIRE", 1)
    dispatched = T0 + timedelta(seconds=30)
    move(inc, "DISPATCHED", dispatched)  # auto-dispatch straight from NEW
    assert (inc.sla_stage, inc.sla_due_at) == ("RESOLVE", dispatched + timedelta(hours=1))
    move(inc, "ON_SCENE", dispatched + timedelta(minutes=20))
    assert (inc.sla_started_at, inc.sla_due_at) == (dispatched, dispatched + timedelta(hours=1))


def test_no_clock_after_resolution() -> None:
    for status in ("RESOLVED", "CLOSED", "CANCELLED", "DUPLICATE"):
        inc = move(incident("FIRE", 1), status, T0 + timedelta(minutes=5))
        assert (inc.sla_stage, inc.sla_due_at, inc.sla_warn_at) == ("", None, None)


def test_category_override_applies() -> None:
    inc = incident("FIELD_REPORT", 4)
    assert inc.sla_due_at == T0 + timedelta(hours=2)


def test_breach_escalation_does_not_make_the_next_stage_overdue() -> None:
    # The cascade of the old clocks: P4 acknowledged 2 h late, escalated to P3; the dispatch clock
    # must run from the acknowledgement at P3 (1 h), not from creation.
    inc = incident("OTHER", 4)
    late = T0 + timedelta(hours=3)
    assert sla.is_breached(inc, now=late)
    inc.sla_breaches.append("ACKNOWLEDGE")
    inc.priority = 3  # the sweep's escalation
    sla.advance(RULES, inc, now=late)
    assert inc.sla_due_at == T0 + timedelta(hours=1)  # the missed deadline stays as it was
    assert not sla.is_breached(inc, now=late)  # once per stage
    move(inc, "ACKNOWLEDGED", late + timedelta(minutes=1))
    assert inc.sla_due_at == late + timedelta(minutes=1, hours=1)
    assert not sla.is_breached(inc, now=late + timedelta(minutes=2))


def test_escalation_mid_stage_tightens_but_never_before_the_new_allowance() -> None:
    inc = incident("OTHER", 4)  # acknowledge within 1 h
    inc.priority = 2  # e.g. REPORT_COUNT after 50 min
    at = T0 + timedelta(minutes=50)
    sla.advance(RULES, inc, now=at)
    assert inc.sla_due_at == T0 + timedelta(minutes=53)  # 50 min + P2's 3 min: sooner than 60 min
    inc2 = incident("OTHER", 4)
    inc2.priority = 2
    sla.advance(RULES, inc2, now=T0 + timedelta(minutes=5))
    assert inc2.sla_due_at == T0 + timedelta(minutes=8)
    inc3 = incident("OTHER", 4)
    inc3.priority = 3  # P3 acknowledges within 15 min: 58 + 15 is later than 60, the deadline stays
    sla.advance(RULES, inc3, now=T0 + timedelta(minutes=58))
    assert inc3.sla_due_at == T0 + timedelta(hours=1)
    assert not sla.is_breached(inc2, now=T0 + timedelta(minutes=7))


def test_escalation_late_in_stage_is_not_instantly_overdue() -> None:
    inc = incident("OTHER", 4)
    at = T0 + timedelta(minutes=59)
    inc.priority = 1
    sla.advance(RULES, inc, now=at)
    assert inc.sla_due_at == T0 + timedelta(hours=1)  # min(60 min, 59 + 1 min)
    assert not sla.is_breached(inc, now=at)


def test_warning_falls_at_the_configured_fraction_once_per_stage() -> None:
    inc = incident("OTHER", 4)  # 1 h, warning at 80 % = 48 min
    assert inc.sla_warn_at == T0 + timedelta(minutes=48)
    assert not sla.needs_warning(inc, now=T0 + timedelta(minutes=47))
    assert sla.needs_warning(inc, now=T0 + timedelta(minutes=48))
    inc.sla_warned.append("ACKNOWLEDGE")
    assert not sla.needs_warning(inc, now=T0 + timedelta(minutes=50))
    move(inc, "ACKNOWLEDGED", T0 + timedelta(minutes=50))  # the new stage gets its own warning
    assert inc.sla_warn_at == T0 + timedelta(minutes=50) + timedelta(hours=8) * 0.8


def test_warning_fraction_is_configurable() -> None:
    raw = raw_default_rules()
    raw["sla"]["warning_fraction"] = 0.5
    rules = parse_rules(raw)
    assert sla.warning_at(rules, category="OTHER", priority=4, stage="ACKNOWLEDGE", start=T0) == \
        T0 + timedelta(minutes=30)
    raw["sla"]["warning_fraction"] = 1.2
    with pytest.raises(ValueError, match="warning_fraction"):
        parse_rules(raw)


def test_no_warning_once_breached() -> None:
    inc = incident("OTHER", 4)
    inc.sla_breaches.append("ACKNOWLEDGE")
    assert not sla.needs_warning(inc, now=T0 + timedelta(hours=2))


def test_administrative_procedures_count_working_hours() -> None:
    # Friday 24/4/2026 16:00 in Vietnam, P4: acknowledge within 4 office hours. Monday 27/4 is the
    # compensatory day off for Giỗ Tổ Hùng Vương: the deadline is Tuesday 28/4 10:30.
    created = datetime(2026, 4, 24, 16, 0, tzinfo=VN).astimezone(UTC)
    inc = incident("ADMINISTRATIVE_PROCEDURE", 4, at=created)
    assert inc.sla_working_time
    assert inc.sla_due_at == datetime(2026, 4, 28, 10, 30, tzinfo=VN)
    # 80 % of 4 h = 3 h 12 min of office time: Friday's hour, then Tuesday 07:30 + 2 h 12 min.
    assert inc.sla_warn_at == datetime(2026, 4, 28, 9, 42, tzinfo=VN)
    assert sla.remaining_seconds(RULES, inc, now=created) == pytest.approx(4 * 3600)


def test_working_days_in_rules_are_office_days() -> None:
    # P4 resolve "7d" for an administrative procedure: seven working days of 8 h.
    assert RULES.sla("ADMINISTRATIVE_PROCEDURE", 4).resolve == timedelta(hours=56)


def test_pause_stops_the_clock_and_resume_gives_back_what_was_left() -> None:
    created = datetime(2026, 3, 9, 8, 0, tzinfo=VN).astimezone(UTC)  # Monday
    inc = incident("ADMINISTRATIVE_PROCEDURE", 4, at=created)
    acked = created + timedelta(hours=1)
    move(inc, "ACKNOWLEDGED", acked)  # dispatch within 1 working day (8 h): due Tue 09:00 local
    assert inc.sla_due_at == datetime(2026, 3, 10, 9, 0, tzinfo=VN)
    paused = datetime(2026, 3, 9, 14, 0, tzinfo=VN).astimezone(UTC)
    move(inc, "AWAITING_DOSSIER", paused)
    assert (inc.sla_due_at, inc.sla_warn_at, inc.sla_paused_at) == (None, None, paused)
    assert inc.sla_stage == "DISPATCH"
    assert inc.sla_remaining_s == pytest.approx(4.5 * 3600)  # used: 09:00-11:30 and 13:00-14:00
    assert not sla.is_breached(inc, now=paused + timedelta(days=30))
    # The citizen brings the dossier a week later, Monday 16/3 at 16:00: 4.5 office hours remain.
    resumed = datetime(2026, 3, 16, 16, 0, tzinfo=VN).astimezone(UTC)
    move(inc, "ACKNOWLEDGED", resumed)
    assert (inc.sla_stage, inc.sla_paused_at, inc.sla_remaining_s) == ("DISPATCH", None, None)
    assert inc.sla_due_at == datetime(2026, 3, 17, 11, 0, tzinfo=VN)  # 1 h Monday + 07:30-11:00 Tuesday
    assert inc.sla_started_at == acked  # the same stage, resumed


def test_pause_keeps_the_warning_remainder() -> None:
    created = datetime(2026, 3, 9, 8, 0, tzinfo=VN).astimezone(UTC)
    inc = move(incident("ADMINISTRATIVE_PROCEDURE", 4, at=created), "ACKNOWLEDGED", created)
    # 8 h allowance from 08:00 Monday: warning after 6.4 h = Monday 15:54 local.
    assert inc.sla_warn_at == datetime(2026, 3, 9, 15, 54, tzinfo=VN)
    move(inc, "AWAITING_DOSSIER", datetime(2026, 3, 9, 15, 0, tzinfo=VN).astimezone(UTC))
    move(inc, "ACKNOWLEDGED", datetime(2026, 3, 11, 8, 0, tzinfo=VN).astimezone(UTC))
    assert inc.sla_warn_at == datetime(2026, 3, 11, 8, 54, tzinfo=VN)


def test_only_pausable_categories_may_wait_for_a_dossier() -> None:
    inc = move(incident("FIELD_REPORT", 4), "ACKNOWLEDGED", T0)
    with pytest.raises(PreconditionFailed):
        sla.check_pause_transition(RULES, inc, "AWAITING_DOSSIER")
    admin = move(incident("ADMINISTRATIVE_PROCEDURE", 4), "ACKNOWLEDGED", T0)
    sla.check_pause_transition(RULES, admin, "AWAITING_DOSSIER")


def test_resume_goes_back_to_the_paused_stage() -> None:
    created = datetime(2026, 3, 9, 8, 0, tzinfo=VN).astimezone(UTC)
    inc = move(incident("ADMINISTRATIVE_PROCEDURE", 4, at=created), "ACKNOWLEDGED", created)
    move(inc, "AWAITING_DOSSIER", created + timedelta(hours=1))
    with pytest.raises(PreconditionFailed):
        sla.check_pause_transition(RULES, inc, "DISPATCHED")  # a RESOLVE status; DISPATCH was paused
    sla.check_pause_transition(RULES, inc, "ACKNOWLEDGED")
    sla.check_pause_transition(RULES, inc, "CANCELLED")


def test_advance_is_idempotent() -> None:
    inc = incident("OTHER", 4)
    move(inc, "ACKNOWLEDGED", T0 + timedelta(minutes=3))
    before = (inc.sla_stage, inc.sla_started_at, inc.sla_due_at, inc.sla_warn_at)
    sla.advance(RULES, inc, now=T0 + timedelta(minutes=30))
    assert (inc.sla_stage, inc.sla_started_at, inc.sla_due_at, inc.sla_warn_at) == before


def test_working_category_must_define_every_priority() -> None:
    raw = raw_default_rules()
    del raw["sla"]["categories"]["ADMINISTRATIVE_PROCEDURE"]["P1"]
    with pytest.raises(ValueError, match=r"P1\.\.P4"):
        parse_rules(raw)


def test_a_stage_that_runs_again_gets_a_fresh_clock() -> None:
    # E.g. a reopened incident: RESOLVED → DISPATCHED starts RESOLVE again, which may breach again.
    inc = move(incident("FIRE", 1), "DISPATCHED", T0)
    inc.sla_breaches.append("RESOLVE")
    inc.sla_warned.append("RESOLVE")
    move(inc, "RESOLVED", T0 + timedelta(hours=2))
    again = T0 + timedelta(hours=3)
    move(inc, "DISPATCHED", again)
    assert (inc.sla_stage, inc.sla_started_at, inc.sla_due_at) == ("RESOLVE", again, again + timedelta(hours=1))
    assert inc.sla_breaches == [] and inc.sla_warned == []
    assert sla.is_breached(inc, now=again + timedelta(hours=2))
