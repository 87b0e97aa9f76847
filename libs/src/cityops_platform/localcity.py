"""``cityops up``: the whole city on one machine, for ``make run``.

Starts the devstack (Kafka, Postgres), applies topics and migrations, then every installed
service's api and worker, the gateway and the simulator, each as its own process with its log in
``<run_dir>/logs``. Ctrl-C (SIGINT) or SIGTERM stops all of them, then the devstack; nothing is
left behind (children also die with this process: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cityops_platform.db.migrations import migrate
from cityops_platform.devstack import Devstack
from cityops_platform.devstack._process import spawn, terminate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import SERVICES, migrations_dir
from cityops_platform.settings import DEFAULT_GRPC_PORTS, Settings


@dataclass
class Child:
    name: str
    argv: list[str]
    endpoint: str
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None


def _say(message: str) -> None:
    """Progress for the person who ran `make run` (this is a CLI's output, not a log)."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _installed(service: str) -> bool:
    return importlib.util.find_spec(f"cityops_{service}") is not None


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def plan_children(settings: Settings, logs: Path, *, simulate: bool) -> list[Child]:
    """Which processes make up the city: what is installed decides."""
    cli = [sys.executable, "-m", "cityops_platform.cli"]
    children: list[Child] = []
    for service in SERVICES:
        if not _installed(service):
            continue
        port = DEFAULT_GRPC_PORTS[service]
        children.append(Child(f"{service}-api", [*cli, "serve", service], f"grpc://127.0.0.1:{port}",
                              logs / f"{service}-api.log"))
        if _has_module(f"cityops_{service}.app"):
            children.append(Child(f"{service}-worker", [*cli, "worker", service],
                                  f"http://127.0.0.1:{settings.service_metrics_port(service, worker=True)}/healthz",
                                  logs / f"{service}-worker.log"))
    if _installed("gateway"):
        children.append(Child("gateway", [*cli, "serve", "gateway"], f"http://127.0.0.1:{settings.http_port}/",
                              logs / "gateway.log"))
    if simulate and _has_module("cityops_sensors.simulator"):
        children.append(Child("simulator", [sys.executable, "-m", "cityops_sensors.simulator"],
                              "—", logs / "simulator.log"))
    return children


def _grpc_serving(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _http_ok(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def _ready(child: Child) -> bool:
    if child.endpoint.startswith("grpc://"):
        return _grpc_serving(int(child.endpoint.rsplit(":", 1)[1]))
    if child.endpoint.startswith("http"):
        return _http_ok(child.endpoint)
    return child.proc is not None and child.proc.poll() is None


def run_local_city(run_dir: str = ".run/city", *, simulate: bool = True, ready_timeout: float = 120.0) -> int:
    root = Path(run_dir).resolve()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    started = time.monotonic()
    _say("▶ Khởi động Kafka và PostgreSQL (starting Kafka and PostgreSQL)…")
    stack = Devstack(root / "devstack").start()
    env = {**os.environ, **stack.env(), "CITYOPS_DATA_DIR": str(root / "data")}
    settings = Settings(kafka_bootstrap=stack.kafka.bootstrap, database_url=stack.postgres.dsn)
    children: list[Child] = []
    try:
        _say(f"  Kafka {stack.kafka.bootstrap} · PostgreSQL {stack.postgres.dsn}")
        _say("▶ Tạo chủ đề Kafka (applying topics)…")
        rows = asyncio.run(apply_topics(settings))
        _say(f"  {len(rows)} chủ đề (topics)")
        _say("▶ Migration cơ sở dữ liệu (migrating)…")
        for service in SERVICES:
            if _installed(service):
                applied = asyncio.run(migrate(settings.database_url, service, migrations_dir(service)))
                _say(f"  {service:<14} +{len(applied)}")
        children = plan_children(settings, logs, simulate=simulate)
        for child in children:
            child.proc = spawn(child.argv, log_file=child.log_file, env=env)
        _say(f"▶ Khởi động {len(children)} tiến trình (starting processes)…")
        pending = list(children)
        deadline = time.monotonic() + ready_timeout
        while pending and time.monotonic() < deadline and not stop.is_set():
            for child in list(pending):
                if child.proc is not None and child.proc.poll() is not None:
                    raise RuntimeError(f"{child.name} exited with {child.proc.returncode}; see {child.log_file}")
                if _ready(child):
                    pending.remove(child)
                    _say(f"  ✔ {child.name:<22} {child.endpoint}")
            time.sleep(0.3)
        if pending:
            _say("  ✘ chưa sẵn sàng (not ready): " + ", ".join(c.name for c in pending))
        _print_summary(children, stack, logs, time.monotonic() - started)
        while not stop.is_set():
            for child in children:
                if child.proc is not None and child.proc.poll() is not None:
                    _say(f"⚠ {child.name} đã dừng (exited {child.proc.returncode}); log: {child.log_file}")
                    child.proc = spawn(child.argv, log_file=child.log_file, env=env)
            stop.wait(1.0)
        return 0
    except RuntimeError as exc:
        _say(f"✘ {exc}")
        return 1
    finally:
        _say("■ Đang dừng thành phố (stopping the city)…")
        for child in reversed(children):
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in reversed(children):
            if child.proc is not None:
                terminate(child.proc, signal.SIGTERM, 20.0)
        stack.stop()
        _say("■ Đã dừng tất cả (everything stopped).")


def _print_summary(children: list[Child], stack: Devstack, logs: Path, elapsed: float) -> None:
    _say("")
    _say(f"Thành phố đã sẵn sàng sau {elapsed:.1f} s (the city is up)")
    _say(f"  {'thành phần (component)':<24} {'địa chỉ (address)':<44} pid")
    _say(f"  {'kafka':<24} {stack.kafka.bootstrap:<44} {stack.kafka.pid}")
    _say(f"  {'postgres':<24} {stack.postgres.dsn:<44} ")
    for child in children:
        _say(f"  {child.name:<24} {child.endpoint:<44} {child.proc.pid if child.proc else ''}")
    _say("")
    _say("  Bảng điều khiển (ops console):   http://127.0.0.1:8080/")
    _say("  Open311:                          http://127.0.0.1:8080/open311/v2/services.json")
    _say("  Token:                            cityops dev-token --role operator")
    _say(f"  Nhật ký (logs):                   {logs}")
    _say("  Dừng (stop):                      Ctrl-C")
