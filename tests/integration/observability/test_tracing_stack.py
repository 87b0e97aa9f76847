"""One Open311 report, traced across the real processes and exported over real OTLP.

The gateway, the incidents api and the dispatch worker run as processes (``cityops serve`` /
``cityops worker``) on the real broker and database, with tracing switched on the way an operator
does it: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (here a real OTLP/gRPC trace receiver in this test) and
``OTEL_SERVICE_NAME`` for the api and the worker; the gateway keeps its default name. The report's
trace must hold, in one trace id and with the semantic-convention attribute names:
the gateway's HTTP server span and gRPC client span, the incidents api's gRPC server span, its
asyncpg spans, the Kafka producer span (sent later by the outbox relay) and the dispatch worker's
consumer span, each hop once, parented hop to hop.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2 as otlp_common
from opentelemetry.proto.trace.v1 import trace_pb2

from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import eventually, free_port, load_by_path
from cityops_platform.kafka.topics import INCIDENT_EVENTS

citystack = load_by_path("cityops_test_citystack", Path(__file__).resolve().parents[2] / "e2e" / "citystack.py")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(360)]
DEV_KEY = "cityops-open311-dev-key"
API_NAME, WORKER_NAME = "ioc-incidents-api-test", "ioc-dispatch-worker-test"
METHOD = ("cityops.incidents.v1.IncidentService", "ReportIncident")


@dataclass
class Span:
    service: str
    trace_id: str
    span_id: str
    parent: str
    name: str
    kind: int
    attrs: dict[str, Any]


def _value(v: otlp_common.AnyValue) -> Any:
    which = v.WhichOneof("value")
    return getattr(v, which) if which else None


@dataclass
class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace endpoint that keeps every span it is sent."""

    port: int = field(default_factory=free_port)
    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def Export(self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any) -> Any:  # noqa: N802
        got: list[Span] = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    got.append(Span(str(resource.get("service.name")), s.trace_id.hex(), s.span_id.hex(),
                                    s.parent_span_id.hex(), s.name, s.kind,
                                    {a.key: _value(a.value) for a in s.attributes}))
        with self.lock:
            self.spans.extend(got)
        return trace_service_pb2.ExportTraceServiceResponse()

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


@pytest.fixture(scope="module")
def traced_city(kafka_broker: KafkaBroker, postgres_server: PostgresServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Receiver]]:
    receiver = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    server.add_insecure_port(f"127.0.0.1:{receiver.port}")
    server.start()
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    name = f"t_{uuid.uuid4().hex[:12]}"
    database_url = postgres_server.create_database(name)
    stack = citystack.CityStack(run_dir=tmp_path_factory.mktemp("traced-city"), kafka_bootstrap=kafka_broker.bootstrap,
                                database_url=database_url, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    try:
        stack.prepare(["incidents", "dispatch"])
        stack.start_api("incidents", OTEL_SERVICE_NAME=API_NAME, **otel)
        stack.start_worker("dispatch", OTEL_SERVICE_NAME=WORKER_NAME, **otel)
        stack.start_gateway(CITYOPS_ENVIRONMENT="local", **otel)  # default name: cityops-gateway
        stack.wait_ready(timeout=180)
        yield stack, receiver
    finally:
        stack.stop()
        server.stop(1)
        postgres_server.drop_database(name)


def _one(spans: list[Span], what: str) -> Span:
    assert len(spans) == 1, f"{what}: {[(s.service, s.name) for s in spans]}"
    return spans[0]


async def test_a_report_is_one_trace_from_the_gateway_to_the_worker_with_semconv_attributes(
    traced_city: tuple[Any, Receiver],
) -> None:
    stack, receiver = traced_city
    description = f"Nước ngập sâu 30 cm trước chợ Thủ Dầu Một ({uuid.uuid4().hex[:6]})"
    async with httpx.AsyncClient(timeout=20) as client:
        created = await client.post(f"{stack.gateway_url}/open311/v2/requests.json", data={
            "api_key": DEV_KEY, "service_code": "ngap-duong", "lat": 10.9804, "long": 106.6519,
            "address_string": "Đường Yersin, Phú Cường, Thủ Dầu Một", "description": description,
            "attribute[do_sau_cm]": "30"})
    assert created.status_code == 201, created.text
    topic = INCIDENT_EVENTS.full_name(stack.settings.topic_prefix)

    def report_trace() -> list[Span]:
        spans = receiver.snapshot()
        posts = [s for s in spans if s.service == "cityops-gateway" and s.kind == trace_pb2.Span.SPAN_KIND_SERVER
                 and s.attrs.get("http.route") == "/open311/v2/requests.json"]
        if not posts:
            return []
        return [s for s in spans if s.trace_id == posts[-1].trace_id]

    def complete() -> bool:
        found = report_trace()
        return any(s.service == WORKER_NAME and s.kind == trace_pb2.Span.SPAN_KIND_CONSUMER for s in found)

    try:
        await eventually(complete, timeout=90, interval=0.5)
    except AssertionError:
        seen = sorted({(s.service, s.kind, s.name[:60]) for s in receiver.snapshot()})
        trail = [(s.service, s.kind, s.name[:60], s.span_id, s.parent) for s in report_trace()]
        logs = "\n".join(f"--- {p.name}\n{stack.tail(p, 15)}" for p in stack.procs)
        raise AssertionError(f"report trace incomplete: {trail}\nall spans: {seen}\n{logs}") from None
    spans = report_trace()
    by_id = {s.span_id: s for s in spans}

    # The gateway: the ASGI server span, named after the route, and the gRPC client span under it.
    http = _one([s for s in spans if s.service == "cityops-gateway" and s.kind == trace_pb2.Span.SPAN_KIND_SERVER],
                "gateway server spans")
    assert http.name == "POST /open311/v2/requests.json"
    # The stable HTTP conventions (OTEL_SEMCONV_STABILITY_OPT_IN=http), not the old http.status_code.
    assert (http.attrs["http.request.method"], http.attrs["http.response.status_code"]) == ("POST", 201)
    clients = [s for s in spans if s.service == "cityops-gateway" and s.kind == trace_pb2.Span.SPAN_KIND_CLIENT
               and (s.attrs.get("rpc.service"), s.attrs.get("rpc.method")) == METHOD]
    client_span = _one(clients, "gateway ReportIncident client spans")
    assert client_span.attrs["rpc.system"] == "grpc"
    assert client_span.attrs["rpc.grpc.status_code"] == 0

    # The incidents api: exactly one gRPC server span for the call, child of the gateway's client span.
    server = _one([s for s in spans if s.service == API_NAME and s.kind == trace_pb2.Span.SPAN_KIND_SERVER
                   and s.parent == client_span.span_id], "incidents api server spans under the client span")
    assert (server.attrs["rpc.system"], server.attrs["rpc.service"], server.attrs["rpc.method"]) == ("grpc", *METHOD)
    assert server.attrs["rpc.grpc.status_code"] == 0
    assert not [s.name for s in spans if s.kind == trace_pb2.Span.SPAN_KIND_SERVER and s.parent == server.span_id]

    # Its queries: asyncpg's spans, under the server span.
    queries = [s for s in spans if s.service == API_NAME and "db.system" in s.attrs]
    assert queries, [(s.service, s.name) for s in spans]
    assert {s.attrs["db.system"] for s in queries} == {"postgresql"}
    assert all(s.kind == trace_pb2.Span.SPAN_KIND_CLIENT for s in queries)

    def under(span: Span, ancestor: Span) -> bool:
        while span.parent:
            if span.parent == ancestor.span_id:
                return True
            if span.parent not in by_id:
                return False
            span = by_id[span.parent]
        return False

    assert all(under(q, server) for q in queries)

    # The producer span of the IncidentReported record: the relay sent it after the call returned,
    # yet it is the server span's child (the outbox row kept the context).
    producer = _one([s for s in spans if s.kind == trace_pb2.Span.SPAN_KIND_PRODUCER
                     and s.attrs.get("messaging.destination.name") == topic], "producer spans on incidents.events")
    assert producer.service == API_NAME
    assert producer.parent == server.span_id
    assert producer.attrs["messaging.system"] == "kafka"
    assert producer.attrs["messaging.operation.name"] == "send"
    assert producer.attrs["messaging.message.id"]

    # The dispatch worker: our consumer span per agent that processed the record, child of the send.
    consumers = [s for s in spans if s.service == WORKER_NAME and s.kind == trace_pb2.Span.SPAN_KIND_CONSUMER
                 and s.attrs.get("messaging.destination.name") == topic]
    assert consumers
    for consumer in consumers:
        assert consumer.name == f"process {topic}"
        assert consumer.parent == producer.span_id
        assert consumer.attrs["messaging.system"] == "kafka"
        assert consumer.attrs["messaging.operation.type"] == "process"
        assert consumer.attrs["messaging.message.id"] == producer.attrs["messaging.message.id"]
        assert consumer.attrs["messaging.consumer.group.name"]
    # No aiokafka poll ("receive") span beside ours, and no probe traced anywhere.
    everything = receiver.snapshot()
    assert not [s.name for s in everything if s.name.endswith(" receive")]
    assert not [s.name for s in everything if "grpc.health" in s.name or s.attrs.get("http.route") == "/healthz"]
    # Distinct service names, from OTEL_SERVICE_NAME for the api and the worker.
    assert {s.service for s in spans} >= {"cityops-gateway", API_NAME, WORKER_NAME}
