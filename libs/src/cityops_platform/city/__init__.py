"""The city as data: one folder per city (``cities/<name>/``), its manifest and its files.

>>> from cityops_platform.city import current_city, city_file
>>> current_city().category_codes          # the registry the API validates codes against
>>> city_file("incidents/rules.yaml")      # a service's city-specific rules
"""

from cityops_platform.city.loader import (
    CITIES_DIR_ENV,
    CITY_ENV,
    CityNotFound,
    available_cities,
    cities_dir,
    city_file,
    city_name,
    current_city,
    load_city,
    parse_city,
)
from cityops_platform.city.models import Agency, Branding, CapSender, Category, City, MapLayer, ServiceArea, Subcategory
from cityops_platform.city.registry import CodeRegistry, UnknownCode

__all__ = [
    "CITIES_DIR_ENV", "CITY_ENV", "Agency", "Branding", "CapSender", "Category", "City", "CityNotFound",
    "CodeRegistry", "MapLayer", "ServiceArea", "Subcategory", "UnknownCode", "available_cities", "cities_dir",
    "city_file", "city_name", "current_city", "load_city", "parse_city",
]
