"""Helpers for tests against the real components (used by every service's tests)."""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.devstack._process import free_port as free_port  # tests pick ports here
from cityops_platform import auth
from cityops_platform.settings import Settings


def make_settings(
    *, kafka_bootstrap: str, topic_prefix: str, database_url: str, **overrides: Any
) -> Settings:
    """Settings pointing at the test session's broker and database, isolated by topic prefix."""
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        database_url=database_url,
        grpc_host="127.0.0.1",
        **overrides,
    )


def fresh_settings(kafka: KafkaBroker, postgres: PostgresServer, **overrides: Any) -> tuple[Settings, str]:
    """Settings on ``kafka`` and ``postgres`` (each brought back first when an earlier test stopped it)
    with a topic prefix and a new empty database of their own; returns them and the database's name
    (to drop it afterwards)."""
    if not kafka.is_running:
        kafka.restart()
    if not postgres.is_running:
        postgres.restart()
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres.create_database(name)
    settings = make_settings(kafka_bootstrap=kafka.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                             database_url=dsn, **overrides)
    return settings, name


def bearer(
    settings: Settings, role: str | list[str], subject: str | None = None, ttl: int = 3600,
    **bindings: str,
) -> tuple[tuple[str, str], ...]:
    """gRPC metadata with a bearer token for ``role`` (one role or several); ``bindings`` adds
    object-binding claims (``unit_id=``, ``gateway_id=``, ``cad_id=``)."""
    roles = [role] if isinstance(role, str) else role
    codec = auth.TokenCodec(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    token = codec.issue(subject or f"test-{roles[0]}", roles, ttl_seconds=ttl, bindings=bindings)
    return (("authorization", f"Bearer {token}"),)


async def serve_http(
    app: web.Application, host: str = "127.0.0.1", *, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Start an aiohttp ``app`` (a test's receiver) on a free port of ``host``; returns its runner
    (``await runner.cleanup()`` stops it) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    return runner, port


async def consume(
    settings: Settings,
    topic: str,
    *,
    count: int,
    timeout: float = 30.0,  # noqa: ASYNC109 - a test helper's overall budget, not a per-call timeout
    prefixed: bool = False,
    predicate: Callable[[Any], bool] | None = None,
    until: Callable[[list[Any]], bool] | None = None,
) -> list[Any]:
    """Read records from the start of ``topic`` until ``count`` match (or ``until(found)`` holds)
    or ``timeout`` passes."""
    name = topic if prefixed else f"{settings.topic_prefix}{topic}"
    consumer = AIOKafkaConsumer(
        name,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        def done() -> bool:
            return until(found) if until is not None else len(found) >= count

        while not done() and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for records in batch.values():
                found.extend(r for r in records if predicate is None or predicate(r))
    finally:
        await consumer.stop()
    return found


async def eventually(
    check: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.1  # noqa: ASYNC109
) -> Any:
    """Await ``check()`` (sync or async) until it returns a truthy value; fail with its last result."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def load_by_path(name: str, path: Path) -> ModuleType:
    """The module in the file ``path``, loaded once under ``name`` (test folders are not packages, so a
    helper such as tests/e2e/citystack.py is loaded by path; every loader shares one module)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


async def at_least(count: Callable[[], Awaitable[int]], n: int) -> int | None:
    """``await count()`` once it has reached ``n`` (n >= 1), else None: a check for ``eventually``."""
    value = await count()
    return value if value >= n else None


def incidents_reported(records: Iterable[Any]) -> dict[str, set[str]]:
    """Incident id → the event ids of its IncidentReported records, from records of incidents.events
    (announced exactly once: one id per incident)."""
    from cityops.incidents.v1 import events_pb2

    announced: dict[str, set[str]] = {}
    for record in records:
        event = events_pb2.IncidentEvent()
        event.ParseFromString(record.value)
        if event.WhichOneof("body") == "reported":
            announced.setdefault(event.incident_id, set()).add(event.event_id)
    return announced


def status_details(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The ``google.rpc.BadRequest`` field violations of a failed call, as (field, description)."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    out: list[tuple[str, str]] = []
    if status is None:
        return out
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out
