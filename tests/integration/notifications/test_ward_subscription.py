"""A subscription by ward receives, end to end on the real stack: a report filed through the real
incidents api with a pre-2025 address gets its current ward, its IncidentReported crosses the real
broker, and the real notifications worker delivers it to the webhook subscribed to that ward, and
not to the one subscribed to another ward."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as ipb
from cityops.incidents.v1 import incidents_pb2_grpc
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.devstack import PostgresServer
from cityops_devtools.testing import bearer, eventually, make_settings
from cityops_incidents.server import POLICY, build
from cityops_platform.db.migrations import migrate
from cityops_platform.runtime import migrations_dir, service_resources, start_grpc

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]
FIRST = 60.0  # this module may run first: the worker joins its consumer group
LAI_THIEU, DI_AN = "25966", "25942"


async def test_a_ward_subscription_receives_a_report_converted_from_an_old_address(
    stack: Any, postgres_server: PostgresServer,
) -> None:
    secret = "whsec-" + uuid.uuid4().hex
    for path, wards in (("/hook/lai-thieu", [LAI_THIEU]), ("/hook/di-an", [DI_AN])):
        await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=pb.Subscription(
            channel=pb.CHANNEL_WEBHOOK, address=stack.webhooks.url(path), secret=secret,
            filter=pb.SubscriptionFilter(event_types=["IncidentReported"], ward_codes=wards))),
            metadata=stack.auth("integrator", "ward-desk"))
    # A subscription that still sends the former district's name: it means Thuận An's five units.
    legacy = await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=pb.Subscription(
        channel=pb.CHANNEL_WEBHOOK, address=stack.webhooks.url("/hook/thuan-an-old"), secret=secret,
        filter=pb.SubscriptionFilter(event_types=["IncidentReported"], districts=["Thuận An"]))),
        metadata=stack.auth("integrator", "ward-desk"))
    assert LAI_THIEU in legacy.filter.ward_codes and list(legacy.filter.districts) == ["Thuận An"]

    db = postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    settings = make_settings(kafka_bootstrap=stack.settings.kafka_bootstrap,
                             topic_prefix=stack.settings.topic_prefix, database_url=db)
    await migrate(db, "incidents", migrations_dir("incidents"))
    try:
        async with service_resources("incidents", settings) as res:
            running = await start_grpc("incidents", settings, res, build=build, policy=POLICY, port=0)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
            try:
                reply = await incidents_pb2_grpc.IncidentServiceStub(channel).ReportIncident(
                    ipb.ReportIncidentRequest(
                        category=ipb.CATEGORY_FLOOD, source=ipb.SOURCE_HOTLINE_1022,
                        description="Ngập sâu 40cm trước chợ", idempotency_key=str(uuid.uuid4()),
                        location=common_pb2.GeoPoint(
                            lat=10.9046, lon=106.7053,
                            address="Đường Nguyễn Văn Tiết, phường Lái Thiêu, thị xã Thuận An, tỉnh Bình Dương")),
                    metadata=bearer(settings, "call_taker"))
                assert reply.incident.ward_code == LAI_THIEU

                received = await eventually(lambda: stack.webhooks.requests.get("/hook/lai-thieu"), timeout=FIRST)
                payload = json.loads(received[0][1])
                assert payload["data"]["incident"]["id"] == reply.incident.id
                assert payload["data"]["incident"]["ward_code"] == LAI_THIEU
                old = await eventually(lambda: stack.webhooks.requests.get("/hook/thuan-an-old"), timeout=20)
                assert json.loads(old[0][1])["data"]["incident"]["id"] == reply.incident.id
                await asyncio.sleep(2)  # the other ward's hook had every chance to be called
                other = [json.loads(b)["data"]["incident"]["id"]
                         for _, b in stack.webhooks.requests.get("/hook/di-an", [])]
                assert reply.incident.id not in other
            finally:
                await channel.close()
                await running.stop(0.5)
    finally:
        postgres_server.drop_database(db.rsplit("/", 1)[-1])
