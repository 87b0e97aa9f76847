"""Dispatch's own view of incidents, built from ``cityops.incidents.events.v1`` (never the incidents schema)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cityops.incidents.v1 import incidents_pb2

Status = incidents_pb2.Status
# Incidents in these statuses need no more units; their waiting slots and pending assignments end.
TERMINAL = frozenset({Status.STATUS_RESOLVED, Status.STATUS_CLOSED, Status.STATUS_CANCELLED, Status.STATUS_DUPLICATE})


@dataclass
class IncidentView:
    id: str
    number: str
    category: str  # the city's category code
    subcategory: str
    priority: int
    status: int
    description: str
    lat: float
    lon: float
    address: str
    agency: str  # the city's agency code
    district: str
    version: int
    planned: bool
    snapshot: incidents_pb2.Incident
    updated_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL


@dataclass
class Note:
    note_id: str
    text: str
    author: str
    added_at: datetime
