"""The whole city as real processes for tests: each service's api (and worker), then the gateway.

A thin face over the one launcher (cityops_devtools.city.City): every process gets its own free
ports, the test's Kafka topic prefix and database, and a log file under ``run_dir``; readiness is
the launcher's rule per component; ``stop()`` sends SIGTERM (then SIGKILL) to each, so nothing
outlives the test. Used by tests/e2e and tests/integration/gateway (loaded by path: test folders
are not packages).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cityops_devtools.city import CLI, City, Component, clean_environ, has_worker, installed
from cityops_devtools.testing import make_settings

__all__ = ["CLI", "CityStack", "fresh_city", "has_worker", "installed"]

# What every test city's processes are told on top of the launcher's environment.
TEST_ENV = {
    "CITYOPS_LOG_LEVEL": "INFO",
    "CITYOPS_GRPC_DRAIN_SECONDS": "1",
    "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",  # the test's receivers are on loopback
}


class CityStack:
    def __init__(self, run_dir: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str) -> None:
        self.run_dir = run_dir
        self.settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                                      database_url=database_url)
        self.city = City(run_dir, self.settings, base_env=clean_environ(**TEST_ENV))
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def procs(self) -> list[Component]:
        return self.city.components

    @property
    def ports(self) -> dict[str, int]:
        return self.city.grpc_ports

    @property
    def http_port(self) -> int:
        return self.city.http_port

    @property
    def gateway_url(self) -> str:
        return self.city.gateway_url

    def addr(self, service: str) -> str:
        return self.city.addr(service)

    def prepare(self, services: list[str]) -> None:
        """Topics for everyone, migrations for the given services."""
        self.city.prepare(services)

    def start_api(self, service: str, **extra: str) -> Component:
        return self._start(self.city.add_api(service, **extra))

    def start_worker(self, service: str, **extra: str) -> Component:
        return self._start(self.city.add_worker(service, **extra))

    def start_gateway(self, *, name: str = "gateway", http_port: int = 0, **extra: str) -> Component:
        return self._start(self.city.add_gateway(name=name, http_port=http_port, **extra))

    def _start(self, component: Component) -> Component:
        self.city.start()
        return component

    def wait_ready(self, timeout: float = 90.0, components: list[Component] | None = None) -> None:
        self.city.wait_ready(timeout, components=components, interval=0.2)

    def tail(self, proc: Component, lines: int = 30) -> str:
        return proc.tail(lines)

    def stop(self) -> None:
        self.city.stop()
        self.city.components.clear()


@contextlib.contextmanager
def fresh_city(kafka_broker: Any, postgres_server: Any, run_dir: Path) -> Iterator[CityStack]:
    """A CityStack on the session's broker and Postgres, with a database and a topic prefix of its
    own; every process is stopped and the database dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    database_url = postgres_server.create_database(name)
    stack = CityStack(run_dir, kafka_broker.bootstrap, database_url, f"t{uuid.uuid4().hex[:10]}.")
    try:
        yield stack
    finally:
        stack.stop()
        postgres_server.drop_database(name)
