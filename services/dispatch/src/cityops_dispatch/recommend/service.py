"""Nearest capable AVAILABLE units, found through the H3 index and ranked by estimated arrival time.

The search reads the units of the incident's H3 cell and of k-rings around it, doubling k, and
stops as soon as the best ``limit`` candidates are *proven* best: every unit outside the searched
disk is farther than ``covered_radius_m(k)``, so it cannot arrive sooner than that distance at the
fastest speed of the model. When the disk would grow past ``MAX_DISK_CELLS`` (few capable units
left nearby, e.g. late in a surge), it reads every AVAILABLE capable unit instead (partial index
on AVAILABLE units): cheaper than tens of thousands of cells, and trivially proven.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg

from cityops_dispatch.geo import cell_of, covered_radius_m, disk, haversine_m
from cityops_dispatch.incidents_view import store as view_store
from cityops_dispatch.rules import Rules, RunCard
from cityops_dispatch.units import store as units_store
from cityops_dispatch.units.models import Unit
from cityops_platform.errors import NotFound

# k of the first disk read: ~60 cells, a ~5 km radius, where the default data usually has units.
FIRST_RING = 4
# Beyond this many cells (k ≈ 18, ~35 km) the search reads all available capable units instead.
MAX_DISK_CELLS = 1000


def disk_size(k: int) -> int:
    """Cells in a k-disk: 1 + 3k(k + 1)."""
    return 1 + 3 * k * (k + 1)


@dataclass(frozen=True)
class Candidate:
    unit: Unit
    distance_m: float
    eta_seconds: float
    matched_capability: str


def eta_seconds(distance_m: float, unit_type: str, rules: Rules) -> float:
    """Travel time: great-circle distance × road factor at the unit type's average speed."""
    return distance_m * rules.road_factor / rules.speed_mps(unit_type)


class _Placed(Protocol):
    """What ranking reads of a unit (a full ``Unit`` or the search's ``units_store.Placed``)."""

    @property
    def id(self) -> str: ...
    @property
    def capabilities(self) -> list[str]: ...
    @property
    def unit_type(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...


P = TypeVar("P", bound=_Placed)
_Scored = tuple[float, float, str, str, P]  # eta, distance, unit id, matched capability, the unit


def matched_capability(unit: _Placed, wanted: Sequence[str], rules: Rules) -> str | None:
    """The first wanted capability this unit can fill (directly or as a substitute), or None."""
    for capability in wanted:
        if any(c in unit.capabilities for c in rules.accepted(capability)):
            return capability
    return None


def _scored(units: Iterable[P], lat: float, lon: float, wanted: Sequence[str], rules: Rules) -> list[_Scored[P]]:
    """The units able to fill ``wanted``, best first: lowest ETA, then shortest distance, then id."""
    out: list[_Scored[P]] = []
    for unit in units:
        matched = matched_capability(unit, wanted, rules)
        if matched is None:
            continue
        distance = haversine_m(lat, lon, unit.lat, unit.lon)
        out.append((eta_seconds(distance, unit.unit_type, rules), distance, unit.id, matched, unit))
    out.sort(key=_order)
    return out


def _order(s: _Scored[Any]) -> tuple[float, float, str]:
    return s[0], s[1], s[2]


def rank(units: Sequence[Unit], lat: float, lon: float, wanted: Sequence[str], rules: Rules) -> list[Candidate]:
    """Candidates best first: lowest ETA, then shortest distance, then id (a stable order)."""
    return [Candidate(unit, distance, eta, matched) for eta, distance, _, matched, unit in
            _scored(units, lat, lon, wanted, rules)]


async def find_candidates(
    conn: asyncpg.Connection,
    *,
    lat: float,
    lon: float,
    wanted: Sequence[str],
    limit: int,
    rules: Rules,
    max_radius_m: float,
    exclude: Sequence[str] = (),
) -> list[Candidate]:
    """The best ``limit`` AVAILABLE units able to fill any of ``wanted``, best first.

    Guarantee: no AVAILABLE unit outside the result has a lower ETA than the last one returned,
    unless it is farther than ``max_radius_m``. The search reads only what ranking needs (id,
    capabilities, type, position); the full rows are read for the ``limit`` best alone.
    """
    if not wanted or limit <= 0:
        return []
    accepted = sorted({c for w in wanted for c in rules.accepted(w)})
    origin = cell_of(lat, lon)
    searched: set[int] = set()
    found: list[_Scored[units_store.Placed]] = []
    k = FIRST_RING
    while True:
        if disk_size(k) > MAX_DISK_CELLS:
            # Few units left nearby: a disk this large costs more (one index probe per cell) than
            # reading every AVAILABLE capable unit, which also proves the ranking.
            everywhere = await units_store.available_anywhere(conn, accepted, exclude)
            return await _hydrated(conn, _scored(everywhere, lat, lon, wanted, rules)[:limit])
        ring = disk(origin, k) - searched
        searched |= ring
        found += _scored(await units_store.available_in_cells(conn, ring, accepted, exclude), lat, lon, wanted, rules)
        found.sort(key=_order)
        covered = covered_radius_m(k)
        # Nothing outside the disk can arrive sooner than this, whatever its type.
        eta_floor = covered * rules.road_factor / rules.max_speed_mps
        proven = sum(1 for s in found[:limit] if s[0] <= eta_floor)
        if proven >= limit or covered >= max_radius_m:
            return await _hydrated(conn, found[:limit])
        k *= 2


async def _hydrated(conn: asyncpg.Connection, best: list[_Scored[units_store.Placed]]) -> list[Candidate]:
    """The candidates of ``best`` with their full rows (a unit deleted meanwhile is left out)."""
    units = await units_store.get_many(conn, [s[2] for s in best]) if best else {}
    return [Candidate(units[unit_id], distance, eta, matched)
            for eta, distance, unit_id, matched, _ in best if unit_id in units]


@dataclass(frozen=True)
class Recommendation:
    candidates: list[Candidate]
    required_capabilities: list[str]
    run_card: RunCard | None = None


async def recommend_units(
    incident_id: str, *, pool: asyncpg.Pool, capabilities: Sequence[str], limit: int, rules: Rules,
    max_radius_m: float,
) -> Recommendation:
    """The best ``limit`` units for an incident of dispatch's view (NotFound when it has none).
    Without ``capabilities`` the incident's run card (category, priority) says what is wanted."""
    async with pool.acquire() as conn:
        view = await view_store.get(conn, incident_id)
        if view is None:
            raise NotFound("sự cố (incident)", incident_id)
        wanted = [c.strip() for c in capabilities if c.strip()]
        card = rules.run_card_for(view.category, view.priority)
        if not wanted:
            wanted = card.capabilities if card else []
        candidates = await find_candidates(
            conn, lat=view.lat, lon=view.lon, wanted=wanted, limit=limit, rules=rules, max_radius_m=max_radius_m,
        )
    return Recommendation(candidates=candidates, required_capabilities=wanted, run_card=card)
