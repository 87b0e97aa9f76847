"""What a sensor reads at a moment: a diurnal baseline plus the scripted events' effects."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cityops_platform.city import current_city
from cityops_sensors.simulator.city import SimSensor

ZONE = ZoneInfo(current_city().timezone)  # diurnal curves follow the city's local time


def _hour(now_ms: int) -> float:
    local = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(ZONE)
    return local.hour + local.minute / 60


def baseline(sensor: SimSensor, now_ms: int, rng: random.Random) -> float:
    h = _hour(now_ms)
    day = math.sin((h - 6) / 24 * 2 * math.pi)  # peaks mid-afternoon
    rush = math.exp(-((h - 7.5) ** 2) / 1.5) + math.exp(-((h - 17.5) ** 2) / 2)  # commuting peaks
    noise = rng.gauss(0, 1)
    kind = sensor.kind
    if kind == "WATER_LEVEL":
        return max(0.0, 2 + 1.5 * math.sin(h / 12.4 * 2 * math.pi + sensor.phase) + 0.3 * noise)  # tide-ish
    if kind == "RAINFALL":
        return max(0.0, 0.5 * noise) if rng.random() < 0.1 else 0.0
    if kind == "AIR_QUALITY_PM25":
        return max(3.0, 25 + 12 * rush + 4 * noise)
    if kind == "TRAFFIC_SPEED":
        return max(3.0, 42 - 20 * rush + 3 * noise)
    if kind == "SMOKE":
        return 0.0
    if kind == "TEMPERATURE":
        return 29 + 4 * day + 0.3 * noise
    return max(30.0, 58 + 10 * rush + 6 * day + 2 * noise)  # NOISE


def _shape(shape: str, x: float) -> float:
    """0..1 intensity at fraction x (0..1) of an event."""
    if shape == "step":
        return 1.0
    if shape == "bell":
        return math.exp(-((x - 0.5) ** 2) / 0.04)
    return min(1.0, x / 0.3) if x < 0.7 else max(0.0, (1 - x) / 0.3)  # rise_hold_fall


def applies(effect: dict[str, Any], sensor: SimSensor) -> bool:
    if effect["kind"] != sensor.kind:
        return False
    if "districts" in effect and sensor.district not in effect["districts"]:
        return False
    return all(sensor.labels.get(k) == v for k, v in (effect.get("labels") or {}).items())


@dataclass(frozen=True)
class ActiveEffect:
    effect: dict[str, Any]
    fraction: float


def reading(sensor: SimSensor, now_ms: int, effects: list[ActiveEffect], rng: random.Random) -> float:
    value = baseline(sensor, now_ms, rng)
    for active in effects:
        if applies(active.effect, sensor):
            peak = float(active.effect["peak"])
            intensity = _shape(str(active.effect.get("shape", "bell")), active.fraction)
            if sensor.kind == "SMOKE":
                value = 1.0 if intensity > 0.5 else value
            elif sensor.kind == "TRAFFIC_SPEED":
                value = min(value, value - (value - peak) * intensity)
            else:
                value = max(value, value + (peak - value) * intensity)
    return round(value, 2)
