"""One notifications stack shared by this package's tests (a worker takes seconds to join its group).

Real pieces only: the session's Kafka and Postgres, the api in-process on a free port, the worker
as a subprocess (`cityops worker notifications`), and real receivers on loopback: an aiosmtpd SMTP
server, an HTTP webhook receiver and an HTTP SMS gateway (aiohttp). Tests isolate themselves by
using their own incident ids, addresses and webhook paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from google.protobuf.message import Message

from cityops.notifications.v1 import notifications_pb2 as pb
from cityops.notifications.v1 import notifications_pb2_grpc
from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import bearer, free_port
from cityops_notifications.server import POLICY, build
from cityops_notifications.settings import NotificationsSettings
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import migrations_dir, service_resources, start_grpc

SMS_API_KEY = "test-sms-key-0123456789"
# The duty roster of the test city (test_supervisor_breach.py): supervisors on duty, not subscribers.
ROSTER = {
    "timezone": "Asia/Ho_Chi_Minh",
    "shifts": [{"name": "ca ngày", "start": "07:00", "end": "19:00"},
               {"name": "ca đêm", "start": "19:00", "end": "07:00"}],
    "duty": [
        {"agency": "*", "shift": "ca ngày", "days": [1, 2, 3, 4, 5, 6, 7],
         "supervisor": {"id": "ioc-ngay", "name": "Trực ban IOC ca ngày", "contacts": [
             {"channel": "EMAIL", "address": "ioc-ngay@roster.test.vn"},
             {"channel": "SMS", "address": "0911000001"}]}},
        {"agency": "*", "shift": "ca đêm", "days": [1, 2, 3, 4, 5, 6, 7],
         "supervisor": {"id": "ioc-dem", "name": "IOC night duty", "contacts": [
             {"channel": "EMAIL", "address": "ioc-dem@roster.test.vn", "language": "en"}]}},
        {"agency": "ADMIN_CENTER", "shift": "ca ngày", "days": [1, 2, 3, 4, 5],
         "supervisor": {"id": "hcc", "name": "Giám sát HCC", "contacts": [
             {"channel": "EMAIL", "address": "hcc@roster.test.vn"}]}},
        {"agency": "ADMIN_CENTER", "shift": "ca ngày", "dates": ["2026-11-26"],
         "supervisor": {"id": "hcc-thay", "name": "Giám sát HCC trực thay", "contacts": [
             {"channel": "EMAIL", "address": "hcc-thay@roster.test.vn"}]}},
    ],
}
MAX_ATTEMPTS = 3
ALLOW_CIDRS = "127.0.0.1/32"
SMS_BURST = 3
HOLD_S = 2.0  # well within the webhook timeout (5 s): a held answer is late, never lost


@dataclass
class HttpReceiver:
    """Records every POST by path; answers with the status set for that path (200 by default)."""

    port: int = 0
    requests: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, str] = field(default_factory=dict)  # the answer's body per path ("ok" by default)
    # Per path: answers wait until this many requests arrived on it (or HOLD_S passed), then go at once.
    hold: dict[str, int] = field(default_factory=dict)
    host: str = "127.0.0.1"
    runner: web.AppRunner | None = None
    _released: dict[str, asyncio.Event] = field(default_factory=dict)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, self.host, self.port).start()

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body = await request.read()
        self.requests.setdefault(path, []).append((dict(request.headers), body))
        if path in self.hold:
            released = self._released.setdefault(path, asyncio.Event())
            if len(self.requests[path]) >= self.hold[path]:
                released.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), HOLD_S)
        return web.Response(status=self.status.get(path, 200), text=self.bodies.get(path, "ok"))

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class SmtpRecorder:
    """aiosmtpd handler that keeps every accepted message (the server runs in its own thread)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]


@dataclass
class Stack:
    settings: NotificationsSettings
    channel: grpc.aio.Channel
    stub: notifications_pb2_grpc.NotificationServiceStub
    webhooks: HttpReceiver
    sms: HttpReceiver
    smtp: SmtpRecorder
    producer: AIOKafkaProducer
    worker_log: Path

    def auth(self, role: str, subject: str | None = None) -> tuple[tuple[str, str], ...]:
        return bearer(self.settings, role, subject)

    async def produce(self, topic: str, message: Message, *, key: str, partition: int | None = None) -> None:
        await self.producer.send_and_wait(f"{self.settings.topic_prefix}{topic}", message.SerializeToString(),
                                          key=key.encode(), partition=partition)

    def sms_to(self, phone: str) -> list[dict[str, Any]]:
        import json

        return [json.loads(body) for _, body in self.sms.requests.get("/v1/sms", [])
                if json.loads(body)["to"] == phone]


@pytest.fixture(scope="package")
def notifications_db(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="package")
def smtp_server() -> Iterator[tuple[SmtpRecorder, int]]:
    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def stack(
    kafka_broker: KafkaBroker,
    notifications_db: str,
    smtp_server: tuple[SmtpRecorder, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    smtp, smtp_port = smtp_server
    webhooks, sms = HttpReceiver(), HttpReceiver()
    await webhooks.start()
    await sms.start()
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {
        "CITYOPS_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "CITYOPS_TOPIC_PREFIX": prefix,
        "CITYOPS_DATABASE_URL": notifications_db,
        "CITYOPS_SMTP_HOST": "127.0.0.1",
        "CITYOPS_SMTP_PORT": str(smtp_port),
        "CITYOPS_SMS_GATEWAY_URL": sms.url("/v1/sms"),
        "CITYOPS_SMS_GATEWAY_API_KEY": SMS_API_KEY,
        "CITYOPS_NOTIFY_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "CITYOPS_NOTIFY_RETRY_BASE_SECONDS": "0.2",
        "CITYOPS_NOTIFY_RETRY_MAX_SECONDS": "1",
        "CITYOPS_NOTIFY_POLL_SECONDS": "0.1",
        "CITYOPS_RATE_SMS_BURST": str(SMS_BURST),
        # Only the receivers' own address: other loopback addresses stay refused, as outside local.
        "CITYOPS_OUTBOUND_ALLOW_CIDRS": ALLOW_CIDRS,
    }
    settings = NotificationsSettings(
        kafka_bootstrap=kafka_broker.bootstrap, topic_prefix=prefix, database_url=notifications_db,
        grpc_host="127.0.0.1", notify_max_attempts=MAX_ATTEMPTS, outbound_allow_cidrs=ALLOW_CIDRS,
    )
    await apply_topics(settings)
    await migrate(notifications_db, "notifications", migrations_dir("notifications"))
    run_dir = tmp_path_factory.mktemp("notifications-worker")
    roster_file = run_dir / "roster.yaml"
    roster_file.write_text(yaml.safe_dump(ROSTER, allow_unicode=True), encoding="utf-8")
    env["CITYOPS_NOTIFY_ROSTER_FILE"] = str(roster_file)
    worker_log = run_dir / "worker.log"
    log_file = open(worker_log, "wb")  # noqa: SIM115, ASYNC230 - setup; closed after the worker stops
    worker = subprocess.Popen(  # noqa: ASYNC220 - starting it is instant; it runs beside the loop
        cli_argv("worker", "notifications"),
        env={**os.environ, **env, "CITYOPS_DATA_DIR": str(run_dir / "data"),
             "CITYOPS_METRICS_PORT": str(free_port()), "CITYOPS_LOG_LEVEL": "WARNING"},
        stdout=log_file, stderr=subprocess.STDOUT, cwd=run_dir,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    await producer.start()
    try:
        async with service_resources("notifications", settings) as res:
            running = await start_grpc("notifications", settings, res, build=build, policy=POLICY, port=0)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
            stub = notifications_pb2_grpc.NotificationServiceStub(channel)
            yield Stack(settings=settings, channel=channel, stub=stub, webhooks=webhooks, sms=sms, smtp=smtp,
                        producer=producer, worker_log=worker_log)
            await channel.close()
            await running.server.stop(0)
    finally:
        await producer.stop()
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(worker.wait, 20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log_file.close()
        await webhooks.stop()
        await sms.stop()


def webhook(stack: Any, path: str, *, filter_: pb.SubscriptionFilter, secret: str) -> pb.Subscription:
    """A webhook subscription to the stack's receiver at ``path``."""
    return pb.Subscription(channel=pb.CHANNEL_WEBHOOK, address=stack.webhooks.url(path), secret=secret,
                           filter=filter_)


async def deliveries(stack: Any, **request: object) -> list[pb.Delivery]:
    """ListDeliveries as a supervisor."""
    response = await stack.stub.ListDeliveries(pb.ListDeliveriesRequest(**request),
                                               metadata=stack.auth("supervisor"))
    return list(response.deliveries)
