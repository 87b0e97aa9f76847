"""Locust users for staging: one per real client of CityOps, speaking gRPC.

    locust -f loadtests/locustfile.py --host 10.0.0.5 --headless -u 50 -r 10 -t 5m

``--host`` names the machine (or Kubernetes Service DNS name) where the apis listen on their
default ports; ``CITYOPS_<SERVICE>_ADDR`` overrides one service's address, and
``CITYOPS_JWT_SECRET`` must be the deployment's signing key so the users get valid tokens.
Every call goes through ``LocustInterceptor``, which fires Locust's request event with the gRPC
status, so failures show in Locust's statistics exactly like HTTP errors would (Locust's
documented gRPC-user pattern). A failed call is reported once, by the interceptor; the task then
goes on (``reported()``), so a failure never turns into an unhandled greenlet traceback. Any
failure makes the run exit 1 (the CI smoke: 20 s headless, 0 errors).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent
import yaml
from google.protobuf.timestamp_pb2 import Timestamp
from locust import User, between, events, task
from locust.env import Environment

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops.sensors.v1 import sensors_pb2, sensors_pb2_grpc
from cityops_platform.auth import TokenCodec
from cityops_platform.city import current_city
from cityops_platform.settings import DEFAULT_GRPC_PORTS

# gRPC's own threads must cooperate with gevent, or one blocking call freezes every Locust user.
grpc_gevent.init_gevent()

# Places where reports cluster (the first streets of the city's gazetteer); a share of reports
# repeat a spot (duplicates to fuse).
HOTSPOTS = [(float(s["lat"]), float(s["lon"]), str(s["name"])) for s in (yaml.safe_load(
    current_city().file("gateway/gazetteer.yaml").read_text(encoding="utf-8")).get("streets") or [])[:5]]
DESCRIPTIONS = [
    ("CATEGORY_FLOOD", "Đường ngập sâu khoảng 40cm, xe máy chết máy hàng loạt"),
    ("CATEGORY_FIELD_REPORT", "Ổ gà lớn giữa đường, nhiều người suýt té ngã"),
    ("CATEGORY_FIELD_REPORT", "Đèn đường không sáng cả đoạn, rất nguy hiểm ban đêm"),
    ("CATEGORY_ENVIRONMENT", "Rác thải tập kết trái phép, bốc mùi hôi thối"),
    ("CATEGORY_TRAFFIC_ACCIDENT", "Tai nạn giữa xe tải và xe máy, có người bị thương"),
    ("CATEGORY_EMERGENCY_MEDICAL", "Cụ ông ngất xỉu trước cửa nhà, cần xe cấp cứu"),
    ("CATEGORY_FIRE", "Khói đen bốc lên từ nhà xưởng, có mùi khét"),
    ("CATEGORY_SECURITY", "Nhóm thanh niên tụ tập gây rối trật tự"),
]
DUPLICATE_SHARE = 0.3
ACKNOWLEDGE = "/cityops.dispatch.v1.DispatchService/AcknowledgeAssignment"
# Outcomes that are part of the workload, not failures: two dispatchers racing to acknowledge the
# same assignment (one wins, the other gets FAILED_PRECONDITION), reported under their own name.
EXPECTED = {(ACKNOWLEDGE, grpc.StatusCode.FAILED_PRECONDITION): f"{ACKNOWLEDGE} (lost race)"}


def address_of(service: str, host: str | None) -> str:
    override = os.environ.get(f"CITYOPS_{service.upper()}_ADDR")
    if override:
        return override
    base = (host or "127.0.0.1").replace("http://", "").replace("https://", "").split(":")[0]
    return f"{base}:{DEFAULT_GRPC_PORTS[service]}"


def token_for(role: str) -> tuple[tuple[str, str], ...]:
    # The deployment's key, else the running local city's (written by `cityops up`).
    secret = os.environ.get("CITYOPS_JWT_SECRET") or Path(".run/city/jwt-secret").read_text(encoding="utf-8").strip()
    subject = f"locust-{role}-{uuid.uuid4().hex[:6]}"
    # A field unit or sensor gateway credential is bound to one object (docs/security.md): each user is its own.
    bindings = {"gateway_id": subject} if role == "sensor_gateway" else {}
    token = TokenCodec(secret).issue(subject, [role], bindings=bindings)
    return (("authorization", f"Bearer {token}"),)


class LocustInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
):
    """Fires a Locust request event for every call, with the final status as the exception."""

    def __init__(self, environment: Environment) -> None:
        self.env = environment

    def _fire(self, method: str, started: float, length: int, exception: Exception | None) -> None:
        if isinstance(exception, grpc.RpcError):
            expected = EXPECTED.get((method, exception.code()))
            if expected is not None:
                method, exception = expected, None
        self.env.events.request.fire(
            request_type="grpc",
            name=method,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            response=None,
            context=None,
            exception=exception,
        )

    def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        started = time.perf_counter()
        call = continuation(details, request)
        exception: Exception | None = None
        length = 0
        try:
            result = call.result()
            length = result.ByteSize() if hasattr(result, "ByteSize") else 0
        except grpc.RpcError as exc:
            exception = exc
        self._fire(details.method, started, length, exception)
        return call

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return self._call(continuation, client_call_details, request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return self._call(continuation, client_call_details, request_iterator)

    def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        stream = continuation(client_call_details, request)
        count, exception = 0, None
        try:
            for _ in stream:
                count += 1
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # screens watch until their deadline
                exception = exc
        self._fire(client_call_details.method, started, count, exception)
        return iter(())


# Each api's client stub, keyed like DEFAULT_GRPC_PORTS: a user calls the api of its ``service``.
STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "incidents": incidents_pb2_grpc.IncidentServiceStub,
    "sensors": sensors_pb2_grpc.SensorServiceStub,
    "dispatch": dispatch_pb2_grpc.DispatchServiceStub,
}


class GrpcUser(User):
    abstract = True
    service = ""
    role = ""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        channel = grpc.insecure_channel(address_of(self.service, self.host))
        self.channel = grpc.intercept_channel(channel, LocustInterceptor(environment))
        self.metadata = token_for(self.role)
        self.stub = STUBS[self.service](self.channel)

    def on_stop(self) -> None:
        self.channel.close()


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """The interceptor already counted the failed call; the task ends quietly and the user goes on."""
    with contextlib.suppress(grpc.RpcError):
        yield


def _now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


class SensorGatewayUser(GrpcUser):
    """A sensor gateway streaming batches of water-level readings."""

    service, role = "sensors", "sensor_gateway"
    wait_time = between(0.5, 1.5)
    weight = 3

    def on_start(self) -> None:
        self.sensor_ids: list[str] = []
        for i in range(20):
            lat, lon, place = random.choice(HOTSPOTS)
            sensor = sensors_pb2.Sensor(
                id=f"locust-wl-{uuid.uuid4().hex[:8]}-{i}", kind=sensors_pb2.SENSOR_KIND_WATER_LEVEL,
                location=common_pb2.GeoPoint(lat=lat, lon=lon, address=place), district="bench",
                reporting_interval_seconds=60,
            )
            with reported():
                self.stub.RegisterSensor(sensors_pb2.RegisterSensorRequest(sensor=sensor), metadata=self.metadata,
                                         timeout=5)
                self.sensor_ids.append(sensor.id)

    @task
    def stream_batch(self) -> None:
        now = _now()

        def batches() -> Any:
            for _ in range(5):
                yield sensors_pb2.ReadingBatch(readings=[
                    sensors_pb2.Reading(sensor_id=s, value=random.uniform(5, 35), observed_at=now)
                    for s in self.sensor_ids
                ])

        if not self.sensor_ids:
            return
        with reported():
            self.stub.IngestReadings(batches(), metadata=self.metadata, timeout=10)


class CallTakerUser(GrpcUser):
    """A 1022 hotline call-taker filing reports; about 30% repeat a recent spot (duplicates)."""

    service, role = "incidents", "call_taker"
    wait_time = between(1, 3)
    weight = 3

    def on_start(self) -> None:
        self.recent: list[tuple[str, float, float, str]] = []

    @task(3)
    def report(self) -> None:
        if self.recent and random.random() < DUPLICATE_SHARE:
            category, lat, lon, text = random.choice(self.recent)
        else:
            category, text = random.choice(DESCRIPTIONS)
            lat, lon, _ = random.choice(HOTSPOTS)
            lat, lon = lat + random.uniform(-0.02, 0.02), lon + random.uniform(-0.02, 0.02)
            self.recent = [*self.recent[-9:], (category, lat, lon, text)]
        request = incidents_pb2.ReportIncidentRequest(
            category=incidents_pb2.Category.Value(category), description=text,
            location=common_pb2.GeoPoint(lat=lat, lon=lon, address="bench"),
            source=incidents_pb2.SOURCE_HOTLINE_1022, idempotency_key=str(uuid.uuid4()),
            reporter=incidents_pb2.Reporter(name="Người gọi", phone="0909" + str(random.randint(100000, 999999))),
        )
        with reported():
            # What a call-taker does first: "has this already been reported nearby?"
            self.stub.FindNearbyIncidents(incidents_pb2.FindNearbyIncidentsRequest(
                location=request.location, radius_m=500, limit=10), metadata=self.metadata, timeout=5)
            self.stub.ReportIncident(request, metadata=self.metadata, timeout=5)

    @task(1)
    def search(self) -> None:
        with reported():
            self.stub.ListIncidents(incidents_pb2.ListIncidentsRequest(text="ngap", page_size=20),
                                    metadata=self.metadata, timeout=5)


class DispatcherUser(GrpcUser):
    """A dispatcher watching units and acknowledging assignments on behalf of units."""

    service, role = "dispatch", "dispatcher"
    wait_time = between(1, 3)
    weight = 1

    @task(2)
    def list_units(self) -> None:
        with reported():
            self.stub.ListUnits(dispatch_pb2.ListUnitsRequest(page_size=200), metadata=self.metadata, timeout=5)

    @task(2)
    def acknowledge(self) -> None:
        """Acknowledge, on a unit's behalf (radio), an assignment still waiting for it."""
        with reported():
            reply = self.stub.ListAssignments(dispatch_pb2.ListAssignmentsRequest(active_only=True),
                                              metadata=self.metadata, timeout=5)
            waiting = [a for a in reply.assignments if a.status == dispatch_pb2.ASSIGNMENT_STATUS_ASSIGNED]
            if waiting:
                self.stub.AcknowledgeAssignment(dispatch_pb2.AcknowledgeAssignmentRequest(
                    assignment_id=random.choice(waiting).id, accept=True), metadata=self.metadata, timeout=5)


class ScreenUser(GrpcUser):
    """An operations-center screen: refreshes the queue and watches live events for a while."""

    service, role = "incidents", "operator"
    wait_time = between(2, 5)
    weight = 1

    @task(3)
    def queue(self) -> None:
        with reported():
            self.stub.ListIncidents(incidents_pb2.ListIncidentsRequest(page_size=100), metadata=self.metadata,
                                    timeout=5)

    @task(1)
    def watch(self) -> None:
        with reported():
            for _ in self.stub.WatchIncidents(incidents_pb2.WatchIncidentsRequest(), metadata=self.metadata,
                                              timeout=3):
                pass


@events.quitting.add_listener
def _fail_on_errors(environment: Environment, **_: Any) -> None:
    """CI smoke: any failed request makes Locust exit non-zero."""
    if environment.stats.total.num_failures > 0:
        environment.process_exit_code = 1
