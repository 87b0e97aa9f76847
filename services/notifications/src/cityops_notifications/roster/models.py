"""Roster domain types: shifts, supervisors with their contacts, duty entries (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time


@dataclass(frozen=True)
class Contact:
    channel: str  # EMAIL | SMS
    address: str  # normalised (subscriptions.rules.normalise_address)
    language: str = "vi"  # written in this language first, the other second


@dataclass(frozen=True)
class Supervisor:
    id: str
    name: str
    contacts: tuple[Contact, ...]


@dataclass(frozen=True)
class Shift:
    name: str
    start: time
    end: time  # end <= start: the shift crosses midnight and belongs to the day it starts

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Duty:
    agency: str  # Agency enum name without prefix ("ADMIN_CENTER"), or "*" for any agency
    shift: str
    supervisor: Supervisor
    weekdays: frozenset[int] = frozenset()  # ISO weekdays, Monday = 1
    dates: frozenset[date] = frozenset()  # single days; wins over weekdays


@dataclass(frozen=True)
class Roster:
    timezone: str
    shifts: tuple[Shift, ...]
    duty: tuple[Duty, ...]


@dataclass(frozen=True)
class OnDuty:
    """Who is on duty for an agency at an instant, and on which shift of which day."""

    supervisor: Supervisor
    agency: str
    shift: str
    shift_day: date
