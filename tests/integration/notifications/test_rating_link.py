"""The resolution SMS to a citizen following their report carries a signed one-time rating link
(nonce = the delivery id); staff messages about the same resolution carry none."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from cityops.incidents.v1 import events_pb2 as ev
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.testing import eventually
from cityops_platform import ratinglinks
from cityops_platform.kafka.topics import INCIDENT_EVENTS

from .test_deliveries import FIRST, deliveries, incident_event

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]
LINK_RE = re.compile(r"http://127\.0\.0\.1:8080/ratings/([A-Za-z0-9_-]+)")


async def test_resolution_sms_to_the_reporter_carries_a_signed_rating_link(stack: Any) -> None:
    incident_id, citizen, phone = str(uuid.uuid4()), "cit-" + uuid.uuid4().hex[:6], "0987654321"
    sub = await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=pb.Subscription(
        channel=pb.CHANNEL_SMS, address=phone, filter=pb.SubscriptionFilter(incident_id=incident_id))),
        metadata=stack.auth("citizen", citizen))
    staff_mail = f"truc.ban.{uuid.uuid4().hex[:6]}@binhduong.gov.vn"
    await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=pb.Subscription(
        channel=pb.CHANNEL_EMAIL, address=staff_mail,
        filter=pb.SubscriptionFilter(event_types=["IncidentTransitioned"], incident_id=incident_id))),
        metadata=stack.auth("supervisor", "gs-tran"))
    await stack.produce(INCIDENT_EVENTS.name, incident_event(
        "reported", incident_id=incident_id, priority=ev.PRIORITY_P3, reporter_subject=citizen), key=incident_id)
    await stack.produce(INCIDENT_EVENTS.name, incident_event(
        "transitioned", incident_id=incident_id, priority=ev.PRIORITY_P3, from_status=ev.STATUS_ACKNOWLEDGED,
        to_status=ev.STATUS_DISPATCHED), key=incident_id)
    await stack.produce(INCIDENT_EVENTS.name, incident_event(
        "transitioned", incident_id=incident_id, priority=ev.PRIORITY_P3, from_status=ev.STATUS_ON_SCENE,
        to_status=ev.STATUS_RESOLVED, reason="Đã hút nước, thông cống"), key=incident_id)

    async def three_sent() -> list[pb.Delivery] | None:
        found = [d for d in await deliveries(stack, subscription_id=sub.id) if d.status == pb.DELIVERY_STATUS_SENT]
        return found if len(found) == 3 else None

    sent = await eventually(three_sent, timeout=FIRST)
    texts = {d.id: [t["text"] for t in stack.sms_to("+84987654321") if t["reference"] == d.id] for d in sent}
    with_link = {d: t for d, t in texts.items() if any(LINK_RE.search(part) for part in t)}
    assert len(with_link) == 1, texts  # only the resolution, not the report or the dispatch
    delivery_id, parts = next(iter(with_link.items()))
    assert "Mời bạn đánh giá mức độ hài lòng" in "".join(parts)
    # The link is a message of its own, whole (a link cut across two SMS cannot be opened).
    assert LINK_RE.fullmatch(parts[-1]) and not any(LINK_RE.search(p) for p in parts[:-1])
    token = LINK_RE.fullmatch(parts[-1]).group(1)  # type: ignore[union-attr]
    link = ratinglinks.verify(ratinglinks.link_key(stack.settings.jwt_secret), token, now=datetime.now(UTC))
    assert (link.incident_id, link.nonce) == (incident_id, delivery_id)

    mails = await eventually(lambda: stack.smtp.to(staff_mail), timeout=FIRST)
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in mails]
    assert not any(LINK_RE.search(b) for b in bodies), "staff get no rating link"
