"""Geometry on the WGS84 sphere: distances, the service-area polygon, wards and H3 cells.

Fusion uses H3 twice: the *lock cells* serialise concurrent reports from one area (two reports
closer than the largest fusion radius always share at least one lock cell), and the same cells
narrow the candidate search to an indexed column before the exact distance check.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache

import h3

from cityops_platform.city.loader import CITIES_DIR_ENV, CITY_ENV
from cityops_platform.geo import EARTH_RADIUS_M, haversine_m, in_ring
from cityops_platform.geo.admin_units import AdminUnits, admin_units

# Incidents store their cell at this fixed resolution (edge ~200 m), so a radius change in the rules
# never strands stored rows; only the search ring grows or shrinks.
SEARCH_RES = 9


distance_m = haversine_m  # great-circle distance in metres


def inside_polygon(lat: float, lon: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Whether (lat, lon) lies inside the polygon of (lat, lon) pairs (ray casting)."""
    return in_ring(lat, lon, polygon)


def ward_of(lat: float, lon: float, address: str = "") -> tuple[str, str]:
    """The commune-level unit (code, official name) of a report: an address naming one unit wins
    (old-style addresses are converted), else the unit whose polygon holds the point; ("", "")
    outside the city. See cityops_platform.geo.admin_units."""
    units = _units(os.environ.get(CITY_ENV, ""), os.environ.get(CITIES_DIR_ENV, ""))
    code, _ = units.assign(lat, lon, address)
    return code, units.name_of(code)


@lru_cache(maxsize=4)
def _units(city: str, cities_dir: str) -> AdminUnits:
    """The registry of the city these variables name. ``admin_units()`` finds the active city anew on
    every call (reading the cities folder's DEFAULT file when CITYOPS_CITY is unset): 5 % of the
    incidents api's samples at 100 reports/s (issue 13), so intake looks it up once per city."""
    return admin_units()


def lock_resolution(max_radius_m: float) -> int:
    """The finest H3 resolution whose cells are safely wider than ``max_radius_m``.

    Two points closer than an edge length lie in the same or in neighbouring cells; the factor
    0.5 absorbs H3's variation of edge length across the globe.
    """
    for res in range(12, -1, -1):
        if h3.average_hexagon_edge_length(res, "m") * 0.5 >= max(max_radius_m, 1.0):
            return res
    return 0


def cell_of(lat: float, lon: float, res: int = SEARCH_RES) -> str:
    return str(h3.latlng_to_cell(lat, lon, res))


def lock_cells(lat: float, lon: float, radius_m: float) -> list[str]:
    """The lock cells of a report: its cell at ``lock_resolution`` and the ring around it, sorted
    (a stable lock order prevents deadlocks between transactions that share several cells)."""
    cell = cell_of(lat, lon, lock_resolution(radius_m))
    return sorted(str(c) for c in h3.grid_disk(cell, 1))


def search_cells(lat: float, lon: float, radius_m: float) -> list[str]:
    """Every ``SEARCH_RES`` cell that may hold a point within ``radius_m`` (a superset; callers
    check the exact distance)."""
    return list(_disk(cell_of(lat, lon), _search_k(radius_m)))


@lru_cache(maxsize=64)
def _search_k(radius_m: float) -> int:
    """Cell centres are about sqrt(3) edges apart; 0.7 covers distortion."""
    edge: float = h3.average_hexagon_edge_length(SEARCH_RES, "m")
    return math.ceil(radius_m / (math.sqrt(3) * edge * 0.7)) + 1


@lru_cache(maxsize=4096)
def _disk(cell: str, k: int) -> tuple[str, ...]:
    """The k-disk of ``cell`` (intake asks twice per report: for its batch's read, then for the report)."""
    return tuple(str(c) for c in h3.grid_disk(cell, k))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) enclosing the circle, for an index pre-filter."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon
