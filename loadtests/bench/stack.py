"""The system under test: a fresh local city (devstack + every service) or given endpoints.

The local city is the one launcher's (cityops_devtools.city.City, as ``cityops up``) on a fresh
devstack, but in a throw-away run directory and on free ports, so a bench never collides with a
developer's ``make run`` or a test on the shared machine, and every run starts from empty topics
and an empty database.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cityops_devtools.city import City, Component, clean_environ
from cityops_devtools.devstack import Devstack
from cityops_platform.settings import DEFAULT_GRPC_PORTS, Settings

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
class LocalCity:
    """A fresh city in a temporary directory; ``start()`` blocks until every process is ready."""

    base_dir: Path
    gateway: bool = True
    log_level: str = "INFO"
    keep: bool = False
    # Postgres counts every statement's calls and time (pg_stat_statements), for ``--profile``.
    statement_stats: bool = False
    # Settings for every process over BENCH_SERVICE_ENV (``--city-env``: the A/B of one knob).
    extra_env: dict[str, str] = field(default_factory=dict)
    run_dir: Path = field(init=False)
    stack: Devstack | None = None
    city: City | None = None
    endpoints: Endpoints | None = None

    def __post_init__(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="city-", dir=self.base_dir))

    @property
    def children(self) -> list[Component]:
        return self.city.components if self.city is not None else []

    def start(self, *, say: object = None, timeout: float = 180.0) -> Endpoints:
        log = say if callable(say) else (lambda _m: None)
        log("Kafka + PostgreSQL…")
        self.stack = Devstack(self.run_dir / "devstack")
        if self.statement_stats:
            self.stack.postgres.extra_settings.update({"shared_preload_libraries": "pg_stat_statements",
                                                       "pg_stat_statements.track": "all"})
        self.stack.start()
        endpoints = Endpoints(self.stack.kafka.bootstrap, {}, database_url=self.stack.postgres.dsn)
        base_env = clean_environ(**{**BENCH_SERVICE_ENV, **self.extra_env}, CITYOPS_LOG_LEVEL=self.log_level)
        self.city = City(self.run_dir, endpoints.settings(), base_env=base_env, log_dir=self.run_dir / "logs")
        endpoints.addrs = {svc: self.city.addr(svc) for svc in DEFAULT_GRPC_PORTS}
        log("topics + migrations…")
        self.city.prepare()
        self.city.plan(gateway=self.gateway)
        self.city.start()
        log(f"{len(self.city.components)} tiến trình (processes)…")
        self.city.wait_ready(timeout)
        self.endpoints = endpoints
        return endpoints

    def pids(self) -> dict[str, int]:
        """Every process of the city by name, for CPU/RSS sampling."""
        out: dict[str, int] = {}
        if self.stack is not None:
            if self.stack.kafka.pid:
                out["kafka"] = self.stack.kafka.pid
            if self.stack.postgres.pid:
                out["postgres"] = self.stack.postgres.pid
        if self.city is not None:
            out.update(self.city.pids())
        return out

    def worker_metrics(self, service: str) -> str | None:
        child = self.city.component(f"{service}-worker") if self.city is not None else None
        return child.metrics_url if child else None

    def crashed(self) -> list[str]:
        return self.city.crashed() if self.city is not None else []

    def stop(self) -> None:
        if self.city is not None:
            self.city.stop()
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

