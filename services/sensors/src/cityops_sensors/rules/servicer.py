"""PutRule, ListRules, DeleteRule: proto ↔ domain only."""

from __future__ import annotations

from typing import Any

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_sensors import convert as pc
from cityops_sensors.registry.store import SensorStore
from cityops_sensors.rules import service
from cityops_sensors.rules.models import Rule, RuleFilter
from cityops_sensors.rules.store import RuleStore


def rule_to_proto(r: Rule) -> pb.Rule:
    return pb.Rule(
        id=r.id, kind=pc.kind_value(r.kind), sensor_id=r.sensor_id,  # type: ignore[arg-type]
        rule_type=pc.enum_value(pb.RuleType, "RULE_TYPE_", r.rule_type),  # type: ignore[arg-type]
        direction=pc.enum_value(pb.Direction, "DIRECTION_", r.direction),  # type: ignore[arg-type]
        warn_level=r.warn_level, critical_level=r.critical_level, hysteresis=r.hysteresis,
        min_duration_seconds=r.min_duration_seconds, rate_of_change_per_window=r.rate_of_change_per_window,
        rate_window_seconds=r.rate_window_seconds, offline_after_intervals=r.offline_after_intervals,
        level=pc.enum_value(pb.AlertLevel, "ALERT_LEVEL_", r.level),  # type: ignore[arg-type]
        enabled=r.enabled, updated_at=pc.ts(r.updated_at), description=r.description,
    )


def rule_from_proto(p: pb.Rule) -> Rule:
    return Rule(
        id=p.id.strip(), kind=pc.kind_name(p.kind, "rule.kind", allow_unspecified=bool(p.sensor_id)),
        sensor_id=p.sensor_id.strip(),
        rule_type=pc.enum_name(pb.RuleType, p.rule_type, "RULE_TYPE_", "rule.rule_type"),
        direction=pc.enum_name(pb.Direction, p.direction, "DIRECTION_", "rule.direction", allow_unspecified=True)
        or "ABOVE",
        warn_level=p.warn_level, critical_level=p.critical_level, hysteresis=p.hysteresis,
        min_duration_seconds=p.min_duration_seconds, rate_of_change_per_window=p.rate_of_change_per_window,
        rate_window_seconds=p.rate_window_seconds, offline_after_intervals=p.offline_after_intervals,
        level=pc.enum_name(pb.AlertLevel, p.level, "ALERT_LEVEL_", "rule.level", allow_unspecified=True) or "WARN",
        enabled=p.enabled, description=p.description.strip(),
    )


class RulesRpc:
    rules: RuleStore
    sensors: SensorStore

    async def PutRule(self, request: pb.PutRuleRequest, context: Any) -> pb.Rule:  # noqa: N802
        rule = await service.put_rule(rule_from_proto(request.rule), store=self.rules, sensors=self.sensors)
        return rule_to_proto(rule)

    async def ListRules(self, request: pb.ListRulesRequest, context: Any) -> pb.ListRulesResponse:  # noqa: N802
        flt = RuleFilter(kind=pc.kind_name(request.kind, "kind", allow_unspecified=True),
                         sensor_id=request.sensor_id.strip(), include_defaults=request.include_defaults)
        return pb.ListRulesResponse(rules=[rule_to_proto(r) for r in await service.list_rules(flt, store=self.rules)])

    async def DeleteRule(self, request: pb.DeleteRuleRequest, context: Any) -> pb.DeleteRuleResponse:  # noqa: N802
        await service.delete_rule(request.id, store=self.rules)
        return pb.DeleteRuleResponse()
