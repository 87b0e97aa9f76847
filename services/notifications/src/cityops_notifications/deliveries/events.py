"""Delivery → protobuf, and DeliveryEvent records through the outbox (main topic and DLQ)."""

from __future__ import annotations

import uuid

import asyncpg

from cityops.common.v1 import common_pb2
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_notifications.deliveries.models import DEAD_LETTERED, Delivery
from cityops_platform.codecs import timestamp_or_none
from cityops_platform.db import outbox
from cityops_platform.kafka.topics import NOTIFICATION_DELIVERIES

SCHEMA = "notifications"
SYSTEM_ACTOR = ("system:notifications", "system")
_EVENT_TYPES = {
    "PENDING": "DeliveryCreated",
    "SENT": "DeliverySent",
    "FAILED": "DeliveryFailed",
    "DEAD_LETTERED": "DeliveryDeadLettered",
    "SUPPRESSED": "DeliverySuppressed",
}


_ts = timestamp_or_none


def status_pb(status: str) -> int:
    return int(pb.DeliveryStatus.Value(f"DELIVERY_STATUS_{status}"))


def delivery_pb(d: Delivery) -> pb.Delivery:
    msg = pb.Delivery(
        id=d.id, subscription_id=d.subscription_id, event_id=d.event_id, status=status_pb(d.status),  # type: ignore[arg-type]
        attempts=d.attempts, last_error=d.last_error, channel=pb.Channel.Value(f"CHANNEL_{d.channel}"),
        event_type=d.event_type, address_masked=d.address_masked, language=d.language,
        max_attempts=d.max_attempts, source_topic=d.source_topic, parts=d.parts,
    )
    for name, value in (("next_attempt_at", d.next_attempt_at), ("sent_at", d.sent_at),
                        ("created_at", d.created_at), ("updated_at", d.updated_at)):
        ts = _ts(value)
        if ts is not None:
            getattr(msg, name).CopyFrom(ts)
    return msg


def records(
    delivery: Delivery, *, previous: str | None, actor: tuple[str, str] = SYSTEM_ACTOR, replayed: bool = False,
) -> list[outbox.OutboxRecord]:
    """The outbox records of a DeliveryEvent (key: delivery id); a dead letter is also recorded on
    the DLQ topic."""
    event_type = "DeliveryReplayed" if replayed else _EVENT_TYPES[delivery.status]
    out = []
    for topic in (NOTIFICATION_DELIVERIES.name, *([NOTIFICATION_DELIVERIES.dlq.name]
                                                  if delivery.status == DEAD_LETTERED else [])):
        event_id = str(uuid.uuid4())
        message = pb.DeliveryEvent(
            event_id=event_id, delivery=delivery_pb(delivery), replayed=replayed,
            previous_status=status_pb(previous) if previous else 0,  # type: ignore[arg-type]
            actor=common_pb2.Actor(subject=actor[0], role=actor[1]),
        )
        message.occurred_at.GetCurrentTime()
        out.append(outbox.outbox_record(topic=topic, key=delivery.id, message=message, event_type=event_type,
                                        producer="notifications", event_id=event_id))
    return out


async def publish(
    conn: asyncpg.Connection,
    delivery: Delivery,
    *,
    previous: str | None,
    actor: tuple[str, str] = SYSTEM_ACTOR,
    replayed: bool = False,
) -> None:
    """Enqueue the DeliveryEvent of ``delivery`` (see ``records``) inside the caller's transaction."""
    await outbox.enqueue_records(conn, records=records(delivery, previous=previous, actor=actor, replayed=replayed),
                                 schema=SCHEMA)
