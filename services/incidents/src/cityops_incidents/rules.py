"""The service's rules as data: the city's ``incidents/rules.yaml`` (or CITYOPS_INCIDENTS_RULES_FILE) → ``Rules``.

Everything a city would change (districts, fusion radii, triage, routing, SLA) is in the file; the
service area, time zone, holiday calendar and the registry of category and agency codes come from the
city's manifest (``cities/<name>/city.yaml``, see cityops_platform.city). Loading validates every
category and agency against that registry, so a typo fails at start-up rather than at the first report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops.sensors.v1 import events_pb2 as sensors_pb
from cityops_incidents.settings import DEFAULT_RULES_FILE, IncidentsSettings
from cityops_incidents.triage_rules import TriageRules, parse_triage_rules
from cityops_incidents.working_time import WorkingCalendar, load_calendar
from cityops_platform.city import City, current_city
from cityops_platform.geo import NamedPoint

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STAGES = ("acknowledge", "dispatch", "resolve")


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


def _category(name: str, city: City | None = None) -> str:
    """``name`` when the city's registry holds that category code."""
    codes = (city or current_city()).category_codes
    if name not in codes:
        raise ValueError(f"unknown category {name!r} in rules (the city's codes: {', '.join(codes)})")
    return name


def _agency(name: str, city: City | None = None) -> str:
    codes = (city or current_city()).agency_codes
    if name not in codes:
        raise ValueError(f"unknown agency {name!r} in rules (the city's codes: {', '.join(codes)})")
    return name


def _priority(name: str) -> int:
    return int(pb.Priority.Value(f"PRIORITY_{_enum_name(pb.Priority, 'PRIORITY_', name)}"))


@dataclass(frozen=True)
class FusionRule:
    radius_m: float
    window: timedelta
    # A linked sensor alert's CLEARED resolves the incident (when no other linked alert is open).
    resolve_on_sensor_clear: bool = False


@dataclass(frozen=True)
class FusionEdge:
    """One edge of the fusion equivalence graph: reports of ``a`` and incidents of ``b`` (and the
    reverse) describe one event when the ``a`` side matches (its subcategory is listed or its text
    holds a keyword, with diacritics; no lists = always). ``relation`` (0..1) weighs the score."""

    a: str
    b: str
    relation: float
    subcategories: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    radius_m: float | None = None  # default: the incident's category rule
    window: timedelta | None = None


@dataclass(frozen=True)
class LifecycleRules:
    reopen_window: timedelta = timedelta(days=7)
    rating_window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class SlaDeadlines:
    """How long after creation an incident of one priority may stay unacknowledged, undispatched, unresolved."""

    acknowledge: timedelta
    dispatch: timedelta
    resolve: timedelta


# A unit of the service area by its centre: the nearest within ``district_max_m`` names a report's district.
District = NamedPoint


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
    fusion_edges: tuple[FusionEdge, ...] = ()
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)
    # SLA clocks (see incidents/sla.py): the share of a stage's allowance after which the
    # pre-breach warning is published; the working-time calendar and the categories measured in
    # it; the categories that may pause while waiting for the citizen's dossier.
    sla_warning_fraction: float = 0.8
    calendar: WorkingCalendar | None = None
    sla_working_categories: frozenset[str] = frozenset()
    sla_pausable_categories: frozenset[str] = frozenset()
    # What intake derives per category from the rules above (fusion extents, lock scopes, edges),
    # computed once: the rules never change once loaded, and every report asks again.
    memo: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def fusion_rule(self, category: str) -> FusionRule:
        return self.fusion.get(category, self.fusion_default)

    def fusion_edges_of(self, category: str) -> list[FusionEdge]:
        """The graph's edges touching ``category``."""
        key = ("fusion_edges_of", category)
        if key not in self.memo:
            self.memo[key] = tuple(e for e in self.fusion_edges if category in (e.a, e.b))
        return list(self.memo[key])

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


def _fusion_rule(raw: dict[str, Any]) -> FusionRule:
    return FusionRule(float(raw["radius_m"]), parse_duration(raw["window"]),
                      resolve_on_sensor_clear=bool(raw.get("resolve_on_sensor_clear", False)))


def _fusion_edge(raw: dict[str, Any], city: City) -> FusionEdge:
    a, b = _category(str(raw["from"]), city), _category(str(raw["to"]), city)
    if a == b:
        raise ValueError(f"fusion.equivalences: an edge needs two categories ({a} ≈ {b})")
    relation = float(raw.get("relation", 0.8))
    if not 0 < relation <= 1:
        raise ValueError(f"fusion.equivalences {a}≈{b}: relation must be in (0, 1]")
    return FusionEdge(
        a=a, b=b, relation=relation,
        subcategories=frozenset(str(s) for s in raw.get("subcategories", [])),
        keywords=tuple(str(k) for k in raw.get("keywords", [])),
        radius_m=float(raw["radius_m"]) if "radius_m" in raw else None,
        window=parse_duration(raw["window"]) if "window" in raw else None,
    )


def _fusion_edges(raw: list[dict[str, Any]], vocabulary: set[str], city: City) -> tuple[FusionEdge, ...]:
    edges = tuple(_fusion_edge(e, city) for e in raw)
    for e in edges:
        unknown = sorted(e.subcategories - vocabulary)
        if unknown:
            raise ValueError(f"fusion.equivalences {e.a}≈{e.b}: subcategories {unknown} are not in the "
                             f"vocabulary (routing.subcategories)")
    return edges


def _lifecycle(raw: dict[str, Any]) -> LifecycleRules:
    base = LifecycleRules()
    return LifecycleRules(
        reopen_window=parse_duration(raw.get("reopen_window", base.reopen_window.total_seconds())),
        rating_window=parse_duration(raw.get("rating_window", base.rating_window.total_seconds())),
    )


def _calendar(sla: dict[str, Any], base_dir: Path | None, city: City) -> WorkingCalendar | None:
    """The working-time calendar: ``sla.working_time.calendar`` (relative to the rules file's
    folder, else to the city folder), else the city's own ``holidays`` file when working time is on."""
    working = sla.get("working_time") or {}
    name = working.get("calendar") or (city.holidays if working.get("categories") else None)
    if not name:
        return None
    path = Path(str(name))
    if not path.is_absolute():
        near = (base_dir / path) if base_dir is not None else None
        path = near if near is not None and near.exists() else city.file(str(path))
    return load_calendar(path)


def parse_rules(raw: dict[str, Any], *, base_dir: Path | None = None, city: City | None = None) -> Rules:
    """Validate and type a rules document (the parsed YAML); ``base_dir`` resolves relative paths.
    Codes are checked against ``city`` (default: this process's city), which also gives the
    service area and time zone unless the document sets its own."""
    city = city or current_city()
    fusion = raw["fusion"]
    triage = raw["triage"]
    routing = raw["routing"]
    sensors = raw["sensors"]
    sla_default = _sla_table(raw["sla"]["default"], None)
    missing = [p for p in (1, 2, 3, 4) if p not in sla_default]
    if missing:
        raise ValueError(f"sla.default must define P1..P4 (missing {missing})")
    calendar = _calendar(raw["sla"], base_dir, city)
    working = frozenset(_category(c, city) for c in (raw["sla"].get("working_time") or {}).get("categories", []))
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
    area = raw.get("service_area") or {"name": city.text(city.service_area.names),
                                         "polygon": city.service_area.polygon}
    polygon = tuple((float(lat), float(lon)) for lat, lon in area["polygon"])
    if len(polygon) < 3:
        raise ValueError("service_area.polygon needs at least 3 points")
    for kind in (*sensors["categories"], *sensors.get("subcategories", {})):
        _enum_name(sensors_pb.SensorKind, "SENSOR_KIND_", kind)
    for agency in (*routing["categories"].values(), *routing.get("subcategories", {}).values()):
        _agency(agency, city)
    for source in triage.get("sources", {}):
        _enum_name(pb.Source, "SOURCE_", source)
    return Rules(
        number_prefix=str(raw["numbering"]["prefix"]),
        timezone=str(raw["numbering"].get("timezone") or city.timezone),
        area_name=str(area.get("name", "")),
        area_polygon=polygon,
        districts=tuple(District.of(d) for d in raw.get("districts", {}).get("centres", [])),
        district_max_m=float(raw.get("districts", {}).get("max_distance_m", 0)),
        fusion_default=_fusion_rule(fusion["default"]),
        fusion={_category(c, city): _fusion_rule(r) for c, r in fusion.get("categories", {}).items()},
        fusion_edges=_fusion_edges(fusion.get("equivalences", []), set(routing.get("subcategories", {})), city),
        lifecycle=_lifecycle(raw.get("lifecycle", {})),
        base_priority={_category(c, city): _priority(p) for c, p in triage["base"].items()},
        subcategory_priority={str(s): _priority(p) for s, p in triage.get("subcategories", {}).items()},
        source_priority={str(s): _priority(p) for s, p in triage.get("sources", {}).items()},
        keywords=tuple((_priority(k["priority"]), tuple(str(w) for w in k["words"]))
                       for k in triage.get("keywords", [])),
        sensor_level_priority={str(lv): _priority(p) for lv, p in triage.get("sensor_levels", {}).items()},
        report_count_steps=tuple(sorted(int(n) for n in triage.get("report_count_steps", []))),
        eido={_priority(p): int(v) for p, v in triage["eido"].items()},
        agency_by_category={_category(c, city): str(a) for c, a in routing["categories"].items()},
        agency_by_subcategory={str(s): str(a) for s, a in routing.get("subcategories", {}).items()},
        sensor_category={str(k): _category(c, city) for k, c in sensors["categories"].items()},
        sensor_subcategory={str(k): str(s) for k, s in sensors.get("subcategories", {}).items()},
        sla_default=sla_default,
        sla_by_category={_category(c, city): _sla_table(t, sla_default, day_seconds=(
            calendar.day_seconds if calendar is not None and c in working else 86400))
            for c, t in raw["sla"].get("categories", {}).items()},
        triage_rules=parse_triage_rules(raw, city=city),
        limits=dict(raw.get("limits", {})),
        sla_warning_fraction=warning_fraction,
        calendar=calendar,
        sla_working_categories=working,
        sla_pausable_categories=frozenset(_category(c, city) for c in raw["sla"].get("pausable_categories", [])),
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
