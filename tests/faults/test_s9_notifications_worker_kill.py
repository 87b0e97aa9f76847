"""Scenario 9: kill -9 the notifications worker mid-delivery (webhook POSTs in flight), then restart it.

Acknowledged write = a UnitAssigned DispatchEvent the broker acknowledged (acks=all), as the
dispatch relay would publish it. One webhook subscription (a real HTTP receiver in this test, which
verifies each Standard Webhooks signature and answers slowly, so that POSTs are in flight at the
kill) matches every one. Read back: the notifications schema and the receiver. Every acknowledged
event must have exactly one delivery (``deliveries_once``) that ends SENT, and every delivery must
have reached the receiver — at least once, de-duplicated by its ``webhook-id`` (the delivery id): a
POST that was in flight when the worker died is sent again after its lease, with the same id.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import events_pb2 as devents
from cityops.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from cityops_devtools.testing import at_least, bearer, eventually, free_port
from cityops_platform.kafka.topics import DISPATCH_EVENTS
from cityops_platform.settings import Settings

from ._checker import Ledger
from ._load import incident_records, produce
from ._stack import consumer_lag, group_of, inprocess_api, worker
from .conftest import Figures

SERVICES = ("notifications",)  # the `prepared` fixture applies their topics and schemas
LOAD = int(os.environ.get("CITYOPS_FAULTS_DELIVERIES", "300"))
UNIT_ASSIGNED = "cityops.dispatch.v1.UnitAssigned"
WORKER_ENV = {
    "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",  # the receiver is on loopback
    "CITYOPS_RATE_WEBHOOK_BURST": "10000000",  # one recipient gets every delivery
    "CITYOPS_NOTIFY_CLAIM_SECONDS": "5",  # a dead worker's leased deliveries come back after 5 s
    "CITYOPS_NOTIFY_CONCURRENCY": "20",
}


def unit_assigned(n: int, run: str) -> devents.DispatchEvent:
    event = devents.DispatchEvent(
        event_id=str(uuid.uuid4()), incident_id=str(uuid.uuid4()), assignment_id=str(uuid.uuid4()),
        unit_id=f"s9-{run}-{n:04d}", incident_number=f"BD-S9{run}-{n:06d}",
        actor=common_pb2.Actor(subject="system:dispatch", role="system"),
        unit_assigned=devents.UnitAssigned(call_sign=f"CC115-S9-{n:04d}", agency=common_pb2.AGENCY_MEDICAL_115,
                                           auto=True, capability="ALS", eta_seconds=240.0),
    )
    event.occurred_at.FromDatetime(datetime.now(UTC))
    return event


class Receiver:
    """A real webhook receiver: verifies the signature, records every POST by its webhook-id."""

    def __init__(self, secret: str, delay_s: float) -> None:
        self.verifier = Webhook(secret.encode())
        self.delay_s = delay_s
        self.posts: Counter[str] = Counter()  # webhook-id → POSTs received
        self.events: dict[str, str] = {}  # webhook-id → the event id it delivered
        self.bad_signatures = 0
        self.runner: web.AppRunner | None = None

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            self.verifier.verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=401)
        message_id = request.headers["webhook-id"]
        self.posts[message_id] += 1
        self.events[message_id] = str(json.loads(body).get("event_id", ""))
        await asyncio.sleep(self.delay_s)  # POSTs are in flight when the worker is killed
        return web.Response(status=200)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.mark.timeout(600)
async def test_notifications_worker_killed_mid_delivery_delivers_each_once_by_id(
    prepared: Settings, run: str, tmp_path: Path, figures: Figures, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = prepared
    for key, value in WORKER_ENV.items():  # the in-process api validates the receiver's address too
        monkeypatch.setenv(key, value)
    secret = "s9-" + uuid.uuid4().hex
    receiver = Receiver(secret, delay_s=0.2)
    url = await receiver.start()
    ledger = Ledger("UnitAssigned → delivery SENT and received")
    db = await asyncpg.connect(s.database_url)
    w = worker("notifications", s, tmp_path, **WORKER_ENV)
    try:
        async with inprocess_api("notifications", s) as channel:
            sub = notifications_pb2.Subscription(
                channel=notifications_pb2.CHANNEL_WEBHOOK, address=url, language="vi", secret=secret,
                filter=notifications_pb2.SubscriptionFilter(event_types=[UNIT_ASSIGNED]),
                description=f"Bộ nhận S9 {run} (S9 receiver)")
            created = await notifications_pb2_grpc.NotificationServiceStub(channel).CreateSubscription(
                notifications_pb2.CreateSubscriptionRequest(subscription=sub), metadata=bearer(s, "admin"),
                timeout=30)
            subscription_id = created.id
        events = [unit_assigned(n, run) for n in range(LOAD)]
        topic = DISPATCH_EVENTS.full_name(s.topic_prefix)
        await produce(s.kafka_bootstrap, topic, incident_records(events, lambda e: e.event_id), ledger)
        figures.load = f"{LOAD} UnitAssigned events, 1 webhook subscription (receiver answers in 0.2 s)"

        async def received() -> int:
            return len(receiver.posts)

        t0 = time.monotonic()
        w.start()
        at_kill = await eventually(lambda: at_least(received, int(LOAD * 0.3)), timeout=300, interval=0.02)
        in_flight = await db.fetchval(
            "SELECT count(*) FROM notifications.deliveries WHERE subscription_id = $1::uuid AND status <> 'SENT'",
            subscription_id)
        w.kill()
        t_kill = time.monotonic()
        assert at_kill < LOAD, "every delivery was made before the kill: nothing was interrupted"
        w.start()

        async def all_sent() -> int | None:
            n = int(await db.fetchval("SELECT count(*) FROM notifications.deliveries WHERE subscription_id = $1::uuid "
                                      "AND status = 'SENT'", subscription_id))
            return n if n >= LOAD and len(receiver.posts) >= LOAD else None

        await eventually(all_sent, timeout=400, interval=0.5)
        t_done = time.monotonic()
        await asyncio.sleep(3)  # redelivered records and expired leases must change nothing more
        assert w.alive, w.tail()
        rows = await db.fetch(
            "SELECT id, event_id, status FROM notifications.deliveries WHERE subscription_id = $1::uuid",
            subscription_id)
    finally:
        w.terminate()
        await db.close()
        await receiver.stop()

    deliveries = {str(r["id"]): str(r["event_id"]) for r in rows}
    verdict = ledger.check(deliveries.values())  # one delivery per acknowledged event, none lost
    statuses = Counter(r["status"] for r in rows)
    receipt_ledger = Ledger("deliveries → receiver (by webhook-id)")
    receipt_ledger.acked = set(deliveries)
    receipt_verdict = receipt_ledger.check(receiver.posts.keys())  # distinct ids: deduplicated by id
    resent = {i: n for i, n in receiver.posts.items() if n > 1}
    mismatched = {i for i, e in receiver.events.items() if deliveries.get(i) != e}
    lag = await consumer_lag(s.kafka_bootstrap, group_of("notifications", s), [topic])

    figures.inputs = LOAD
    figures.acknowledged = len(ledger.acked)
    figures.lost = len(verdict.lost) + len(receipt_verdict.lost)
    figures.duplicated = len(verdict.duplicated)
    figures.unexpected = len(verdict.unexpected) + len(receipt_verdict.unexpected)
    figures.faults = (f"1 kill -9 of the notifications worker at {at_kill}/{LOAD} received "
                      f"({in_flight} not yet SENT), 1 restart")
    figures.codes = dict(Counter({"kafka-acked": len(ledger.acked)}))
    figures.notes = (f"all SENT {t_done - t_kill:.0f} s after the kill ({t_done - t0:.0f} s in all); "
                     f"{sum(receiver.posts.values())} POSTs for {len(receiver.posts)} delivery ids "
                     f"({len(resent)} re-sent with the same id after the crash); statuses {dict(statuses)}; "
                     f"lag {lag[topic]}")
    assert receiver.bad_signatures == 0
    assert not mismatched, f"a webhook-id carried another delivery's event: {sorted(mismatched)[:5]}"
    assert statuses == Counter({"SENT": LOAD}), statuses
    verdict.assert_clean()
    receipt_verdict.assert_clean()
    assert len(ledger.acked) == LOAD
    assert lag[topic] == 0
