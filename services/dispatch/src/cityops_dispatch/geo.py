"""Geography for dispatch: haversine distance, the H3 cell of a position and how far a k-ring reaches."""

from __future__ import annotations

from functools import lru_cache

import h3
import h3.api.basic_int as h3i

from cityops_platform.errors import FieldViolation
from cityops_platform.geo import coordinate_violations
from cityops_platform.geo import haversine_m as haversine_m  # the one haversine, re-exported for dispatch

# Resolution 7: hexagons of ~1.4 km edge (~5 km²). a province-sized area (~2,700 km²) is ~500 cells, so a
# k-ring of a few dozen covers the province while the first rings hold only the nearest units.
H3_RESOLUTION = 7
EDGE_M = float(h3.average_hexagon_edge_length(H3_RESOLUTION, unit="m"))


def cell_of(lat: float, lon: float) -> int:
    """The resolution-7 H3 cell (as a signed-safe 64-bit integer) holding the position."""
    return int(h3i.latlng_to_cell(lat, lon, H3_RESOLUTION))


@lru_cache(maxsize=4096)
def disk(origin: int, k: int) -> frozenset[int]:
    """Every cell within grid distance ``k`` of ``origin`` (k = 0 is the cell itself). Cached: every
    candidate search of an incident in the same cell asks for the same disks."""
    return frozenset(h3i.grid_disk(origin, k)) if k >= 0 else frozenset()


def covered_radius_m(k: int) -> float:
    """A distance such that every point closer than it to a point of the origin cell lies in disk(k).

    Neighbouring centres are √3·edge apart and the worst direction advances 1.5·edge per ring; the
    point and the unit can each sit up to one edge from their cell centres, hence the −2 edges. The
    0.9 factor absorbs H3's cell-size distortion (cells vary by a few percent across a province).
    """
    return max(0.0, (1.5 * k - 2.0) * EDGE_M * 0.9)


def check_point(lat: float, lon: float, path: str) -> list[FieldViolation]:
    """Violations for a WGS84 position; (0, 0) is refused as 'no position given'."""
    out = coordinate_violations(lat, lon, path)
    if not out and lat == 0.0 and lon == 0.0:
        out.append(FieldViolation(path, "thiếu vị trí (location is required)"))
    return out
