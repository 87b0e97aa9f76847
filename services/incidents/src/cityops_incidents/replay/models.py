"""Replay types: a recorded report as read back, and its outcome under one rule set."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Lifecycle:
    """When the recorded incident a report belongs to reached each stage (UTC), as it happened."""

    number: str
    status: str
    created_at: datetime
    acknowledged_at: datetime | None
    dispatched_at: datetime | None
    resolved_at: datetime | None
    ended_at: datetime | None  # resolved, closed, cancelled or marked duplicate: no longer open


@dataclass(frozen=True)
class RecordedReport:
    report_id: str
    received_at: datetime
    occurred_at: datetime
    source: str
    category: str
    subcategory: str
    description: str
    lat: float
    lon: float
    sensor_level: str  # WARN | CRITICAL for sensor reports, else ""
    incident: Lifecycle


@dataclass(frozen=True)
class Outcome:
    """What one rule set makes of one report: the incident it creates or joins, right after it."""

    group: str  # the simulated incident: the report id of its first report
    merged: bool
    priority: int
    agency: str


@dataclass
class SlaCount:
    acknowledge: int = 0
    dispatch: int = 0
    resolve: int = 0

    @property
    def total(self) -> int:
        return self.acknowledge + self.dispatch + self.resolve


@dataclass
class Change:
    """One report whose outcome differs between the two rule sets."""

    report: RecordedReport
    before: Outcome
    after: Outcome
    fusion_changed: bool


@dataclass
class ReplaySummary:
    reports: int = 0
    incidents_before: int = 0
    incidents_after: int = 0
    priority_before: dict[int, int] = field(default_factory=dict)  # incidents per final priority
    priority_after: dict[int, int] = field(default_factory=dict)
    priority_changed: int = 0
    priority_raised: int = 0
    priority_lowered: int = 0
    priority_moves: dict[tuple[int, int], int] = field(default_factory=dict)
    agency_changed: int = 0
    agency_moves: dict[tuple[str, str], int] = field(default_factory=dict)
    fusion_changed: int = 0
    merged_before: int = 0
    merged_after: int = 0
    sla_before: SlaCount = field(default_factory=SlaCount)
    sla_after: SlaCount = field(default_factory=SlaCount)
    sla_not_computable: int = 0
    samples: list[Change] = field(default_factory=list)
