"""Working-day clocks of administrative procedures on the real Vietnamese calendar, against the
real Postgres and Kafka: the service and the sweep run in-process with an injected clock, so a
Friday afternoon before Giỗ Tổ Hùng Vương and a pause across Tết can be lived through in seconds."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import make_settings
from cityops_incidents.incidents import reactions
from cityops_incidents.incidents.models import SYSTEM_ACTOR, Actor, ReportIn, TransitionIn
from cityops_incidents.incidents.service import IncidentService
from cityops_incidents.rules import load_rules
from cityops_platform.runtime import service_resources
from cityops_platform.settings import Settings

from .conftest import TDM, incident_events, prepare

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
OPERATOR = Actor("op-1", "operator")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, *args: int) -> None:
        self.at = datetime(*args, tzinfo=VN).astimezone(UTC)


City = tuple[Settings, Clock, IncidentService, Callable[[], Awaitable[int]]]


@pytest.fixture
async def city(kafka_bootstrap: str, topic_prefix: str, database_url: str) -> AsyncIterator[City]:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    await prepare(settings)
    rules = load_rules()  # the packaged rules and holidays_vn.yaml
    clock = Clock(datetime.now(UTC))
    async with service_resources("incidents", settings) as res:
        yield (settings, clock, IncidentService(pool=res.db, rules=rules, now=clock),
               functools.partial(reactions.sweep_sla, pool=res.db, rules=rules, clock=clock))


def admin_request(description: str) -> ReportIn:
    return ReportIn(category="ADMINISTRATIVE_PROCEDURE", source="HOTLINE_1022", lat=TDM[0], lon=TDM[1],
                    idempotency_key=str(uuid.uuid4()), description=description, priority_override=4)


async def test_friday_afternoon_request_is_due_after_the_compensatory_day_off(city: City) -> None:
    settings, clock, service, sweep_sla = city
    clock.set(2026, 4, 24, 16, 0)  # Friday; Monday 27/4 is off for Giỗ Tổ Hùng Vương (Sunday 26/4)
    outcome = await service.report(admin_request("Hỏi thủ tục đăng ký hộ kinh doanh"), actor=OPERATOR,
                                   roles=frozenset({"operator"}))
    inc = await service.get(outcome.incident.id)
    assert inc.sla_working_time and inc.sla_stage == "ACKNOWLEDGE"
    # 4 office hours: 1 h on Friday, then Tuesday 28/4 07:30 + 3 h.
    assert inc.sla_due_at == datetime(2026, 4, 28, 10, 30, tzinfo=VN)
    assert inc.sla_warn_at == datetime(2026, 4, 28, 9, 42, tzinfo=VN)  # 80 %: 3 h 12 min of office time

    clock.set(2026, 4, 27, 16, 0)  # the day off passes without a warning
    assert await sweep_sla() == 0
    clock.set(2026, 4, 28, 9, 45)
    assert await sweep_sla() == 1
    assert await sweep_sla() == 0  # once per stage
    clock.set(2026, 4, 28, 10, 31)
    assert await sweep_sla() == 1
    escalated = await service.get(inc.id)
    assert (escalated.priority, escalated.sla_breaches, escalated.sla_warned) == (3, ["ACKNOWLEDGE"], ["ACKNOWLEDGE"])

    events = await incident_events(settings, inc.id, 3)
    kinds = [e.WhichOneof("body") for e in events]
    assert kinds == ["reported", "sla_warning", "escalated"]
    warning = events[1].sla_warning
    assert warning.working_time and warning.sla_stage == pb.SLA_STAGE_ACKNOWLEDGE
    assert warning.remaining_seconds == pytest.approx(45 * 60)  # 09:45 → 10:30 in office time
    assert events[1].incident.sla_working_time
    assert events[2].escalated.breached_due_at.ToDatetime(tzinfo=UTC) == inc.sla_due_at
    assert events[2].actor.subject == SYSTEM_ACTOR.subject


async def test_dossier_pause_across_tet_keeps_the_remaining_office_time(city: City) -> None:
    settings, clock, service, sweep_sla = city
    clock.set(2026, 2, 11, 8, 0)  # Wednesday before Tết Bính Ngọ
    outcome = await service.report(admin_request("Đề nghị cấp đổi giấy phép lái xe"), actor=OPERATOR,
                                   roles=frozenset({"operator"}))
    clock.set(2026, 2, 11, 9, 0)
    acked = await service.transition(TransitionIn(outcome.incident.id, "ACKNOWLEDGED",
                                                  expected_version=outcome.incident.version), actor=OPERATOR)
    # P4 dispatch within 1 working day: 8 office hours from Wednesday 09:00 → Thursday 09:00.
    assert acked.sla_due_at == datetime(2026, 2, 12, 9, 0, tzinfo=VN)

    clock.set(2026, 2, 11, 14, 0)  # 3.5 office hours used (09:00-11:30, 13:00-14:00)
    paused = await service.transition(TransitionIn(acked.id, "AWAITING_DOSSIER", reason="Thiếu giấy khám sức khỏe",
                                                   expected_version=acked.version), actor=OPERATOR)
    assert paused.sla_due_at is None and paused.sla_remaining_s == pytest.approx(4.5 * 3600)

    clock.set(2026, 2, 13, 16, 0)  # long past the deadline while paused: nothing happens
    assert await sweep_sla() == 0

    # The citizen comes back on Friday 13/2 at 16:00; Tết is Mon 16/2 to Fri 20/2:
    # 1 h on Friday, then 3.5 h from Monday 23/2 07:30 → 11:00.
    resumed = await service.transition(TransitionIn(acked.id, "ACKNOWLEDGED", reason="Đã bổ sung",
                                                    expected_version=paused.version), actor=OPERATOR)
    assert resumed.sla_due_at == datetime(2026, 2, 23, 11, 0, tzinfo=VN)
    assert resumed.sla_started_at == acked.sla_started_at

    timeline = await service.timeline(acked.id)
    paused_entry = next(e for e in timeline if e.action == "SlaClockPaused")
    resumed_entry = next(e for e in timeline if e.action == "SlaClockResumed")
    assert "4.50 giờ làm việc" in paused_entry.detail
    assert "4.50 giờ làm việc" in resumed_entry.detail and "2026-02-23 04:00:00 UTC" in resumed_entry.detail
    assert paused_entry.actor == OPERATOR

    clock.at = resumed.sla_due_at + timedelta(seconds=1)
    assert await sweep_sla() >= 1
    assert (await service.get(acked.id)).sla_breaches == ["DISPATCH"]
    events = await incident_events(settings, acked.id, 5)
    statuses = [e.incident.status for e in events if e.WhichOneof("body") == "transitioned"]
    assert statuses == [pb.STATUS_ACKNOWLEDGED, pb.STATUS_AWAITING_DOSSIER, pb.STATUS_ACKNOWLEDGED]
    paused_snapshot = next(e.incident for e in events if e.incident.status == pb.STATUS_AWAITING_DOSSIER)
    assert not paused_snapshot.HasField("sla_due_at")
    assert paused_snapshot.sla_remaining_seconds == pytest.approx(4.5 * 3600)
