"""OpenTelemetry: off unless asked for; when on, the contrib instrumentations plus one span of our own.

**Off by default, and then free.** Tracing is on when the process is told where to send spans
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER=otlp|console``) and ``OTEL_SDK_DISABLED`` is not ``true``. When it is off,
nothing is installed: no tracer provider, no wrapper around asyncpg, httpx or aiokafka, no gRPC
interceptor, and our own code skips its span and header work behind ``enabled()``. The
hot paths run exactly the code they would run without OpenTelemetry.

**On.** One SDK tracer provider per process, exported over OTLP (batch processor), and the
OpenTelemetry contrib instrumentations, each the only span of its hop:

- gRPC server and client: ``opentelemetry-instrumentation-grpc`` aio interceptors
  (``server_interceptors()``, ``client_interceptors()``; health and reflection are not traced);
- Postgres: ``opentelemetry-instrumentation-asyncpg``;
- HTTP out (webhooks, SMS gateway): ``opentelemetry-instrumentation-httpx``;
- Kafka produce: ``opentelemetry-instrumentation-aiokafka`` (its ``send`` wrapper only: Faust
  polls in its own loop and hands records to agents later, so the consumer side is our span);
- the gateway's HTTP server: ``opentelemetry-instrumentation-asgi`` (``asgi_middleware()``).

The one span of our own is the CONSUMER ``process <topic>`` span around a Faust agent's handling
of one record (``kafka/deadletter.py``), which no instrumentation has: see docs/observability.md.

``OTEL_SERVICE_NAME`` (and ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) win over the default
name, ``cityops-<service>-api`` / ``cityops-<service>-worker`` / ``cityops-gateway``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

log = logging.getLogger(__name__)
_enabled = False
_instrumented = False

# Services whose calls are never traced: probes would flood the traces.
UNTRACED_GRPC_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)
# Gateway paths never traced (probes, the console's static files).
UNTRACED_HTTP_PATHS = "/livez,/readyz,/healthz,/static/.*"


def wanted_from_environment(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment asks for spans to be exported and does not disable the SDK."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return True
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",")}
    return bool(exporters & {"otlp", "console"})


def enabled() -> bool:
    """Whether this process traces (``configure_tracing`` decided it)."""
    return _enabled


def service_resource(service: str) -> Resource:
    """The process's resource: ``OTEL_SERVICE_NAME`` when set, else ``cityops-<service>``."""
    attributes: dict[str, str] = {"service.namespace": "cityops"}
    named = os.environ.get("OTEL_SERVICE_NAME", "").strip() or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", "")
    if not named:
        attributes["service.name"] = f"cityops-{service}"
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME under these attributes,
    # so service.name is passed only when the environment does not name the service.
    return Resource.create(attributes)


def configure_tracing(service: str, *, enable: bool | None = None, span_processors: Sequence[Any] = ()) -> bool:
    """Decide whether this process traces and, if so, install the SDK and the instrumentations.

    ``enable`` overrides the environment (tests); ``span_processors`` are added to the provider
    (tests add an in-memory exporter). Returns whether tracing is on. Safe to call again: the
    provider and the instrumentations are installed once per process.
    """
    global _enabled
    if not (wanted_from_environment() if enable is None else enable):
        return _enabled
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        from opentelemetry.sdk.trace import sampling

        # OTEL_TRACES_SAMPLER* as usual, minus the queries of background loops (below).
        sampler = NoRootDatabaseSpans(sampling._get_from_env_or_default())
        provider = TracerProvider(resource=service_resource(service), sampler=sampler)
        if wanted_from_environment():
            _add_environment_exporter(provider)
        trace.set_tracer_provider(provider)
    for processor in span_processors:
        provider.add_span_processor(processor)
    # HTTP spans with the stable conventions (http.request.method, http.response.status_code, url.*);
    # database spans keep db.system (the stable db.system.name is still opt-in for asyncpg).
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    _instrument_libraries()
    _enabled = True
    return True


class NoRootDatabaseSpans(Sampler):
    """A sampler that drops database spans with no parent, else asks ``delegate``.

    A query outside every request or record is a background loop's: the outbox relay's poll, the
    readiness probe's ``SELECT 1``, the SLA sweeps, the gauges. Traced, each would be a one-span
    trace every few seconds per process, burying the traces of real work.
    """

    def __init__(self, delegate: Any) -> None:
        self._delegate = delegate

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
        if attributes and ("db.system" in attributes or "db.system.name" in attributes) and not (
                trace.get_current_span(parent_context).get_span_context().is_valid):
            return SamplingResult(Decision.DROP)
        result: SamplingResult = self._delegate.should_sample(parent_context, trace_id, name, kind, attributes,
                                                              links, trace_state)
        return result

    def get_description(self) -> str:
        return f"NoRootDatabaseSpans{{{self._delegate.get_description()}}}"


def _add_environment_exporter(provider: Any) -> None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    exporters = {e.strip().lower() for e in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if "console" in exporters:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    if "otlp" in exporters:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("tracing asked for but the OTLP exporter is not installed")
            return
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))


def _instrument_libraries() -> None:
    """asyncpg, httpx and aiokafka's producer, wrapped once per process."""
    global _instrumented
    if _instrumented:
        return
    import aiokafka
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.utils import unwrap

    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument()
    AIOKafkaInstrumentor().instrument(async_produce_hook=_message_id_hook)
    # The consumer half is not used: Faust's fetcher polls with getmany() in batches, ahead of the
    # agents, so its "receive" spans would be a second consumer span per record, not the processing.
    unwrap(aiokafka.AIOKafkaConsumer, "getone")
    unwrap(aiokafka.AIOKafkaConsumer, "getmany")
    _instrumented = True


async def _message_id_hook(span: trace.Span, args: Any, kwargs: Any) -> None:
    """Adds ``messaging.message.id`` (our event id header) to the aiokafka producer span."""
    for key, value in kwargs.get("headers") or ():
        if key == "cityops-event-id" and value:
            span.set_attribute("messaging.message.id", bytes(value).decode(errors="replace"))
            return


def server_interceptors() -> list[Any]:
    """The contrib aio server interceptor (outermost, before ours), or none when tracing is off."""
    if not _enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor
    from opentelemetry.instrumentation.grpc.filters import any_of, negate, service_name

    untraced = negate(any_of(*(service_name(s) for s in UNTRACED_GRPC_SERVICES)))
    return [aio_server_interceptor(filter_=untraced)]  # type: ignore[no-untyped-call]


def client_interceptors() -> list[Any]:
    """The contrib aio client interceptors (they also carry the W3C context), or none when off."""
    if not _enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors
    from opentelemetry.instrumentation.grpc.filters import any_of, negate, service_name

    untraced = negate(any_of(*(service_name(s) for s in UNTRACED_GRPC_SERVICES)))
    return list(aio_client_interceptors(filter_=untraced))  # type: ignore[no-untyped-call]


def asgi_middleware() -> list[tuple[Any, dict[str, Any]]]:
    """The contrib ASGI server-span middleware and its options (outermost), or none when off.

    Only the server span: the per-message ``http send``/``receive`` spans are left out (an SSE
    stream would get one per event); probes and static files are not traced.
    """
    if not _enabled:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [(OpenTelemetryMiddleware, {"excluded_urls": UNTRACED_HTTP_PATHS, "exclude_spans": ["receive", "send"]})]


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """Append the current W3C context (``traceparent``, ``tracestate``) to Kafka headers (when on)."""
    out = list(headers or [])
    if not _enabled:
        return out
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    out.extend((key, value.encode()) for key, value in carrier.items())
    return out


_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


def split_trace_headers(headers: Sequence[tuple[str, bytes]]) -> tuple[object, list[tuple[str, bytes]]]:
    """The context stored in ``headers`` (or the active one) and the headers without it.

    The aiokafka instrumentation appends the producer span's ``traceparent``; the stored one (the
    request that wrote an outbox row, long gone when the relay sends it) becomes that span's parent.
    """
    carried = any(k == "traceparent" for k, _ in headers)
    context = extract_context(headers) if carried else None
    return context, [(k, v) for k, v in headers if k not in _TRACE_HEADERS]


def extract_context(
    headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | Iterable[tuple[str, str]] | None,
) -> object:
    """The OpenTelemetry context carried in Kafka headers or gRPC metadata."""
    carrier: dict[str, str] = {}
    if headers is None:
        return propagate.extract(carrier)
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        carrier[key.lower()] = value.decode() if isinstance(value, bytes) else str(value)
    return propagate.extract(carrier)


def current_trace_id() -> str:
    """The active trace id as 32 hex digits, or an empty string outside a span (or when off)."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


def messaging_attributes(
    operation: str,
    destination: str,
    *,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    message_id: str | None = None,
    group: str | None = None,
) -> dict[str, str | int]:
    """Kafka messaging attributes (semantic conventions 1.27+) for our ``process`` consumer span."""
    attrs: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.destination.name": destination,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }
    if partition is not None:
        attrs["messaging.destination.partition.id"] = str(partition)
    if offset is not None:
        attrs["messaging.kafka.offset"] = offset
    if key:
        attrs["messaging.kafka.message.key"] = key.decode(errors="replace")
    if message_id:
        attrs["messaging.message.id"] = message_id
    if group:
        attrs["messaging.consumer.group.name"] = group
    return attrs
