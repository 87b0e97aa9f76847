"""The worker's cached subscriptions against the real api, worker, Kafka and Postgres: a subscription
created (or deleted) and acknowledged applies to every event published after the acknowledgement,
even when the event follows the acknowledgement immediately and the worker's copy was fresh a moment
before (docs/reliability.md, "subscription changes")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as ev
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.testing import eventually
from cityops_platform.kafka.topics import INCIDENT_EVENTS

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]
ROUNDS = 3
FIRST = 60.0  # the package's first test also waits for the worker to join its consumer group


def reported(incident_id: str) -> ev.IncidentEvent:
    event = ev.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=incident_id, incident=ev.Incident(
        id=incident_id, number=f"BD-20261202-{incident_id[:6]}", category=ev.CATEGORY_FLOOD,
        priority=ev.PRIORITY_P3, status=ev.STATUS_NEW, description="Ngập nhẹ trước chợ", report_count=1,
        agency=common_pb2.AGENCY_PUBLIC_WORKS, district="Thủ Dầu Một",
        location=common_pb2.GeoPoint(lat=10.9804, lon=106.6519, address="Chợ Thủ Dầu Một")))
    event.occurred_at.GetCurrentTime()
    event.reported.SetInParent()
    return event


def follow(stack: Any, path: str, incident_id: str) -> pb.CreateSubscriptionRequest:
    return pb.CreateSubscriptionRequest(subscription=pb.Subscription(
        channel=pb.CHANNEL_WEBHOOK, address=stack.webhooks.url(path), secret="whsec-" + uuid.uuid4().hex,
        filter=pb.SubscriptionFilter(incident_id=incident_id)))


def event_ids(stack: Any, path: str) -> list[str]:
    import json

    return [json.loads(body)["event_id"] for _, body in stack.webhooks.requests.get(path, [])]


async def sent(stack: Any, path: str, event_id: str, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    await eventually(lambda: event_id in event_ids(stack, path), timeout=timeout)


async def test_created_and_deleted_subscriptions_apply_to_the_next_event_at_once(stack: Any) -> None:
    for round_ in range(ROUNDS):
        incident = str(uuid.uuid4())
        sentinel, watched = f"/hook/change/{incident}/sentinel", f"/hook/change/{incident}/watched"
        auth = stack.auth("integrator", "change-partner")
        await stack.stub.CreateSubscription(follow(stack, sentinel, incident), metadata=auth)

        # The worker handles an event first, so its copy of the subscriptions is fresh when the
        # subscription below is created; the next event follows the acknowledgement at once.
        warm = reported(incident)
        await stack.produce(INCIDENT_EVENTS.name, warm, key=incident, partition=0)
        await sent(stack, sentinel, warm.event_id, timeout=FIRST if round_ == 0 else 30.0)

        created = await stack.stub.CreateSubscription(follow(stack, watched, incident), metadata=auth)
        after_create = reported(incident)
        await stack.produce(INCIDENT_EVENTS.name, after_create, key=incident, partition=0)
        await sent(stack, sentinel, after_create.event_id, timeout=30)
        # Both deliveries come from one fan-out transaction: the sentinel's was sent, so the
        # watched one exists; wait for it to be sent too.
        await sent(stack, watched, after_create.event_id, timeout=30)
        assert warm.event_id not in event_ids(stack, watched)  # published before it existed

        await stack.stub.DeleteSubscription(pb.DeleteSubscriptionRequest(id=created.id), metadata=auth)
        after_delete = reported(incident)
        await stack.produce(INCIDENT_EVENTS.name, after_delete, key=incident, partition=0)
        await sent(stack, sentinel, after_delete.event_id, timeout=30)
        # Same fan-out: had the deleted subscription matched, its delivery would have been created
        # with the sentinel's; none was.
        watched_deliveries = await stack.stub.ListDeliveries(
            pb.ListDeliveriesRequest(subscription_id=created.id), metadata=stack.auth("supervisor"))
        assert [d.event_id for d in watched_deliveries.deliveries] == [after_create.event_id]
        assert event_ids(stack, watched) == [after_create.event_id]
