"""Geography shared by every service: great-circle distance and coordinate checks (``distance``), and
the city's administrative units, its wards and communes (``admin_units``)."""

from cityops_platform.geo.distance import EARTH_RADIUS_M, coordinate_violations, haversine_m

__all__ = ["EARTH_RADIUS_M", "coordinate_violations", "haversine_m"]
