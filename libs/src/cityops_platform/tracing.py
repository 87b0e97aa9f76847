"""OpenTelemetry: one tracer provider per process, W3C trace context in gRPC metadata and Kafka headers.

Spans are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the exporter package
is installed; otherwise they are still created, so trace ids reach logs and Kafka headers.

``OTEL_SERVICE_NAME`` (and ``OTEL_RESOURCE_ATTRIBUTES``) win over the default name, which is
``cityops-<service>-api`` / ``cityops-<service>-worker`` so the two entry points stay apart.
Span names and attributes follow OpenTelemetry's semantic conventions for RPC (``rpc.*``) and
messaging (``messaging.*``, Kafka): see docs/observability.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)
_configured = False


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


def configure_tracing(service: str) -> None:
    """Install the SDK tracer provider once, named after the service (``incidents-api``, …)."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=service_resource(service))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed")
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """Append the current W3C context (``traceparent``, ``tracestate``) to Kafka headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    out = list(headers or [])
    out.extend((key, value.encode()) for key, value in carrier.items())
    return out


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
    """The active trace id as 32 hex digits, or an empty string outside a span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


# --- semantic conventions -------------------------------------------------------------------

def rpc_span_name(method: str) -> str:
    """``/pkg.Service/Method`` → ``pkg.Service/Method``, the conventional gRPC span name."""
    return method.lstrip("/") or "grpc"


def rpc_attributes(method: str) -> dict[str, str]:
    """``rpc.system``, ``rpc.service`` and ``rpc.method`` for a full gRPC method name."""
    service, _, name = method.lstrip("/").rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


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
    """Kafka messaging attributes; ``operation`` is ``send`` (producer) or ``process`` (consumer).

    ``send`` is the current name of what conventions before 1.28 called ``publish``.
    """
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


_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


def start_send_span(
    destination: str, key: bytes | None, headers: Sequence[tuple[str, bytes]], *, message_id: str | None = None
) -> tuple[trace.Span, list[tuple[str, bytes]]]:
    """A PRODUCER span for one record about to be sent, and the headers that carry it.

    Its parent is the context already in ``headers`` (the request that wrote an outbox row may
    be long gone) or else the active one; the record's ``traceparent`` is replaced by the
    producer span's, so consumers become its children. End the span when the broker acknowledges.
    """
    carried = any(k == "traceparent" for k, _ in headers)
    parent = extract_context(headers) if carried else None
    span = _messaging_tracer.start_span(
        f"send {destination}",
        context=parent,  # type: ignore[arg-type]
        kind=trace.SpanKind.PRODUCER,
        attributes=messaging_attributes("send", destination, key=key, message_id=message_id),
    )
    if not span.get_span_context().is_valid:  # tracing disabled (OTEL_SDK_DISABLED): pass through
        return span, list(headers)
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    out = [(k, v) for k, v in headers if k not in _TRACE_HEADERS]
    out.extend((k, v.encode()) for k, v in carrier.items())
    return span, out


_messaging_tracer = trace.get_tracer("cityops.kafka")
