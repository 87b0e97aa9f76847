"""The SensorService servicer: one class made of each concept's RPCs, holding their dependencies."""

from __future__ import annotations

from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_sensors.alerts.broadcast import AlertBroadcast
from cityops_sensors.alerts.servicer import AlertsRpc
from cityops_sensors.alerts.store import AlertStore
from cityops_sensors.analytics.servicer import SeriesRpc
from cityops_sensors.analytics.store import AnalyticsStore
from cityops_sensors.ingest.cache import SensorCache
from cityops_sensors.ingest.publisher import ReadingPublisher
from cityops_sensors.ingest.servicer import IngestRpc
from cityops_sensors.registry.servicer import RegistryRpc
from cityops_sensors.registry.store import SensorStore
from cityops_sensors.rules.servicer import RulesRpc
from cityops_sensors.rules.store import RuleStore
from cityops_sensors.settings import SensorsSettings


class SensorServicer(RegistryRpc, IngestRpc, RulesRpc, AlertsRpc, SeriesRpc, sensors_pb2_grpc.SensorServiceServicer):
    def __init__(self, *, sensors: SensorStore, rules: RuleStore, alerts: AlertStore, analytics: AnalyticsStore,
                 cache: SensorCache, publisher: ReadingPublisher, broadcast: AlertBroadcast,
                 sensor_settings: SensorsSettings) -> None:
        self.sensors, self.rules, self.alerts, self.analytics = sensors, rules, alerts, analytics
        self.cache, self.publisher, self.broadcast = cache, publisher, broadcast
        self.sensor_settings = sensor_settings
