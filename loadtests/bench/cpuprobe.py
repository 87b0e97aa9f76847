"""The machine's own speed, measured in the same run: a ceiling for every CPU figure.

Two 2-core hosts are not two equal machines. On the hosts this bench has run on, the same commit
cost 8.8 ms of CPU per report on one and 21–29 ms on another, with no other work running and a
load average near zero before the start. The load average cannot see that: it counts runnable
tasks, not how fast, or how steadily, the hypervisor runs them.

``probe`` times a fixed piece of the work a report costs in our services (a protobuf incident
event built, encoded and decoded, a JSON document for a screen, an HMAC, Vietnamese text put in
NFC) on one core, in short slices:

- ``ops_per_s``: the median slice's rate, this machine's speed for that work;
- ``spread``: (fastest − slowest) / median over the slices; a quiet host keeps it small, a host
  whose neighbours take its CPU (steal the guest cannot always see) does not.

``report_cost_ops`` turns CPU milliseconds per report into probe operations per report, a cost that
moves much less from one machine to the next than milliseconds do; the two sit side by side in the
summary.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import time
import unicodedata
from typing import Any

from cityops.incidents.v1 import events_pb2

# A slice this long holds ~1,000 operations on a slow host and sees a neighbour's burst.
SLICE_S = 0.2
SLICES = 10
# Past these the machine is not a quiet one: its CPU figures are not comparable to another run's.
NOISY_SPREAD = 0.25  # fastest vs slowest slice of one probe
SLOWED_RATIO = 0.8  # the end probe's rate vs the start's

_TEXT = "Ngập sâu 0,5 m ở ngã tư trước chợ, xe máy chết máy, có người già cần hỗ trợ"
_KEY = b"cityops-cpu-probe"


def _one_operation() -> int:
    event = events_pb2.IncidentEvent(event_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                                     incident_id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                                     incident_number="BD-20261202-000123")
    incident = event.incident
    incident.id = event.incident_id
    incident.number = event.incident_number
    incident.description = unicodedata.normalize("NFC", _TEXT)
    incident.location.lat, incident.location.lon = 10.9804, 106.6519
    incident.report_count = 3
    incident.version = 7
    incident.external_ids["open311"] = "311-000123"
    incident.created_at.FromSeconds(1_790_000_000)
    data = event.SerializeToString()
    decoded = events_pb2.IncidentEvent()
    decoded.ParseFromString(data)
    screen = json.dumps({"id": decoded.incident.id, "number": decoded.incident.number,
                         "description": decoded.incident.description,
                         "lat": decoded.incident.location.lat, "lon": decoded.incident.location.lon,
                         "version": decoded.incident.version}, ensure_ascii=False)
    digest = hmac.new(_KEY, screen.encode(), hashlib.sha256).digest()
    return len(data) + len(digest)


def probe(*, slice_s: float = SLICE_S, slices: int = SLICES) -> dict[str, Any]:
    """Time ``_one_operation`` for ``slices`` slices of ``slice_s`` seconds each (one core)."""
    rates: list[float] = []
    for _ in range(slices + 1):  # the first slice warms the caches up and is not counted
        count = 0
        start = time.perf_counter()
        deadline = start + slice_s
        now = start
        while now < deadline:
            for _ in range(20):
                _one_operation()
            count += 20
            now = time.perf_counter()
        rates.append(count / (now - start))
    rates = rates[1:]
    median = statistics.median(rates)
    return {"ops_per_s": round(median, 1), "min_ops_per_s": round(min(rates), 1),
            "max_ops_per_s": round(max(rates), 1), "spread": round((max(rates) - min(rates)) / median, 3),
            "slices": len(rates), "slice_s": slice_s}


def contention(*, load_start: float, cpus: int, start: dict[str, Any] | None,
               end: dict[str, Any] | None) -> list[str]:
    """Why this run's figures may not be the machine's best (empty when nothing says so)."""
    reasons = []
    if load_start > cpus * 0.5:
        reasons.append(f"load average {load_start:.2f} > {cpus * 0.5:g} before the start")
    for name, p in (("start", start), ("end", end)):
        if p and p["spread"] > NOISY_SPREAD:
            reasons.append(f"CPU probe at the {name}: slices spread {p['spread']:.0%} > {NOISY_SPREAD:.0%}")
    if start and end and end["ops_per_s"] < SLOWED_RATIO * start["ops_per_s"]:
        reasons.append(f"CPU probe slowed from {start['ops_per_s']:,.0f} to {end['ops_per_s']:,.0f} ops/s "
                       "during the run")
    return reasons


def report_cost_ops(cpu_ms_per_report: float | None, start: dict[str, Any] | None) -> float | None:
    """CPU per report in probe operations (ms × ops/ms of this machine)."""
    if cpu_ms_per_report is None or not start:
        return None
    return round(cpu_ms_per_report * start["ops_per_s"] / 1000, 1)
