"""Kafka SASL/SCRAM-SHA-512 with per-service ACLs, on a real broker of its own.

The broker (KafkaBroker(sasl_admin=...)) has a SASL_PLAINTEXT listener and the StandardAuthorizer
(deny when no ACL matches). The ACLs are the ones a deployment declares, written with Kafka's own
kafka-acls tool (org.apache.kafka.tools.AclCommand). The clients are the production ones
(EventProducer, client_kwargs, apply_topics) configured only through Settings, as
CITYOPS_KAFKA_SECURITY_PROTOCOL / _SASL_MECHANISM / _SASL_USERNAME / _SASL_PASSWORD would.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import DevstackUnavailable, KafkaBroker
from cityops_devtools.devstack.jars import ensure_kafka_jars
from cityops_devtools.devstack.kafka import find_java
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.producer import EventProducer
from cityops_platform.kafka.topics import ACCESS, CATALOG, INCIDENT_EVENTS, NOTIFICATION_DELIVERIES
from cityops_platform.settings import Settings

ADMIN = ("cityops-admin", "admin-secret-0123456789")
USERS = {"svc-incidents": "incidents-secret-0123456789", "svc-notifications": "notifications-secret-0123456789"}
# One user per process role of the catalog (the chart's KafkaUsers, cityops_platform.kafka.topics.ACCESS).
ROLE_USERS = {role: f"{role}-secret-0123456789" for role in ACCESS}
PREFIX = "sec."
T = TypeVar("T")
# The broker, its ACLs (one kafka-acls JVM per grant) and the real sensors stack start in this module.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka-sasl"), sasl_admin=ADMIN, scram_users={**USERS, **ROLE_USERS})
    try:
        broker.start()
    except DevstackUnavailable as exc:
        import os

        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"Kafka unavailable: {exc}")
        pytest.skip(f"Kafka unavailable: {exc}")
    yield broker
    broker.stop()


def _settings(broker: KafkaBroker, user: str, password: str) -> Settings:
    return Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=PREFIX, kafka_security_protocol="SASL_PLAINTEXT",
                    kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=user, kafka_sasl_password=password)


async def _read_from_start(
    reader: Settings, topic: str, *, pick: Callable[[Any], T | None], until: Callable[[list[T]], bool],
    within_s: float,
) -> list[T]:
    """Read ``topic`` from its beginning as ``reader``'s user (no group), keeping what ``pick`` makes of
    each record (None: not kept), until ``until(kept)`` holds; TimeoutError after ``within_s`` seconds."""
    consumer = AIOKafkaConsumer(f"{PREFIX}{topic}", group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, **client_kwargs(reader))
    await consumer.start()
    try:
        kept: list[T] = []
        async with asyncio.timeout(within_s):
            while not until(kept):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    kept += [item for item in map(pick, records) if item is not None]
    finally:
        await consumer.stop()
    return kept


# kafka-acls JVMs at once: each starts a JVM and an admin client; a handful at a time keeps the
# broker answering on a 2-core machine.
ACL_JVMS = 3


async def _acl(broker: KafkaBroker, config: Path, *args: str, gate: asyncio.Semaphore | None = None) -> None:
    """kafka-acls --bootstrap-server ... --command-config admin.properties --add ..."""
    async with gate or contextlib.nullcontext():
        await _acl_now(broker, config, *args)


async def _acl_now(broker: KafkaBroker, config: Path, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        find_java(), "-Xmx128m", "-cp", f"{ensure_kafka_jars()}/*", "org.apache.kafka.tools.AclCommand",
        "--bootstrap-server", broker.bootstrap, "--command-config", str(config), "--add", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def acls(sasl_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> KafkaBroker:
    """The catalog's topics (created by the admin) and each service's grants."""
    config = tmp_path_factory.mktemp("acl") / "admin.properties"
    config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN[0]}" password="{ADMIN[1]}";\n'
        # A loaded machine (one broker JVM and a kafka-acls JVM per grant): wait for the broker rather
        # than fail after the admin client's default minute.
        "default.api.timeout.ms=300000\nrequest.timeout.ms=120000\n"
    )
    incidents_topic = f"{PREFIX}{INCIDENT_EVENTS.name}"
    deliveries_topic = f"{PREFIX}{NOTIFICATION_DELIVERIES.name}"

    async def setup() -> None:
        await apply_topics(_settings(sasl_broker, *ADMIN))
        gate = asyncio.Semaphore(ACL_JVMS)
        await asyncio.gather(
            _acl(sasl_broker, config, "--allow-principal", "User:svc-incidents", "--producer",
                 "--topic", incidents_topic, gate=gate),
            _acl(sasl_broker, config, "--allow-principal", "User:svc-notifications", "--consumer",
                 "--topic", incidents_topic, "--group", f"{PREFIX}notifications", gate=gate),
            _acl(sasl_broker, config, "--allow-principal", "User:svc-notifications", "--producer",
                 "--topic", deliveries_topic, gate=gate),
            *(_acl(sasl_broker, config, *args, gate=gate) for args in role_acl_commands()),
        )

    asyncio.run(setup())
    return sasl_broker


# The roles this broker exercises: every Faust worker, and the sensors and notifications apis and the
# gateway of the real stack below (the other apis' grants are the same table, checked rendered in
# tests/unit/helm).
ROLES_HERE = tuple(r for r, a in ACCESS.items()
                   if a.faust or r in ("sensors-api", "gateway-api", "notifications-api"))


def role_acl_commands() -> list[list[str]]:
    """kafka-acls arguments for the process roles, from the catalog's ACCESS table: what the chart's
    KafkaUsers declare (topics literal, the Faust app's group literal and its internal topics prefixed).
    Few JVMs: one per role and kind of grant, and one for every role's IdempotentWrite."""
    commands: list[list[str]] = []
    writers: list[str] = []
    for role in ROLES_HERE:
        access = ACCESS[role]
        principal = ["--allow-principal", f"User:{role}"]
        reads = [a for spec in access.reads for a in ("--topic", f"{PREFIX}{spec.name}")]
        writes = [a for spec in (*access.writes, *access.dlq_writes()) for a in ("--topic", f"{PREFIX}{spec.name}")]
        app = f"{PREFIX}cityops-{role.removesuffix('-worker')}-worker"
        group = ["--group", app] if access.faust else []
        if reads or group:
            commands.append([*principal, "--operation", "Read", "--operation", "Describe", *reads, *group])
        if writes:
            commands.append([*principal, "--operation", "Write", "--operation", "Describe", *writes])
            writers += principal
        if access.faust:
            commands.append([*principal, "--resource-pattern-type", "prefixed", "--topic", app,
                             *(a for op in ("Create", "Read", "Write", "Describe", "DescribeConfigs")
                               for a in ("--operation", op))])
    commands.append([*writers, "--operation", "IdempotentWrite", "--cluster"])
    return commands


async def test_incidents_principal_can_produce_incident_events(acls: KafkaBroker) -> None:
    producer = EventProducer(_settings(acls, "svc-incidents", USERS["svc-incidents"]), client_id="cityops-incidents")
    await producer.start()
    try:
        await producer.send(INCIDENT_EVENTS.name, b"incident-reported", key=b"inc-1")
    finally:
        await producer.stop()


async def test_notifications_principal_cannot_produce_to_the_incidents_topic(acls: KafkaBroker) -> None:
    producer = EventProducer(_settings(acls, "svc-notifications", USERS["svc-notifications"]),
                             client_id="cityops-notifications")
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send(INCIDENT_EVENTS.name, b"forged", key=b"inc-1"), 30)
        # Its own topic is open to it: the refusal above is the ACL, not a broken login.
        await producer.send(NOTIFICATION_DELIVERIES.name, b"delivery", key=b"d-1")
    finally:
        await producer.stop()


async def test_notifications_principal_consumes_incident_events_in_its_group(acls: KafkaBroker) -> None:
    settings = _settings(acls, "svc-notifications", USERS["svc-notifications"])
    marker = uuid.uuid4().hex.encode()
    producer = EventProducer(_settings(acls, "svc-incidents", USERS["svc-incidents"]))
    await producer.start()
    try:
        await producer.send(INCIDENT_EVENTS.name, marker, key=b"inc-2")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(f"{PREFIX}{INCIDENT_EVENTS.name}", group_id=f"{PREFIX}notifications",
                                auto_offset_reset="earliest", enable_auto_commit=False, **client_kwargs(settings))
    await consumer.start()
    try:
        seen: list[bytes] = []
        async with asyncio.timeout(30):
            while marker not in seen:
                batch = await consumer.getmany(timeout_ms=500)
                seen.extend(r.value for records in batch.values() for r in records)
    finally:
        await consumer.stop()


async def test_a_wrong_password_is_refused(acls: KafkaBroker) -> None:
    producer = EventProducer(_settings(acls, "svc-incidents", "not-the-password"))
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), 30)
    await producer.stop()


async def test_the_incidents_principal_cannot_read_what_it_was_not_granted(acls: KafkaBroker) -> None:
    settings = _settings(acls, "svc-incidents", USERS["svc-incidents"])
    consumer = AIOKafkaConsumer(f"{PREFIX}{NOTIFICATION_DELIVERIES.name}", group_id=None,
                                auto_offset_reset="earliest", **client_kwargs(settings))
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(_start_and_read(consumer), 30)


async def _start_and_read(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.start()
        while True:
            await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()


# --- one user per process role, ACLs from the catalog -------------------------------------------------


@pytest.mark.parametrize("role", sorted(r for r in ROLES_HERE if ACCESS[r].writes))
async def test_each_role_writes_its_topics_and_is_denied_the_others(acls: KafkaBroker, role: str) -> None:
    access = ACCESS[role]
    producer = EventProducer(_settings(acls, role, ROLE_USERS[role]), client_id=f"cityops-{role}")
    await producer.start()
    try:
        for spec in access.writes:
            await producer.send(spec.name, b"allowed", key=b"k")
        foreign = next(spec for spec in CATALOG if spec not in access.writes)
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send(foreign.name, b"forged", key=b"k"), 30)
    finally:
        await producer.stop()


@pytest.mark.parametrize("role", sorted(r for r in ROLES_HERE if ACCESS[r].reads))
async def test_each_role_reads_only_its_topics(acls: KafkaBroker, role: str) -> None:
    access = ACCESS[role]
    settings = _settings(acls, role, ROLE_USERS[role])
    own = AIOKafkaConsumer(f"{PREFIX}{access.reads[0].name}", group_id=None, auto_offset_reset="earliest",
                           **client_kwargs(settings))
    await own.start()
    try:
        await own.getmany(timeout_ms=500)  # authorised: no error
    finally:
        await own.stop()
    foreign = next(spec for spec in CATALOG if spec not in access.reads)
    consumer = AIOKafkaConsumer(f"{PREFIX}{foreign.name}", group_id=None, auto_offset_reset="earliest",
                                **client_kwargs(settings))
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(_start_and_read(consumer), 30)


# --- the real sensors worker (Faust) and api, each as its own role, on the SASL/ACL broker -------------


@pytest.fixture(scope="module")
def sensors_on_sasl(acls: KafkaBroker, postgres_server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`cityops serve sensors` as sensors-api and `cityops worker sensors` as sensors-worker, configured
    only through the environment (as the chart does), on the ACL'd broker and a fresh database."""
    import os
    import signal
    import time

    import httpx

    from cityops_devtools.devstack._process import spawn, tail, terminate
    from cityops_devtools.testing import free_port, make_settings
    from cityops_platform.db.migrations import migrate
    from cityops_platform.runtime import migrations_dir

    if not postgres_server.is_running:
        postgres_server.restart()
    db_name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.create_database(db_name)
    asyncio.run(migrate(dsn, "sensors", migrations_dir("sensors")))
    logs = tmp_path_factory.mktemp("sensors-sasl")
    port, worker_port = free_port(), free_port()
    settings = make_settings(kafka_bootstrap=acls.bootstrap, topic_prefix=PREFIX, database_url=dsn)
    base = {
        **os.environ, "CITYOPS_KAFKA_BOOTSTRAP": acls.bootstrap, "CITYOPS_TOPIC_PREFIX": PREFIX,
        "CITYOPS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CITYOPS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CITYOPS_DATABASE_URL": dsn, "CITYOPS_DATA_DIR": str(logs / "data"), "CITYOPS_GRPC_PORT": str(port),
        "CITYOPS_JWT_SECRET": settings.jwt_secret, "CITYOPS_LOG_LEVEL": "INFO",
        "CITYOPS_SENSORS_RULES_REFRESH_SECONDS": "0.5", "CITYOPS_SENSORS_CACHE_REFRESH_SECONDS": "0.5",
        "CITYOPS_SENSORS_TICK_SECONDS": "0.5", "CITYOPS_SENSORS_SINK_FLUSH_SECONDS": "0.2",
    }

    def as_role(role: str, metrics_port: int) -> dict[str, str]:
        return {**base, "CITYOPS_KAFKA_SASL_USERNAME": role, "CITYOPS_KAFKA_SASL_PASSWORD": ROLE_USERS[role],
                "CITYOPS_METRICS_PORT": str(metrics_port)}

    api = spawn(cli_argv("serve", "sensors"), log_file=logs / "api.log",
                env=as_role("sensors-api", free_port()))
    worker = spawn(cli_argv("worker", "sensors"), log_file=logs / "worker.log",
                   env=as_role("sensors-worker", worker_port))
    try:
        deadline = time.monotonic() + 120
        ready = False
        while time.monotonic() < deadline and not ready:
            assert worker.poll() is None, tail(logs / "worker.log", 80)
            assert api.poll() is None, tail(logs / "api.log", 80)
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"http://127.0.0.1:{worker_port}/readyz", timeout=1).status_code == 200
            time.sleep(0.5)
        assert ready, "sensors worker not ready under its ACLs:\n" + tail(logs / "worker.log", 80)
        yield settings, f"127.0.0.1:{port}", logs
    finally:
        terminate(worker, signal.SIGTERM, 30)
        terminate(api, signal.SIGTERM, 15)
        postgres_server.drop_database(db_name)


async def test_the_sensors_worker_does_its_job_under_its_own_acls(sensors_on_sasl) -> None:  # type: ignore[no-untyped-def]
    """Readings in (sensors-api) → the Faust worker (sensors-worker: group, changelog, readings) → an alert
    out, read by the gateway's role: the whole path works with exactly the catalog's grants."""
    from cityops.sensors.v1 import sensors_pb2 as pb
    from cityops_platform.kafka.topics import SENSOR_ALERTS

    settings, addr, _ = sensors_on_sasl
    sid = await _raise_alert(settings, addr)
    # Read as the gateway's role (SASL, no group), as the live stream does.
    reader = _settings(settings_broker(settings), "gateway-api", ROLE_USERS["gateway-api"])
    mine = await _read_from_start(reader, SENSOR_ALERTS.name, pick=lambda r: r.value if r.key == sid.encode() else None,
                                  until=bool, within_s=90)
    alert = pb.SensorAlert.FromString(mine[0])
    assert alert.state == pb.ALERT_STATE_RAISED and alert.value >= 20


async def test_the_sensors_worker_role_is_denied_what_it_should_not_touch(sensors_on_sasl) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = sensors_on_sasl
    worker_settings = _settings(settings_broker(settings), "sensors-worker", ROLE_USERS["sensors-worker"])
    producer = EventProducer(worker_settings, client_id="cityops-sensors-worker")
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send(INCIDENT_EVENTS.name, b"forged", key=b"inc"), 30)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(f"{PREFIX}{NOTIFICATION_DELIVERIES.name}", group_id=None,
                                auto_offset_reset="earliest", **client_kwargs(worker_settings))
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(_start_and_read(consumer), 30)


async def _raise_alert(settings: Settings, addr: str, *, lat: float = 10.905) -> str:
    """A gateway's sensor with a threshold rule, and readings over it, through the real sensors api;
    returns the sensor id (the key of the alert the sensors worker then raises)."""
    import time

    import grpc

    from cityops.common.v1 import common_pb2
    from cityops.sensors.v1 import sensors_pb2 as pb
    from cityops.sensors.v1 import sensors_pb2_grpc
    from cityops_devtools.testing import bearer

    sid = f"wl-{uuid.uuid4().hex[:8]}"
    admin, gateway = bearer(settings, "admin"), bearer(settings, "sensor_gateway", gateway_id="gw-acl-test")
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = sensors_pb2_grpc.SensorServiceStub(channel)
        sensor = pb.Sensor(id=sid, kind=pb.SENSOR_KIND_WATER_LEVEL, district="Thuận An", reporting_interval_seconds=60,
                           name="Mực nước đường Nguyễn Văn Tiết",
                           location=common_pb2.GeoPoint(lat=lat, lon=106.705, address="Lái Thiêu, Thuận An"))
        await stub.RegisterSensor(pb.RegisterSensorRequest(sensor=sensor), metadata=gateway, timeout=10)  # its owner
        await stub.PutRule(pb.PutRuleRequest(rule=pb.Rule(
            enabled=True, sensor_id=sid, rule_type=pb.RULE_TYPE_THRESHOLD, direction=pb.DIRECTION_ABOVE,
            warn_level=20, critical_level=40, hysteresis=5, min_duration_seconds=0)), metadata=admin, timeout=10)
        await asyncio.sleep(1.5)  # the worker reloads rules every 0.5 s here
        now_ms = int(time.time() * 1000)
        start = now_ms - 3_600_000 - now_ms % 60_000
        values = [5.0, 10.0, 21.0, 24.0, 30.0]
        batch = pb.ReadingBatch(columns=pb.ReadingColumns(
            sensor_ids=[sid] * len(values), values=values,
            observed_at_ms=[start + i * 1000 for i in range(len(values))]))

        async def batches():  # type: ignore[no-untyped-def]
            yield batch

        summary = await stub.IngestReadings(batches(), metadata=gateway, timeout=30)
        assert summary.accepted == len(values)
    return sid


class _Bootstrap:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap


def settings_broker(settings: Settings) -> KafkaBroker:
    """A stand-in with the broker's bootstrap, for ``_settings`` (which takes a broker)."""
    return _Bootstrap(settings.kafka_bootstrap)  # type: ignore[return-value]


# --- the incidents, dispatch and notifications Faust workers, each as its own role -------------------


class _Hooks:
    """A real HTTP receiver on loopback that keeps every webhook body it gets."""

    def __init__(self) -> None:
        import http.server
        import threading

        bodies: list[bytes] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.bodies = bodies
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def workers_on_sasl(sensors_on_sasl, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`cityops worker incidents|dispatch|notifications` as incidents-worker / dispatch-worker /
    notifications-worker and `cityops serve notifications` as notifications-api, configured only
    through the environment, on the ACL'd broker and the sensors stack's database."""
    import os
    import signal
    import time

    import httpx

    from cityops_devtools.devstack._process import spawn, tail, terminate
    from cityops_devtools.testing import free_port
    from cityops_platform.db.migrations import migrate
    from cityops_platform.runtime import migrations_dir

    settings, _, _ = sensors_on_sasl

    async def prepare() -> None:
        for service in ("incidents", "dispatch", "notifications"):
            await migrate(settings.database_url, service, migrations_dir(service))

    asyncio.run(prepare())
    logs = tmp_path_factory.mktemp("workers-sasl")
    api_port = free_port()
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")},
        "CITYOPS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "CITYOPS_TOPIC_PREFIX": PREFIX,
        "CITYOPS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CITYOPS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CITYOPS_DATABASE_URL": settings.database_url, "CITYOPS_JWT_SECRET": settings.jwt_secret,
        "CITYOPS_LOG_LEVEL": "INFO", "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",  # the receiver is on loopback
        "CITYOPS_GRPC_PORT": str(api_port),
    }
    procs: dict[str, tuple[object, int]] = {}
    for kind, service in (("serve", "notifications"), ("worker", "incidents"), ("worker", "dispatch"),
                          ("worker", "notifications")):
        role = f"{service}-{'api' if kind == 'serve' else 'worker'}"
        port = free_port()
        env = {**base, "CITYOPS_KAFKA_SASL_USERNAME": role, "CITYOPS_KAFKA_SASL_PASSWORD": ROLE_USERS[role],
               "CITYOPS_METRICS_PORT": str(port), "CITYOPS_DATA_DIR": str(logs / f"data-{role}")}
        procs[role] = (spawn(cli_argv(kind, service),
                             log_file=logs / f"{role}.log", env=env), port)
    try:
        deadline = time.monotonic() + 180
        pending = {role for role in procs if role.endswith("-worker")}
        while pending and time.monotonic() < deadline:
            for role, (proc, port) in procs.items():
                assert proc.poll() is None, f"{role} exited:\n" + tail(logs / f"{role}.log", 80)  # type: ignore[attr-defined]
                if role in pending:
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                            pending.discard(role)
            time.sleep(0.5)
        assert not pending, "not ready under their ACLs: " + ", ".join(
            f"{r}:\n{tail(logs / f'{r}.log', 60)}" for r in sorted(pending))
        yield settings, f"127.0.0.1:{api_port}", logs
    finally:
        for proc, _ in reversed(procs.values()):
            terminate(proc, signal.SIGTERM, 30)  # type: ignore[arg-type]


async def test_the_incidents_dispatch_and_notifications_workers_do_their_jobs_under_their_own_acls(
    sensors_on_sasl, workers_on_sasl  # type: ignore[no-untyped-def]
) -> None:
    """A sensor alert → incidents-worker (its group, reads sensors.alerts, writes incidents.events) →
    dispatch-worker (reads incidents.events: its view of the incident) and notifications-worker (reads
    incidents.events, delivers the webhook, writes notifications.deliveries): end to end with exactly
    the catalog's grants, each worker as its own Kafka user."""
    import asyncpg
    import grpc

    from cityops.notifications.v1 import notifications_pb2 as npb
    from cityops.notifications.v1 import notifications_pb2_grpc
    from cityops_devtools.testing import bearer
    from cityops_platform.kafka.topics import NOTIFICATION_DELIVERIES as DELIVERIES

    _, sensors_addr, _ = sensors_on_sasl
    settings, notifications_addr, _ = workers_on_sasl
    hooks = _Hooks()
    try:
        async with grpc.aio.insecure_channel(notifications_addr) as channel:
            stub = notifications_pb2_grpc.NotificationServiceStub(channel)
            sub = npb.Subscription(channel=npb.CHANNEL_WEBHOOK, address=hooks.url, secret="acl-test-secret-0123456789",
                                   filter=npb.SubscriptionFilter(event_types=["cityops.incidents.v1.IncidentReported"]))
            async with asyncio.timeout(60):  # the api may still be starting
                while True:
                    try:
                        created = await stub.CreateSubscription(npb.CreateSubscriptionRequest(subscription=sub),
                                                                metadata=bearer(settings, "supervisor"), timeout=10)
                        break
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE:
                            raise
                        await asyncio.sleep(0.5)
        sid = await _raise_alert(settings, sensors_addr, lat=10.9805)  # its own spot: a new incident

        conn = await asyncpg.connect(settings.database_url)
        try:
            incident_id = None
            async with asyncio.timeout(120):  # incidents-worker: the alert became an incident
                while incident_id is None:
                    incident_id = await conn.fetchval(
                        "SELECT incident_id::text FROM incidents.alert_links WHERE sensor_id = $1", sid)
                    await asyncio.sleep(0.5)
            async with asyncio.timeout(120):  # dispatch-worker: its view of the incident, from incidents.events
                while not await conn.fetchval(  # noqa: ASYNC110 - polling another process's database
                        "SELECT count(*) FROM dispatch.incidents_view WHERE id = $1", incident_id):
                    await asyncio.sleep(0.5)
        finally:
            await conn.close()
        async with asyncio.timeout(120):  # notifications-worker: the webhook delivered
            while not any(incident_id in body.decode(errors="replace") for body in hooks.bodies):  # noqa: ASYNC110
                await asyncio.sleep(0.5)
    finally:
        hooks.server.shutdown()
    # ... and recorded the outcome on notifications.deliveries (which only the notifications roles write).
    from google.protobuf.message import DecodeError

    from cityops.notifications.v1 import events_pb2 as notification_events

    reader = _settings(settings_broker(settings), *ADMIN)

    def status_of(r: Any) -> int | None:
        try:  # other tests of this module write raw probe bytes to the topic
            event = notification_events.DeliveryEvent.FromString(r.value)
        except DecodeError:
            return None
        return event.delivery.status if event.delivery.subscription_id == created.id else None

    await _read_from_start(reader, DELIVERIES.name, pick=status_of,
                           until=lambda statuses: npb.DELIVERY_STATUS_SENT in statuses, within_s=60)
