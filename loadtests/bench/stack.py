"""The system under test: a fresh local city (devstack + every service) or given endpoints.

The local city is built from the same pieces as ``cityops up`` (``Devstack``, ``spawn``, topics,
migrations) but in a throw-away run directory and on free ports, so a bench never collides with a
developer's ``make run`` or a test on the shared machine, and every run starts from empty topics
and an empty database.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops_platform.db.migrations import migrate
from cityops_platform.devstack import Devstack
from cityops_platform.devstack._process import free_port, spawn, terminate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import SERVICES, migrations_dir
from cityops_platform.settings import DEFAULT_GRPC_PORTS, Settings

CLI = [sys.executable, "-m", "cityops_platform.cli"]

# Knobs the bench turns on the services it starts, and why (also printed in summary.json):
BENCH_SERVICE_ENV = {
    # The harness's webhook receiver is one recipient getting every assignment of the surge; the
    # per-recipient limit (600/min) protects real receivers, here it would only hide latency.
    "CITYOPS_RATE_WEBHOOK_BURST": "10000000",
    # Bench units never acknowledge; without this they would time out and be re-assigned mid-run.
    "CITYOPS_DISPATCH_ACK_TIMEOUT_SECONDS": "3600",
    "CITYOPS_GRPC_DRAIN_SECONDS": "1",
    # The harness's webhook receiver listens on loopback, which the outbound guard refuses by default.
    "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
}


@dataclass
class Endpoints:
    """Where the system under test listens (local city or a deployment given by flags)."""

    kafka_bootstrap: str
    addrs: dict[str, str]
    # The bench's own city gets a random key (handed to every child by env()); a deployment's comes by flag.
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    topic_prefix: str = ""
    database_url: str = ""
    webhook_host: str = "127.0.0.1"  # where the notifications worker can reach our receiver

    def settings(self) -> Settings:
        database_url = self.database_url or Settings.model_fields["database_url"].default
        return Settings(kafka_bootstrap=self.kafka_bootstrap, topic_prefix=self.topic_prefix,
                        jwt_secret=self.jwt_secret, database_url=database_url)

    def env(self) -> dict[str, str]:
        """CITYOPS_* for a client process (Locust, the sensors bench) pointed at these endpoints."""
        env = {
            "CITYOPS_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "CITYOPS_TOPIC_PREFIX": self.topic_prefix,
            "CITYOPS_JWT_SECRET": self.jwt_secret,
            **{f"CITYOPS_{svc.upper()}_ADDR": addr for svc, addr in self.addrs.items()},
        }
        if self.database_url:
            env["CITYOPS_DATABASE_URL"] = self.database_url
        return env


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_file: Path
    grpc_port: int = 0
    health_url: str = ""
    proc: subprocess.Popen[bytes] | None = None


def installed(service: str) -> bool:
    return importlib.util.find_spec(f"cityops_{service}") is not None


def has_worker(service: str) -> bool:
    return installed(service) and importlib.util.find_spec(f"cityops_{service}.app") is not None


@dataclass
class LocalCity:
    """A fresh city in a temporary directory; ``start()`` blocks until every process is ready."""

    base_dir: Path
    gateway: bool = True
    log_level: str = "INFO"
    keep: bool = False
    run_dir: Path = field(init=False)
    stack: Devstack | None = None
    children: list[Child] = field(default_factory=list)
    endpoints: Endpoints | None = None

    def __post_init__(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="city-", dir=self.base_dir))

    def start(self, *, say: object = None, timeout: float = 180.0) -> Endpoints:
        log = say if callable(say) else (lambda _m: None)
        log("Kafka + PostgreSQL…")
        self.stack = Devstack(self.run_dir / "devstack").start()
        ports = {svc: free_port() for svc in SERVICES}
        endpoints = Endpoints(self.stack.kafka.bootstrap, {s: f"127.0.0.1:{p}" for s, p in ports.items()},
                              database_url=self.stack.postgres.dsn)
        settings = endpoints.settings()
        log("topics + migrations…")
        asyncio.run(self._prepare(settings))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
        base_env.update({**endpoints.env(), **BENCH_SERVICE_ENV, "CITYOPS_LOG_LEVEL": self.log_level})
        logs = self.run_dir / "logs"
        logs.mkdir()
        for service in SERVICES:
            if not installed(service):
                continue
            env = {**base_env, "CITYOPS_GRPC_PORT": str(ports[service]), "CITYOPS_METRICS_PORT": str(free_port()),
                   "CITYOPS_DATA_DIR": str(self.run_dir / f"data-{service}-api")}
            self.children.append(Child(f"{service}-api", [*CLI, "serve", service], env,
                                       logs / f"{service}-api.log", grpc_port=ports[service]))
            if has_worker(service):
                metrics = free_port()
                env = {**base_env, "CITYOPS_METRICS_PORT": str(metrics),
                       "CITYOPS_DATA_DIR": str(self.run_dir / f"data-{service}-worker")}
                self.children.append(Child(f"{service}-worker", [*CLI, "worker", service], env,
                                           logs / f"{service}-worker.log",
                                           health_url=f"http://127.0.0.1:{metrics}/healthz"))
        if self.gateway and installed("gateway"):
            http = free_port()
            env = {**base_env, "CITYOPS_HTTP_PORT": str(http), "CITYOPS_METRICS_PORT": str(free_port())}
            self.children.append(Child("gateway", [*CLI, "serve", "gateway"], env, logs / "gateway.log",
                                       health_url=f"http://127.0.0.1:{http}/healthz"))
        for child in self.children:
            child.proc = spawn(child.argv, log_file=child.log_file, env=child.env)
        log(f"{len(self.children)} tiến trình (processes)…")
        self._wait_ready(timeout)
        self.endpoints = endpoints
        return endpoints

    async def _prepare(self, settings: Settings) -> None:
        await apply_topics(settings)
        for service in SERVICES:
            if installed(service):
                await migrate(settings.database_url, service, migrations_dir(service))

    def _wait_ready(self, timeout: float) -> None:
        pending = list(self.children)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for child in list(pending):
                assert child.proc is not None
                if child.proc.poll() is not None:
                    raise RuntimeError(f"{child.name} exited {child.proc.returncode}:\n{tail(child.log_file)}")
                if _ready(child):
                    pending.remove(child)
            time.sleep(0.3)
        if pending:
            raise RuntimeError("not ready: " + ", ".join(f"{c.name}\n{tail(c.log_file)}" for c in pending))

    def pids(self) -> dict[str, int]:
        """Every process of the city by name, for CPU/RSS sampling."""
        out: dict[str, int] = {}
        if self.stack is not None:
            if self.stack.kafka.pid:
                out["kafka"] = self.stack.kafka.pid
            if self.stack.postgres.pid:
                out["postgres"] = self.stack.postgres.pid
        out.update({c.name: c.proc.pid for c in self.children if c.proc is not None})
        return out

    def worker_metrics(self, service: str) -> str | None:
        child = next((c for c in self.children if c.name == f"{service}-worker"), None)
        return child.health_url.replace("/healthz", "/metrics") if child else None

    def crashed(self) -> list[str]:
        return [c.name for c in self.children if c.proc is not None and c.proc.poll() is not None]

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            if child.proc is not None:
                terminate(child.proc, signal.SIGTERM, 15.0)
        if self.stack is not None:
            self.stack.stop()
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def save_logs(self, dest: Path) -> None:
        """Copy the service logs into the results (the run dir itself is deleted)."""
        dest.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            if child.log_file.exists():
                shutil.copy(child.log_file, dest / child.log_file.name)


def given_endpoints(*, kafka: str, host: str | None, addrs: dict[str, str | None], jwt_secret: str | None,
                    topic_prefix: str, webhook_host: str) -> Endpoints:
    """Endpoints of an existing deployment: ``--host`` for every api on its default port, or one flag each."""
    resolved = {}
    for svc, port in DEFAULT_GRPC_PORTS.items():
        resolved[svc] = addrs.get(svc) or f"{host or '127.0.0.1'}:{port}"
    ep = Endpoints(kafka, resolved, topic_prefix=topic_prefix, webhook_host=webhook_host)
    if jwt_secret:
        ep.jwt_secret = jwt_secret
    return ep


def _ready(child: Child) -> bool:
    if child.grpc_port:
        with grpc.insecure_channel(f"127.0.0.1:{child.grpc_port}") as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    try:
        response = httpx.get(child.health_url, timeout=1)
    except httpx.HTTPError:
        return False
    if child.name == "gateway":
        return response.status_code == 200 and response.json().get("events") in ("ready", None)
    return response.status_code == 200


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
