"""Working time (giờ hành chính): office hours on working days, public holidays as data.

A ``WorkingCalendar`` answers two questions for the SLA clocks of administrative procedures:
``add(start, seconds)`` — the instant when ``seconds`` of working time have passed since ``start``
— and ``between(start, end)`` — the working seconds in ``[start, end)``. Both walk the calendar
day by day in the calendar's time zone (the city's by default), so a Friday-afternoon
deadline lands on the next working morning, and Tết, Giỗ Tổ Hùng Vương, 30/4, 1/5 and 2/9 are
skipped. Times in and out are timezone-aware UTC instants.

Hand-written (about 100 lines) rather than a dependency: the business-hours libraries on PyPI
either lack holiday data for Vietnam or compute holidays by formula, while Vietnam's days off
(swapped days, compensatory days) are decided each year by notice; the calendar therefore has
to be data (``config/holidays_vn.yaml``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from cityops_platform import metrics
from cityops_platform.city import current_city

log = logging.getLogger("cityops.incidents.working_time")
# A clock that would need more than this many calendar days is a configuration error.
MAX_DAYS_WALKED = 3 * 366


class CalendarNotCovered(ValueError):
    """No working time could be found (a calendar without office hours)."""


@dataclass(frozen=True)
class WorkingCalendar:
    timezone: str
    working_weekdays: frozenset[int]  # ISO weekdays, Mon = 1
    hours: tuple[tuple[time, time], ...]  # office-hour intervals of a working day, local, sorted
    holidays: dict[date, str]
    working_days: dict[date, str]  # weekend days worked in exchange for a swapped day off
    first_year: int
    last_year: int
    _warned_years: set[int] = field(default_factory=set, compare=False, repr=False)

    @property
    def day_seconds(self) -> float:
        """Working seconds in one working day (8 h for 07:30-11:30 + 13:00-17:00)."""
        return sum(_seconds(end) - _seconds(start) for start, end in self.hours)

    def covers(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year

    def is_working_day(self, day: date) -> bool:
        """Office hours run on ``day``. A year without holiday data counts weekdays only: a wrong
        deadline is better than a refused report, so it is logged and counted (once per year and
        process) for the city to add the year's holidays."""
        if not self.covers(day):
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                metrics.ERRORS_SWALLOWED.labels("incidents_calendar_not_covered").inc()
                log.warning("working calendar has no holidays for this year; counting weekdays only",
                            extra={"year": day.year, "covered": f"{self.first_year}-{self.last_year}"})
            return day.isoweekday() in self.working_weekdays
        if day in self.working_days:
            return True
        return day.isoweekday() in self.working_weekdays and day not in self.holidays

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of ``day`` as UTC instants (none on a day off)."""
        if not self.is_working_day(day):
            return []
        tz = ZoneInfo(self.timezone)
        return [(datetime.combine(day, s, tz).astimezone(UTC), datetime.combine(day, e, tz).astimezone(UTC))
                for s, e in self.hours]

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.timezone)).date()

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` of working time have elapsed since ``start``.

        Zero seconds from outside office hours is ``start`` itself. A clock that ends exactly at
        the close of a working interval ends there (17:00), not at the next opening."""
        if seconds <= 0:
            return start
        left = seconds
        day = self._local_day(start)
        for _ in range(MAX_DAYS_WALKED):
            for opens, closes in self._intervals(day):
                begin = max(opens, start)
                if begin >= closes:
                    continue
                available = (closes - begin).total_seconds()
                if left <= available:
                    return begin + timedelta(seconds=left)
                left -= available
            day += timedelta(days=1)
        raise CalendarNotCovered(f"no working time within {MAX_DAYS_WALKED} days of {start.isoformat()}")

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds in ``[start, end)``; negative when ``end`` is before ``start``."""
        if end < start:
            return -self.between(end, start)
        total = 0.0
        day = self._local_day(start)
        last = self._local_day(end)
        while day <= last:
            for opens, closes in self._intervals(day):
                begin, finish = max(opens, start), min(closes, end)
                if finish > begin:
                    total += (finish - begin).total_seconds()
            day += timedelta(days=1)
        return total


def _seconds(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second


def _time(value: Any) -> time:
    text = str(value)
    if text == "24:00":
        return time(23, 59, 59, 999999)
    return time.fromisoformat(text)


def _dates(raw: list[dict[str, Any]] | None) -> dict[date, str]:
    out: dict[date, str] = {}
    for item in raw or []:
        day = item["date"] if isinstance(item["date"], date) else date.fromisoformat(str(item["date"]))
        out[day] = str(item.get("name", ""))
    return out


def parse_calendar(raw: dict[str, Any]) -> WorkingCalendar:
    """Validate and type a calendar document (the parsed YAML)."""
    hours = tuple(sorted((_time(s), _time(e)) for s, e in raw["hours"]))
    if not hours or any(s >= e for s, e in hours):
        raise ValueError("calendar.hours: each interval needs start < end")
    if any(hours[i][1] > hours[i + 1][0] for i in range(len(hours) - 1)):
        raise ValueError("calendar.hours: intervals overlap")
    weekdays = frozenset(int(d) for d in raw.get("working_weekdays", [1, 2, 3, 4, 5]))
    if not weekdays or not weekdays <= set(range(1, 8)):
        raise ValueError("calendar.working_weekdays: ISO weekdays 1 (Mon) .. 7 (Sun)")
    first, last = (int(y) for y in raw["covers"])
    holidays, working = _dates(raw.get("holidays")), _dates(raw.get("working_days"))
    clash = sorted(set(holidays) & set(working))
    if clash:
        raise ValueError(f"calendar: {clash[0]} is both a holiday and a working day")
    outside = sorted(d for d in (*holidays, *working) if not first <= d.year <= last)
    if outside:
        raise ValueError(f"calendar: {outside[0]} is outside covers {first}-{last}")
    zone = str(raw.get("timezone") or current_city().timezone)
    ZoneInfo(zone)  # fails on an unknown zone
    return WorkingCalendar(timezone=zone, working_weekdays=weekdays,
                           hours=hours, holidays=holidays, working_days=working, first_year=first, last_year=last)


def load_calendar(path: str | Path) -> WorkingCalendar:
    with open(path, encoding="utf-8") as fh:
        return parse_calendar(yaml.safe_load(fh))
