"""The gateway's web app in-process, its upstream services unreachable (shared by this folder's tests)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from cityops_devtools.testing import free_port
from cityops_gateway.asgi import create_web_app
from cityops_platform.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette suggests httpx2 for its TestClient; httpx is what we pin
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """A TestClient of the local web app. Nothing listens on the upstream ports: any upstream call fails
    fast as UNAVAILABLE."""
    dead = f"127.0.0.1:{free_port()}"
    settings = Settings(rpc_timeout_seconds=1, incidents_addr=dead, dispatch_addr=dead, sensors_addr=dead,
                        notifications_addr=dead, environment="local")
    with TestClient(create_web_app(settings, follow_events=False)) as c:
        yield c
