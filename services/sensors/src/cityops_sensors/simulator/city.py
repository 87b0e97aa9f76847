"""Binh Duong as data for the simulator: districts, where sensors go, and unit stations."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# (name, centre lat, centre lon, urban weight: more sensors where more people live)
DISTRICTS: tuple[tuple[str, float, float, int], ...] = (
    ("Thủ Dầu Một", 10.9804, 106.6519, 4),
    ("Thuận An", 10.9236, 106.7130, 4),
    ("Dĩ An", 10.9069, 106.7690, 4),
    ("Tân Uyên", 11.0647, 106.7950, 2),
    ("Bến Cát", 11.1547, 106.5861, 2),
    ("Bàu Bàng", 11.2522, 106.6139, 1),
    ("Bắc Tân Uyên", 11.1120, 106.8590, 1),
    ("Phú Giáo", 11.2905, 106.7950, 1),
    ("Dầu Tiếng", 11.2742, 106.3630, 1),
)
INDUSTRIAL_ZONES: dict[str, tuple[str, float, float]] = {
    "Thuận An": ("KCN VSIP", 10.9322, 106.7168),
    "Bến Cát": ("KCN Mỹ Phước", 11.1270, 106.6010),
    "Dĩ An": ("KCN Sóng Thần", 10.8987, 106.7540),
}
KIND_CODES = {"WATER_LEVEL": "wl", "RAINFALL": "rain", "AIR_QUALITY_PM25": "pm25", "TRAFFIC_SPEED": "traffic",
              "SMOKE": "smoke", "TEMPERATURE": "temp", "NOISE": "noise"}
KIND_NAMES_VI = {"WATER_LEVEL": "Mực nước", "RAINFALL": "Lượng mưa", "AIR_QUALITY_PM25": "Bụi mịn PM2.5",
                 "TRAFFIC_SPEED": "Tốc độ giao thông", "SMOKE": "Báo khói", "TEMPERATURE": "Nhiệt độ",
                 "NOISE": "Tiếng ồn"}
# Per urban-weight unit: how many sensors of each kind a district gets at scale 1.
MIX = {"WATER_LEVEL": 3, "RAINFALL": 1, "AIR_QUALITY_PM25": 2, "TRAFFIC_SPEED": 2, "SMOKE": 1,
       "TEMPERATURE": 1, "NOISE": 1}
# Fire stations / medical posts where units sit (dispatch registers units there if it answers).
STATIONS: tuple[tuple[str, str, str, float, float], ...] = (
    ("Đội PCCC Thủ Dầu Một", "FIRE_RESCUE_114", "Thủ Dầu Một", 10.9790, 106.6560),
    ("Đội PCCC Thuận An", "FIRE_RESCUE_114", "Thuận An", 10.9210, 106.7100),
    ("Trạm 115 Dĩ An", "MEDICAL_115", "Dĩ An", 10.9060, 106.7680),
    ("Công an Bến Cát", "POLICE_113", "Bến Cát", 11.1530, 106.5870),
    ("Đội thoát nước Thuận An", "PUBLIC_WORKS", "Thuận An", 10.9150, 106.7200),
)


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
    """Sensors across the province: deterministic for a seed, ``scale`` multiplies the counts."""
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
                name = f"{KIND_NAMES_VI[kind]} {district} #{n + 1}{zone}"
                out.append(SimSensor(f"{KIND_CODES[kind]}-{slug}-{n + 1:03d}", kind, district, round(s_lat, 6),
                                     round(s_lon, 6), name, interval, labels, rng.uniform(0, 6.283)))
    return out
