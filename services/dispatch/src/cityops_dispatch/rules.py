"""Dispatch's rules as data (run cards, speeds, auto-dispatch priorities) from the city's folder
(``cities/<name>/dispatch/*.yaml``, see cityops_platform.city); the tunables are in settings.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.settings import DispatchSettings, city_config
from cityops_platform.city import current_city


@dataclass(frozen=True)
class SlotSpec:
    capability: str
    count: int


@dataclass(frozen=True)
class RunCard:
    name: str
    category: str  # the city's category code
    priorities: frozenset[int]  # empty = any priority
    units: tuple[SlotSpec, ...]

    def matches(self, category: str, priority: int) -> bool:
        return self.category == category and (not self.priorities or priority in self.priorities)

    @property
    def capabilities(self) -> list[str]:
        """Distinct capabilities, in card order."""
        return list(dict.fromkeys(s.capability for s in self.units))


@dataclass(frozen=True)
class Rules:
    """The dispatch rules, loaded from YAML. Pure data: no I/O after loading."""

    auto_priorities: frozenset[int]
    road_factor: float
    speeds_kmh: dict[str, float]
    default_speed_kmh: float
    substitutes: dict[str, tuple[str, ...]]
    run_cards: tuple[RunCard, ...] = field(default_factory=tuple)

    def run_card_for(self, category: str, priority: int) -> RunCard | None:
        """The first card matching the incident, or None (nothing is dispatched automatically)."""
        return next((card for card in self.run_cards if card.matches(category, priority)), None)

    def accepted(self, capability: str) -> list[str]:
        """Capabilities that can fill a slot asking for ``capability`` (itself first)."""
        return [capability, *self.substitutes.get(capability, ())]

    def speed_mps(self, unit_type: str) -> float:
        return self.speeds_kmh.get(unit_type, self.default_speed_kmh) / 3.6

    @property
    def max_speed_mps(self) -> float:
        return max([self.default_speed_kmh, *self.speeds_kmh.values()]) / 3.6

    def is_auto(self, priority: int) -> bool:
        return priority in self.auto_priorities


def parse_priority(name: str) -> int:
    value = incidents_pb2.Priority.Value(f"PRIORITY_{name.strip().upper()}")
    return int(value)


def parse_category(name: str) -> str:
    """``name`` when the city's registry holds that category code."""
    codes = current_city().category_codes
    code = name.strip()
    if code not in codes:
        raise ValueError(f"unknown category {name!r} (the city's codes: {', '.join(codes)})")
    return code


def rules_from_dict(data: dict[str, Any], *, auto_override: str = "") -> Rules:
    """Build ``Rules`` from the YAML structure; raises ValueError on unknown names."""
    auto_names = [p for p in auto_override.split(",") if p.strip()] or list(data.get("auto_dispatch_priorities", []))
    cards = []
    for raw in data.get("run_cards", []):
        match = raw.get("match", {})
        slots = tuple(SlotSpec(str(u["capability"]), int(u.get("count", 1))) for u in raw.get("units", []))
        if not slots or any(s.count < 1 for s in slots):
            raise ValueError(f"run card {raw.get('name')!r} needs at least one unit with count >= 1")
        cards.append(
            RunCard(
                name=str(raw["name"]),
                category=parse_category(str(match["category"])),
                priorities=frozenset(parse_priority(p) for p in match.get("priorities", [])),
                units=slots,
            )
        )
    return Rules(
        auto_priorities=frozenset(parse_priority(p) for p in auto_names),
        road_factor=float(data.get("road_factor", 1.3)),
        speeds_kmh={str(k): float(v) for k, v in data.get("speeds_kmh", {}).items()},
        default_speed_kmh=float(data.get("default_speed_kmh", 35)),
        substitutes={str(k): tuple(str(x) for x in v) for k, v in data.get("substitutes", {}).items()},
        run_cards=tuple(cards),
    )


def load_rules(settings: DispatchSettings | None = None) -> Rules:
    settings = settings or DispatchSettings()
    path = Path(settings.rules_file) if settings.rules_file else city_config("rules.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return rules_from_dict(data, auto_override=settings.auto_priorities)


def load_units_data(settings: DispatchSettings | None = None) -> dict[str, Any]:
    settings = settings or DispatchSettings()
    path = Path(settings.units_file) if settings.units_file else city_config("units.yaml")
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return load_rules()
