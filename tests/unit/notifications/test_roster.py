"""The duty roster: shifts (overnight included), agency and date entries, the "*" fallback,
validation, and the bilingual breach notice for the supervisor on duty."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as ev
from cityops_notifications.notices import translate
from cityops_notifications.rendering import Renderer
from cityops_notifications.roster import breach
from cityops_notifications.roster.service import load_roster, on_duty, parse_roster

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SHIFTS = [{"name": "ngày", "start": "07:00", "end": "19:00"}, {"name": "đêm", "start": "19:00", "end": "07:00"}]


def person(pid: str) -> dict[str, object]:
    return {"id": pid, "name": pid, "contacts": [{"channel": "EMAIL", "address": f"{pid}@ioc.vn"}]}


ROSTER = parse_roster({"timezone": "Asia/Ho_Chi_Minh", "shifts": SHIFTS, "duty": [
    {"agency": "*", "shift": "ngày", "days": [1, 2, 3, 4, 5, 6, 7], "supervisor": person("ioc-ngay")},
    {"agency": "*", "shift": "đêm", "days": [1, 2, 3, 4, 5], "supervisor": person("ioc-dem-tuan")},
    {"agency": "FIRE_RESCUE_114", "shift": "đêm", "days": [5], "supervisor": person("pccc-dem-thu6")},
    {"agency": "FIRE_RESCUE_114", "shift": "đêm", "dates": ["2026-12-31"], "supervisor": person("pccc-giao-thua")},
]})


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN).astimezone(UTC)


def who(agency: str, at: datetime) -> str | None:
    duty = on_duty(ROSTER, agency=agency, at=at)
    return duty.supervisor.id if duty else None


def test_day_shift_falls_back_to_the_ioc_entry() -> None:
    assert who("POLICE_113", local(2026, 11, 26, 9, 30)) == "ioc-ngay"


def test_night_shift_after_midnight_belongs_to_the_day_it_started() -> None:
    # Saturday 05:00 is Friday's night shift: the Friday entry of FIRE_RESCUE_114.
    duty = on_duty(ROSTER, agency="FIRE_RESCUE_114", at=local(2026, 11, 28, 5, 0))
    assert duty is not None and (duty.supervisor.id, duty.shift, duty.shift_day) == (
        "pccc-dem-thu6", "đêm", date(2026, 11, 27))
    # Saturday 20:00 is Saturday's night shift: no FIRE entry and no weekend night entry for "*".
    assert who("FIRE_RESCUE_114", local(2026, 11, 28, 20, 0)) is None


def test_date_entry_wins_over_weekday_entry() -> None:
    assert who("FIRE_RESCUE_114", local(2026, 12, 31, 23, 0)) == "pccc-giao-thua"  # a Thursday
    assert who("FIRE_RESCUE_114", local(2026, 12, 24, 23, 0)) == "ioc-dem-tuan"  # another Thursday


def test_shift_boundaries_are_half_open() -> None:
    assert who("POLICE_113", local(2026, 11, 26, 7, 0)) == "ioc-ngay"
    assert who("POLICE_113", local(2026, 11, 26, 19, 0)) == "ioc-dem-tuan"
    assert who("POLICE_113", local(2026, 11, 26, 6, 59)) == "ioc-dem-tuan"  # Wednesday's night


@pytest.mark.parametrize(("change", "message"), [
    ({"agency": "FIREMEN"}, "unknown agency"), ({"shift": "chiều"}, "unknown shift"),
    ({"days": []}, "days"), ({"days": [8]}, "ISO weekdays"),
    ({"supervisor": {"id": "x", "contacts": []}}, "at least one contact"),
    ({"supervisor": {"id": "x", "contacts": [{"channel": "SMS", "address": "12"}]}}, "số điện thoại"),
    ({"supervisor": {"id": "x", "contacts": [{"channel": "WEBHOOK", "address": "http://x"}]}}, "channel"),
])
def test_roster_data_is_validated(change: dict[str, object], message: str) -> None:
    entry = {"agency": "*", "shift": "ngày", "days": [1], "supervisor": person("a"), **change}
    with pytest.raises(ValueError, match=message):
        parse_roster({"shifts": SHIFTS, "duty": [entry]})


def test_packaged_roster_has_someone_on_duty_at_every_hour() -> None:
    roster = load_roster()
    for hour in range(24):
        for day in range(23, 30):  # a whole week
            assert on_duty(roster, agency="POLICE_113", at=local(2026, 11, day, hour, 30)) is not None


def escalated(reason: int, agency: int = common_pb2.AGENCY_ADMIN_CENTER) -> ev.IncidentEvent:
    event = ev.IncidentEvent(event_id="e1", incident_id="i1", incident_number="BD-20261126-000042",
                             incident=ev.Incident(id="i1", number="BD-20261126-000042", agency=agency,
                                                  category=ev.CATEGORY_ADMINISTRATIVE_PROCEDURE,
                                                  status=ev.STATUS_AWAITING_DOSSIER, priority=ev.PRIORITY_P3))
    event.occurred_at.FromDatetime(local(2026, 11, 26, 10, 0))
    event.escalated.reason = reason  # type: ignore[assignment]
    event.escalated.old_priority, event.escalated.new_priority = ev.PRIORITY_P4, ev.PRIORITY_P3
    event.escalated.sla_stage = ev.SLA_STAGE_RESOLVE
    event.escalated.breached_due_at.FromDatetime(local(2026, 11, 26, 9, 45))
    return event


def test_only_sla_escalations_are_breaches() -> None:
    for reason in (ev.ESCALATION_REASON_SLA_ACK, ev.ESCALATION_REASON_SLA_DISPATCH, ev.ESCALATION_REASON_SLA_RESOLVE):
        notice = translate.from_incident_event(escalated(reason), "t")
        assert notice is not None and breach.is_breach(notice)
    for reason in (ev.ESCALATION_REASON_REPORT_COUNT, ev.ESCALATION_REASON_MANUAL):
        notice = translate.from_incident_event(escalated(reason), "t")
        assert notice is not None and not breach.is_breach(notice)


def test_breach_notice_is_vietnamese_first_then_english_and_skips_rate_limits() -> None:
    notice = translate.from_incident_event(escalated(ev.ESCALATION_REASON_SLA_RESOLVE), "t")
    assert notice is not None and breach.agency_of(notice) == "ADMIN_CENTER"
    duty = on_duty(ROSTER, agency="ADMIN_CENTER", at=notice.occurred_at)
    assert duty is not None
    derived = breach.supervisor_notice(notice, duty)
    assert derived.event_id == "supervisor-breach:e1" and derived.urgent and derived.template == "supervisor_breach"
    vi_first = Renderer().render(derived, language="vi")
    assert vi_first.subject.startswith("[CityOps] QUÁ HẠN SLA BD-20261126-000042: quá hạn xử lý / [CityOps] SLA")
    body = vi_first.body
    assert body.index("đã quá hạn xử lý xong") < body.index("missed its resolution deadline")
    assert "Hạn đã lỡ: 09:45 ngày 26/11/2026" in body and "Chờ bổ sung hồ sơ" in body
    assert "Trung tâm hành chính công" in body
    en_first = Renderer().render(derived, language="en")
    assert en_first.body.index("missed its resolution deadline") < en_first.body.index("đã quá hạn")
