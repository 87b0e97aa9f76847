"""Shared fixtures: one real Kafka broker and one real Postgres server per test session.

Each test gets isolation cheaply: a unique topic prefix (topics are never shared between tests)
and a freshly created database (dropped afterwards). When Java, Maven or the Postgres binaries are
missing, tests that need them skip locally but FAIL when CI=true: CI must never go green by
skipping the real components.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from cityops_devtools.devstack import DevstackUnavailable, KafkaBroker, PostgresServer

_TESTS_DIR = Path(__file__).resolve().parent

# One random signing key for the whole test run, as `cityops up` does for the local city: this
# process's Settings and every child process that inherits the environment share it.
os.environ.setdefault("CITYOPS_JWT_SECRET", secrets.token_urlsafe(48))


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(component: str, exc: BaseException) -> NoReturn:
    """Skip locally; fail under CI=true, where a missing component is a broken pipeline."""
    message = f"{component} không dùng được / unavailable: {exc}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: thiếu thành phần là lỗi / missing is an error)", pytrace=False)
    pytest.skip(f"{message} (CI=true would fail here)")


Server = TypeVar("Server", KafkaBroker, PostgresServer)


@contextlib.contextmanager
def _running(server: Server) -> Iterator[Server]:
    """The server started (or the test failed/skipped as ``unavailable`` says), stopped after."""
    try:
        server.start()
    except DevstackUnavailable as exc:
        unavailable("Kafka" if isinstance(server, KafkaBroker) else "PostgreSQL", exc)
    try:
        yield server
    finally:
        if isinstance(server, PostgresServer):
            server.destroy()
        else:
            server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Markers follow the folder, so `-m integration` works without decorating every test.
    for item in items:
        try:
            area = item.path.resolve().relative_to(_TESTS_DIR).parts[0]
        except ValueError:
            continue
        if area in {"integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, area))


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something listens on for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real single-node Kafka 4 broker (KRaft) for the whole session, on a free loopback port."""
    with _running(KafkaBroker(tmp_path_factory.mktemp("kafka"))) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session, on a free loopback port."""
    with _running(PostgresServer(tmp_path_factory.mktemp("postgres"))) as server:
        yield server


@pytest.fixture
def isolated_kafka_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A started broker for this test alone, for tests that crash or restart it (~3 s to start)."""
    with _running(KafkaBroker(tmp_path / "kafka")) as broker:
        yield broker


@pytest.fixture
def isolated_postgres_server(tmp_path: Path) -> Iterator[PostgresServer]:
    """A started Postgres for this test alone (fresh initdb, <1 s), for crash/restart tests."""
    with _running(PostgresServer(tmp_path / "postgres")) as server:
        yield server


@pytest.fixture
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """host:port of the session broker (brought back if an earlier test crashed it)."""
    if not kafka_broker.is_running:
        kafka_broker.restart()
    return kafka_broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test (e.g. 't3f9a1c0b2e.'), for CITYOPS_TOPIC_PREFIX and topic names."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """DSN of a brand-new empty database owned by `cityops`, dropped when the test ends."""
    if not postgres_server.is_running:
        postgres_server.restart()
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.create_database(name)
    yield dsn
    postgres_server.drop_database(name)


@pytest.fixture
def cityops_env(
    monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> dict[str, str]:
    """CITYOPS_* variables pointing at the devstack, set in os.environ for this test only."""
    env = {
        "CITYOPS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CITYOPS_DATABASE_URL": database_url,
        "CITYOPS_TOPIC_PREFIX": topic_prefix,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
