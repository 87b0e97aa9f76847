"""The devstack: a real Kafka 4 broker and a real PostgreSQL server, started by our own code.

Used by `make run` / `cityops up` and by the test fixtures (tests/conftest.py). Small API:

- ``KafkaBroker(run_dir, port=None)``: ``start()``, ``stop()``, ``kill()``, ``restart()``,
  ``bootstrap`` ("127.0.0.1:<port>").
- ``PostgresServer(run_dir, port=None)``: the same lifecycle, ``dsn``, ``create_database(name)``,
  ``drop_database(name)``, ``psql(sql)``.
- ``Devstack(run_dir)``: both, as a context manager; ``env()`` gives CITYOPS_KAFKA_BOOTSTRAP and
  CITYOPS_DATABASE_URL.
- ``ensure_kafka_jars()``: fetch the broker jars with Maven when missing (``make setup`` does it).

Every server runs on 127.0.0.1 only, logs into its run_dir, and dies with the Python process that
started it. ``DevstackUnavailable`` means a prerequisite (Java 17, Maven, Postgres) is missing.
CLI: ``python -m cityops_devtools.devstack up|fetch-jars``.
"""

from ._process import DevstackError, DevstackUnavailable
from .jars import ensure_kafka_jars, kafka_jars_ready
from .kafka import KafkaBroker
from .postgres import PostgresServer
from .stack import Devstack

__all__ = [
    "Devstack",
    "DevstackError",
    "DevstackUnavailable",
    "KafkaBroker",
    "PostgresServer",
    "ensure_kafka_jars",
    "kafka_jars_ready",
]
