"""The working calendar: office hours, weekends, Vietnam's public holidays (Tết included) and swapped days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops_incidents.working_time import load_calendar, parse_calendar
from cityops_platform import metrics
from cityops_platform.city import current_city

CAL = load_calendar(current_city().file("holidays.yaml"))
VN = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = 3600.0


def vn(*args: int) -> datetime:
    """A local time in Asia/Ho_Chi_Minh, as the UTC instant the calendar works with."""
    return datetime(*args, tzinfo=VN).astimezone(UTC)


def test_a_working_day_is_eight_office_hours() -> None:
    assert CAL.day_seconds == 8 * HOUR


@pytest.mark.parametrize(("day", "name"), [
    (date(2025, 1, 1), "Tết Dương lịch"), (date(2026, 2, 17), "Tết Nguyên Đán (mùng 1)"),
    (date(2025, 4, 7), "Giỗ Tổ"), (date(2026, 4, 30), "Giải phóng"), (date(2026, 5, 1), "Lao động"),
    (date(2025, 9, 1), "liền kề"), (date(2027, 9, 2), "Quốc khánh"), (date(2027, 2, 9), "Nghỉ bù Tết"),
])
def test_public_holidays_are_not_working_days(day: date, name: str) -> None:
    assert not CAL.is_working_day(day)
    assert name in CAL.holidays[day]


def test_tet_2026_is_a_whole_week_off() -> None:
    # Mon 16/2 (29 Tết) to Fri 20/2, between two weekends: nine days without office hours.
    assert [d for d in (date(2026, 2, 14) + timedelta(days=i) for i in range(9)) if CAL.is_working_day(d)] == []
    assert CAL.is_working_day(date(2026, 2, 23))


def test_sunday_holiday_is_compensated_on_monday() -> None:
    # Giỗ Tổ Hùng Vương 2026 (10/3 âm lịch) is Sunday 26/4: Monday 27/4 is off instead.
    assert not CAL.is_working_day(date(2026, 4, 27))


def test_make_up_saturday_is_a_working_day() -> None:
    assert CAL.is_working_day(date(2025, 4, 26))  # worked for Friday 2/5/2025
    assert not CAL.is_working_day(date(2025, 5, 2))
    assert not CAL.is_working_day(date(2025, 4, 19))  # an ordinary Saturday


def test_friday_afternoon_deadline_lands_on_the_next_working_morning() -> None:
    # 4 office hours from Friday 15:00: 2 h on Friday, then Monday 07:30 + 2 h.
    assert CAL.add(vn(2026, 3, 6, 15, 0), 4 * HOUR) == vn(2026, 3, 9, 9, 30)


def test_lunch_break_does_not_count() -> None:
    assert CAL.add(vn(2026, 3, 10, 11, 0), 1 * HOUR) == vn(2026, 3, 10, 13, 30)


def test_clock_started_outside_office_hours_starts_at_opening() -> None:
    assert CAL.add(vn(2026, 3, 10, 20, 0), 0.5 * HOUR) == vn(2026, 3, 11, 8, 0)
    assert CAL.add(vn(2026, 3, 10, 6, 0), 0.5 * HOUR) == vn(2026, 3, 10, 8, 0)


def test_deadline_at_closing_time_stays_at_closing_time() -> None:
    assert CAL.add(vn(2026, 3, 10, 13, 0), 4 * HOUR) == vn(2026, 3, 10, 17, 0)


def test_three_working_days_across_tet_2027() -> None:
    # Wed 3/2/2027 08:00 leaves 7.5 h that day; Tết is Thu 4/2 to Wed 10/2; Thu 11/2 and Fri 12/2
    # give 16 h; the last half hour is Monday 15/2 07:30-08:00.
    start = vn(2027, 2, 3, 8, 0)
    assert CAL.add(start, 3 * CAL.day_seconds) == vn(2027, 2, 15, 8, 0)


def test_gio_to_and_april_holidays_2026() -> None:
    # Friday 24/4/2026 16:00 + 4 h: 1 h on Friday; Mon 27/4 is the compensatory day off; Tue 28/4 07:30 + 3 h.
    assert CAL.add(vn(2026, 4, 24, 16, 0), 4 * HOUR) == vn(2026, 4, 28, 10, 30)


def test_between_counts_only_office_hours_and_inverts_add() -> None:
    start = vn(2026, 4, 24, 16, 0)
    for seconds in (1.0, HOUR, 4 * HOUR, 3 * CAL.day_seconds, 10 * CAL.day_seconds + 123):
        assert CAL.between(start, CAL.add(start, seconds)) == pytest.approx(seconds)
    assert CAL.between(vn(2026, 4, 25, 8, 0), vn(2026, 4, 27, 17, 0)) == 0  # Sat, Sun, compensatory Monday
    assert CAL.between(vn(2026, 3, 11, 8, 0), vn(2026, 3, 10, 8, 0)) == -8 * HOUR


def test_outside_the_covered_years_counts_weekdays_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    cal = load_calendar(current_city().file("holidays.yaml"))
    before = metrics.ERRORS_SWALLOWED.labels("incidents_calendar_not_covered")._value.get()
    assert cal.is_working_day(date(2028, 1, 3))  # a Monday, no holiday data for 2028
    assert not cal.is_working_day(date(2028, 1, 8))  # a Saturday
    assert cal.add(vn(2027, 12, 31, 16, 0), 2 * HOUR) == vn(2028, 1, 3, 8, 30)
    assert metrics.ERRORS_SWALLOWED.labels("incidents_calendar_not_covered")._value.get() == before + 1
    assert "no holidays for this year" in caplog.text


def test_calendar_data_is_validated() -> None:
    base = {"hours": [["07:30", "11:30"]], "covers": [2026, 2026]}
    with pytest.raises(ValueError, match="start < end"):
        parse_calendar({**base, "hours": [["11:30", "07:30"]]})
    with pytest.raises(ValueError, match="overlap"):
        parse_calendar({**base, "hours": [["07:30", "11:30"], ["11:00", "12:00"]]})
    with pytest.raises(ValueError, match="both"):
        parse_calendar({**base, "holidays": [{"date": "2026-01-01"}], "working_days": [{"date": "2026-01-01"}]})
    with pytest.raises(ValueError, match="outside"):
        parse_calendar({**base, "holidays": [{"date": "2025-01-01"}]})
