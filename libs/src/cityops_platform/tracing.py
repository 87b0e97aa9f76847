"""OpenTelemetry: one tracer provider per process, W3C trace context in gRPC metadata and Kafka headers.

Spans are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the exporter package
is installed; otherwise they are still created, so trace ids reach logs and Kafka headers.
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


def configure_tracing(service: str) -> None:
    """Install the SDK tracer provider once, named after the service."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"cityops-{service}"}))
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
