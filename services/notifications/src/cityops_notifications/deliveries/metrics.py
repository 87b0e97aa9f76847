"""Delivery outcomes as a metric, taken from the DeliveryEvents the outbox relay publishes.

Every status change of a delivery (SENT, FAILED and retried, DEAD_LETTERED, SUPPRESSED by a rate
limit) already leaves as a DeliveryEvent through the outbox; counting there counts each outcome
once, in whichever process published it, without touching the sender.
"""

from __future__ import annotations

from prometheus_client import Counter

from cityops.notifications.v1 import events_pb2, resources_pb2
from cityops_platform.db import outbox
from cityops_platform.kafka.topics import NOTIFICATION_DELIVERIES

DELIVERIES = Counter(
    "cityops_notification_deliveries_total",
    "Delivery attempts by channel (webhook, email, sms) and outcome (sent, failed = will retry, "
    "dead_lettered = gave up, suppressed = rate limited)",
    ["channel", "outcome"],
)


def _name(enum: object, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix).lower()  # type: ignore[attr-defined]
    except ValueError:
        return "unspecified"


def observe_delivery_event(value: bytes, _headers: object = None) -> None:
    """Count one published DeliveryEvent by channel and outcome (a new or replayed PENDING is no outcome)."""
    event = events_pb2.DeliveryEvent()
    event.ParseFromString(value)
    status = event.delivery.status
    if status in (resources_pb2.DELIVERY_STATUS_PENDING, resources_pb2.DELIVERY_STATUS_UNSPECIFIED):
        return
    DELIVERIES.labels(_name(resources_pb2.Channel, event.delivery.channel, "CHANNEL_"),
                      _name(resources_pb2.DeliveryStatus, status, "DELIVERY_STATUS_")).inc()


def install() -> None:
    """Observe DeliveryEvents as this process's outbox relay publishes them (idempotent)."""
    outbox.observe_published(NOTIFICATION_DELIVERIES.name, "delivery-metrics", observe_delivery_event)
