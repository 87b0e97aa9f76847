"""The four real gRPC apis in-process, shared by the security tests of this package.

They run on one asyncio loop in a background thread (service_resources + start_grpc on port 0,
each with the ``build``/``POLICY`` of ``cityops_<svc>.server``), against one fresh database with
the four schemas migrated and a fresh topic prefix on the session's broker. Tests talk to them
over real (synchronous) channels, which lets Hypothesis drive them without an event loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import fresh_settings, load_by_path
from cityops_platform import auth
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import SERVICES, migrations_dir, service_resources, start_grpc
from cityops_platform.settings import Settings
from cityops_platform.tracing import configure_tracing

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
STUBS = {
    "incidents": "IncidentServiceStub",
    "dispatch": "DispatchServiceStub",
    "sensors": "SensorServiceStub",
    "notifications": "NotificationServiceStub",
}


def load_helper(name: str) -> ModuleType:
    """A helper module of this folder (tests are imported in importlib mode, not as a package)."""
    return load_by_path(f"cityops_test_security_{name}", HERE / f"{name}.py")


@dataclass
class Api:
    service: str
    server: ModuleType  # cityops_<svc>.server: SERVICE, POLICY, build
    port: int
    descriptor: ServiceDescriptor
    stub: Any

    @property
    def policy(self) -> auth.AccessPolicy:
        return self.server.POLICY  # type: ignore[no-any-return]

    def path(self, method: MethodDescriptor) -> str:
        return f"/{self.descriptor.full_name}/{method.name}"


@dataclass
class Host:
    settings: Settings
    loop: asyncio.AbstractEventLoop
    apis: dict[str, Api] = field(default_factory=dict)
    channels: list[grpc.Channel] = field(default_factory=list)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def token(self, roles: list[str], subject: str, *, ttl: int = 600, secret: str | None = None,
              **bindings: str) -> str:
        codec = auth.TokenCodec(secret or self.settings.jwt_secret, issuer=self.settings.jwt_issuer,
                                audience=self.settings.jwt_audience)
        return codec.issue(subject, roles, ttl_seconds=ttl, bindings=bindings)

    def md(self, roles: list[str] | str, subject: str = "", **bindings: str) -> tuple[tuple[str, str], ...]:
        """Bearer metadata for ``roles`` with optional binding claims (unit_id=, gateway_id=, cad_id=)."""
        role_list = [roles] if isinstance(roles, str) else roles
        token = self.token(role_list, subject or f"sec-{role_list[0]}-{uuid.uuid4().hex[:6]}", **bindings)
        return (("authorization", f"Bearer {token}"),)

    def invoke(self, service: str, method: MethodDescriptor, request: Any, *,
               metadata: tuple[tuple[str, str], ...] = (), timeout: float = 10.0,
               stream_wait: float = 0.5) -> grpc.StatusCode:
        """Call any RPC shape over a real channel and return its final status code.

        A server stream that is accepted but stays quiet ends with our own DEADLINE_EXCEEDED after
        ``stream_wait`` s: that is an accepted call, reported as OK.
        """
        stub_method = getattr(self.apis[service].stub, method.name)
        try:
            if method.server_streaming:
                call = stub_method(request, metadata=metadata, timeout=stream_wait)
                try:
                    next(iter(call), None)
                    call.cancel()
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                        return grpc.StatusCode.OK
                    raise
                return grpc.StatusCode.OK
            if method.client_streaming:
                stub_method(iter(request), metadata=metadata, timeout=timeout)
            else:
                stub_method(request, metadata=metadata, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]
        return grpc.StatusCode.OK


def _settings_for(service: str, base: Settings) -> Settings:
    if service == "notifications":
        from cityops_notifications.settings import NotificationsSettings

        return NotificationsSettings.from_base(base)
    return base


async def _start_all(host: Host, stack: contextlib.AsyncExitStack) -> None:
    for service in SERVICES:  # incidents first: dispatch calls it (ImportEido)
        server = importlib.import_module(f"cityops_{service}.server")
        settings = _settings_for(service, host.settings)
        res = await stack.enter_async_context(service_resources(service, settings))
        stack.push_async_callback(_cancel_own_tasks, res.tasks)
        running = await start_grpc(service, settings, res, build=server.build, policy=server.POLICY, port=0)
        stack.push_async_callback(running.stop, 0.2)
        proto = importlib.import_module(f"cityops.{service}.v1.{service}_pb2")
        grpc_mod = importlib.import_module(f"cityops.{service}.v1.{service}_pb2_grpc")
        descriptor = next(s for s in proto.DESCRIPTOR.services_by_name.values() if s.full_name == server.SERVICE)
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        host.channels.append(channel)
        host.apis[service] = Api(service, server, running.port, descriptor, getattr(grpc_mod, STUBS[service])(channel))
        if service == "incidents":
            host.settings = host.settings.model_copy(update={"incidents_addr": f"127.0.0.1:{running.port}"})


async def _cancel_own_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    # Long-lived helpers of a service (e.g. the sensors cache refresher) would hold the shutdown
    # for its 5 s grace; the outbox relay is stopped properly by service_resources itself.
    for task in tasks:
        if not task.get_name().endswith("outbox-relay"):
            task.cancel()


@pytest.fixture(scope="package")
def host(kafka_broker: KafkaBroker, postgres_server: PostgresServer) -> Iterator[Host]:
    settings, name = fresh_settings(kafka_broker, postgres_server, rpc_timeout_seconds=3.0)
    dsn = settings.database_url
    # Tracing on (it is off by default), so test_privacy.py scans the spans a traced deployment exports.
    configure_tracing("security-test", enable=True)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="security-apis", daemon=True)
    thread.start()
    host = Host(settings, loop)
    stack = contextlib.AsyncExitStack()

    async def prepare() -> None:
        await apply_topics(settings)
        for service in SERVICES:
            await migrate(dsn, service, migrations_dir(service))
        await _start_all(host, stack)

    try:
        host.run(prepare(), timeout=120)
        yield host
    finally:
        for channel in host.channels:
            channel.close()
        host.run(stack.aclose(), timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        postgres_server.drop_database(name)


class Records(logging.Handler):
    """Keeps every record of the logger it is attached to (thread-safe: the apis log from their thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def audit_log() -> Iterator[Records]:
    """The records written to the ``cityops.audit`` logger during the test."""
    handler = Records()
    logger = logging.getLogger("cityops.audit")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> list[str]:
    """Lines of figures (inputs tried, calls made, leaks found) printed at the end of the run."""
    return request.config.stash.setdefault(FIGURES, [])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("bảo mật: số liệu (security figures)")
        for line in lines:
            terminalreporter.write_line(line)
