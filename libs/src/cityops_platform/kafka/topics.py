"""The topic catalog: the single source of topic names, partitions, retention and compaction.

Names follow ``cityops.<domain>.<stream>.v1``. Every topic has a ``.dlq`` sibling for records that
could not be processed. A deployment may prefix every name (``CITYOPS_TOPIC_PREFIX``); tests use a
fresh prefix each so they never see each other's records.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    compacted: bool = False
    description: str = ""

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"

    @property
    def dlq(self) -> TopicSpec:
        return TopicSpec(
            name=f"{self.name}.dlq",
            partitions=1,
            retention_ms=30 * DAY_MS,
            description=f"Bản ghi lỗi của {self.name} (dead letters)",
        )

    def config(self) -> dict[str, str]:
        cfg = {"retention.ms": str(self.retention_ms), "min.insync.replicas": "1"}
        if self.compacted:
            cfg["cleanup.policy"] = "compact"
            cfg["min.compaction.lag.ms"] = "60000"
        return cfg


INCIDENT_EVENTS = TopicSpec(
    "cityops.incidents.events.v1", 6, 14 * DAY_MS, description="IncidentEvent, key = incident id"
)
DISPATCH_EVENTS = TopicSpec(
    "cityops.dispatch.events.v1", 6, 14 * DAY_MS, description="DispatchEvent, key = incident id"
)
UNIT_STATUS = TopicSpec(
    "cityops.dispatch.unit-status.v1",
    6,
    -1,
    compacted=True,
    description="UnitStatusUpdate, key = unit id; compacted: the latest state of every unit",
)
SENSOR_READINGS = TopicSpec(
    "cityops.sensors.readings.v1",
    12,
    2 * DAY_MS,
    description="ReadingRecord: a batch of readings for one partition, key = partition bucket",
)
SENSOR_ALERTS = TopicSpec(
    "cityops.sensors.alerts.v1", 6, 14 * DAY_MS, description="SensorAlert, key = sensor id"
)
NOTIFICATION_DELIVERIES = TopicSpec(
    "cityops.notifications.deliveries.v1",
    6,
    14 * DAY_MS,
    description="DeliveryEvent, key = delivery id",
)
EIDO_CONVEYANCES = TopicSpec(
    "cityops.dispatch.eido-conveyances.v1",
    3,
    14 * DAY_MS,
    description="EidoConveyance: an EIDO sent to (or given up on for) a partner CAD, key = incident id",
)

CATALOG: tuple[TopicSpec, ...] = (
    INCIDENT_EVENTS,
    DISPATCH_EVENTS,
    UNIT_STATUS,
    SENSOR_READINGS,
    SENSOR_ALERTS,
    NOTIFICATION_DELIVERIES,
    EIDO_CONVEYANCES,
)


def all_topics(*, with_dlq: bool = True) -> list[TopicSpec]:
    """Every topic of the catalog, with their dead-letter siblings."""
    specs = list(CATALOG)
    if with_dlq:
        specs += [spec.dlq for spec in CATALOG]
    return specs


def dlq_name(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True)
class ProcessAccess:
    """The Kafka rights of one process role (one Kafka user each: ``<service>-api``, ``<service>-worker``).

    ``reads``: topics it consumes (Read, Describe). ``writes``: topics it produces (Write, Describe): an
    api and a worker of one service both run the outbox relay of the service's schema, so both write
    every topic the service publishes. ``faust``: a Faust worker, which also owns its consumer group and
    its own changelog/repartition topics (prefix ``<app id>``), and writes the ``.dlq`` of what it reads.
    The Helm chart renders its Strimzi KafkaUsers from the same table (a unit test keeps them equal).
    """

    reads: tuple[TopicSpec, ...] = ()
    writes: tuple[TopicSpec, ...] = ()
    faust: bool = False

    def dlq_writes(self) -> tuple[TopicSpec, ...]:
        """Dead-letter topics this role may write: those of what a worker reads (and of what it writes
        when its own sends can dead-letter, as EIDO conveyances do)."""
        if not self.faust:
            return ()
        extra = (EIDO_CONVEYANCES,) if EIDO_CONVEYANCES in self.writes else ()
        return tuple(spec.dlq for spec in (*self.reads, *extra))


_INCIDENTS_WRITES = (INCIDENT_EVENTS,)
_DISPATCH_WRITES = (DISPATCH_EVENTS, UNIT_STATUS, EIDO_CONVEYANCES)
_SENSORS_WRITES = (SENSOR_READINGS, SENSOR_ALERTS)
_NOTIFICATIONS_WRITES = (NOTIFICATION_DELIVERIES,)

# Who may touch which topic, per process role (the event flow of ARCHITECTURE.md). The apis read with
# no consumer group (WatchIncidents, the unit board, StreamAlerts, the gateway's live stream).
ACCESS: dict[str, ProcessAccess] = {
    "incidents-api": ProcessAccess(reads=(INCIDENT_EVENTS,), writes=_INCIDENTS_WRITES),
    "incidents-worker": ProcessAccess(reads=(SENSOR_ALERTS, DISPATCH_EVENTS), writes=_INCIDENTS_WRITES, faust=True),
    "dispatch-api": ProcessAccess(reads=(UNIT_STATUS,), writes=_DISPATCH_WRITES),
    "dispatch-worker": ProcessAccess(
        reads=(INCIDENT_EVENTS, DISPATCH_EVENTS, UNIT_STATUS), writes=_DISPATCH_WRITES, faust=True
    ),
    "sensors-api": ProcessAccess(reads=(SENSOR_ALERTS,), writes=_SENSORS_WRITES),
    "sensors-worker": ProcessAccess(reads=(SENSOR_READINGS,), writes=_SENSORS_WRITES, faust=True),
    "notifications-api": ProcessAccess(writes=_NOTIFICATIONS_WRITES),
    "notifications-worker": ProcessAccess(
        reads=(INCIDENT_EVENTS, DISPATCH_EVENTS, SENSOR_ALERTS), writes=_NOTIFICATIONS_WRITES, faust=True
    ),
    "gateway-api": ProcessAccess(reads=(INCIDENT_EVENTS, DISPATCH_EVENTS, UNIT_STATUS, SENSOR_ALERTS)),
}
