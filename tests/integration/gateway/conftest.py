"""A real incidents api (plus dispatch and sensors apis when installed) and a real gateway
process, shared by the module's tests: starting them costs seconds, the tests milliseconds."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from cityops_platform.devstack import KafkaBroker, PostgresServer

_STACK_FILE = Path(__file__).resolve().parents[2] / "e2e" / "citystack.py"


def _load_citystack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cityops_test_citystack", _STACK_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


citystack = _load_citystack()
DEV_KEY = "cityops-open311-dev-key"


@pytest.fixture(scope="module")
def gateway_stack(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[citystack.CityStack]:
    if not citystack.installed("incidents"):
        pytest.fail("cityops-incidents is not installed: the Open311 tests need the real service")
    name = f"t_{uuid.uuid4().hex[:12]}"
    database_url = postgres_server.create_database(name)
    stack = citystack.CityStack(
        run_dir=tmp_path_factory.mktemp("gateway-stack"),
        kafka_bootstrap=kafka_broker.bootstrap,
        database_url=database_url,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )
    apis = [s for s in ("incidents", "dispatch", "sensors") if citystack.installed(s)]
    try:
        stack.prepare(apis)
        for service in apis:
            stack.start_api(service)
        stack.start_gateway(CITYOPS_ENVIRONMENT="local")
        stack.wait_ready()
        stack.apis = apis  # type: ignore[attr-defined]
        yield stack
    finally:
        stack.stop()
        postgres_server.drop_database(name)
