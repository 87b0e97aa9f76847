"""KPI figures for the console's charts, computed from the incidents API.

- open incidents by category, priority and ward/commune (every open incident, up to ``MAX_PAGES`` pages);
- time to dispatch, p50 and p90, overall and per hour, for incidents created in the last 24 h;
- SLA breaches in the last 24 h: incidents whose running SLA deadline has passed, or that were
  escalated (``escalation_level`` > 0). Escalations also count report-count escalations, so this
  slightly over-counts; the incidents API exposes no per-stage breach history.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.clients import ServiceClients
from cityops_gateway.open311.catalog import incident_category

OPEN_STATUSES = (
    incidents_pb2.STATUS_NEW,
    incidents_pb2.STATUS_ACKNOWLEDGED,
    incidents_pb2.STATUS_DISPATCHED,
    incidents_pb2.STATUS_ON_SCENE,
)
PAGE_SIZE = 500
MAX_PAGES = 10


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ts(ts: Timestamp) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else None


def dispatch_seconds(incident: incidents_pb2.Incident) -> float | None:
    """Seconds from creation to the first dispatch, when it was dispatched."""
    created, dispatched = _ts(incident.created_at), _ts(incident.dispatched_at)
    if created is None or dispatched is None:
        return None
    return max(0.0, (dispatched - created).total_seconds())


def is_sla_breach(incident: incidents_pb2.Incident, now: datetime) -> bool:
    due = _ts(incident.sla_due_at)
    overdue = due is not None and due < now and incident.status in OPEN_STATUSES
    return overdue or incident.escalation_level > 0


def summarize(
    open_incidents: Iterable[incidents_pb2.Incident],
    recent: Iterable[incidents_pb2.Incident],
    *,
    now: datetime,
    timezone: str,
) -> dict[str, Any]:
    """The KPI document from already-fetched incidents (pure: unit-tested without a network)."""
    tz = ZoneInfo(timezone)
    by_category: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()
    by_ward: Counter[tuple[str, str]] = Counter()
    open_total = 0
    for incident in open_incidents:
        open_total += 1
        by_ward[(incident.ward_code, incident.ward_name)] += 1
        by_category[incident_category(incident)] += 1
        by_priority[incidents_pb2.Priority.Name(incident.priority)] += 1

    start = (now - timedelta(hours=23)).astimezone(tz).replace(minute=0, second=0, microsecond=0)
    hours = [start + timedelta(hours=i) for i in range(24)]
    per_hour_dispatch: dict[int, list[float]] = {i: [] for i in range(24)}
    per_hour_breaches: Counter[int] = Counter()
    all_dispatch: list[float] = []
    breaches = 0
    for incident in recent:
        created = _ts(incident.created_at)
        if created is None:
            continue
        slot = int((created.astimezone(tz) - start).total_seconds() // 3600)
        if not 0 <= slot < 24:
            continue
        seconds = dispatch_seconds(incident)
        if seconds is not None:
            all_dispatch.append(seconds)
            per_hour_dispatch[slot].append(seconds)
        if is_sla_breach(incident, now):
            breaches += 1
            per_hour_breaches[slot] += 1

    return {
        "generated_at": now.isoformat(),
        "open_total": open_total,
        "open_by_category": [{"category": c, "count": n} for c, n in by_category.most_common()],
        "open_by_priority": dict(sorted(by_priority.items())),
        # "" code: outside every unit of the city (or filed before the wards existed)
        "open_by_ward": [{"ward_code": c, "ward_name": name, "count": n} for (c, name), n in by_ward.most_common()],
        "dispatch": {
            "p50_seconds": percentile(all_dispatch, 50),
            "p90_seconds": percentile(all_dispatch, 90),
            "samples": len(all_dispatch),
        },
        "hours": [
            {
                "hour": h.isoformat(),
                "dispatch_p50_seconds": percentile(per_hour_dispatch[i], 50),
                "dispatch_p90_seconds": percentile(per_hour_dispatch[i], 90),
                "sla_breaches": per_hour_breaches[i],
            }
            for i, h in enumerate(hours)
        ],
        "sla_breaches_24h": breaches,
    }


async def _collect(
    clients: ServiceClients, request: incidents_pb2.ListIncidentsRequest, token: str
) -> tuple[list[incidents_pb2.Incident], bool]:
    found: list[incidents_pb2.Incident] = []
    request.page_size = PAGE_SIZE
    for _ in range(MAX_PAGES):
        response = await clients.call(clients.incidents.ListIncidents, request, token=token)
        found.extend(response.incidents)
        if not response.next_page_token:
            return found, False
        request.page_token = response.next_page_token
    return found, True


async def compute_kpis(clients: ServiceClients, token: str, *, timezone: str) -> dict[str, Any]:
    """Fetch and summarize; ``truncated`` is true when a page limit cut the data short."""
    now = datetime.now(UTC)
    since = Timestamp()
    since.FromDatetime(now - timedelta(hours=24))
    open_incidents, open_cut = await _collect(
        clients, incidents_pb2.ListIncidentsRequest(statuses=OPEN_STATUSES), token
    )
    recent, recent_cut = await _collect(clients, incidents_pb2.ListIncidentsRequest(created_after=since), token)
    result = summarize(open_incidents, recent, now=now, timezone=timezone)
    result["truncated"] = open_cut or recent_cut
    return result
