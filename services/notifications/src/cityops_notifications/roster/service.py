"""Who is on duty: the roster as data (``config/roster.yaml``) and the lookup of a shift.

Pure functions: a breach is matched against the roster at the breach's own time (the event's
``occurred_at``), never the time it is processed, so a redelivered event reaches the same person.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from cityops_notifications.roster.models import Contact, Duty, OnDuty, Roster, Shift, Supervisor
from cityops_notifications.subscriptions.models import LANGUAGES
from cityops_notifications.subscriptions.rules import normalise_address
from cityops_platform.city import current_city

DEFAULT_ROSTER_FILE = current_city().file("notifications/roster.yaml")  # this process's city
ANY_AGENCY = "*"
ROSTER_CHANNELS = ("EMAIL", "SMS")


def _contact(raw: dict[str, Any], where: str) -> Contact:
    channel = str(raw.get("channel", "")).upper()
    if channel not in ROSTER_CHANNELS:
        raise ValueError(f"{where}: channel must be one of {ROSTER_CHANNELS}")
    address, problem = normalise_address(channel, str(raw.get("address", "")))
    if problem:
        raise ValueError(f"{where}: {problem}")
    language = str(raw.get("language") or LANGUAGES[0])
    if language not in LANGUAGES:
        raise ValueError(f"{where}: language must be one of {LANGUAGES}")
    return Contact(channel, address, language)


def parse_roster(raw: dict[str, Any]) -> Roster:
    """Validate and type a roster document (the parsed YAML); errors name the entry."""
    tz = str(raw.get("timezone") or current_city().timezone)
    ZoneInfo(tz)
    shifts = tuple(Shift(str(s["name"]), time.fromisoformat(str(s["start"])), time.fromisoformat(str(s["end"])))
                   for s in raw.get("shifts", []))
    names = {s.name for s in shifts}
    if len(names) != len(shifts):
        raise ValueError("roster.shifts: names must be unique")
    agencies = {*current_city().agency_codes, ANY_AGENCY}
    duty = []
    for i, d in enumerate(raw.get("duty", [])):
        where = f"roster.duty[{i}]"
        agency = str(d["agency"])
        if agency not in agencies:
            raise ValueError(f"{where}: unknown agency {agency!r}")
        if d["shift"] not in names:
            raise ValueError(f"{where}: unknown shift {d['shift']!r}")
        sup = d["supervisor"]
        contacts = tuple(_contact(c, f"{where}.contacts[{j}]") for j, c in enumerate(sup.get("contacts", [])))
        if not contacts:
            raise ValueError(f"{where}: a supervisor needs at least one contact")
        weekdays = frozenset(int(x) for x in d.get("days", []))
        dates = frozenset(x if isinstance(x, date) else date.fromisoformat(str(x)) for x in d.get("dates", []))
        if not weekdays and not dates:
            raise ValueError(f"{where}: give days (ISO weekdays) or dates")
        if not weekdays <= set(range(1, 8)):
            raise ValueError(f"{where}: days are ISO weekdays 1 (Monday) .. 7 (Sunday)")
        duty.append(Duty(agency=agency, shift=str(d["shift"]), weekdays=weekdays, dates=dates,
                         supervisor=Supervisor(str(sup["id"]), str(sup.get("name", sup["id"])), contacts)))
    return Roster(timezone=tz, shifts=shifts, duty=tuple(duty))


def load_roster(path: str | Path | None = None) -> Roster:
    with open(path or DEFAULT_ROSTER_FILE, encoding="utf-8") as fh:
        return parse_roster(yaml.safe_load(fh))


def current_shift(roster: Roster, at: datetime) -> tuple[Shift, date] | None:
    """The shift running at ``at`` and the local day it belongs to (an overnight shift's start day)."""
    local = at.astimezone(ZoneInfo(roster.timezone))
    now, today = local.time(), local.date()
    for shift in roster.shifts:
        if not shift.overnight and shift.start <= now < shift.end:
            return shift, today
        if shift.overnight:
            if now >= shift.start:
                return shift, today
            if now < shift.end:
                return shift, today - timedelta(days=1)
    return None


def on_duty(roster: Roster, *, agency: str, at: datetime) -> OnDuty | None:
    """The supervisor on duty for ``agency`` at ``at``: the agency's own entry for the shift and
    day (an entry by date first, then by weekday), else the "*" entry; None when nobody is."""
    found = current_shift(roster, at)
    if found is None:
        return None
    shift, day = found
    for wanted in (agency, ANY_AGENCY):
        entries = [d for d in roster.duty if d.agency == wanted and d.shift == shift.name]
        for d in (*[d for d in entries if day in d.dates], *[d for d in entries if day.isoweekday() in d.weekdays]):
            return OnDuty(supervisor=d.supervisor, agency=wanted, shift=shift.name, shift_day=day)
    return None
