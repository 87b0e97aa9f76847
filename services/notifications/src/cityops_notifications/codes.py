"""The city's category and agency codes in notices, subscription filters and the roster.

Incident and dispatch events carry codes (``category_code``, ``agency_code``) beside the protobuf
enums older producers fill alone; subscription filters accept codes and, from older clients, enum
names (``CATEGORY_FLOOD``) or numbers. Everything is stored and matched as the city's code.
"""

from __future__ import annotations

from typing import Any

import yaml

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as incident_events
from cityops_platform.city import CodeRegistry, current_city

CITY = current_city()
CATEGORIES = CodeRegistry.categories(CITY)
AGENCIES = CodeRegistry.agencies(CITY)


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value))[len(prefix):] if value and value in enum.values() else ""


def category_of(code: str, enum_value: int) -> str:
    """A snapshot's category code: its own, else its enum's through the registry ("" if neither)."""
    return code or CATEGORIES.by_enum.get(_enum_name(incident_events.Category, enum_value, "CATEGORY_"), "")


def agency_of(code: str, enum_value: int) -> str:
    return code or AGENCIES.by_enum.get(_enum_name(common_pb2.Agency, enum_value, "AGENCY_"), "")


def category_from_filter(value: str) -> str | None:
    """A filter's category: a code, or an old client's enum name ``CATEGORY_X``; None when unknown."""
    if value in CATEGORIES.codes:
        return value
    return CATEGORIES.by_enum.get(value.removeprefix("CATEGORY_")) if value.startswith("CATEGORY_") else None


def agency_from_enum(value: int) -> str | None:
    return AGENCIES.by_enum.get(_enum_name(common_pb2.Agency, value, "AGENCY_")) or None


def agency_enum(code: str) -> int:
    name = AGENCIES.enum_of(code)
    return int(common_pb2.Agency.Value(f"AGENCY_{name}")) if name else 0


def sensor_categories() -> dict[str, str]:
    """Sensor kind (``WATER_LEVEL``) → the category its alerts would raise, from the city's
    incidents/rules.yaml (data shared by the city's services), so category filters apply to alerts."""
    path = CITY.file("incidents/rules.yaml")
    if not path.is_file():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in ((raw.get("sensors") or {}).get("categories") or {}).items()}
