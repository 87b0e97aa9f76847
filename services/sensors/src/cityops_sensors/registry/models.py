"""The sensor registry: kinds (unit, physical range) and sensors."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import yaml

KIND_NAMES: tuple[str, ...] = (
    "WATER_LEVEL", "RAINFALL", "AIR_QUALITY_PM25", "TRAFFIC_SPEED", "SMOKE", "TEMPERATURE", "NOISE",
)
STATUSES: tuple[str, ...] = ("ONLINE", "OFFLINE", "ALERTING")


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What a kind measures: its unit and the range a working sensor can physically report."""

    name: str
    unit: str
    min: float
    max: float
    label_vi: str
    label_en: str


@dataclass(slots=True)
class Sensor:
    id: str
    kind: str
    lat: float
    lon: float
    district: str
    reporting_interval_seconds: int
    name: str = ""
    address: str = ""
    unit: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    status: str = "OFFLINE"  # no reading yet
    created_at: datetime | None = None
    last_seen_at: datetime | None = None
    last_value: float = 0.0
    gateway_id: str = ""  # the sensor gateway that registered it ("" = staff/integration, no gateway owns it)
    ward_code: str = ""  # the commune-level unit of its location (migration 122), derived on registration
    ward_name: str = ""


@dataclass(frozen=True, slots=True)
class SensorFilter:
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    district: str = ""  # deprecated: a ward code or name, or a former district (the units it became)
    page_size: int = 100
    after_id: str = ""
    ward_codes: tuple[str, ...] = ()


@functools.cache
def kind_specs() -> dict[str, KindSpec]:
    """The kinds from ``config/kinds.yaml`` (data, so another city can change ranges without code)."""
    text = resources.files("cityops_sensors").joinpath("config/kinds.yaml").read_text(encoding="utf-8")
    raw: dict[str, dict[str, Any]] = yaml.safe_load(text)
    specs = {
        name: KindSpec(name, str(v["unit"]), float(v["min"]), float(v["max"]), str(v.get("vi", name)),
                       str(v.get("en", name)))
        for name, v in raw.items()
    }
    missing = set(KIND_NAMES) - set(specs)
    if missing:
        raise ValueError(f"kinds.yaml lacks kinds: {sorted(missing)}")
    return specs
