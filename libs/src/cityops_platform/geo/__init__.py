"""Geography shared by every service: great-circle distance, coordinate checks and point in polygon
and named points (``distance``), and
the city's administrative units, its wards and communes (``admin_units``)."""

from cityops_platform.geo.distance import EARTH_RADIUS_M, NamedPoint, coordinate_violations, haversine_m, in_ring

__all__ = ["EARTH_RADIUS_M", "NamedPoint", "coordinate_violations", "haversine_m", "in_ring"]
