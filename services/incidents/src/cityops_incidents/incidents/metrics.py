"""Domain metrics of incidents: what the operations center is carrying, and how fast it answers.

Two sources, chosen so that a restart never makes the numbers wrong:

- **State** (open incidents, the oldest unassigned one) is read from Postgres every
  ``REFRESH_SECONDS`` by the worker (``refresh_open``): a gauge kept by hand on transitions would
  start from zero after a restart. Every worker reports the same totals; dashboards and alerts
  take ``max`` over instances.
- **Flows** (time to acknowledge / dispatch / on scene, SLA breaches) are taken from the
  IncidentEvents as the outbox relay publishes them (``install`` registers the observer), so each
  change is counted once, by whichever process published it, without touching the code that made
  it. Counters restart from zero with the process, which ``rate()``/``increase()`` handle.

The ``area`` label is the incident's commune-level unit (phường/xã since 2025: the ``ward_name``
column, "unknown" outside every unit); the label name stayed ``area`` when it moved from districts.
"""

from __future__ import annotations

import logging

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from cityops.incidents.v1 import events_pb2, resources_pb2
from cityops_incidents.incidents import models
from cityops_platform.db import outbox
from cityops_platform.failures import count_and_log
from cityops_platform.kafka.topics import INCIDENT_EVENTS

log = logging.getLogger("cityops.incidents.metrics")
REFRESH_SECONDS = 15.0
AREA_COLUMN = "ward_name"
UNKNOWN_AREA = "unknown"
# Open means what models.Incident.is_open says: the active statuses plus the paused ones
# (AWAITING_DOSSIER: the case waits for the citizen, but it is still the operations center's).
OPEN_STATUSES = (*models.OPEN_STATUSES, *models.PAUSED_STATUSES)
UNASSIGNED_STATUSES = ("NEW", "ACKNOWLEDGED")

OPEN = Gauge(
    "cityops_incidents_open",
    "Open incidents (NEW, ACKNOWLEDGED, DISPATCHED, ON_SCENE, AWAITING_DOSSIER) by priority, area and "
    "status; "
    "every incidents worker reports the same totals (aggregate with max)",
    ["priority", "area", "status"],
)
UNASSIGNED_OLDEST = Gauge(
    "cityops_incidents_unassigned_oldest_age_seconds",
    "Age of the oldest open incident not yet dispatched (NEW or ACKNOWLEDGED), by priority; "
    "0 when there is none",
    ["priority"],
)
RESPONSE = Histogram(
    "cityops_incident_response_seconds",
    "Time from an incident's creation to a milestone (acknowledged, dispatched, on_scene), by priority",
    ["milestone", "priority"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400),
)
REQUEST_KEYS_EXPIRED = Counter(
    "cityops_incidents_request_keys_expired_total",
    "Idempotency keys of TransitionIncident/AddNote removed by the worker after their retention "
    "(CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS)",
)
SLA_BREACHES = Counter(
    "cityops_sla_breaches_total",
    "SLA deadlines missed (each escalates the incident), by stage, category and priority at the breach",
    ["stage", "category", "priority"],
)

_MILESTONES = {
    resources_pb2.STATUS_ACKNOWLEDGED: "acknowledged",
    resources_pb2.STATUS_DISPATCHED: "dispatched",
    resources_pb2.STATUS_ON_SCENE: "on_scene",
}
# A reopened incident, or one resuming after a pause for the citizen's dossier, goes back through
# the milestones; its response was already measured.
_NOT_FIRST = {resources_pb2.STATUS_RESOLVED, resources_pb2.STATUS_CLOSED, resources_pb2.STATUS_AWAITING_DOSSIER}
_SLA_REASONS = {
    resources_pb2.ESCALATION_REASON_SLA_ACK: "acknowledge",
    resources_pb2.ESCALATION_REASON_SLA_DISPATCH: "dispatch",
    resources_pb2.ESCALATION_REASON_SLA_RESOLVE: "resolve",
}


def priority_label(priority: int) -> str:
    """``PRIORITY_P1`` (1) → ``P1``; anything unknown → ``unspecified``."""
    return f"P{priority}" if 1 <= priority <= 4 else "unspecified"


def category_label(category: int, code: str = "") -> str:
    """The city's code (``FLOOD`` → ``flood``), else the enum's name; unknown → ``unspecified``."""
    if code:
        return code.lower()
    try:
        name = resources_pb2.Category.Name(category)  # type: ignore[arg-type]
    except ValueError:
        return "unspecified"
    return name.removeprefix("CATEGORY_").lower() or "unspecified"


def observe_incident_event(value: bytes, _headers: object = None) -> None:
    """Record one published IncidentEvent in the response histogram and the SLA breach counter."""
    event = events_pb2.IncidentEvent()
    event.ParseFromString(value)
    body = event.WhichOneof("body")
    incident = event.incident
    if body == "transitioned":
        moved = event.transitioned
        milestone = _MILESTONES.get(moved.to_status)
        if milestone is None or moved.from_status in _NOT_FIRST or not incident.HasField("created_at"):
            return
        elapsed = event.occurred_at.ToMicroseconds() - incident.created_at.ToMicroseconds()
        RESPONSE.labels(milestone, priority_label(incident.priority)).observe(max(0.0, elapsed / 1e6))
    elif body == "escalated":
        stage = _SLA_REASONS.get(event.escalated.reason)
        if stage is None:
            return
        SLA_BREACHES.labels(stage, category_label(incident.category, incident.category_code),
                            priority_label(event.escalated.old_priority or incident.priority)).inc()


def install() -> None:
    """Observe IncidentEvents as this process's outbox relay publishes them (idempotent)."""
    outbox.observe_published(INCIDENT_EVENTS.name, "incident-metrics", observe_incident_event)


async def refresh_open(pool: asyncpg.Pool) -> int:
    """Recompute the open-incident gauges from Postgres; returns how many incidents are open."""
    rows = await pool.fetch(
        f"SELECT priority, {AREA_COLUMN} AS area, status, count(*) AS n FROM incidents "
        "WHERE status = ANY($1::text[]) GROUP BY 1, 2, 3",
        list(OPEN_STATUSES),
    )
    oldest = await pool.fetch(
        "SELECT priority, extract(epoch FROM now() - min(created_at)) AS age FROM incidents "
        "WHERE status = ANY($1::text[]) GROUP BY 1",
        list(UNASSIGNED_STATUSES),
    )
    # Replaced whole, so an area whose last incident closed drops to nothing instead of lingering.
    OPEN.clear()
    for row in rows:
        OPEN.labels(priority_label(row["priority"]), row["area"] or UNKNOWN_AREA, row["status"]).set(row["n"])
    ages = {priority_label(row["priority"]): float(row["age"]) for row in oldest}
    for priority in ("P1", "P2", "P3", "P4"):
        UNASSIGNED_OLDEST.labels(priority).set(max(0.0, ages.get(priority, 0.0)))
    return sum(int(row["n"]) for row in rows)


async def refresh_open_logged(pool: asyncpg.Pool | None) -> None:
    """``refresh_open`` for a timer: a failure is logged and counted, and the next tick retries."""
    if pool is None:
        return
    try:
        await refresh_open(pool)
    except Exception as exc:
        count_and_log("incidents_open_gauges", log, "open-incident gauges not refreshed", exc)
