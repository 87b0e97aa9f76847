"""Webhooks against the real stack (api, worker, Kafka, Postgres, HTTP receivers on loopback): targets must be
public at subscribe time and at every send, the target's body is never echoed, and deliveries are signed per
Standard Webhooks with a replay window that the verifying library enforces.

The stack allows only 127.0.0.1/32 (``CITYOPS_OUTBOUND_ALLOW_CIDRS``, as the local launchers do with
127.0.0.0/8): every other non-public address is refused exactly as outside local.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from standardwebhooks import webhooks as sw

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as ev
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.testing import eventually, status_details
from cityops_notifications.channels.base import Outgoing, PermanentFailure
from cityops_notifications.channels.webhook import WebhookChannel
from cityops_notifications.rendering import Rendered
from cityops_platform import netguard
from cityops_platform.kafka.topics import INCIDENT_EVENTS

from .conftest import deliveries, webhook

TDM = (10.9804, 106.6519)


def incident_event(body: str, *, incident_id: str, category: int) -> ev.IncidentEvent:
    incident = ev.Incident(id=incident_id, number=f"BD-20261126-{incident_id[:6]}", category=category,
                           priority=ev.PRIORITY_P2, status=ev.STATUS_NEW, description="Sự cố thử nghiệm",
                           report_count=1, district="Thủ Dầu Một",
                           location=common_pb2.GeoPoint(lat=TDM[0], lon=TDM[1]))
    event = ev.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=incident_id,
                             incident_number=incident.number, incident=incident)
    event.occurred_at.GetCurrentTime()
    getattr(event, body).SetInParent()
    return event


pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]
WAIT = 60.0  # run alone, the first test also waits for the worker to join its group

REFUSED_TARGETS = [
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://[fd00:ec2::254]/latest/",
    "http://2852039166/latest/",
    "http://0xa9fea9fe/latest/",
    "http://[::ffff:169.254.169.254]/",
    "http://127.0.0.2:8080/hook",  # loopback outside the allow-list
    "http://[::1]:8080/hook",
    "http://10.0.0.8/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.20/hook",
    "http://100.64.0.9/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.251/hook",
]


@pytest.mark.parametrize("address", REFUSED_TARGETS)
async def test_subscribing_a_non_public_target_is_invalid_argument_on_the_address(stack: Any, address: str) -> None:
    sub = pb.Subscription(channel=pb.CHANNEL_WEBHOOK, address=address, secret="ssrf-probe-secret-0123")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=sub),
                                            metadata=stack.auth("integrator", "ssrf-probe"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(err.value)] == ["subscription.address"]
    mine = await stack.stub.ListSubscriptions(pb.ListSubscriptionsRequest(),
                                              metadata=stack.auth("integrator", "ssrf-probe"))
    assert list(mine.subscriptions) == []


async def _subscribe(stack: Any, path: str, category: str, secret: str) -> pb.Subscription:
    return await stack.stub.CreateSubscription(
        pb.CreateSubscriptionRequest(subscription=webhook(
            stack, path, secret=secret,
            filter_=pb.SubscriptionFilter(event_types=["IncidentReported"], categories=[category]))),
        metadata=stack.auth("integrator", f"partner-{uuid.uuid4().hex[:6]}"))


async def _dead(stack: Any, sub_id: str) -> pb.Delivery | None:
    found = await deliveries(stack, subscription_id=sub_id, statuses=[pb.DELIVERY_STATUS_DEAD_LETTERED])
    return found[0] if found else None


async def test_a_target_that_is_no_longer_public_is_refused_at_send(stack: Any) -> None:
    """A subscription accepted while its address was allowed, whose host now points at a non-public
    address (a re-pointed DNS name, a row from before the rule): the worker checks again and sends nothing."""
    inner = type(stack.webhooks)(host="127.0.0.2")  # listens, so only the check stops the request
    await inner.start()
    try:
        created = await _subscribe(stack, "/hook/repointed", "ENVIRONMENT", "repointed-secret-0123456")
        conn = await asyncpg.connect(stack.settings.database_url,
                                     server_settings={"search_path": "notifications,public"})
        try:
            await conn.execute("UPDATE subscriptions SET address = $2 WHERE id = $1::uuid", created.id,
                               inner.url("/hook/repointed"))
        finally:
            await conn.close()
        incident_id = str(uuid.uuid4())
        await stack.produce(INCIDENT_EVENTS.name, incident_event("reported", incident_id=incident_id,
                                                                 category=ev.CATEGORY_ENVIRONMENT), key=incident_id)
        delivery = await eventually(lambda: _dead(stack, created.id), timeout=WAIT)
        assert delivery.attempts == 1, "a refused target is permanent: no retries"
        assert "127.0.0.2" in delivery.last_error and "public" in delivery.last_error
        assert inner.requests == {}
    finally:
        await inner.stop()


async def test_the_targets_response_body_is_never_echoed(stack: Any) -> None:
    stack.webhooks.status["/hook/leaky"] = 400
    stack.webhooks.bodies["/hook/leaky"] = "AKIA-INTERNAL-CREDENTIAL dữ liệu nội bộ"
    created = await _subscribe(stack, "/hook/leaky", "UTILITY_OUTAGE", "leaky-secret-0123456789")
    incident_id = str(uuid.uuid4())
    await stack.produce(INCIDENT_EVENTS.name, incident_event("reported", incident_id=incident_id,
                                                             category=ev.CATEGORY_UTILITY_OUTAGE), key=incident_id)
    delivery = await eventually(lambda: _dead(stack, created.id), timeout=WAIT)
    assert len(stack.webhooks.requests["/hook/leaky"]) == 1
    assert delivery.last_error == "webhook HTTP 400"
    assert "AKIA" not in delivery.last_error and "nội bộ" not in delivery.last_error


async def test_deliveries_are_signed_per_standard_webhooks_and_a_replay_is_refused(stack: Any) -> None:
    secret = "standard-webhooks-secret-" + uuid.uuid4().hex
    created = await _subscribe(stack, "/hook/standard", "TRAFFIC_ACCIDENT", secret)
    incident_id = str(uuid.uuid4())
    await stack.produce(INCIDENT_EVENTS.name, incident_event("reported", incident_id=incident_id,
                                                             category=ev.CATEGORY_TRAFFIC_ACCIDENT), key=incident_id)
    received = await eventually(lambda: stack.webhooks.requests.get("/hook/standard"), timeout=WAIT)
    headers, body = received[0]
    receiver = sw.Webhook(secret.encode())
    payload = receiver.verify(body, headers)  # the receiver's side, with the reference library
    assert payload["data"]["incident_id"] == incident_id or payload["event_type"].endswith("IncidentReported")
    (sent,) = await deliveries(stack, subscription_id=created.id)
    assert headers["webhook-id"] == sent.id == payload["delivery_id"]
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 600

    with pytest.raises(sw.WebhookVerificationError):
        receiver.verify(body.replace(b"IncidentReported", b"IncidentResolved"), headers)
    with pytest.raises(sw.WebhookVerificationError):
        sw.Webhook(b"another-subscription-secret").verify(body, headers)
    # The same captured delivery replayed 10 minutes later: outside the library's 5-minute window.
    later = datetime.now(UTC) + timedelta(minutes=10)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return later

    real = sw.datetime
    sw.datetime = Later  # type: ignore[misc]
    try:
        with pytest.raises(sw.WebhookVerificationError, match="too old"):
            receiver.verify(body, headers)
    finally:
        sw.datetime = real  # type: ignore[misc]


def _outgoing() -> Outgoing:
    return Outgoing(delivery_id=str(uuid.uuid4()), event_id=str(uuid.uuid4()), event_type="t", occurred_at="",
                    language="vi", message=Rendered(subject="s", body="b", sms_parts=("b",)))


async def test_the_channel_connects_to_the_checked_address_with_the_name_as_host(stack: Any) -> None:
    """DNS rebinding: the name is resolved once, checked, and the connection goes to that address, with
    the name in the Host header. ``rebind.invalid`` exists only in this resolver, so a second resolution
    (by httpx) would fail the request."""
    calls: list[str] = []
    answers = {"rebind.invalid": ["127.0.0.1"], "inner.invalid": ["8.8.8.8", "10.0.0.7"]}

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[host]

    channel = WebhookChannel(timeout_s=10, allow=netguard.parse_allow("127.0.0.1/32"), resolve=resolve)
    try:
        port = stack.webhooks.port
        assert await channel.send(address=f"http://rebind.invalid:{port}/hook/rebind", outgoing=_outgoing(),
                                  secret="rebind-secret-0123456789") == 1
        ((headers, _),) = stack.webhooks.requests["/hook/rebind"]
        assert headers["Host"] == f"rebind.invalid:{port}" and calls == ["rebind.invalid"]
        with pytest.raises(PermanentFailure, match=r"10\.0\.0\.7"):
            await channel.send(address=f"http://inner.invalid:{port}/hook/rebind", outgoing=_outgoing(),
                               secret="rebind-secret-0123456789")
        assert len(stack.webhooks.requests["/hook/rebind"]) == 1
    finally:
        await channel.close()
