"""Rules as data: validation, defaults from config, and which rules apply to a sensor.

Precedence, per rule type: a sensor's own rules replace its kind's stored rules, which replace the
kind's defaults from ``config/rules.yaml``. A disabled rule therefore switches a default off.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

import yaml

from cityops_platform.city import current_city
from cityops_platform.errors import FieldViolation, NotFound, ValidationFailed, require
from cityops_sensors.registry.models import KIND_NAMES
from cityops_sensors.rules.models import DEFAULT_ID_PREFIX, DIRECTIONS, LEVELS, RULE_TYPES, Rule, RuleFilter


class RuleStore(Protocol):
    async def upsert(self, rule: Rule) -> Rule: ...
    async def get(self, rule_id: str) -> Rule | None: ...
    async def search(self, flt: RuleFilter) -> list[Rule]: ...
    async def delete(self, rule_id: str) -> bool: ...


class SensorLookup(Protocol):
    async def kind_of(self, sensor_id: str) -> str | None: ...


@functools.cache
def default_rules() -> tuple[Rule, ...]:
    """The per-kind defaults from the city's ``sensors/rules.yaml``, with stable ids ``default:<KIND>:<TYPE>``."""
    text = current_city().file("sensors/rules.yaml").read_text(encoding="utf-8")
    raw: dict[str, list[dict[str, Any]]] = yaml.safe_load(text)
    out: list[Rule] = []
    for kind, items in raw.items():
        for item in items:
            rule = Rule(id=f"{DEFAULT_ID_PREFIX}{kind}:{item['rule_type']}", kind=kind, **item)
            out.append(validate_rule(rule, assign_id=False))
    return tuple(out)


def validate_rule(rule: Rule, *, assign_id: bool = True) -> Rule:
    """Check a rule and normalise it; ``ValidationFailed`` names every bad field (``rule.<field>``)."""
    v: list[FieldViolation] = []

    def bad(name: str, why: str) -> None:
        v.append(FieldViolation(f"rule.{name}", why))

    if rule.kind not in KIND_NAMES:
        bad("kind", "bắt buộc, phải là một loại cảm biến hợp lệ (required: a known sensor kind)")
    if rule.rule_type not in RULE_TYPES:
        bad("rule_type", "bắt buộc (required: THRESHOLD, RATE_OF_CHANGE or OFFLINE)")
    if rule.direction not in DIRECTIONS:
        bad("direction", "phải là ABOVE hoặc BELOW (must be ABOVE or BELOW)")
    if rule.level not in LEVELS:
        bad("level", "phải là WARN hoặc CRITICAL (must be WARN or CRITICAL)")
    if len(rule.sensor_id) > 64:
        bad("sensor_id", "tối đa 64 ký tự (at most 64 characters)")
    if len(rule.description) > 500:
        bad("description", "tối đa 500 ký tự (at most 500 characters)")
    numbers = {"warn_level": rule.warn_level, "critical_level": rule.critical_level, "hysteresis": rule.hysteresis,
               "rate_of_change_per_window": rule.rate_of_change_per_window}
    for name, value in numbers.items():
        if not math.isfinite(value):
            bad(name, "phải là số hữu hạn (must be a finite number)")
    if math.isfinite(rule.hysteresis) and rule.hysteresis < 0:
        bad("hysteresis", "không được âm (must be ≥ 0)")
    if not 0 <= rule.min_duration_seconds <= 86400:
        bad("min_duration_seconds", "từ 0 đến 86400 (0..86400)")
    if rule.rule_type == "THRESHOLD" and all(map(math.isfinite, numbers.values())):
        warn, crit = rule.warn_level, rule.critical_level
        if warn == 0 and crit == 0:
            bad("warn_level", "cần ít nhất một ngưỡng khác 0 (set warn_level or critical_level)")
        elif warn != 0 and crit != 0:
            if rule.direction == "ABOVE" and crit <= warn:
                bad("critical_level", "phải lớn hơn warn_level khi ABOVE (must exceed warn_level)")
            if rule.direction == "BELOW" and crit >= warn:
                bad("critical_level", "phải nhỏ hơn warn_level khi BELOW (must be below warn_level)")
    if rule.rule_type == "RATE_OF_CHANGE":
        if not (math.isfinite(rule.rate_of_change_per_window) and rule.rate_of_change_per_window > 0):
            bad("rate_of_change_per_window", "phải > 0 (must be > 0)")
        if not 1 <= rule.rate_window_seconds <= 86400:
            bad("rate_window_seconds", "từ 1 đến 86400 (1..86400)")
    if rule.rule_type == "OFFLINE" and not 1 <= rule.offline_after_intervals <= 1000:
        bad("offline_after_intervals", "từ 1 đến 1000 (1..1000)")
    require(v)
    if assign_id and not rule.id:
        rule = replace(rule, id=str(uuid.uuid4()))
    return rule


def effective_rules(kind: str, sensor_id: str, stored: Iterable[Rule], defaults: Iterable[Rule]) -> tuple[Rule, ...]:
    """The rules that apply to one sensor (see the module docstring for precedence)."""
    own: dict[str, list[Rule]] = {}
    of_kind: dict[str, list[Rule]] = {}
    for rule in stored:
        if rule.kind != kind:
            continue
        if rule.sensor_id == sensor_id:
            own.setdefault(rule.rule_type, []).append(rule)
        elif not rule.sensor_id:
            of_kind.setdefault(rule.rule_type, []).append(rule)
    base: dict[str, list[Rule]] = {}
    for rule in defaults:
        if rule.kind == kind:
            base.setdefault(rule.rule_type, []).append(rule)
    out: list[Rule] = []
    for rule_type in ("THRESHOLD", "RATE_OF_CHANGE", "OFFLINE"):
        chosen = own.get(rule_type) or of_kind.get(rule_type) or base.get(rule_type) or []
        out.extend(r for r in chosen if r.enabled)
    return tuple(out)


class RuleBook:
    """A snapshot of every stored rule plus the defaults; answers "which rules for this sensor" fast."""

    def __init__(self, stored: Iterable[Rule], defaults: Iterable[Rule] | None = None) -> None:
        self._stored = tuple(stored)
        self._defaults = tuple(default_rules() if defaults is None else defaults)
        self._per_sensor = {r.sensor_id for r in self._stored if r.sensor_id}
        self._cache: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self.by_id: dict[str, Rule] = {r.id: r for r in (*self._defaults, *self._stored)}

    def for_sensor(self, kind: str, sensor_id: str) -> tuple[Rule, ...]:
        key = (kind, sensor_id if sensor_id in self._per_sensor else "")
        rules = self._cache.get(key)
        if rules is None:
            rules = self._cache[key] = effective_rules(kind, key[1], self._stored, self._defaults)
        return rules


async def put_rule(rule_in: Rule, *, store: RuleStore, sensors: SensorLookup) -> Rule:
    """Create (empty id) or replace a rule. A per-sensor rule takes the sensor's kind."""
    if rule_in.id.startswith(DEFAULT_ID_PREFIX):
        raise ValidationFailed([FieldViolation(
            "rule.id", "quy tắc mặc định chỉ đọc; tạo quy tắc mới với id rỗng "
                       "(default rules are read-only: create an override with an empty id)")])
    if rule_in.sensor_id:
        kind = await sensors.kind_of(rule_in.sensor_id)
        if kind is None:
            raise NotFound("sensor", rule_in.sensor_id)
        if rule_in.kind and rule_in.kind != kind:
            raise ValidationFailed([FieldViolation("rule.kind", f"cảm biến thuộc loại {kind} (sensor is {kind})")])
        rule_in = replace(rule_in, kind=kind)
    rule = validate_rule(rule_in)
    if rule_in.id and await store.get(rule_in.id) is None:
        raise NotFound("rule", rule_in.id)
    return await store.upsert(rule)


async def list_rules(flt: RuleFilter, *, store: RuleStore) -> list[Rule]:
    """Stored rules matching the filter, plus the defaults when asked."""
    rules = await store.search(flt)
    if flt.include_defaults:
        rules += [r for r in default_rules() if not flt.kind or r.kind == flt.kind]
    return rules


async def delete_rule(rule_id: str, *, store: RuleStore) -> None:
    """Delete a stored rule; defaults cannot be deleted (store a disabled override instead)."""
    if not await store.delete(rule_id):
        raise NotFound("rule", rule_id)
