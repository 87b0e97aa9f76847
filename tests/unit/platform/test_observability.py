"""Tracing names and attributes, auth denial reasons and the consumer-lag rule, without a network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from cityops_platform import auth
from cityops_platform.faust_app import record_consumer_lag
from cityops_platform.tracing import rpc_attributes, rpc_span_name, service_resource, start_send_span

SECRET = "a-test-secret-that-is-long-enough-0123"


def test_service_name_defaults_to_the_entry_point_when_otel_service_name_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    api = service_resource("incidents-api").attributes
    worker = service_resource("incidents-worker").attributes
    assert api["service.name"] == "cityops-incidents-api"
    assert worker["service.name"] == "cityops-incidents-worker"
    assert api["service.namespace"] == "cityops"


def test_otel_service_name_and_resource_attributes_win_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ioc-incidents-api-blue")
    assert service_resource("incidents-api").attributes["service.name"] == "ioc-incidents-api-blue"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,deployment.environment=staging")
    attributes = service_resource("incidents-worker").attributes
    assert attributes["service.name"] == "from-attributes"
    assert attributes["deployment.environment"] == "staging"


def test_rpc_span_name_and_attributes_follow_the_grpc_conventions() -> None:
    method = "/cityops.incidents.v1.IncidentService/ReportIncident"
    assert rpc_span_name(method) == "cityops.incidents.v1.IncidentService/ReportIncident"
    assert rpc_attributes(method) == {"rpc.system": "grpc", "rpc.service": "cityops.incidents.v1.IncidentService",
                                      "rpc.method": "ReportIncident"}


@pytest.fixture(scope="module")
def sdk_tracer() -> trace.Tracer:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    return trace.get_tracer("test")


def test_send_span_continues_the_stored_context_and_replaces_traceparent(sdk_tracer: trace.Tracer) -> None:
    stored = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = [("cityops-event-id", b"e-1"), ("traceparent", stored.encode())]
    span, sent = start_send_span("cityops.incidents.events.v1", b"inc-1", headers, message_id="e-1")
    span.end()
    ctx = span.get_span_context()
    assert format(ctx.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"  # type: ignore[attr-defined]
    carried = [v.decode() for k, v in sent if k == "traceparent"]
    assert carried == [f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"]
    assert ("cityops-event-id", b"e-1") in sent
    attributes = span.attributes  # type: ignore[attr-defined]
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.operation.type"] == "send"
    assert attributes["messaging.destination.name"] == "cityops.incidents.events.v1"
    assert attributes["messaging.kafka.message.key"] == "inc-1"
    assert span.kind == trace.SpanKind.PRODUCER  # type: ignore[attr-defined]


def test_send_span_without_stored_context_is_a_child_of_the_active_span(sdk_tracer: trace.Tracer) -> None:
    with sdk_tracer.start_as_current_span("request") as request:
        span, sent = start_send_span("cityops.sensors.alerts.v1", None, [])
        span.end()
    assert span.get_span_context().trace_id == request.get_span_context().trace_id
    assert [k for k, _ in sent] == ["traceparent"]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [(None, "missing_token"), ("Basic abc", "malformed_header"), ("Bearer not-a-jwt", "invalid_token")],
)
def test_unauthenticated_calls_carry_a_fixed_reason_for_the_metric(authorization: str | None, reason: str) -> None:
    codec = auth.TokenCodec(SECRET, issuer="cityops", audience="cityops")
    with pytest.raises(auth.AuthError) as err:
        codec.principal_from_metadata(authorization)
    assert err.value.reason == reason


def test_expired_token_and_policy_refusals_carry_their_reasons() -> None:
    codec = auth.TokenCodec(SECRET, issuer="cityops", audience="cityops")
    with pytest.raises(auth.AuthError) as expired:
        codec.principal_from_metadata(f"Bearer {codec.issue('u', ['operator'], ttl_seconds=-30)}")
    assert expired.value.reason == "expired_token"
    policy = auth.AccessPolicy.for_service("s.v1.S", {"Read": ["operator"]})
    principal = codec.verify(codec.issue("u", ["citizen"], ttl_seconds=60))
    with pytest.raises(auth.AccessDenied) as role:
        policy.check("/s.v1.S/Read", principal)
    assert role.value.reason == "role_not_allowed"
    with pytest.raises(auth.AccessDenied) as closed:
        policy.check("/s.v1.S/Write", principal)
    assert closed.value.reason == "method_closed"


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    """The three things record_consumer_lag reads from Faust's consumer."""

    assigned: set[TP]
    high: dict[TP, int | None]
    _committed_offset: dict[TP, int | None] = field(default_factory=dict)

    def assignment(self) -> set[TP]:
        return self.assigned

    def highwater(self, tp: TP) -> int | None:
        return self.high.get(tp)


@dataclass
class FakeApp:
    consumer: FakeConsumer
    conf: Any = None


def _lag(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value("cityops_consumer_lag",
                                     {"group": group, "topic": topic, "partition": str(partition)})


def test_consumer_lag_is_high_watermark_minus_committed_and_follows_the_assignment() -> None:
    a, b, c = TP("t.in", 0), TP("t.in", 1), TP("t.in", 2)
    consumer = FakeConsumer(assigned={a, b, c}, high={a: 120, b: 7, c: None}, _committed_offset={a: 100, b: None})
    app = FakeApp(consumer, conf=type("Conf", (), {"id": "g-lag"})())
    reported: set[tuple[str, str, str]] = set()
    lags = record_consumer_lag(app, reported)  # type: ignore[arg-type]
    # Nothing committed yet: all 7 records are lag; no high watermark seen yet: not reported.
    assert lags == {("t.in", 0): 20, ("t.in", 1): 7}
    assert _lag("g-lag", "t.in", 0) == 20 and _lag("g-lag", "t.in", 1) == 7
    assert _lag("g-lag", "t.in", 2) is None
    # A rebalance takes partition 0 away: its series disappears instead of freezing.
    consumer.assigned = {b}
    consumer._committed_offset[b] = 7
    record_consumer_lag(app, reported)  # type: ignore[arg-type]
    assert _lag("g-lag", "t.in", 0) is None
    assert _lag("g-lag", "t.in", 1) == 0
