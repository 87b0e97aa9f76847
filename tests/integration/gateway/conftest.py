"""A real incidents api (plus dispatch, sensors and notifications apis and the sensors worker
when installed) and a real gateway process, shared by every test module of this folder:
starting them costs seconds, the tests milliseconds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import load_by_path

_STACK_FILE = Path(__file__).resolve().parents[2] / "e2e" / "citystack.py"


citystack = load_by_path("cityops_test_citystack", _STACK_FILE)
DEV_KEY = "cityops-open311-dev-key"
JURISDICTION = "binhduong.gov.vn"
# The standards' official artefacts: CITYOPS_STANDARDS_DIR, default ../shared/standards of the repo.
STANDARDS_DIR = Path(os.environ.get("CITYOPS_STANDARDS_DIR", "").strip()
                     or Path(__file__).resolve().parents[3].parent / "shared" / "standards")


@pytest.fixture(scope="session")
def standards_dir() -> Path:
    if not (STANDARDS_DIR / "open311").is_dir() or not (STANDARDS_DIR / "cap").is_dir():
        pytest.fail(f"standards artefacts not found at {STANDARDS_DIR} (set CITYOPS_STANDARDS_DIR)")
    return STANDARDS_DIR


@pytest.fixture(scope="package")
def gateway_stack(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[citystack.CityStack]:
    if not citystack.installed("incidents"):
        pytest.fail("cityops-incidents is not installed: the Open311 tests need the real service")
    apis = [s for s in ("incidents", "dispatch", "sensors", "notifications") if citystack.installed(s)]
    with citystack.fresh_city(kafka_broker, postgres_server, tmp_path_factory.mktemp("gateway-stack")) as stack:
        stack.prepare(apis)
        fast_cache = {"CITYOPS_SENSORS_CACHE_REFRESH_SECONDS": "0.5"}  # new sensors known to ingest in 0.5 s
        for service in apis:
            stack.start_api(service, **(fast_cache if service == "sensors" else {}))
        if "sensors" in apis:  # writes the 1-minute aggregates SensorThings serves
            stack.start_worker("sensors", CITYOPS_SENSORS_TICK_SECONDS="0.5",
                               CITYOPS_SENSORS_SINK_FLUSH_SECONDS="0.2",
                               CITYOPS_SENSORS_CACHE_REFRESH_SECONDS="0.5")
        # No cache on the public feeds, so each test sees what it just wrote.
        # The anonymous Open311 read limit is tested on a gateway of its own (test_gateway_security.py).
        stack.start_gateway(CITYOPS_ENVIRONMENT="local", CITYOPS_GATEWAY_PUBLIC_CACHE_SECONDS="0",
                            CITYOPS_GATEWAY_OPEN311_ANONYMOUS_READ_BURST="100000")
        stack.wait_ready()
        stack.apis = apis  # type: ignore[attr-defined]
        yield stack


_CONFORMANCE: dict[str, list[str]] = {"passed": [], "failed": []}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "test_open311_conformance[" in report.nodeid and report.when == "call":
        _CONFORMANCE["passed" if report.passed else "failed"].append(report.nodeid.split("[", 1)[1].rstrip("]"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    passed, failed = _CONFORMANCE["passed"], _CONFORMANCE["failed"]
    if not passed and not failed:
        return
    terminalreporter.section("Open311 GeoReport v2 conformance")
    for name in failed:
        terminalreporter.write_line(f"FAIL  {name}")
    terminalreporter.write_line(f"Open311 GeoReport v2 conformance checks {len(passed)} passed, {len(failed)} failed")
