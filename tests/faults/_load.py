"""Load generators: sensor alerts into Kafka, incident reports through gRPC, with a ledger."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import grpc
from aiokafka import AIOKafkaProducer

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as ipb
from cityops.incidents.v1 import incidents_pb2_grpc
from cityops.sensors.v1 import events_pb2 as spb

from ._checker import Ledger

# A rectangle well inside Bình Dương's service area (rules.yaml polygon).
LAT0, LAT1, LON0, LON1 = 11.06, 11.44, 106.46, 106.94


def grid_point(n: int, total: int) -> tuple[float, float]:
    side = max(1, int(total**0.5) + 1)
    i, j = divmod(n, side)
    return LAT0 + (LAT1 - LAT0) * i / side, LON0 + (LON1 - LON0) * j / side


def sensor_alert(n: int, total: int, run: str) -> spb.SensorAlert:
    lat, lon = grid_point(n, total)
    a = spb.SensorAlert(
        alert_id=f"{run}-a{n}", sensor_id=f"{run}-wl-{n % 64}", kind=spb.SENSOR_KIND_WATER_LEVEL,
        state=spb.ALERT_STATE_RAISED, level=spb.ALERT_LEVEL_WARN, rule_type=spb.RULE_TYPE_THRESHOLD,
        value=35.0, threshold=30.0, unit="cm", location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Cầu Ông Cộ"),
        district="Bến Cát", event_id=str(uuid.uuid4()), sensor_name="Trạm đo mực nước",
    )
    a.raised_at.GetCurrentTime()
    return a


def alert_records(alerts: Sequence[spb.SensorAlert]) -> list[tuple[str, bytes, bytes]]:
    """(id, key, value) records of sensor alerts for ``produce``: keyed by sensor, as the sensors service sends."""
    return [(a.alert_id, a.sensor_id.encode(), a.SerializeToString()) for a in alerts]


class _IncidentKeyed(Protocol):
    @property
    def incident_id(self) -> str: ...

    def SerializeToString(self) -> bytes: ...  # noqa: N802 (the protobuf method's name)


_Event = TypeVar("_Event", bound=_IncidentKeyed)


def incident_records(events: Sequence[_Event], item: Callable[[_Event], str]) -> list[tuple[str, bytes, bytes]]:
    """(id, key, value) records of incident or dispatch events for ``produce``: keyed by incident, as the services
    send them; ``item`` is what the ledger counts each one as."""
    return [(item(e), e.incident_id.encode(), e.SerializeToString()) for e in events]


async def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[str, bytes, bytes]], ledger: Ledger,
    *, on_progress: Callable[[int], None] | None = None,
) -> None:
    """Send (id, key, value) records with acks=all; an id is acknowledged when its send is."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        pending: list[tuple[str, asyncio.Future[object]]] = []
        for n, (item, key, value) in enumerate(records, 1):
            ledger.attempt(item)
            pending.append((item, await producer.send(topic, value, key=key)))
            if len(pending) >= 500 or n == len(records):
                for done_id, fut in pending:
                    try:
                        await fut
                        ledger.ack(done_id)
                    except Exception as exc:
                        ledger.fail(type(exc).__name__)
                pending.clear()
                if on_progress:
                    on_progress(n)
    finally:
        await producer.stop()


def report_request(key: str, n: int, total: int) -> ipb.ReportIncidentRequest:
    # ADMINISTRATIVE_PROCEDURE is never fused: one acknowledged report = one incident.
    lat, lon = grid_point(n, total)
    return ipb.ReportIncidentRequest(
        category=ipb.CATEGORY_ADMINISTRATIVE_PROCEDURE, source=ipb.SOURCE_HOTLINE_1022,
        description=f"Yêu cầu thủ tục số {n}", idempotency_key=key,
        location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Đại lộ Bình Dương"),
    )


async def report_until_acked(
    stub: incidents_pb2_grpc.IncidentServiceStub, metadata: tuple[tuple[str, str], ...], req: ipb.ReportIncidentRequest,
    ledger: Ledger, *, deadline_s: float = 120.0, timeout_s: float = 5.0,
) -> ipb.ReportIncidentResponse | None:
    """A well-behaved client: retry UNAVAILABLE/DEADLINE_EXCEEDED with the SAME idempotency key."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    delay = 0.1
    ledger.attempt(req.idempotency_key)
    while True:
        try:
            reply: ipb.ReportIncidentResponse = await stub.ReportIncident(req, metadata=metadata, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            ledger.fail(exc.code())
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                    or loop.time() > give_up:
                return None
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)
            continue
        ledger.ack(req.idempotency_key)
        return reply
