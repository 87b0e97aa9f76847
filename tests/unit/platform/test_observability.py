"""Tracing switches and names, auth denial reasons and the consumer-lag rule, without a network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from prometheus_client import REGISTRY

from cityops_platform import auth
from cityops_platform.faust_app import record_consumer_lag
from cityops_platform.tracing import service_resource, split_trace_headers, wanted_from_environment

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


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_the_environment_names_an_exporter(environ: dict[str, str], wanted: bool) -> None:
    assert wanted_from_environment(environ) is wanted


def test_split_trace_headers_returns_the_stored_context_and_the_rest() -> None:
    stored = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = [("cityops-event-id", b"e-1"), ("traceparent", stored.encode()), ("tracestate", b"k=v")]
    context, rest = split_trace_headers(headers)
    assert rest == [("cityops-event-id", b"e-1")]
    parent = trace.get_current_span(context).get_span_context()  # type: ignore[arg-type]
    assert format(parent.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(parent.span_id, "016x") == "b7ad6b7169203331"
    assert split_trace_headers([("cityops-event-id", b"e-2")]) == (None, [("cityops-event-id", b"e-2")])


_PROBE = """
import json, aiokafka, asyncpg.connection, httpx
from opentelemetry import trace
from cityops_platform import tracing
from cityops_platform.grpc.client import create_channel
from cityops_platform.settings import Settings
on = tracing.configure_tracing("probe-api")
wrapped = lambda f: hasattr(f, "__wrapped__")
print(json.dumps({
    "on": on,
    "provider": type(trace.get_tracer_provider()).__name__,
    "service_name": trace.get_tracer_provider().resource.attributes["service.name"] if on else None,
    "asyncpg_fetch": wrapped(asyncpg.connection.Connection.fetch),
    "httpx_async": wrapped(httpx.AsyncHTTPTransport.handle_async_request),
    "producer_send": wrapped(aiokafka.AIOKafkaProducer.send),
    "consumer_getmany": wrapped(aiokafka.AIOKafkaConsumer.getmany),
    "server_interceptors": len(tracing.server_interceptors()),
    "client_interceptors": len(tracing.client_interceptors()),
    "asgi": len(tracing.asgi_middleware()),
}))
"""


def _probe(**env: str) -> dict[str, Any]:
    import json
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tracing_off_installs_nothing_so_the_hot_paths_are_untouched() -> None:
    # A fresh process, as a service starts: no provider, no wrapper, no interceptor, no middleware.
    got = _probe()
    assert got == {"on": False, "provider": "ProxyTracerProvider", "service_name": None, "asyncpg_fetch": False,
                   "httpx_async": False, "producer_send": False, "consumer_getmany": False,
                   "server_interceptors": 0, "client_interceptors": 0, "asgi": 0}
    assert _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true")["asyncpg_fetch"] is False


def test_tracing_on_installs_the_contrib_instrumentations_and_not_the_consumer_poll_spans() -> None:
    got = _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SERVICE_NAME="ioc-probe")
    assert got == {"on": True, "provider": "TracerProvider", "service_name": "ioc-probe", "asyncpg_fetch": True,
                   "httpx_async": True, "producer_send": True, "consumer_getmany": False,
                   "server_interceptors": 1, "client_interceptors": 4, "asgi": 1}


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
