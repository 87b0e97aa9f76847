"""The whole local city (every installed service's api and worker, then the gateway) as real
processes, and a real headless Chromium (Debian's, driven by Playwright; never a downloaded one)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import load_by_path

CHROMIUM = os.environ.get("CITYOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


def _load(name: str) -> ModuleType:
    return load_by_path(f"cityops_test_{name}", Path(__file__).with_name(f"{name}.py"))


citystack = _load("citystack")
cityscene = _load("cityscene")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; missing it skips locally and FAILS under CI=true."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium không có / missing at {CHROMIUM} (apt-get install -y chromium)"
        if _in_ci():
            pytest.fail(f"{message} (CI=true: thiếu thành phần là lỗi / missing is an error)", pytrace=False)
        pytest.skip(message)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        if _in_ci():
            pytest.fail(f"playwright is not installed: {exc}", pytrace=False)
        pytest.skip(f"playwright is not installed: {exc}")
    return CHROMIUM


@pytest.fixture(scope="module")
def city(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    services = [s for s in ("incidents", "dispatch", "sensors", "notifications") if citystack.installed(s)]
    if "incidents" not in services:
        pytest.fail("cityops-incidents is not installed: the e2e tests need the real service")
    with citystack.fresh_city(kafka_broker, postgres_server, tmp_path_factory.mktemp("city")) as stack:
        stack.services = services  # type: ignore[attr-defined]
        stack.prepare(services)
        # The standards folder is a setting (CAP XSD, ...): the test's own, when it has one, reaches the
        # services (the launcher hands them no CITYOPS_* of this process).
        standards = {"CITYOPS_STANDARDS_DIR": os.environ["CITYOPS_STANDARDS_DIR"]} if os.environ.get(
            "CITYOPS_STANDARDS_DIR") else {}
        for service in services:
            stack.start_api(service, **standards)
        for service in services:
            if citystack.has_worker(service):
                stack.start_worker(service, **standards)
        stack.start_gateway(CITYOPS_ENVIRONMENT="local")
        stack.wait_ready(timeout=150)
        yield stack


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def shots(artifacts: Path) -> Path:
    """Where screenshots for the docs go: CITYOPS_SCREENSHOTS_DIR (`make screenshots`: docs/screenshots),
    else test-artifacts/e2e."""
    target = Path(os.environ.get("CITYOPS_SCREENSHOTS_DIR") or artifacts)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="session")
def scene() -> ModuleType:
    """cityscene.py: the incidents the tests report, and gRPC helpers."""
    return cityscene
