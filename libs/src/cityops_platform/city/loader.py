"""Which city this process serves, and reading its folder once.

``CITYOPS_CITY`` names the folder under ``CITYOPS_CITIES_DIR`` (default: ``cities/`` at the project
root). Unset, the city is the one named by ``<cities dir>/DEFAULT``, so no code spells a city name.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cityops_platform.city.models import City
from cityops_platform.standards import PROJECT_ROOT

CITY_ENV = "CITYOPS_CITY"
CITIES_DIR_ENV = "CITYOPS_CITIES_DIR"
MANIFEST = "city.yaml"
DEFAULT_FILE = "DEFAULT"


class CityNotFound(LookupError):
    """The named city has no folder (or no ``city.yaml``) under the cities directory."""


def cities_dir() -> Path:
    """``CITYOPS_CITIES_DIR`` or the project's ``cities/`` folder."""
    value = os.environ.get(CITIES_DIR_ENV, "").strip()
    return Path(value) if value else PROJECT_ROOT / "cities"


def available_cities(root: Path | None = None) -> list[str]:
    """The city folders (those holding a ``city.yaml``), sorted."""
    base = root or cities_dir()
    return sorted(p.parent.name for p in base.glob(f"*/{MANIFEST}"))


def city_name(root: Path | None = None) -> str:
    """``CITYOPS_CITY``, else the name in ``<cities dir>/DEFAULT``."""
    value = os.environ.get(CITY_ENV, "").strip()
    if value:
        return value
    return _default_name(str(root or cities_dir()))


@lru_cache(maxsize=8)
def _default_name(root: str) -> str:
    """The name in ``<root>/DEFAULT``, read once per process and root (like the city itself)."""
    default = Path(root) / DEFAULT_FILE
    try:
        return default.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise CityNotFound(f"set {CITY_ENV} or write the default city's folder name into {default}") from exc


def parse_city(raw: dict[str, Any], *, name: str, path: Path) -> City:
    """Validate a parsed manifest (raises pydantic's ValidationError naming the bad field)."""
    return City.model_validate({**raw, "name": name, "path": path})


@lru_cache(maxsize=8)
def _load(name: str, root: str) -> City:
    folder = Path(root) / name
    manifest = folder / MANIFEST
    if not manifest.is_file():
        known = available_cities(Path(root))
        raise CityNotFound(f"no city {name!r}: {manifest} is missing (cities: {', '.join(known) or 'none'})")
    with manifest.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return parse_city(raw, name=name, path=folder.resolve())


def load_city(name: str | None = None, *, root: Path | None = None) -> City:
    """The city ``name`` (default: this process's city), read and validated once per process."""
    base = root or cities_dir()
    return _load(name or city_name(base), str(base))


def current_city() -> City:
    """This process's city (``CITYOPS_CITY`` / ``cities/DEFAULT``). Called on hot paths (every rendered
    notice asks it for names): two environment reads and a cache hit, no file read."""
    return _current(os.environ.get(CITY_ENV, ""), os.environ.get(CITIES_DIR_ENV, ""))


@lru_cache(maxsize=8)
def _current(city_env: str, dir_env: str) -> City:
    return load_city()  # the arguments only key the cache: load_city reads the same environment


def city_file(relative: str, name: str | None = None) -> Path:
    """A file of this process's city folder, e.g. ``city_file("incidents/rules.yaml")``."""
    return load_city(name).file(relative)
