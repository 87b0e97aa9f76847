"""Fault-injection scenarios (`make test-faults`): fixtures and the figures table.

Every scenario records one row of figures (load held, faults survived, inputs tried, lost,
duplicated, …) with the ``figures`` fixture. At the end of the session the rows are printed as a
table and written to ``test-artifacts/faults/figures.json`` for CI.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import make_settings
from cityops_platform.settings import Settings

from ._remote import RemoteServer
from ._stack import prepare

_ROWS: list[Figures] = []
_ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults"


@dataclass
class Figures:
    scenario: str
    load: str = ""
    faults: str = ""
    inputs: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    notes: str = ""
    seconds: float = 0.0


class FigureBook:
    def __init__(self, scenario: str) -> None:
        self.row = Figures(scenario)
        self._t0 = time.monotonic()

    def done(self) -> None:
        self.row.seconds = round(time.monotonic() - self._t0, 1)
        _ROWS.append(self.row)


# Scenarios that run gRPC in this process go last: forking after gRPC has run is what the
# helpers in _remote avoid, and the worker scenarios fork workers (see _stack.Proc.start).
_ORDER = ("test_s1_", "test_s4_", "test_s5_", "test_s6_", "test_s7_", "test_s2_", "test_s3_")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mine = [i for i in items if i.path.parent == Path(__file__).parent]
    if not mine:
        return

    def rank(item: pytest.Item) -> int:
        return next((n for n, prefix in enumerate(_ORDER) if item.path.name.startswith(prefix)), len(_ORDER))

    ordered = iter(sorted(mine, key=rank))
    items[:] = [next(ordered) if i in mine else i for i in items]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """The figures row of this scenario, kept (pass or fail) for the final table."""
    book = FigureBook(request.node.name.removeprefix("test_"))
    yield book.row
    book.done()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _ROWS:
        return
    tr = terminalreporter
    tr.section("Tiêm lỗi: số liệu (fault injection: figures)")
    header = f"{'kịch bản (scenario)':<58} {'inputs':>7} {'acked':>7} {'lost':>5} {'dup':>4} {'unexp':>5} {'s':>6}"
    tr.write_line(header)
    tr.write_line("-" * len(header))
    for r in _ROWS:
        tr.write_line(f"{r.scenario[:58]:<58} {r.inputs:>7} {r.acknowledged:>7} {r.lost:>5} {r.duplicated:>4} "
                      f"{r.unexpected:>5} {r.seconds:>6.1f}")
        tr.write_line(f"    load: {r.load}")
        tr.write_line(f"    faults: {r.faults}")
        if r.codes:
            tr.write_line("    codes: " + ", ".join(f"{k}={v}" for k, v in sorted(r.codes.items())))
        if r.notes:
            tr.write_line(f"    notes: {r.notes}")
    total = sum(r.seconds for r in _ROWS)
    tr.write_line(f"tổng (total): {len(_ROWS)} scenarios, {sum(r.inputs for r in _ROWS)} inputs, "
                  f"{sum(r.lost for r in _ROWS)} lost, {sum(r.duplicated for r in _ROWS)} duplicated, {total:.0f} s")
    _ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (_ARTIFACTS / "figures.json").write_text(json.dumps([asdict(r) for r in _ROWS], indent=2, ensure_ascii=False))


@pytest.fixture
async def prepared(session_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """``session_settings`` with the topic catalog and the schemas of the scenario module's ``SERVICES``."""
    await prepare(session_settings, *request.module.SERVICES)
    return session_settings


@pytest.fixture
def run() -> str:
    """A short id of this scenario run, in the keys and names it creates."""
    return uuid.uuid4().hex[:6]


@pytest.fixture
def session_settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> Settings:
    """Settings on the session broker and a fresh database (scenarios that do not crash them)."""
    return make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)


def settings_on(broker: KafkaBroker | RemoteServer, postgres: PostgresServer | RemoteServer) -> Settings:
    """Settings on a dedicated broker/Postgres pair (scenarios that crash one of them)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres.create_database(name)
    return make_settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                         database_url=dsn)


def unavailable(component: str, exc: BaseException) -> NoReturn:
    """As the root conftest: skip locally, FAIL under CI=true (a missing component is a broken pipeline)."""
    message = f"{component} không dùng được / unavailable: {exc}"
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _remote(kind: str, component: str, run_dir: Path) -> Iterator[RemoteServer]:
    server = RemoteServer(kind, run_dir)
    try:
        server.start()
    except RuntimeError as exc:
        unavailable(component, exc)
    yield server
    server.stop()


@pytest.fixture
def remote_kafka(tmp_path: Path) -> Iterator[RemoteServer]:
    """A broker for this test alone, crashed and restarted through a helper process (see _remote)."""
    yield from _remote("kafka", "Kafka", tmp_path / "kafka")


@pytest.fixture
def remote_postgres(tmp_path: Path) -> Iterator[RemoteServer]:
    """A Postgres for this test alone, crashed and restarted through a helper process."""
    yield from _remote("postgres", "PostgreSQL", tmp_path / "postgres")
