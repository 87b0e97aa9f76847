"""Prometheus metrics: RED (rate, errors, duration) for RPCs, stream, outbox, consumer lag and auth.

The catalogue (with the domain metrics the services define next to their concepts) is in
docs/observability.md; the chart's alert rules and dashboard use only names exported here or there.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

GRPC_REQUESTS = Counter(
    "cityops_grpc_requests_total", "gRPC requests handled, by final status code", ["method", "code"]
)
GRPC_LATENCY = Histogram(
    "cityops_grpc_request_duration_seconds",
    "gRPC request handling time",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
GRPC_IN_FLIGHT = Gauge("cityops_grpc_in_flight", "gRPC requests being handled", ["method"])
AUTH_DENIALS = Counter(
    "cityops_auth_denials_total",
    "Calls refused by authentication or RBAC; reason is one of missing_token, malformed_header, "
    "expired_token, invalid_token, unknown_key, jwks_unavailable, role_not_allowed, method_closed",
    ["method", "code", "reason"],
)
EVENTS_CONSUMED = Counter(
    "cityops_events_consumed_total", "Kafka records processed by agents", ["topic", "outcome"]
)
DEAD_LETTERS = Counter(
    "cityops_dead_letters_total", "Records sent to a dead-letter topic", ["topic", "reason"]
)
OUTBOX_PUBLISHED = Counter(
    "cityops_outbox_published_total", "Outbox rows published to Kafka", ["schema", "topic"]
)
OUTBOX_PENDING = Gauge("cityops_outbox_pending", "Outbox rows not yet published", ["schema"])
OUTBOX_OLDEST_AGE = Gauge(
    "cityops_outbox_oldest_pending_age_seconds",
    "Age of the oldest outbox row not yet published (0 when the outbox is drained)",
    ["schema"],
)
CONSUMER_LAG = Gauge(
    "cityops_consumer_lag",
    "Records a Faust worker's consumer group has not yet committed, per assigned partition "
    "(high watermark minus committed offset)",
    ["group", "topic", "partition"],
)
ERRORS_SWALLOWED = Counter(
    "cityops_errors_logged_total", "Errors logged and handled without crashing", ["where"]
)


def start_metrics_server(port: int, host: str = "0.0.0.0") -> None:
    """Serve /metrics on ``port``; a port already taken is logged, not fatal."""
    try:
        start_http_server(port, addr=host)
        log.info("metrics listening", extra={"port": port})
    except OSError as exc:
        ERRORS_SWALLOWED.labels("metrics_server").inc()
        log.warning("metrics port unavailable", extra={"port": port, "error": str(exc)})
