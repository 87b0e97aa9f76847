"""Fan-out and sending against real receivers: signed webhooks, Vietnamese e-mail, SMS rate limits,
retries with a dead-letter record and replay, and no duplicate on redelivery."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import pytest
from standardwebhooks.webhooks import Webhook

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as ev
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.testing import consume, eventually
from cityops_notifications.deliveries import store as delivery_store
from cityops_notifications.deliveries.service import fan_out_many
from cityops_notifications.notices import translate
from cityops_notifications.subscriptions import store as subscription_store
from cityops_platform.db.pool import create_pool
from cityops_platform.kafka.topics import INCIDENT_EVENTS, NOTIFICATION_DELIVERIES

from .conftest import MAX_ATTEMPTS, deliveries, webhook

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]
TDM = (10.9804, 106.6519)  # Thủ Dầu Một
FIRST = 60.0  # the first test also waits for the worker to join its consumer group


def incident_event(body: str, *, incident_id: str, priority: int = ev.PRIORITY_P1,
                   category: int = ev.CATEGORY_FLOOD, at: tuple[float, float] = TDM,
                   event_id: str | None = None, **fields: object) -> ev.IncidentEvent:
    incident = ev.Incident(
        id=incident_id, number=f"BD-20261126-{incident_id[:6]}", category=category, priority=priority,
        status=ev.STATUS_NEW, description="Nước ngập sâu khoảng 50 cm, xe máy chết máy", report_count=1,
        agency=common_pb2.AGENCY_PUBLIC_WORKS, district="Thủ Dầu Một",
        location=common_pb2.GeoPoint(lat=at[0], lon=at[1], address="Đường Yersin, Phường Phú Cường"),
    )
    event = ev.IncidentEvent(event_id=event_id or str(uuid.uuid4()), incident_id=incident_id,
                             incident_number=incident.number, incident=incident)
    event.occurred_at.FromDatetime(datetime(2026, 11, 26, 2, 30, tzinfo=UTC))
    getattr(event, body).SetInParent()
    for name, value in fields.items():
        setattr(getattr(event, body), name, value)
    return event


async def test_p1_incident_reaches_subscribed_webhook_within_seconds_with_valid_signature(stack: Any) -> None:
    secret = "whsec-" + uuid.uuid4().hex
    area = common_pb2.Area(circle=common_pb2.Circle(center=common_pb2.GeoPoint(lat=TDM[0], lon=TDM[1]),
                                                    radius_m=5000))
    created = await stack.stub.CreateSubscription(
        pb.CreateSubscriptionRequest(subscription=webhook(
            stack, "/hook/p1", secret=secret,
            filter_=pb.SubscriptionFilter(event_types=["IncidentReported"], min_priority=1, area=area))),
        metadata=stack.auth("integrator", "cad-partner"),
    )
    assert created.secret == "" and created.has_secret and created.owner == "cad-partner"
    p3, p1 = str(uuid.uuid4()), str(uuid.uuid4())
    # Same partition, P3 first: once P1 is delivered, P3 has certainly been considered.
    await stack.produce(INCIDENT_EVENTS.name, incident_event("reported", incident_id=p3, priority=ev.PRIORITY_P3),
                        key=p3, partition=0)
    p1_event = incident_event("reported", incident_id=p1)
    await stack.produce(INCIDENT_EVENTS.name, p1_event, key=p1, partition=0)

    received = await eventually(lambda: stack.webhooks.requests.get("/hook/p1"), timeout=FIRST)
    headers, body = received[0]
    Webhook(secret.encode()).verify(body, dict(headers))  # Standard Webhooks: id, timestamp, signature
    assert "X-CityOps-Signature" not in headers  # the replayable body-only signature is gone
    payload = json.loads(body)
    assert payload["event_id"] == p1_event.event_id
    assert payload["event_type"] == "cityops.incidents.v1.IncidentReported"
    assert payload["data"]["incident"]["id"] == p1
    assert "P1 Ngập lụt" in payload["subject"]
    assert len(received) == 1, "the P3 incident is below the subscription's min_priority"

    sent = await eventually(lambda: _sent(stack, created.id), timeout=10)
    assert sent.attempts == 1 and sent.address_masked == f"http://127.0.0.1:{stack.webhooks.port}/***"
    records = await consume(stack.settings, NOTIFICATION_DELIVERIES.name, count=1, timeout=20,
                            predicate=lambda r: r.key == sent.id.encode() and _status(r) == pb.DELIVERY_STATUS_SENT)
    assert records, "a DeliveryEvent(SENT) is published through the outbox"


async def _sent(stack: Any, subscription_id: str) -> pb.Delivery | None:
    found = await deliveries(stack, subscription_id=subscription_id, statuses=[pb.DELIVERY_STATUS_SENT])
    return found[0] if found else None


def _status(record: Any) -> int:
    message = pb.DeliveryEvent()
    message.ParseFromString(record.value)
    return int(message.delivery.status)


async def test_escalation_email_arrives_in_vietnamese_with_diacritics_and_local_time(stack: Any) -> None:
    address = f"giam.sat.{uuid.uuid4().hex[:6]}@binhduong.gov.vn"
    email_sub = pb.Subscription(channel=pb.CHANNEL_EMAIL, address=address,
                                filter=pb.SubscriptionFilter(event_types=["IncidentEscalated"]))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=email_sub),
                                            metadata=stack.auth("operator"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    created = await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=email_sub),
                                                  metadata=stack.auth("supervisor", "gs-nguyen"))
    assert created.language == "vi"
    incident_id = str(uuid.uuid4())
    event = incident_event("escalated", incident_id=incident_id, reason=ev.ESCALATION_REASON_SLA_ACK,
                           old_priority=ev.PRIORITY_P2, new_priority=ev.PRIORITY_P1, escalation_level=1)
    await stack.produce(INCIDENT_EVENTS.name, event, key=incident_id)

    messages = await eventually(lambda: stack.smtp.to(address), timeout=FIRST)
    message = messages[0]
    assert message["Subject"] == f"[CityOps] LEO THANG BD-20261126-{incident_id[:6]}: quá hạn xác nhận"
    part = message.get_body(preferencelist=("plain",))
    assert part is not None and part.get_content_charset() == "utf-8"
    text = part.get_content()
    assert "Ngập lụt" in text and "Đường Yersin, Phường Phú Cường" in text
    assert "Mức ưu tiên: P2 → P1" in text
    assert "09:30 ngày 26/11/2026" in text, "02:30 UTC is shown as Asia/Ho_Chi_Minh time"
    assert "Đề nghị giám sát viên xem xét ngay." in text


async def test_failing_webhook_is_retried_then_dead_lettered_and_can_be_replayed(stack: Any) -> None:
    stack.webhooks.status["/hook/flaky"] = 503
    created = await stack.stub.CreateSubscription(
        pb.CreateSubscriptionRequest(subscription=webhook(
            stack, "/hook/flaky", secret="flaky-secret-0123456789",
            filter_=pb.SubscriptionFilter(event_types=["cityops.incidents.v1.IncidentReported"],
                                          categories=["FIRE"]))),
        metadata=stack.auth("integrator", "flaky-partner"),
    )
    incident_id = str(uuid.uuid4())
    await stack.produce(INCIDENT_EVENTS.name, incident_event("reported", incident_id=incident_id,
                                                             category=ev.CATEGORY_FIRE), key=incident_id)

    async def dead() -> pb.Delivery | None:
        found = await deliveries(stack, subscription_id=created.id, statuses=[pb.DELIVERY_STATUS_DEAD_LETTERED])
        return found[0] if found else None

    delivery = await eventually(dead, timeout=FIRST)
    assert delivery.attempts == 3 and delivery.max_attempts == 3
    assert "503" in delivery.last_error
    assert len(stack.webhooks.requests["/hook/flaky"]) == 3
    dlq = await consume(stack.settings, NOTIFICATION_DELIVERIES.dlq.name, count=1, timeout=20,
                        predicate=lambda r: r.key == delivery.id.encode())
    assert _status(dlq[0]) == pb.DELIVERY_STATUS_DEAD_LETTERED

    stack.webhooks.status["/hook/flaky"] = 200
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stack.stub.ReplayDelivery(pb.ReplayDeliveryRequest(delivery_id=delivery.id),
                                        metadata=stack.auth("citizen"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    replayed = await stack.stub.ReplayDelivery(pb.ReplayDeliveryRequest(delivery_id=delivery.id),
                                               metadata=stack.auth("operator", "op-tran"))
    assert replayed.status == pb.DELIVERY_STATUS_PENDING and replayed.attempts == 0
    sent = await eventually(lambda: _sent(stack, created.id), timeout=20)
    assert sent.id == delivery.id and sent.attempts == 1
    assert len(stack.webhooks.requests["/hook/flaky"]) == 4
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.stub.ReplayDelivery(pb.ReplayDeliveryRequest(delivery_id=delivery.id),
                                        metadata=stack.auth("operator"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_redelivered_event_is_not_sent_twice(stack: Any) -> None:
    created = await stack.stub.CreateSubscription(
        pb.CreateSubscriptionRequest(subscription=webhook(
            stack, "/hook/dup", secret="dup-secret-0123456789",
            filter_=pb.SubscriptionFilter(event_types=["IncidentTransitioned"]))),
        metadata=stack.auth("integrator"),
    )
    incident_id = str(uuid.uuid4())
    repeated = incident_event("transitioned", incident_id=incident_id, to_status=ev.STATUS_ACKNOWLEDGED,
                              from_status=ev.STATUS_NEW)
    marker = incident_event("transitioned", incident_id=incident_id, to_status=ev.STATUS_DISPATCHED,
                            from_status=ev.STATUS_ACKNOWLEDGED)
    for _ in range(3):  # the same record, as a producer retry or a replayed partition would deliver it
        await stack.produce(INCIDENT_EVENTS.name, repeated, key=incident_id)
    await stack.produce(INCIDENT_EVENTS.name, marker, key=incident_id)

    def event_ids() -> list[str]:
        return [json.loads(body)["event_id"] for _, body in stack.webhooks.requests.get("/hook/dup", [])]

    async def both_sent() -> list[pb.Delivery] | None:
        # The marker was consumed after every copy of the repeated record (same partition, in order).
        found = await deliveries(stack, subscription_id=created.id, statuses=[pb.DELIVERY_STATUS_SENT])
        return found if {d.event_id for d in found} == {repeated.event_id, marker.event_id} else None

    sent = await eventually(both_sent, timeout=FIRST)
    assert len(sent) == 2, "one delivery per event, however often the event was consumed"
    assert sorted(event_ids()) == sorted([repeated.event_id, marker.event_id])


async def test_sms_storm_to_a_citizen_following_their_report_is_rate_limited(stack: Any) -> None:
    incident_id, citizen, phone = str(uuid.uuid4()), "cit-" + uuid.uuid4().hex[:6], "0912345678"
    sub = pb.Subscription(channel=pb.CHANNEL_SMS, address=phone,
                          filter=pb.SubscriptionFilter(incident_id=incident_id))
    created = await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=sub),
                                                  metadata=stack.auth("citizen", citizen))
    assert created.address == "+84912345678"
    await stack.produce(INCIDENT_EVENTS.name, incident_event(
        "reported", incident_id=incident_id, priority=ev.PRIORITY_P3, reporter_subject=citizen), key=incident_id)
    storm = 12
    for i in range(storm):
        await stack.produce(INCIDENT_EVENTS.name, incident_event(
            "note_added", incident_id=incident_id, priority=ev.PRIORITY_P3, text=f"Cập nhật số {i}"),
            key=incident_id)

    async def settled() -> list[pb.Delivery] | None:
        found = await deliveries(stack, subscription_id=created.id)
        done = [d for d in found if d.status in (pb.DELIVERY_STATUS_SENT, pb.DELIVERY_STATUS_SUPPRESSED)]
        return found if len(done) == storm + 1 else None

    found = await eventually(settled, timeout=FIRST)
    statuses = [d.status for d in found]
    assert statuses.count(pb.DELIVERY_STATUS_SENT) == 3
    assert statuses.count(pb.DELIVERY_STATUS_SUPPRESSED) == storm + 1 - 3
    texts = stack.sms_to("+84912345678")
    assert len({t["reference"] for t in texts}) == 3, "only three messages reached the phone"
    for text in texts:
        assert len(text["text"].encode("utf-16-le")) // 2 <= 70, "each part fits one UCS-2 SMS"
    headers = stack.sms.requests["/v1/sms"][0][0]
    assert headers["X-API-Key"] == "test-sms-key-0123456789"

    with pytest.raises(grpc.aio.AioRpcError) as denied:  # the report is known now: not theirs
        await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=sub),
                                            metadata=stack.auth("citizen", "cit-someone-else"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_burst_of_events_fans_out_in_batches_once_per_event_even_when_redelivered(stack: Any) -> None:
    """Events that arrive together fan out in one transaction: every event still gets its own
    delivery, exactly once, with the same events sent a second time in the same burst."""
    secret = "whsec-" + uuid.uuid4().hex
    tag = uuid.uuid4().hex[:8]
    area = common_pb2.Area(circle=common_pb2.Circle(center=common_pb2.GeoPoint(lat=TDM[0], lon=TDM[1]),
                                                    radius_m=5000))
    created = await stack.stub.CreateSubscription(
        pb.CreateSubscriptionRequest(subscription=webhook(
            stack, f"/hook/burst-{tag}", secret=secret,
            filter_=pb.SubscriptionFilter(event_types=["IncidentReported"], min_priority=1, area=area))),
        metadata=stack.auth("integrator", "cad-partner"),
    )
    events = [incident_event("reported", incident_id=str(uuid.uuid4())) for _ in range(60)]
    stack.webhooks.hold[f"/hook/burst-{tag}"] = 10  # ten answers at once: their outcomes are recorded together
    topic = f"{stack.settings.topic_prefix}{INCIDENT_EVENTS.name}"
    # Sent without waiting for each acknowledgement, twice over: the worker reads them in batches.
    sends = [await stack.producer.send(topic, e.SerializeToString(), key=e.incident_id.encode(), partition=0)
             for e in events + events]
    for sent in sends:
        await sent

    def received() -> list[str] | None:
        got = [json.loads(body)["event_id"] for _, body in stack.webhooks.requests.get(f"/hook/burst-{tag}", [])]
        return got if len(got) >= len(events) else None

    got = await eventually(received, timeout=FIRST)
    assert sorted(got) == sorted(e.event_id for e in events)
    for event in events[:3]:
        listed = await deliveries(stack, event_id=event.event_id, subscription_id=created.id)
        assert len(listed) == 1, listed
    # Outcomes recorded while one write was in flight went in the next one: fewer transactions than
    # deliveries wrote the SENT rows, and every one of them has its DeliverySent event.
    conn = await asyncpg.connect(stack.settings.database_url, server_settings={"search_path": "notifications"})
    try:
        sent = await eventually(lambda: _sent_rows(conn, created.id, len(events)), timeout=FIRST)
    finally:
        await conn.close()
    transactions = len({r["xmin"] for r in sent})
    assert len(sent) == len(events) and transactions < len(events), (len(sent), transactions)
    ids = {str(r["id"]).encode() for r in sent}
    published = await consume(stack.settings, NOTIFICATION_DELIVERIES.name, count=len(ids), timeout=30,
                              predicate=lambda r: r.key in ids and _status(r) == pb.DELIVERY_STATUS_SENT)
    assert {r.key for r in published} == ids


async def _sent_rows(conn: asyncpg.Connection, subscription_id: str, wanted: int) -> list[asyncpg.Record] | None:
    rows = await conn.fetch("SELECT id, xmin::text AS xmin FROM deliveries WHERE subscription_id = $1::uuid "
                            "AND status = 'SENT'", subscription_id)
    return rows if len(rows) >= wanted else None


async def test_a_batch_fans_out_as_one_event_after_another(stack: Any) -> None:
    """``fan_out_many`` on the real database: a citizen follows their incident from their own report
    on — a note before it in the batch reaches nobody, the report and the note after it reach them —
    and an event given twice in the batch makes one delivery."""
    incident_id, citizen = str(uuid.uuid4()), "cit-" + uuid.uuid4().hex[:6]
    phone = "09" + str(uuid.uuid4().int)[:8]
    created = await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=pb.Subscription(
        channel=pb.CHANNEL_SMS, address=phone, filter=pb.SubscriptionFilter(incident_id=incident_id))),
        metadata=stack.auth("citizen", citizen))
    before, reported, after = (
        incident_event("note_added", incident_id=incident_id, priority=ev.PRIORITY_P3, text="Trước phản ánh"),
        incident_event("reported", incident_id=incident_id, priority=ev.PRIORITY_P3, reporter_subject=citizen),
        incident_event("note_added", incident_id=incident_id, priority=ev.PRIORITY_P3, text="Sau phản ánh"))
    notices = [translate.from_incident_event(e, INCIDENT_EVENTS.name) for e in (before, reported, after, after)]
    pool = await create_pool(stack.settings.database_url, "notifications")
    try:
        async with pool.acquire() as conn, conn.transaction():
            work = [(n, await subscription_store.candidates(conn, event_type=n.event_type, incident_id=incident_id))
                    for n in notices if n is not None]
            made = await fan_out_many(conn, work, max_attempts=MAX_ATTEMPTS)
            again = await fan_out_many(conn, work, max_attempts=MAX_ATTEMPTS)  # a redelivery of the batch
    finally:
        await pool.close()
    assert [(d.subscription_id, d.event_id) for d in made] == [
        (created.id, reported.event_id), (created.id, after.event_id)]
    assert again == []
    listed = await deliveries(stack, subscription_id=created.id)
    assert sorted(d.event_id for d in listed) == sorted([reported.event_id, after.event_id])


async def test_a_recipients_bucket_is_spent_once_for_a_whole_claim(stack: Any) -> None:
    """``take_tokens`` on the real database: the first ``burst`` deliveries of a claim get a token
    (in order), the rest none, and an empty bucket refills at burst per window as one by one."""
    recipient = f"WEBHOOK:https://cad-{uuid.uuid4().hex[:8]}.example.vn/hook"
    ids = [str(uuid.uuid4()) for _ in range(5)]
    pool = await create_pool(stack.settings.database_url, "notifications")
    try:
        assert await delivery_store.take_tokens(pool, recipient=recipient, burst=3, window_s=3600,
                                                delivery_ids=ids) == 3
        assert await delivery_store.take_tokens(pool, recipient=recipient, burst=3, window_s=3600,
                                                delivery_ids=ids[3:]) == 0
        row = await pool.fetchrow("SELECT tokens, last_allowed FROM rate_buckets WHERE recipient = $1", recipient)
        assert row["tokens"] < 1 and row["last_allowed"] is False, dict(row)
        # One by one after that: still nothing (the same bucket, the same arithmetic).
        assert not await delivery_store.take_token(pool, recipient=recipient, burst=3, window_s=3600)
        # A bucket that refills fast (3 per 0.3 s) gives the next claim its tokens again.
        fast = f"SMS:+8491{uuid.uuid4().int % 10**7:07d}"
        assert await delivery_store.take_tokens(pool, recipient=fast, burst=3, window_s=0.3,
                                                delivery_ids=ids) == 3
        await asyncio.sleep(0.35)
        assert await delivery_store.take_tokens(pool, recipient=fast, burst=3, window_s=0.3,
                                                delivery_ids=ids[:2]) == 2
    finally:
        await pool.close()
