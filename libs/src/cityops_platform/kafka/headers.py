"""Kafka record headers: event id, event type, producer and W3C trace context."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cityops_platform.tracing import inject_headers

EVENT_ID = "cityops-event-id"
EVENT_TYPE = "cityops-event-type"
PRODUCER = "cityops-producer"
TRACEPARENT = "traceparent"
# Dead-letter headers: where the record came from and why it failed.
DLQ_ERROR = "cityops-dlq-error"
DLQ_REASON = "cityops-dlq-reason"
DLQ_TOPIC = "cityops-dlq-source-topic"
DLQ_PARTITION = "cityops-dlq-source-partition"
DLQ_OFFSET = "cityops-dlq-source-offset"


def event_headers(event_id: str, event_type: str, producer: str) -> list[tuple[str, bytes]]:
    """Headers for a new event, including the active trace context."""
    return inject_headers(
        [(EVENT_ID, event_id.encode()), (EVENT_TYPE, event_type.encode()), (PRODUCER, producer.encode())]
    )


def header_value(headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None, name: str) -> str | None:
    """The decoded value of header ``name``, or None."""
    if not headers:
        return None
    items: Iterable[tuple[str, bytes]] = headers.items() if isinstance(headers, dict) else headers
    for key, value in items:
        if key == name:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None
