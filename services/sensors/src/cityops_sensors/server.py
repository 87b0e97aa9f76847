"""The sensors api: ``cityops serve sensors`` (port 50053)."""

from __future__ import annotations

import asyncio
import logging

from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_platform import auth
from cityops_platform.grpc import GrpcService
from cityops_platform.runtime import Resources, serve_grpc
from cityops_platform.settings import Settings
from cityops_sensors.alerts.broadcast import AlertBroadcast
from cityops_sensors.alerts.store import AlertStore
from cityops_sensors.analytics.store import AnalyticsStore
from cityops_sensors.ingest.cache import SensorCache
from cityops_sensors.ingest.publisher import ReadingPublisher
from cityops_sensors.registry.store import SensorStore
from cityops_sensors.rules.store import RuleStore
from cityops_sensors.servicer import SensorServicer
from cityops_sensors.settings import get_sensor_settings

log = logging.getLogger("cityops.sensors")
SERVICE = "cityops.sensors.v1.SensorService"
READERS = auth.STAFF | {"integrator"}
POLICY = auth.AccessPolicy.for_service(SERVICE, {
    "RegisterSensor": ["admin", "supervisor", "integrator", "sensor_gateway"],
    "IngestReadings": ["admin", "integrator", "sensor_gateway"],
    "GetSensor": READERS | {"sensor_gateway"},
    "ListSensors": READERS,
    "PutRule": ["admin", "supervisor"],
    "DeleteRule": ["admin", "supervisor"],
    "ListRules": READERS,
    "WatchAlerts": READERS,
    "ListSensorAlerts": READERS,
    "GetSeries": READERS,
})


async def _hold(publisher: ReadingPublisher, broadcast: AlertBroadcast) -> None:
    """Lives as long as the process's resources; closes the hot-path clients on the way out."""
    try:
        await asyncio.Event().wait()
    finally:
        await broadcast.stop()
        await publisher.stop()


async def build(res: Resources) -> list[GrpcService]:
    cfg = get_sensor_settings()
    sensors = SensorStore(res.db)
    publisher = ReadingPublisher(res.settings)
    await publisher.start()
    cache = SensorCache(sensors, partitions=publisher.partitions, refresh_seconds=cfg.cache_refresh_seconds,
                        unknown_ttl=cfg.unknown_sensor_ttl_seconds)
    loaded = await cache.refresh()
    log.info("registry cache loaded", extra={"sensors": loaded, "partitions": publisher.partitions})
    broadcast = AlertBroadcast(res.settings)
    res.tasks.append(asyncio.create_task(cache.run(), name="sensors-cache-refresh"))
    res.tasks.append(asyncio.create_task(_hold(publisher, broadcast), name="sensors-hot-path-clients"))
    servicer = SensorServicer(
        sensors=sensors, rules=RuleStore(res.db), alerts=AlertStore(res.db), analytics=AnalyticsStore(res.db),
        cache=cache, publisher=publisher, broadcast=broadcast, sensor_settings=cfg,
    )
    return [GrpcService(SERVICE, servicer, sensors_pb2_grpc.add_SensorServiceServicer_to_server)]


async def serve(settings: Settings) -> None:
    await serve_grpc("sensors", settings, build=build, policy=POLICY)
