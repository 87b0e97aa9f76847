"""common.v1 geometry protos ↔ ``geo`` types (used by the servicers)."""

from __future__ import annotations

from cityops.common.v1 import common_pb2
from cityops_notifications.geo import Area, Circle, Point, open_ring


def point_in(msg: common_pb2.GeoPoint) -> Point:
    return Point(msg.lat, msg.lon)


def circle_in(msg: common_pb2.Circle) -> Circle:
    return Circle(point_in(msg.center), msg.radius_m)


def area_in(msg: common_pb2.Area, present: bool) -> Area | None:
    """An Area from the proto oneof; None when unset."""
    if not present:
        return None
    shape = msg.WhichOneof("shape")
    if shape == "circle":
        return Area(circle=circle_in(msg.circle))
    if shape == "polygon":
        return Area(polygon=open_ring([point_in(p) for p in msg.polygon.points]))
    return None


def point_out(p: Point, target: common_pb2.GeoPoint) -> None:
    target.lat, target.lon = p.lat, p.lon


def area_out(area: Area, target: common_pb2.Area) -> None:
    if area.circle is not None:
        point_out(area.circle.center, target.circle.center)
        target.circle.radius_m = area.circle.radius_m
    elif area.polygon:
        for p in area.polygon:
            point_out(p, target.polygon.points.add())
