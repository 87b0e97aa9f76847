"""The shared gRPC runtime over a real channel: health, reflection, auth, errors, metrics, tracing.

The servicer here is a small test double of IncidentService whose only rule is "description is
required"; the runtime around it (interceptors, outbox, relay, broker) is the real one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cityops.incidents.v1 import events_pb2, incidents_pb2, incidents_pb2_grpc, resources_pb2
from cityops_devtools.testing import bearer, consume, free_port, make_settings, status_details
from cityops_platform import auth, errors
from cityops_platform.db import outbox
from cityops_platform.db.migrations import migrate
from cityops_platform.grpc.server import GrpcService
from cityops_platform.kafka import headers as h
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.metrics import start_metrics_server
from cityops_platform.runtime import Resources, service_resources, start_grpc
from cityops_platform.settings import Settings
from cityops_platform.tracing import configure_tracing

pytestmark = pytest.mark.integration
SERVICE = "cityops.incidents.v1.IncidentService"
SCHEMA = "incidents"


class FakeIncidents(incidents_pb2_grpc.IncidentServiceServicer):
    def __init__(self, res: Resources) -> None:
        self.res = res

    async def ReportIncident(self, request, context):  # noqa: N802
        if not request.description.strip():
            raise errors.ValidationFailed(
                [errors.FieldViolation("description", "bắt buộc (required)")]
            )
        incident_id = str(uuid.uuid4())
        async with self.res.db.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO probe (id, actor) VALUES ($1, $2)",
                               incident_id, auth.current_principal().subject)
            record = outbox.outbox_record(
                topic=INCIDENT_EVENTS.name, key=incident_id, message=events_pb2.IncidentEvent(incident_id=incident_id),
                event_type="IncidentReported", producer="incidents",
            )
            await outbox.enqueue(conn, record, schema=SCHEMA)
        return incidents_pb2.ReportIncidentResponse(
            incident=resources_pb2.Incident(id=incident_id, description=request.description)
        )

    async def GetIncident(self, request, context):  # noqa: N802
        raise errors.NotFound("incident", request.id)


POLICY = auth.AccessPolicy.for_service(
    SERVICE, {"ReportIncident": ["call_taker", "operator"], "GetIncident": auth.STAFF}
)


@pytest.fixture
async def stack(kafka_bootstrap: str, topic_prefix: str, database_url: str) -> AsyncIterator[tuple[Settings, int]]:
    configure_tracing("platform-test", enable=True)
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                             database_url=database_url)
    await migrate(database_url, SCHEMA, None)
    import asyncpg

    conn = await asyncpg.connect(database_url)
    await conn.execute(f"CREATE TABLE {SCHEMA}.probe (id text PRIMARY KEY, actor text NOT NULL)")
    await conn.close()
    async with service_resources(SCHEMA, settings) as res:
        running = await start_grpc(
            SCHEMA, settings, res, policy=POLICY, port=0,
            build=lambda r: [GrpcService(SERVICE, FakeIncidents(r),
                                         incidents_pb2_grpc.add_IncidentServiceServicer_to_server)],
        )
        try:
            yield settings, running.port
        finally:
            await running.stop(1.0)


def request(description: str = "Ngập sâu 40cm trên đường Nguyễn Văn Tiết") -> incidents_pb2.ReportIncidentRequest:
    return incidents_pb2.ReportIncidentRequest(description=description, idempotency_key=str(uuid.uuid4()))


async def test_health_answers_serving_and_reflection_lists_the_service(stack) -> None:
    _, port = stack
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = [s.name async for r in responses for s in r.list_services_response.service]
    assert SERVICE in names
    assert "grpc.health.v1.Health" in names


async def _refused(stack: Any, call: Callable[[Any], Awaitable[Any]]) -> grpc.aio.AioRpcError:
    """The error ``call(stub)`` fails with on the stack's incidents api (the test fails if it succeeds)."""
    _, port = stack
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(stub)
    return err.value


async def test_missing_token_is_unauthenticated(stack) -> None:
    err = await _refused(stack, lambda stub: stub.ReportIncident(request()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_expired_or_forged_token_is_unauthenticated(stack) -> None:
    settings, _ = stack
    expired = bearer(settings, "call_taker", ttl=-10)
    forged_settings = settings.model_copy(update={"jwt_secret": "another-secret-that-is-long-enough-000"})
    forged = bearer(forged_settings, "call_taker")
    for metadata in (expired, forged, (("authorization", "Basic abc"),)):
        err = await _refused(stack, lambda stub, md=metadata: stub.ReportIncident(request(), metadata=md))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_role_is_permission_denied(stack) -> None:
    settings, _ = stack
    metadata = bearer(settings, "sensor_gateway")
    err = await _refused(stack, lambda stub: stub.ReportIncident(request(), metadata=metadata))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_method_missing_from_policy_is_denied_even_to_admin(stack) -> None:
    settings, _ = stack
    err = await _refused(stack, lambda stub: stub.AddNote(incidents_pb2.AddNoteRequest(id="x", text="y"),
                                                          metadata=bearer(settings, "admin")))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_validation_error_is_invalid_argument_with_field_violations(stack) -> None:
    settings, _ = stack
    metadata = bearer(settings, "call_taker")
    err = await _refused(stack, lambda stub: stub.ReportIncident(request("   "), metadata=metadata))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(err)] == ["description"]


async def test_not_found_maps_to_not_found(stack) -> None:
    settings, _ = stack
    err = await _refused(stack, lambda stub: stub.GetIncident(incidents_pb2.GetIncidentRequest(id="nope"),
                                                              metadata=bearer(settings, "operator")))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_trace_id_of_the_call_reaches_the_kafka_record_headers(stack) -> None:
    settings, port = stack
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        reply = await stub.ReportIncident(
            request(), metadata=(*bearer(settings, "call_taker"), ("traceparent", traceparent))
        )
    records = await consume(settings, INCIDENT_EVENTS.name, count=1,
                            predicate=lambda r: r.key == reply.incident.id.encode())
    assert len(records) == 1
    headers = dict(records[0].headers)
    assert headers["traceparent"].decode().split("-")[1] == trace_id
    assert headers[h.EVENT_TYPE] == b"IncidentReported"
    assert headers[h.EVENT_ID]


async def test_metrics_endpoint_serves_red_metrics(stack) -> None:
    settings, port = stack
    metrics_port = free_port()
    start_metrics_server(metrics_port, host="127.0.0.1")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        await stub.ReportIncident(request(), metadata=bearer(settings, "call_taker"))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.ReportIncident(request(), metadata=bearer(settings, "citizen"))
    await asyncio.sleep(0.05)
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    method = f"/{SERVICE}/ReportIncident"
    assert f'cityops_grpc_requests_total{{code="OK",method="{method}"}}' in body
    assert f'cityops_grpc_requests_total{{code="PERMISSION_DENIED",method="{method}"}}' in body
    assert f'cityops_grpc_request_duration_seconds_count{{method="{method}"}}' in body
