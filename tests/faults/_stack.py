"""The real stack, piece by piece: worker and api subprocesses, in-process apis, a broker with a
second listener advertised through a proxy, and read-back helpers (Kafka, consumer lag)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import grpc
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops_devtools.city import Component, cli_argv
from cityops_devtools.devstack import KafkaBroker
from cityops_devtools.devstack import _process as devproc
from cityops_devtools.testing import free_port
from cityops_platform.db.migrations import migrate
from cityops_platform.faust_app import consumer_group
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import migrations_dir, service_module, service_resources, start_grpc
from cityops_platform.settings import Settings

_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in _LIVE:
        if proc.poll() is None:
            proc.kill()


async def prepare(settings: Settings, *services: str) -> None:
    """The topic catalog under the test's prefix, and each service's schema."""
    await apply_topics(settings)
    for service in services:
        await migrate(settings.database_url, service, migrations_dir(service))


def base_env(settings: Settings, tmp: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CITYOPS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CITYOPS_TOPIC_PREFIX": settings.topic_prefix,
        "CITYOPS_DATABASE_URL": settings.database_url,
        "CITYOPS_DATA_DIR": str(tmp / "data"),
        "CITYOPS_LOG_LEVEL": "WARNING",
        "CITYOPS_GRPC_HOST": "127.0.0.1",
        **extra,
    }


class Proc:
    """A CityOps process (``cityops worker|serve <service>``) with its own log file and ports."""

    def __init__(self, kind: str, service: str, settings: Settings, tmp: Path, *, name: str = "",
                 env: dict[str, str] | None = None) -> None:
        self.kind, self.service = kind, service
        self.name = name or f"{service}-{kind}"
        self.tmp = tmp
        self.metrics_port = free_port()
        self.grpc_port = free_port()
        self.env = base_env(settings, tmp, CITYOPS_METRICS_PORT=str(self.metrics_port),
                            CITYOPS_GRPC_PORT=str(self.grpc_port), **(env or {}))
        self.proc: subprocess.Popen[bytes] | None = None
        self.component: Component | None = None
        self.starts = 0

    def start(self) -> Proc:
        self.starts += 1
        # The launcher's component (its spawn runs no Python in the child, so forking while gRPC
        # threads are busy here is safe). Every test stops its processes in `finally`; the
        # atexit hook is the net for an interrupted session.
        self.component = Component(self.name, cli_argv("worker" if self.kind == "worker" else "api", self.service),
                                   self.log_path, self.kind if self.kind == "worker" else "api",
                                   grpc_port=self.grpc_port, metrics_port=self.metrics_port)
        self.proc = self.component.start(self.env, cwd=self.tmp)
        _LIVE.add(self.proc)
        return self

    @property
    def log_path(self) -> Path:
        return self.tmp / f"{self.name}-{self.starts}.log"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no drain, no offset commit, no relay shutdown."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int | None:
        if self.proc is not None:
            devproc.terminate(self.proc, signal.SIGTERM, timeout)
            return self.proc.returncode
        return None

    def tail(self, chars: int = 3000) -> str:
        return "\n".join(p.read_text(errors="replace")[-chars:] for p in sorted(self.tmp.glob(f"{self.name}-*.log")))

    async def healthz(self) -> int:
        """HTTP status of the worker's /healthz (0 when it does not answer)."""
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                reply = await client.get(f"http://127.0.0.1:{self.metrics_port}/healthz")
            return reply.status_code
        except httpx.HTTPError:
            return 0


def worker(service: str, settings: Settings, tmp: Path, *, name: str = "", **env: str) -> Proc:
    # A SIGKILLed member's partitions move only after the session timeout: keep it short.
    own = {f"CITYOPS_{service.upper()}_WORKER_SESSION_TIMEOUT_SECONDS": "8", **env}
    return Proc("worker", service, settings, tmp, name=name, env=own)


async def wait_healthy(proc: Proc, within: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        assert proc.alive, f"{proc.name} exited:\n{proc.tail()}"
        assert proc.component is not None
        if await asyncio.to_thread(proc.component.ready):  # the launcher's readiness rule
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{proc.name} not healthy in {within}s:\n{proc.tail()}")


@contextlib.asynccontextmanager
async def inprocess_api(service: str, settings: Settings) -> AsyncIterator[grpc.aio.Channel]:
    """The service's real api (servicers, interceptor, relay) on a free port, in this process."""
    server = service_module(service, "server")
    async with service_resources(service, settings) as res:
        running = await start_grpc(service, settings, res, build=server.build, policy=server.POLICY, port=0)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            yield channel
        finally:
            await channel.close()
            await running.stop(1.0)


async def health_status(channel: grpc.aio.Channel) -> str:
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


class ProxiedBroker(KafkaBroker):
    """A broker with a second listener, WORKER, advertised at a proxy's port.

    Kafka answers Metadata with the advertised address of the listener the request came in on, so
    a client bootstrapped through the proxy keeps talking through it (and can be partitioned),
    while every other client uses the direct listener and is not disturbed.
    """

    def __init__(self, run_dir: Path, *, proxy_port: int) -> None:
        super().__init__(run_dir)
        self.proxy_port = proxy_port
        self.worker_port = free_port()

    def _write_config(self) -> Path:
        config = super()._write_config()
        text = config.read_text()
        text = re.sub(r"^listeners=(.*)$", rf"listeners=\1,WORKER://127.0.0.1:{self.worker_port}", text, flags=re.M)
        text = re.sub(r"^advertised\.listeners=(.*)$",
                      rf"advertised.listeners=\1,WORKER://127.0.0.1:{self.proxy_port}", text, flags=re.M)
        text = re.sub(r"^listener\.security\.protocol\.map=(.*)$",
                      r"listener.security.protocol.map=\1,WORKER:PLAINTEXT", text, flags=re.M)
        config.write_text(text)
        return config


async def read_topic(bootstrap: str, topic: str, *, within: float = 60.0, idle: float = 3.0) -> list[Any]:
    """Every record of ``topic`` from the beginning, until the end offsets are reached."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[Any] = []
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            positions = [await consumer.position(tp) for tp in parts]
            if all(pos >= ends[tp] for pos, tp in zip(positions, parts, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=int(idle * 1000), max_records=20_000)
            for records in batch.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def consumer_lag(bootstrap: str, group: str, topics: Iterable[str]) -> dict[str, int]:
    """Committed lag of ``group`` per topic (end offset − committed offset, summed over partitions)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        lag: dict[str, int] = {}
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
            ends = await consumer.end_offsets(parts) if parts else {}
            total = 0
            for tp in parts:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                total += max(0, ends[tp] - done)
            lag[topic] = total
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def group_of(service: str, settings: Settings) -> str:
    return consumer_group(service, settings)
