"""Kafka and Postgres together, the way `make run` and `cityops up` need them."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from . import _process
from .kafka import KafkaBroker
from .postgres import PostgresServer

log = logging.getLogger("cityops.devstack")


class Devstack:
    """A Kafka broker (run_dir/kafka) and a Postgres server (run_dir/postgres) started together.

    >>> with Devstack(Path(".run/devstack")) as stack:
    ...     os.environ.update(stack.env())

    Data survives between runs in the same run_dir. Without explicit ports, the ports of the
    previous run are reused when still free, so CITYOPS_* values stay stable for a developer.
    """

    def __init__(self, run_dir: Path | str, *, kafka_port: int | None = None, postgres_port: int | None = None) -> None:
        self.run_dir = Path(run_dir).resolve()
        self._ports_file = self.run_dir / "ports.json"
        previous = self._previous_ports()
        self.kafka = KafkaBroker(
            self.run_dir / "kafka",
            kafka_port or _reuse(previous.get("kafka")),
            controller_port=_reuse(previous.get("kafka_controller")),
        )
        self.postgres = PostgresServer(self.run_dir / "postgres", postgres_port or _reuse(previous.get("postgres")))

    def start(self) -> Devstack:
        """Start both (in parallel: the JVM takes seconds, Postgres well under one)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        errors: list[BaseException] = []

        def start_postgres() -> None:
            try:
                self.postgres.start()
            except BaseException as exc:  # re-raised below on the caller's thread
                errors.append(exc)

        worker = threading.Thread(target=start_postgres, name="devstack-postgres")
        worker.start()
        try:
            self.kafka.start()
        finally:
            worker.join()
        if errors:
            self.stop()
            raise errors[0]
        self._ports_file.write_text(
            json.dumps(
                {
                    "kafka": self.kafka.port,
                    "kafka_controller": self.kafka.controller_port,
                    "postgres": self.postgres.port,
                }
            )
        )
        return self

    def stop(self) -> None:
        """Stop both cleanly; data is kept."""
        try:
            self.kafka.stop()
        finally:
            self.postgres.stop()

    def env(self) -> dict[str, str]:
        """The environment a CityOps process needs to use this devstack."""
        return {
            "CITYOPS_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "CITYOPS_DATABASE_URL": self.postgres.dsn,
            # Local only: webhooks and partner CADs may reach the developer's own loopback receivers.
            "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
        }

    def __enter__(self) -> Devstack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _previous_ports(self) -> dict[str, int]:
        try:
            data = json.loads(self._ports_file.read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int)}


def _reuse(port: int | None) -> int | None:
    return port if port and _process.port_is_free(port) else None
