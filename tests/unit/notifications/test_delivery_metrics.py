"""Delivery outcomes are counted from the DeliveryEvents the outbox publishes."""

from __future__ import annotations

from prometheus_client import REGISTRY

from cityops.notifications.v1 import events_pb2, resources_pb2
from cityops_notifications.deliveries import metrics as m


def _event(channel: int, status: int) -> bytes:
    return events_pb2.DeliveryEvent(event_id="e", delivery=resources_pb2.Delivery(
        id="d", channel=channel, status=status)).SerializeToString()  # type: ignore[arg-type]


def _value(channel: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("cityops_notification_deliveries_total",
                                     {"channel": channel, "outcome": outcome}) or 0.0


def test_each_outcome_is_counted_by_channel() -> None:
    cases = [(resources_pb2.CHANNEL_WEBHOOK, resources_pb2.DELIVERY_STATUS_SENT, "webhook", "sent"),
             (resources_pb2.CHANNEL_SMS, resources_pb2.DELIVERY_STATUS_FAILED, "sms", "failed"),
             (resources_pb2.CHANNEL_EMAIL, resources_pb2.DELIVERY_STATUS_DEAD_LETTERED, "email", "dead_lettered"),
             (resources_pb2.CHANNEL_SMS, resources_pb2.DELIVERY_STATUS_SUPPRESSED, "sms", "suppressed")]
    for channel, status, channel_label, outcome in cases:
        before = _value(channel_label, outcome)
        m.observe_delivery_event(_event(channel, status))
        assert _value(channel_label, outcome) == before + 1, outcome


def test_a_new_or_replayed_pending_delivery_is_not_an_outcome() -> None:
    before = _value("webhook", "pending")
    m.observe_delivery_event(_event(resources_pb2.CHANNEL_WEBHOOK, resources_pb2.DELIVERY_STATUS_PENDING))
    assert _value("webhook", "pending") == before == 0.0
