"""Geography written once: WGS84 great-circle distance and coordinate checks."""

from __future__ import annotations

import math

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
