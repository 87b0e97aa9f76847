"""The service's rules as data: ``config/rules.yaml`` (or CITYOPS_INCIDENTS_RULES_FILE) → ``Rules``.

Everything a city would change (service area, districts, fusion radii, triage, routing, SLA) is in
the file; the code only interprets it. Loading validates every name against the proto enums, so a
typo fails at start-up rather than at the first report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops.sensors.v1 import events_pb2 as sensors_pb
from cityops_incidents.triage_rules import TriageRules, parse_triage_rules
from cityops_incidents.working_time import WorkingCalendar, load_calendar

DEFAULT_RULES_FILE = Path(__file__).parent / "config" / "rules.yaml"
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STAGES = ("acknowledge", "dispatch", "resolve")


class IncidentsSettings(BaseSettings):
    """Settings of this service only (prefix ``CITYOPS_INCIDENTS_``)."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_INCIDENTS_", extra="ignore")

    rules_file: str = str(DEFAULT_RULES_FILE)
    sla_sweep_seconds: float = 5.0
    sla_sweep_batch: int = 200
    # Consumer-group session timeout; None keeps Faust's default (60 s). A crashed worker's
    # partitions move to the survivors only after it, so tests lower it.
    worker_session_timeout_seconds: float | None = None


def parse_duration(value: Any, *, day_seconds: float = 86400) -> timedelta:
    """``"90s"``, ``"5m"``, ``"2h"``, ``"3d"`` or a number of seconds. ``day_seconds`` is the
    length of a "d": a calendar day, or a working day (8 h) for working-time clocks."""
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(f"invalid duration {value!r} (expected e.g. 90s, 5m, 2h, 3d)")
    unit = day_seconds if match.group(2) == "d" else _UNIT_SECONDS[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)


def _enum_name(enum: Any, prefix: str, name: str) -> str:
    full = f"{prefix}{name}"
    if full not in enum.keys():  # noqa: SIM118 (protobuf EnumTypeWrapper)
        raise ValueError(f"unknown {prefix.rstrip('_').lower()} {name!r} in rules")
    return name


def _category(name: str) -> str:
    return _enum_name(pb.Category, "CATEGORY_", name)


def _priority(name: str) -> int:
    return int(pb.Priority.Value(f"PRIORITY_{_enum_name(pb.Priority, 'PRIORITY_', name)}"))


@dataclass(frozen=True)
class FusionRule:
    radius_m: float
    window: timedelta


@dataclass(frozen=True)
class SlaDeadlines:
    acknowledge: timedelta
    dispatch: timedelta
    resolve: timedelta


@dataclass(frozen=True)
class District:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Rules:
    """Typed view of rules.yaml. Priorities are proto ints (1 = P1); names are enum names without prefix."""

    number_prefix: str
    timezone: str
    area_name: str
    area_polygon: tuple[tuple[float, float], ...]
    districts: tuple[District, ...]
    district_max_m: float
    fusion_default: FusionRule
    fusion: dict[str, FusionRule]
    base_priority: dict[str, int]
    subcategory_priority: dict[str, int]
    source_priority: dict[str, int]
    keywords: tuple[tuple[int, tuple[str, ...]], ...]
    sensor_level_priority: dict[str, int]
    report_count_steps: tuple[int, ...]
    eido: dict[int, int]
    agency_by_category: dict[str, str]
    agency_by_subcategory: dict[str, str]
    sensor_category: dict[str, str]
    sensor_subcategory: dict[str, str]
    sla_default: dict[int, SlaDeadlines]
    sla_by_category: dict[str, dict[int, SlaDeadlines]]
    triage_rules: TriageRules  # the triage and routing sections, compiled (triage_rules.py)
    limits: dict[str, Any] = field(default_factory=dict)
    # SLA clocks (see incidents/sla.py): the share of a stage's allowance after which the
    # pre-breach warning is published; the working-time calendar and the categories measured in
    # it; the categories that may pause while waiting for the citizen's dossier.
    sla_warning_fraction: float = 0.8
    calendar: WorkingCalendar | None = None
    sla_working_categories: frozenset[str] = frozenset()
    sla_pausable_categories: frozenset[str] = frozenset()

    def fusion_rule(self, category: str) -> FusionRule:
        return self.fusion.get(category, self.fusion_default)

    @property
    def max_fusion_radius_m(self) -> float:
        return max([self.fusion_default.radius_m, *(r.radius_m for r in self.fusion.values())])

    def limit(self, name: str) -> int:
        return int(self.limits[name])

    def sla(self, category: str, priority: int) -> SlaDeadlines:
        return self.sla_by_category.get(category, {}).get(priority) or self.sla_default[priority]

    def working_calendar(self, category: str) -> WorkingCalendar | None:
        """The calendar ``category``'s clocks run in; None for wall-clock (24/7) categories."""
        return self.calendar if category in self.sla_working_categories else None


def _sla_table(raw: dict[str, Any], fallback: dict[int, SlaDeadlines] | None, *,
               day_seconds: float = 86400) -> dict[int, SlaDeadlines]:
    table: dict[int, SlaDeadlines] = {}
    for prio_name, stages in raw.items():
        prio = _priority(prio_name)
        base = fallback[prio] if fallback else None
        values = {}
        for stage in STAGES:
            if stage in stages:
                values[stage] = parse_duration(stages[stage], day_seconds=day_seconds)
            elif base is not None:
                values[stage] = getattr(base, stage)
            else:
                raise ValueError(f"sla {prio_name}: missing stage {stage!r}")
        table[prio] = SlaDeadlines(**values)
    return table


def _calendar(sla: dict[str, Any], base_dir: Path | None) -> WorkingCalendar | None:
    """The working-time calendar named by ``sla.working_time.calendar``: a path relative to the
    rules file's folder, else to the packaged config folder (where holidays_vn.yaml lives)."""
    name = (sla.get("working_time") or {}).get("calendar")
    if not name:
        return None
    path = Path(str(name))
    if not path.is_absolute():
        near = (base_dir / path) if base_dir is not None else None
        path = near if near is not None and near.exists() else DEFAULT_RULES_FILE.parent / path
    return load_calendar(path)


def parse_rules(raw: dict[str, Any], *, base_dir: Path | None = None) -> Rules:
    """Validate and type a rules document (the parsed YAML); ``base_dir`` resolves relative paths."""
    fusion = raw["fusion"]
    triage = raw["triage"]
    routing = raw["routing"]
    sensors = raw["sensors"]
    sla_default = _sla_table(raw["sla"]["default"], None)
    missing = [p for p in (1, 2, 3, 4) if p not in sla_default]
    if missing:
        raise ValueError(f"sla.default must define P1..P4 (missing {missing})")
    calendar = _calendar(raw["sla"], base_dir)
    working = frozenset(_category(c) for c in (raw["sla"].get("working_time") or {}).get("categories", []))
    if working and calendar is None:
        raise ValueError("sla.working_time.categories needs sla.working_time.calendar")
    for c in working:
        table = raw["sla"].get("categories", {}).get(c) or {}
        if sorted(table) != ["P1", "P2", "P3", "P4"] or any(len(table[p] or {}) != 3 for p in table):
            raise ValueError(f"sla.categories.{c}: a working-time category defines every stage of P1..P4 "
                             f"(its days are working days, so nothing falls back to the 24/7 default)")
    warning_fraction = float(raw["sla"].get("warning_fraction", 0.8))
    if not 0 < warning_fraction < 1:
        raise ValueError("sla.warning_fraction must be in (0, 1)")
    polygon = tuple((float(lat), float(lon)) for lat, lon in raw["service_area"]["polygon"])
    if len(polygon) < 3:
        raise ValueError("service_area.polygon needs at least 3 points")
    for kind in (*sensors["categories"], *sensors.get("subcategories", {})):
        _enum_name(sensors_pb.SensorKind, "SENSOR_KIND_", kind)
    for agency in (*routing["categories"].values(), *routing.get("subcategories", {}).values()):
        _enum_name(common_pb2.Agency, "AGENCY_", agency)
    for source in triage.get("sources", {}):
        _enum_name(pb.Source, "SOURCE_", source)
    return Rules(
        number_prefix=str(raw["numbering"]["prefix"]),
        timezone=str(raw["numbering"].get("timezone", "Asia/Ho_Chi_Minh")),
        area_name=str(raw["service_area"].get("name", "")),
        area_polygon=polygon,
        districts=tuple(District(str(d["name"]), float(d["lat"]), float(d["lon"]))
                        for d in raw.get("districts", {}).get("centres", [])),
        district_max_m=float(raw.get("districts", {}).get("max_distance_m", 0)),
        fusion_default=FusionRule(float(fusion["default"]["radius_m"]), parse_duration(fusion["default"]["window"])),
        fusion={_category(c): FusionRule(float(r["radius_m"]), parse_duration(r["window"]))
                for c, r in fusion.get("categories", {}).items()},
        base_priority={_category(c): _priority(p) for c, p in triage["base"].items()},
        subcategory_priority={str(s): _priority(p) for s, p in triage.get("subcategories", {}).items()},
        source_priority={str(s): _priority(p) for s, p in triage.get("sources", {}).items()},
        keywords=tuple((_priority(k["priority"]), tuple(str(w) for w in k["words"]))
                       for k in triage.get("keywords", [])),
        sensor_level_priority={str(lv): _priority(p) for lv, p in triage.get("sensor_levels", {}).items()},
        report_count_steps=tuple(sorted(int(n) for n in triage.get("report_count_steps", []))),
        eido={_priority(p): int(v) for p, v in triage["eido"].items()},
        agency_by_category={_category(c): str(a) for c, a in routing["categories"].items()},
        agency_by_subcategory={str(s): str(a) for s, a in routing.get("subcategories", {}).items()},
        sensor_category={str(k): _category(c) for k, c in sensors["categories"].items()},
        sensor_subcategory={str(k): str(s) for k, s in sensors.get("subcategories", {}).items()},
        sla_default=sla_default,
        sla_by_category={_category(c): _sla_table(t, sla_default, day_seconds=(
            calendar.day_seconds if calendar is not None and c in working else 86400))
            for c, t in raw["sla"].get("categories", {}).items()},
        triage_rules=parse_triage_rules(raw),
        limits=dict(raw.get("limits", {})),
        sla_warning_fraction=warning_fraction,
        calendar=calendar,
        sla_working_categories=working,
        sla_pausable_categories=frozenset(_category(c) for c in raw["sla"].get("pausable_categories", [])),
    )


def load_rules_file(path: str | Path) -> Rules:
    with open(path, encoding="utf-8") as fh:
        return parse_rules(yaml.safe_load(fh), base_dir=Path(path).parent)


def raw_default_rules() -> dict[str, Any]:
    """The default rules document, parsed but untyped (tests derive variants from it)."""
    with open(DEFAULT_RULES_FILE, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> Rules:
    """The rules for this process: ``path``, else CITYOPS_INCIDENTS_RULES_FILE, else the default."""
    return load_rules_file(path or IncidentsSettings().rules_file)
