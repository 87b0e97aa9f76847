"""One launcher for a whole city: plan → spawn → ready → stop, on free or fixed ports.

Every tool that starts CityOps processes goes through here: ``cityops up`` (localcity), the bench
(loadtests/bench/stack.py), the e2e and gateway suites (tests/e2e/citystack.py), the fault suite
(tests/faults/_stack.py) and the pipeline probe. So there is one command line per process
(:func:`cli_argv`), one environment recipe (:meth:`City.city_env`) and one readiness rule per
kind of component (:data:`READY`):

- ``api``: the gRPC health service answers SERVING;
- ``worker``: ``/healthz`` on its metrics port answers 200 (the Faust app is up and consuming);
- ``gateway``: ``/healthz`` answers 200 *and* its event hub is ``ready`` (the SSE consumer sits at
  the end of every topic, so a test or a screen sees every event from then on);
- ``process`` (the simulator, anything else): it is running.

Ports are free ones (``fixed_ports=False``: every process gets its own and is told the others'
addresses, so runs never collide on a shared machine) or the documented defaults from
:class:`Settings` (``fixed_ports=True``: ``cityops up``).
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
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cityops_devtools.devstack._process import free_port, spawn, tail, terminate
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import SERVICES, migrations_dir
from cityops_platform.settings import DEFAULT_GRPC_PORTS, Settings

CLI = (sys.executable, "-m", "cityops_platform.cli")
T = TypeVar("T")


def cli_argv(kind: str, service: str) -> list[str]:
    """The command line of a CityOps process: ``cityops serve|worker <service>`` (the one place)."""
    return [*CLI, "worker" if kind == "worker" else "serve", service]


def installed(service: str) -> bool:
    """Is the service's package (``cityops_<service>``) installed in this environment?"""
    return importlib.util.find_spec(f"cityops_{service}") is not None


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def has_worker(service: str) -> bool:
    """Does the service have a stream worker (``cityops_<service>.app``)?"""
    return installed(service) and has_module(f"cityops_{service}.app")


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any CITYOPS_* variable (a city of its own), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(extra)
    return env


@dataclass
class Component:
    """One process of the city: what it runs, where it logs, what it binds, how it is ready.

    The supervision fields (``started_at``, ``restarts``, ``restart_at``, ``delays``) belong to
    :class:`cityops_devtools.supervision.Supervisor`.
    """

    name: str
    argv: list[str]
    log_file: Path
    kind: str = "process"  # api | worker | gateway | process: which readiness rule applies
    env: dict[str, str] = field(default_factory=dict)  # this process's own variables, over the city's
    grpc_port: int = 0
    http_port: int = 0
    metrics_port: int = 0
    ports: list[int] = field(default_factory=list)  # every port it will bind (checked before start)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None
    delays: list[float] = field(default_factory=list)  # every backoff applied, for the person and tests

    @property
    def endpoint(self) -> str:
        if self.kind == "api":
            return f"grpc://127.0.0.1:{self.grpc_port}"
        if self.kind == "worker":
            return self.health_url
        if self.kind == "gateway":
            return f"http://127.0.0.1:{self.http_port}/"
        return "—"

    @property
    def health_url(self) -> str:
        port = self.http_port if self.kind == "gateway" else self.metrics_port
        return f"http://127.0.0.1:{port}/healthz" if port else ""

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, env: Mapping[str, str], *, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Spawn it with ``env`` (the whole environment; its own ``self.env`` goes on top)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(self.argv, log_file=self.log_file, env={**env, **self.env}, cwd=cwd)
        self.started_at = time.monotonic()
        return self.proc

    def ready(self) -> bool:
        """The readiness rule of this kind of component (module docstring)."""
        return READY[self.kind](self)

    def tail(self, lines: int = 30) -> str:
        return tail(self.log_file, lines)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is not None:
            terminate(self.proc, signal.SIGTERM, timeout)


def grpc_serving(port: int, timeout: float = 1.0) -> bool:
    """The gRPC health service on 127.0.0.1:port answers SERVING (within ``timeout`` seconds)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _healthz(url: str) -> dict[str, object] | None:
    """The JSON of a 200 /healthz ({} when it is not JSON), None when it is not 200."""
    import httpx

    try:
        response = httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _api_ready(c: Component) -> bool:
    return grpc_serving(c.grpc_port)


def _worker_ready(c: Component) -> bool:
    return _healthz(c.health_url) is not None


def _gateway_ready(c: Component) -> bool:
    body = _healthz(c.health_url)
    return body is not None and body.get("events") == "ready"


def _process_ready(c: Component) -> bool:
    return c.running


READY: dict[str, Callable[[Component], bool]] = {
    "api": _api_ready,
    "worker": _worker_ready,
    "gateway": _gateway_ready,
    "process": _process_ready,
}


class CityNotReady(RuntimeError):
    """A component exited during start-up or was not ready in time; the message quotes its log."""


@dataclass
class City:
    """The processes of one city, sharing one Kafka, one Postgres and one topic prefix.

    ``add_api`` / ``add_worker`` / ``add_gateway`` / ``add_process`` plan a component (and pick
    its ports); ``plan()`` adds every installed one; ``start()`` spawns what is not running;
    ``wait_ready()`` blocks until each passes its rule; ``stop()`` stops them in reverse order.
    """

    run_dir: Path
    settings: Settings
    base_env: dict[str, str] = field(default_factory=clean_environ)
    fixed_ports: bool = False
    log_dir: Path | None = None
    components: list[Component] = field(default_factory=list)
    grpc_ports: dict[str, int] = field(default_factory=dict)
    http_port: int = 0

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)  # created at start: planning leaves no trace
        if self.log_dir is None:
            self.log_dir = self.run_dir
        for service in SERVICES:
            if service not in self.grpc_ports:
                self.grpc_ports[service] = DEFAULT_GRPC_PORTS[service] if self.fixed_ports else free_port()
        if not self.http_port:
            self.http_port = self.settings.http_port if self.fixed_ports else free_port()

    # --- where things are ---------------------------------------------------------------------
    def addr(self, service: str) -> str:
        return f"127.0.0.1:{self.grpc_ports[service]}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def city_env(self, name: str) -> dict[str, str]:
        """What every process of this city is told (over base_env), for the process ``name``.

        Read at start, not at plan: ``cityops up`` plans (and checks ports) before its devstack
        exists, then points ``settings`` at it.
        """
        s = self.settings
        env = {
            "CITYOPS_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "CITYOPS_TOPIC_PREFIX": s.topic_prefix,
            "CITYOPS_DATABASE_URL": s.database_url,
            "CITYOPS_JWT_SECRET": s.jwt_secret,
            "CITYOPS_DATA_DIR": str(self.run_dir / f"data-{name}"),
        }
        if not self.fixed_ports:
            env.update({f"CITYOPS_{svc.upper()}_ADDR": self.addr(svc) for svc in SERVICES})
        return env

    def env_for(self, component: Component) -> dict[str, str]:
        """The whole environment ``component`` starts with."""
        return {**self.base_env, **self.city_env(component.name), **component.env}

    # --- plan ---------------------------------------------------------------------------------
    def _log(self, name: str) -> Path:
        assert self.log_dir is not None
        return self.log_dir / f"{name}.log"

    def add_api(self, service: str, *, name: str = "", **extra: str) -> Component:
        name = name or f"{service}-api"
        port = self.grpc_ports[service]
        if self.fixed_ports:
            metrics, env = self.settings.service_metrics_port(service), dict(extra)
        else:
            metrics = free_port()
            env = {"CITYOPS_GRPC_PORT": str(port), "CITYOPS_METRICS_PORT": str(metrics), **extra}
        return self._add(Component(name, cli_argv("api", service), self._log(name), "api", env,
                                   grpc_port=port, metrics_port=metrics, ports=[port, metrics]))

    def add_worker(self, service: str, *, name: str = "", **extra: str) -> Component:
        name = name or f"{service}-worker"
        if self.fixed_ports:
            metrics, env = self.settings.service_metrics_port(service, worker=True), dict(extra)
        else:
            metrics = free_port()
            env = {"CITYOPS_METRICS_PORT": str(metrics), **extra}
        return self._add(Component(name, cli_argv("worker", service), self._log(name), "worker", env,
                                   metrics_port=metrics, ports=[metrics]))

    def add_gateway(self, *, name: str = "gateway", http_port: int = 0, **extra: str) -> Component:
        """The gateway on the city's HTTP port (or ``http_port``: a second gateway on the same services)."""
        port = http_port or self.http_port
        if self.fixed_ports:
            metrics, env = 0, dict(extra)
        else:
            metrics = free_port()
            env = {"CITYOPS_HTTP_PORT": str(port), "CITYOPS_METRICS_PORT": str(metrics), **extra}
        return self._add(Component(name, cli_argv("gateway", "gateway"), self._log(name), "gateway", env,
                                   http_port=port, metrics_port=metrics, ports=[port]))

    def add_process(self, name: str, argv: list[str], **extra: str) -> Component:
        return self._add(Component(name, argv, self._log(name), "process", dict(extra)))

    def _add(self, component: Component) -> Component:
        self.components.append(component)
        return component

    def plan(
        self, services: Iterable[str] | None = None, *, workers: bool = True, gateway: bool = True,
        simulator: bool = False, **extra: str,
    ) -> list[Component]:
        """Every installed service's api (and worker), then the gateway and the simulator."""
        for service in services if services is not None else SERVICES:
            if not installed(service):
                continue
            self.add_api(service, **extra)
            if workers and has_worker(service):
                self.add_worker(service, **extra)
        if gateway and installed("gateway"):
            self.add_gateway(http_port=0, **extra)
        if simulator and has_module("cityops_sensors.simulator"):
            self.add_process("simulator", [sys.executable, "-m", "cityops_sensors.simulator"], **extra)
        return self.components

    # --- prepare, spawn, ready, stop ----------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)  # in this thread, so Ctrl-C interrupts it
        # A thread of its own: the caller runs an event loop already (Playwright's sync API does).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    def apply_topics(self) -> list[tuple[str, str]]:
        """The topic catalog under the city's prefix (created or updated)."""
        return self._run(apply_topics(self.settings))

    def migrate(self, services: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Each given (default: installed) service's migrations, by service."""
        targets = list(services) if services is not None else [s for s in SERVICES if installed(s)]

        async def run() -> dict[str, list[str]]:
            return {svc: await migrate(self.settings.database_url, svc, migrations_dir(svc)) for svc in targets}

        return self._run(run())

    def prepare(self, services: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Topics for everyone, migrations for the given (default: installed) services."""
        self.apply_topics()
        return self.migrate(services)

    def start(self) -> None:
        """Spawn every planned component that is not running yet."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for component in self.components:
            if not component.running:
                component.start(self.env_for(component))

    def wait_ready(
        self, timeout: float = 120.0, *, components: Iterable[Component] | None = None,
        tolerate_exits: Callable[[], None] | None = None, on_ready: Callable[[Component], None] | None = None,
        interval: float = 0.3,
    ) -> list[Component]:
        """Block until every component passes its readiness rule; return those still pending.

        A component that exits raises :class:`CityNotReady`, unless ``tolerate_exits`` is given
        (a supervisor's ``check``, which restarts it or raises itself). Without ``tolerate_exits``
        pending components after ``timeout`` raise too.
        """
        pending = list(components if components is not None else self.components)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            if tolerate_exits is not None:
                tolerate_exits()
            for component in list(pending):
                if not component.running:
                    if tolerate_exits is None:
                        code = component.proc.returncode if component.proc is not None else None
                        raise CityNotReady(f"{component.name} exited {code}:\n{component.tail()}")
                    continue
                if component.ready():
                    pending.remove(component)
                    if on_ready is not None:
                        on_ready(component)
            if pending:
                time.sleep(interval)
        if pending and tolerate_exits is None:
            details = "\n".join(f"--- {c.name} ({c.log_file})\n{c.tail()}" for c in pending)
            raise CityNotReady(f"not ready after {timeout:g} s: {[c.name for c in pending]}\n{details}")
        return pending

    def crashed(self) -> list[str]:
        return [c.name for c in self.components if c.proc is not None and c.proc.poll() is not None]

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.components if c.proc is not None}

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to all at once (they drain in parallel), then wait for each, SIGKILL past timeout."""
        for component in reversed(self.components):
            if component.running:
                assert component.proc is not None
                component.proc.send_signal(signal.SIGTERM)
        for component in reversed(self.components):
            component.stop(timeout)
