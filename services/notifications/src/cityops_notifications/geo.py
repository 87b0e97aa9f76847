"""Areas on the ground: circles and simple polygons, and whether a point or another area touches them.

Distances use the haversine formula on a spherical Earth; polygons are tested by ray casting in
degrees, which is accurate enough at city scale (a province is ~100 km across).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityops_platform.geo import haversine_m, in_ring


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Circle:
    center: Point
    radius_m: float


@dataclass(frozen=True)
class Area:
    """A circle, a polygon, or both (CAP areas may carry both); ``polygon`` is an open ring."""

    circle: Circle | None = None
    polygon: tuple[Point, ...] = field(default_factory=tuple)

    def contains(self, point: Point) -> bool:
        if self.circle is not None and distance_m(self.circle.center, point) <= self.circle.radius_m:
            return True
        return len(self.polygon) >= 3 and in_polygon(point, self.polygon)

    def probe_points(self) -> list[Point]:
        """Points that stand for this area when testing overlap: circle centre, vertices, centroid."""
        points = list(self.polygon)
        if self.polygon:
            points.append(Point(sum(p.lat for p in self.polygon) / len(self.polygon),
                                sum(p.lon for p in self.polygon) / len(self.polygon)))
        if self.circle is not None:
            points.append(self.circle.center)
        return points

    def overlaps(self, other: Area) -> bool:
        """Approximate overlap: circles by centre distance, otherwise by probe points in either area."""
        if self.circle is not None and other.circle is not None:
            reach = self.circle.radius_m + other.circle.radius_m
            if distance_m(self.circle.center, other.circle.center) <= reach:
                return True
        return any(other.contains(p) for p in self.probe_points()) or any(
            self.contains(p) for p in other.probe_points()
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.circle is not None:
            c = self.circle
            out["circle"] = {"lat": c.center.lat, "lon": c.center.lon, "radius_m": c.radius_m}
        if self.polygon:
            out["polygon"] = [[p.lat, p.lon] for p in self.polygon]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Area | None:
        if not data:
            return None
        circle = None
        if data.get("circle"):
            c = data["circle"]
            circle = Circle(Point(float(c["lat"]), float(c["lon"])), float(c["radius_m"]))
        polygon = tuple(Point(float(lat), float(lon)) for lat, lon in data.get("polygon") or [])
        return cls(circle=circle, polygon=polygon)


def distance_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres."""
    return haversine_m(a.lat, a.lon, b.lat, b.lon)


def in_polygon(point: Point, ring: tuple[Point, ...]) -> bool:
    """Ray casting (``cityops_platform.geo.in_ring``); the ring may be open or closed."""
    return in_ring(point.lon, point.lat, [(p.lon, p.lat) for p in ring])


def open_ring(points: list[Point]) -> tuple[Point, ...]:
    """The ring without its closing vertex (callers may send either form)."""
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    return tuple(points)
