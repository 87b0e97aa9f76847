"""A rules-engine transition becomes a SensorAlert, the payload of cityops.sensors.alerts.v1."""

from __future__ import annotations

from dataclasses import dataclass

from cityops.common.v1 import common_pb2
from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_sensors import convert as pc
from cityops_sensors.rules.engine import Transition


@dataclass(frozen=True, slots=True)
class SensorMeta:
    """What the worker knows of a sensor from the registry."""

    id: str
    kind: str
    lat: float
    lon: float
    address: str
    district: str
    unit: str
    name: str
    reporting_interval_seconds: int
    ward_code: str = ""
    ward_name: str = ""


def alert_message(tr: Transition, meta: SensorMeta | None) -> pb.SensorAlert:
    alert = pb.SensorAlert(
        alert_id=tr.alert_id, sensor_id=tr.sensor_id, kind=pc.kind_value(tr.rule.kind),  # type: ignore[arg-type]
        state=pb.ALERT_STATE_RAISED if tr.state == "RAISED" else pb.ALERT_STATE_CLEARED,
        level=tr.level,  # type: ignore[arg-type]
        rule_type=pc.enum_value(pb.RuleType, "RULE_TYPE_", tr.rule.rule_type),  # type: ignore[arg-type]
        value=tr.value, threshold=tr.threshold, raised_at=pc.ts_ms(tr.raised_at_ms),
        observed_at=pc.ts_ms(tr.observed_at_ms), event_id=tr.event_id, rule_id=tr.rule.id,
        ingested_at_ms=tr.ingested_at_ms,
    )
    if tr.cleared_at_ms:
        alert.cleared_at.CopyFrom(pc.ts_ms(tr.cleared_at_ms))
    if meta is not None:
        alert.location.CopyFrom(common_pb2.GeoPoint(lat=meta.lat, lon=meta.lon, address=meta.address))
        alert.district, alert.unit, alert.sensor_name = meta.ward_name or meta.district, meta.unit, meta.name
        alert.ward_code, alert.ward_name = meta.ward_code, meta.ward_name
    return alert
