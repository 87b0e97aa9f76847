"""One trace from a gRPC call, through the outbox and Kafka, into a Faust agent: exact parentage.

The incidents api runs in-process on the real broker and database; a Faust app built with the
platform's factory and ``consume()`` (what every worker uses) reads the real incidents.events topic
in the same process, so the SDK's InMemorySpanExporter sees every span of the path: the contrib
gRPC server span, the contrib asyncpg spans under it, the contrib aiokafka producer span (the relay
sends later, from the stored context) and our consumer span under that.
(test_tracing_stack.py checks the same over OTLP from the real processes.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import faust
import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2, incidents_pb2, incidents_pb2_grpc, resources_pb2
from cityops_devtools.testing import bearer, eventually, make_settings
from cityops_incidents import server as incidents_server
from cityops_platform.db.migrations import migrate
from cityops_platform.faust_app import consume, create_app, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.kafka import headers as h
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.runtime import migrations_dir, service_resources, start_grpc
from cityops_platform.tracing import configure_tracing

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
METHOD = "/cityops.incidents.v1.IncidentService/ReportIncident"


def _exporter() -> InMemorySpanExporter:
    """Tracing on in this process (the SDK and the instrumentations), recorded in memory."""
    exporter = InMemorySpanExporter()
    assert configure_tracing("tracing-test", enable=True, span_processors=[SimpleSpanProcessor(exporter)])
    return exporter


@pytest.fixture
async def path(kafka_bootstrap: str, topic_prefix: str, database_url: str) -> AsyncIterator[dict[str, Any]]:
    exporter = _exporter()
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    await apply_topics(settings)
    await migrate(database_url, "incidents", migrations_dir("incidents"))
    seen: list[tuple[events_pb2.IncidentEvent, trace.SpanContext, list[tuple[str, bytes]]]] = []

    app = create_app("tracing-probe", settings)
    topic = raw_topic(app, INCIDENT_EVENTS.full_name(topic_prefix))

    @app.agent(topic, name="tracing-probe")
    async def probe(stream: faust.StreamT[bytes]) -> None:
        async def handle(message: events_pb2.IncidentEvent, event: Any) -> None:
            seen.append((message, trace.get_current_span().get_span_context(), list(event.message.headers or [])))

        await consume(stream, decode=proto_decoder(events_pb2.IncidentEvent), handle=handle,
                      dead_letters=faust_dead_letters(app))

    await app.start()
    try:
        async with service_resources("incidents", settings) as res:
            running = await start_grpc("incidents", settings, res, build=incidents_server.build,
                                       policy=incidents_server.POLICY, port=0)
            try:
                yield {"settings": settings, "port": running.port, "seen": seen, "exporter": exporter}
            finally:
                await running.stop(1.0)
    finally:
        await app.stop()


def _by_kind(spans: list[ReadableSpan], trace_id: int, kind: trace.SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.kind == kind and s.context.trace_id == trace_id]


async def test_report_call_outbox_kafka_and_faust_agent_share_one_trace(path: dict[str, Any]) -> None:
    settings, exporter, seen = path["settings"], path["exporter"], path["seen"]
    request = incidents_pb2.ReportIncidentRequest(
        category=resources_pb2.CATEGORY_FLOOD, description="Đường ngập sâu 40cm trước chợ Lái Thiêu",
        location=common_pb2.GeoPoint(lat=10.9046, lon=106.7053, address="Đại lộ Bình Dương, Thuận An"),
        source=resources_pb2.SOURCE_HOTLINE_1022, idempotency_key=f"trace-{uuid.uuid4()}",
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{path['port']}") as channel:
        reply = await incidents_pb2_grpc.IncidentServiceStub(channel).ReportIncident(
            request, metadata=bearer(settings, "call_taker"), timeout=20)
    incident_id = reply.incident.id

    await eventually(lambda: any(m.incident_id == incident_id for m, _, _ in seen), timeout=90)
    message, agent_ctx, raw_headers = next(item for item in seen if item[0].incident_id == incident_id)
    headers = dict(raw_headers)
    spans = list(exporter.get_finished_spans())

    servers = [s for s in spans if s.kind == trace.SpanKind.SERVER and s.name == METHOD]
    assert servers, f"no server span named {METHOD}: {[s.name for s in spans]}"
    server = servers[-1]
    trace_id = server.context.trace_id
    assert server.attributes is not None
    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.service"] == "cityops.incidents.v1.IncidentService"
    assert server.attributes["rpc.method"] == "ReportIncident"
    assert server.attributes["rpc.grpc.status_code"] == 0

    # The handler's queries are asyncpg's CLIENT spans inside the server span.
    queries = [s for s in spans if s.context.trace_id == trace_id and (s.attributes or {}).get("db.system")]
    assert queries, [s.name for s in spans if s.context.trace_id == trace_id]
    assert all((q.attributes or {})["db.system"] == "postgresql" and q.kind == trace.SpanKind.CLIENT
               for q in queries)
    assert any(q.parent is not None and q.parent.span_id == server.context.span_id for q in queries)

    topic = INCIDENT_EVENTS.full_name(settings.topic_prefix)
    event_id = headers[h.EVENT_ID].decode()
    producers = [s for s in _by_kind(spans, trace_id, trace.SpanKind.PRODUCER)
                 if s.attributes and s.attributes.get("messaging.message.id") == event_id]
    assert len(producers) == 1, [s.name for s in spans]
    producer = producers[0]
    assert producer.name == f"{topic} send"
    # Sent later by the relay, yet a child of the request that wrote the outbox row.
    assert producer.parent is not None and producer.parent.span_id == server.context.span_id
    attrs = producer.attributes or {}
    assert attrs["messaging.system"] == "kafka"
    assert attrs["messaging.destination.name"] == topic
    assert attrs["messaging.operation.name"] == "send"
    assert attrs["messaging.kafka.message.key"] == incident_id
    assert int(str(attrs["messaging.destination.partition.id"])) >= 0

    # The record carries the producer span, once, not the request's: consumers hang under the send.
    assert [k for k, _ in raw_headers].count("traceparent") == 1
    traceparent = headers["traceparent"].decode().split("-")
    assert traceparent[1] == format(trace_id, "032x")
    assert traceparent[2] == format(producer.context.span_id, "016x")

    consumers = [s for s in spans if s.kind == trace.SpanKind.CONSUMER
                 and s.attributes and s.attributes.get("messaging.message.id") == event_id]
    assert len(consumers) == 1, [s.name for s in consumers]  # ours; no aiokafka "receive" span beside it
    consumer = consumers[0]
    assert consumer.context.trace_id == trace_id
    assert consumer.name == f"process {topic}"
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    cattrs = consumer.attributes or {}
    assert cattrs["messaging.system"] == "kafka"
    assert cattrs["messaging.operation.type"] == "process"
    assert cattrs["messaging.destination.name"] == topic
    assert cattrs["messaging.consumer.group.name"].endswith("cityops-tracing-probe-worker")
    assert cattrs["messaging.destination.partition.id"] == attrs["messaging.destination.partition.id"]
    # The agent's handler ran inside that consumer span.
    assert agent_ctx.trace_id == trace_id
    assert agent_ctx.span_id == consumer.context.span_id
    assert message.WhichOneof("body") == "reported"
    # Exactly one span per hop: one server span for the call (no hand-written twin).
    assert len([s for s in spans if s.context.trace_id == trace_id and s.kind == trace.SpanKind.SERVER]) == 1
