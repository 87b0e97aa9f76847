"""SLA clocks: the deadline of the stage that currently runs, measured from the incident's creation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cityops_incidents.config import Rules
from cityops_incidents.incidents.lifecycle import sla_stage

ESCALATION_REASON_BY_STAGE = {
    "ACKNOWLEDGE": "SLA_ACK",
    "DISPATCH": "SLA_DISPATCH",
    "RESOLVE": "SLA_RESOLVE",
}


@dataclass(frozen=True)
class SlaClock:
    stage: str  # ACKNOWLEDGE | DISPATCH | RESOLVE | "" (no clock)
    due_at: datetime | None


def clock(rules: Rules, *, category: str, priority: int, status: str, created_at: datetime) -> SlaClock:
    """The running stage for ``status`` and its deadline (``created_at`` + the category/priority's
    allowance); no clock for RESOLVED and terminal statuses."""
    stage = sla_stage(status)
    if not stage:
        return SlaClock("", None)
    deadlines = rules.sla(category, priority)
    allowance = getattr(deadlines, stage.lower())
    return SlaClock(stage, created_at + allowance)


def is_breached(c: SlaClock, *, now: datetime, already: list[str]) -> bool:
    """True when the running stage's deadline has passed and was not escalated before (once per stage)."""
    return bool(c.stage) and c.due_at is not None and now > c.due_at and c.stage not in already
