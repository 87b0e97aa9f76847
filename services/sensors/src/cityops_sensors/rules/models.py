"""Rules as data: threshold, rate of change and offline rules, per kind or per sensor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

RULE_TYPES: tuple[str, ...] = ("THRESHOLD", "RATE_OF_CHANGE", "OFFLINE")
DIRECTIONS: tuple[str, ...] = ("ABOVE", "BELOW")
LEVELS: tuple[str, ...] = ("WARN", "CRITICAL")
DEFAULT_ID_PREFIX = "default:"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. A level of 0 is "not set" (THRESHOLD needs at least one of warn/critical)."""

    id: str
    kind: str
    rule_type: str
    sensor_id: str = ""
    direction: str = "ABOVE"
    warn_level: float = 0.0
    critical_level: float = 0.0
    hysteresis: float = 0.0
    min_duration_seconds: int = 0
    rate_of_change_per_window: float = 0.0
    rate_window_seconds: int = 0
    offline_after_intervals: int = 0
    level: str = "WARN"
    enabled: bool = True
    description: str = ""
    updated_at: datetime | None = None

    @property
    def is_default(self) -> bool:
        return self.id.startswith(DEFAULT_ID_PREFIX)


@dataclass(frozen=True, slots=True)
class RuleFilter:
    kind: str = ""
    sensor_id: str = ""
    include_defaults: bool = False
