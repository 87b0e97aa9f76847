"""Geography written once: WGS84 great-circle distance, coordinate checks, point in polygon and named points."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cityops_platform.errors import FieldViolation

EARTH_RADIUS_M = 6_371_008.8  # the mean Earth radius (IUGG), metres


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres between two WGS84 positions."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def coordinate_violations(lat: float, lon: float, path: str) -> list[FieldViolation]:
    """``<path>.lat`` / ``<path>.lon`` when not finite or out of WGS84 range (one message everywhere)."""
    out: list[FieldViolation] = []
    if not math.isfinite(lat) or not -90.0 <= lat <= 90.0:
        out.append(FieldViolation(f"{path}.lat", "vĩ độ phải trong [-90, 90] (latitude out of range)"))
    if not math.isfinite(lon) or not -180.0 <= lon <= 180.0:
        out.append(FieldViolation(f"{path}.lon", "kinh độ phải trong [-180, 180] (longitude out of range)"))
    return out


def in_ring(x: float, y: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Ray casting: whether the point ``(x, y)`` lies inside ``ring`` (pairs in the same axis order as
    the point, GeoJSON's (lon, lat) or (lat, lon)); fine for a province-sized ring away from the poles."""
    inside = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[i - 1]
        if (y1 > y) != (y2 > y):
            crossing = (x2 - x1) * (y - y1) / (y2 - y1) + x1
            if x < crossing:
                inside = not inside
    return inside


@dataclass(frozen=True)
class NamedPoint:
    """A named place of a city's reference data (a gazetteer entry, a ward's centre) and its WGS84 point."""

    name: str
    lat: float
    lon: float

    @classmethod
    def of(cls, entry: Mapping[str, Any], name: str | None = None) -> NamedPoint:
        """From a reference-data mapping with ``lat`` and ``lon`` (and ``name`` unless one is given)."""
        return cls(str(entry["name"]) if name is None else name, float(entry["lat"]), float(entry["lon"]))
