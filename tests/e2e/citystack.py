"""The whole city as real processes for tests: each service's api (and worker), then the gateway.

Every process gets its own free ports, the test's Kafka topic prefix and database, and a log file
under ``run_dir``; ``stop()`` sends SIGTERM (then SIGKILL) to each, so nothing outlives the test.
Used by tests/e2e and tests/integration/gateway (loaded by path: test folders are not packages).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops_platform.db.migrations import migrate
from cityops_platform.devstack._process import spawn, terminate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import SERVICES, migrations_dir
from cityops_platform.testing import free_port, make_settings

CLI = [sys.executable, "-m", "cityops_platform.cli"]


def installed(service: str) -> bool:
    return importlib.util.find_spec(f"cityops_{service}") is not None


def has_worker(service: str) -> bool:
    return installed(service) and importlib.util.find_spec(f"cityops_{service}.app") is not None


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log_file: Path
    ready_url: str = ""
    grpc_port: int = 0
    metrics_port: int = 0  # its /metrics (Prometheus) port


@dataclass
class CityStack:
    run_dir: Path
    kafka_bootstrap: str
    database_url: str
    topic_prefix: str
    procs: list[Proc] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    http_port: int = 0

    def __post_init__(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ports = {svc: free_port() for svc in SERVICES}
        self.http_port = free_port()
        self.settings = make_settings(
            kafka_bootstrap=self.kafka_bootstrap, topic_prefix=self.topic_prefix, database_url=self.database_url
        )

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def addr(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def env(self, name: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
        env.update(
            CITYOPS_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            CITYOPS_TOPIC_PREFIX=self.topic_prefix,
            CITYOPS_DATABASE_URL=self.database_url,
            CITYOPS_JWT_SECRET=self.settings.jwt_secret,
            CITYOPS_DATA_DIR=str(self.run_dir / f"data-{name}"),
            CITYOPS_METRICS_PORT=str(free_port()),
            CITYOPS_LOG_LEVEL="INFO",
            CITYOPS_GRPC_DRAIN_SECONDS="1",
            CITYOPS_OUTBOUND_ALLOW_CIDRS="127.0.0.0/8",  # the test's receivers are on loopback
            **{f"CITYOPS_{svc.upper()}_ADDR": self.addr(svc) for svc in SERVICES},
            **extra,
        )
        return env

    def prepare(self, services: list[str]) -> None:
        """Topics for everyone, migrations for the given services."""

        async def run() -> None:
            await apply_topics(self.settings)
            for service in services:
                await migrate(self.database_url, service, migrations_dir(service))

        # A thread of its own: Playwright's sync API keeps an event loop running in this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log_file = self.run_dir / f"{name}.log"
        proc = Proc(name, spawn(argv, log_file=log_file, env=env), log_file)
        self.procs.append(proc)
        return proc

    def start_api(self, service: str, **extra: str) -> None:
        env = self.env(f"{service}-api", CITYOPS_GRPC_PORT=str(self.ports[service]), **extra)
        proc = self._spawn(f"{service}-api", [*CLI, "serve", service], env)
        proc.grpc_port = self.ports[service]
        proc.metrics_port = int(env["CITYOPS_METRICS_PORT"])

    def start_worker(self, service: str, **extra: str) -> None:
        env = self.env(f"{service}-worker", **extra)
        proc = self._spawn(f"{service}-worker", [*CLI, "worker", service], env)
        proc.ready_url = f"http://127.0.0.1:{env['CITYOPS_METRICS_PORT']}/healthz"
        proc.metrics_port = int(env["CITYOPS_METRICS_PORT"])

    def start_gateway(self, **extra: str) -> None:
        env = self.env("gateway", CITYOPS_HTTP_PORT=str(self.http_port), **extra)
        proc = self._spawn("gateway", [*CLI, "serve", "gateway"], env)
        proc.ready_url = f"{self.gateway_url}/healthz"
        proc.metrics_port = int(env["CITYOPS_METRICS_PORT"])

    def _ready(self, proc: Proc) -> bool:
        if proc.grpc_port:
            with grpc.insecure_channel(f"127.0.0.1:{proc.grpc_port}") as channel:
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.RpcError:
                    return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
        try:
            response = httpx.get(proc.ready_url, timeout=1)
        except httpx.HTTPError:
            return False
        if proc.name == "gateway":
            # Ready only once the event consumer sits at the end of every topic.
            return response.status_code == 200 and response.json().get("events") == "ready"
        return response.status_code == 200

    def wait_ready(self, timeout: float = 90.0) -> None:
        pending = list(self.procs)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for proc in list(pending):
                if proc.proc.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited {proc.proc.returncode}:\n{self.tail(proc)}")
                if self._ready(proc):
                    pending.remove(proc)
            time.sleep(0.2)
        if pending:
            details = "\n".join(f"--- {p.name}\n{self.tail(p)}" for p in pending)
            raise RuntimeError(f"not ready after {timeout}s: {[p.name for p in pending]}\n{details}")

    def tail(self, proc: Proc, lines: int = 30) -> str:
        try:
            return "\n".join(proc.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        for proc in reversed(self.procs):
            terminate(proc.proc, signal.SIGTERM, 15.0)
        self.procs.clear()
