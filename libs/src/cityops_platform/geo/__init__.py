"""Geography shared by every service: the city's administrative units (wards and communes)."""
