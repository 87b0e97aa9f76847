"""The city as the simulator sees it (its folder's sensors/simulator.yaml): districts, where sensors
go, and unit stations."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import yaml

from cityops_platform.city import current_city


def _data() -> dict[str, Any]:
    """The city's simulator data (``sensors/simulator.yaml`` of its folder)."""
    raw: dict[str, Any] = yaml.safe_load(current_city().file("sensors/simulator.yaml").read_text(encoding="utf-8"))
    return raw


_DATA = _data()
# (name, centre lat, centre lon, urban weight: more sensors where more people live)
DISTRICTS: tuple[tuple[str, float, float, int], ...] = tuple(
    (str(d["name"]), float(d["lat"]), float(d["lon"]), int(d["weight"])) for d in _DATA["districts"])
INDUSTRIAL_ZONES: dict[str, tuple[str, float, float]] = {
    str(k): (str(v["name"]), float(v["lat"]), float(v["lon"]))
    for k, v in (_DATA.get("industrial_zones") or {}).items()}
KIND_CODES = {"WATER_LEVEL": "wl", "RAINFALL": "rain", "AIR_QUALITY_PM25": "pm25", "TRAFFIC_SPEED": "traffic",
              "SMOKE": "smoke", "TEMPERATURE": "temp", "NOISE": "noise"}
KIND_NAMES: dict[str, str] = {str(k): str(v) for k, v in (_DATA.get("kind_names") or {}).items()}
# Per urban-weight unit: how many sensors of each kind a district gets at scale 1.
MIX = {"WATER_LEVEL": 3, "RAINFALL": 1, "AIR_QUALITY_PM25": 2, "TRAFFIC_SPEED": 2, "SMOKE": 1,
       "TEMPERATURE": 1, "NOISE": 1}
# Stations where units sit (dispatch registers units there if it answers).
STATIONS: tuple[dict[str, Any], ...] = tuple(dict(x) for x in _DATA.get("stations") or [])
REGION = str(_DATA.get("region", ""))


@dataclass(frozen=True)
class SimSensor:
    id: str
    kind: str
    district: str
    lat: float
    lon: float
    name: str
    interval: int
    labels: dict[str, str] = field(default_factory=dict)
    phase: float = 0.0  # per-sensor offset so curves are not identical


def place_sensors(*, scale: int, interval: int, seed: int) -> list[SimSensor]:
    """Sensors across the city: deterministic for a seed, ``scale`` multiplies the counts."""
    rng = random.Random(seed)
    out: list[SimSensor] = []
    for district, lat, lon, weight in DISTRICTS:
        slug = "".join(ch for ch in district.lower().replace(" ", "") if ch.isascii() and ch.isalnum()) or "d"
        for kind, per_weight in MIX.items():
            for n in range(per_weight * weight * scale):
                labels: dict[str, str] = {}
                s_lat, s_lon = lat + rng.uniform(-0.03, 0.03), lon + rng.uniform(-0.03, 0.03)
                if kind == "WATER_LEVEL" and n % 2 == 0:
                    labels["street"] = "low"
                if kind in ("SMOKE", "TEMPERATURE") and district in INDUSTRIAL_ZONES and n == 0:
                    zone, s_lat, s_lon = INDUSTRIAL_ZONES[district]
                    labels["zone"] = zone
                zone = f" ({labels['zone']})" if "zone" in labels else ""
                name = f"{KIND_NAMES.get(kind, kind)} {district} #{n + 1}{zone}"
                out.append(SimSensor(f"{KIND_CODES[kind]}-{slug}-{n + 1:03d}", kind, district, round(s_lat, 6),
                                     round(s_lon, 6), name, interval, labels, rng.uniform(0, 6.283)))
    return out
