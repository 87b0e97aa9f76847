"""RegisterSensor, GetSensor, ListSensors: proto ↔ domain only."""

from __future__ import annotations

from typing import Any

from cityops.common.v1 import common_pb2
from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform import auth
from cityops_sensors import access
from cityops_sensors import convert as pc
from cityops_sensors.ingest.cache import SensorCache
from cityops_sensors.registry import service
from cityops_sensors.registry.models import Sensor
from cityops_sensors.registry.store import SensorStore


def sensor_to_proto(s: Sensor) -> pb.Sensor:
    return pb.Sensor(
        id=s.id, kind=pc.kind_value(s.kind),  # type: ignore[arg-type]
        location=common_pb2.GeoPoint(lat=s.lat, lon=s.lon, address=s.address),
        unit=s.unit, district=s.ward_name or s.district, status=pc.status_value(s.status),  # type: ignore[arg-type]
        ward_code=s.ward_code, ward_name=s.ward_name,
        reporting_interval_seconds=s.reporting_interval_seconds, name=s.name,
        created_at=pc.ts(s.created_at), last_seen_at=pc.ts(s.last_seen_at), last_value=s.last_value,
        labels=s.labels,
    )


def sensor_from_proto(p: pb.Sensor) -> Sensor:
    return Sensor(
        id=p.id.strip(), kind=pc.kind_name(p.kind, "sensor.kind"), lat=p.location.lat, lon=p.location.lon,
        address=p.location.address, district=p.district, reporting_interval_seconds=p.reporting_interval_seconds,
        name=p.name.strip(), labels=dict(p.labels),
    )


class RegistryRpc:
    sensors: SensorStore
    cache: SensorCache

    async def RegisterSensor(self, request: pb.RegisterSensorRequest, context: Any) -> pb.Sensor:  # noqa: N802
        gateway = access.bound_gateway(auth.current_principal())
        sensor = await service.register_sensor(sensor_from_proto(request.sensor), store=self.sensors, gateway=gateway)
        self.cache.put(sensor.id, sensor.kind, sensor.gateway_id)
        return sensor_to_proto(sensor)

    async def GetSensor(self, request: pb.GetSensorRequest, context: Any) -> pb.Sensor:  # noqa: N802
        return sensor_to_proto(await service.get_sensor(request.id, store=self.sensors))

    async def ListSensors(self, request: pb.ListSensorsRequest, context: Any) -> pb.ListSensorsResponse:  # noqa: N802
        kinds = tuple(pc.kind_name(k, "kinds") for k in request.kinds)
        statuses = tuple(pc.enum_name(pb.SensorStatus, s, "SENSOR_STATUS_", "statuses") for s in request.statuses)
        sensors, token = await service.list_sensors(
            kinds, statuses, request.district, request.page_size, request.page_token, store=self.sensors,
            ward_codes=tuple(request.ward_codes),
        )
        return pb.ListSensorsResponse(sensors=[sensor_to_proto(s) for s in sensors], next_page_token=token)
