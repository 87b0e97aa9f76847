"""Fusion: which open incident (if any) a new report belongs to.

A report joins the nearest open incident of the same category whose location is within the
category's radius and whose latest report is within its time window. The database side (H3 lock
cells and the candidate query) lives in store.py; this module is the pure decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cityops_incidents.config import FusionRule
from cityops_incidents.geo import distance_m


@dataclass(frozen=True)
class Candidate:
    incident_id: str
    lat: float
    lon: float
    last_report_at: datetime


@dataclass(frozen=True)
class Match:
    incident_id: str
    distance_m: float


def fuses(rule: FusionRule) -> bool:
    """False for categories that are never fused (radius or window of zero)."""
    return rule.radius_m > 0 and rule.window.total_seconds() > 0


def best_match(
    rule: FusionRule, *, lat: float, lon: float, at: datetime, candidates: Iterable[Candidate]
) -> Match | None:
    """The nearest candidate inside the radius and window; ties go to the most recent report."""
    if not fuses(rule):
        return None
    best: tuple[float, float, Candidate] | None = None
    for c in candidates:
        d = distance_m(lat, lon, c.lat, c.lon)
        age = abs((at - c.last_report_at).total_seconds())
        if d > rule.radius_m or age > rule.window.total_seconds():
            continue
        key = (d, age)
        if best is None or key < best[:2]:
            best = (d, age, c)
    return Match(best[2].incident_id, best[0]) if best else None
