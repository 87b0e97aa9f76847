"""Geography shared by every service: great-circle distance, coordinate checks and point in polygon
(``distance``), and
the city's administrative units, its wards and communes (``admin_units``)."""

from cityops_platform.geo.distance import EARTH_RADIUS_M, coordinate_violations, haversine_m, in_ring

__all__ = ["EARTH_RADIUS_M", "coordinate_violations", "haversine_m", "in_ring"]
