"""Worker probes against a real broker that goes away: liveness stays up, readiness follows Kafka.

The chart probes /livez for liveness and /readyz for readiness (helm/cityops/templates/worker-deployment.yaml).
A Kafka outage must make workers unready, never restart them: a restart cures nothing there and every
restart is a consumer-group rebalance when the broker comes back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from cityops_devtools.devstack import KafkaBroker
from cityops_devtools.testing import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
APP = Path(__file__).with_name("echo_app.py")


async def status(client: httpx.AsyncClient, path: str) -> int:
    try:
        return (await client.get(path, timeout=3)).status_code
    except httpx.HTTPError:
        return 0  # not answering at all


async def wait_for(client: httpx.AsyncClient, path: str, code: int, within: float) -> None:
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = await status(client, path)
        if last == code:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{path} answered {last}, not {code}, within {within} s")


def start_worker(bootstrap: str, web_port: int, tmp_path: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """The echo worker (the real Faust app factory and probes) as its own process."""
    env = {**os.environ, "CITYOPS_KAFKA_BOOTSTRAP": bootstrap, "CITYOPS_TOPIC_PREFIX": "probes.",
           "CITYOPS_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(APP.parent), "ECHO_WEB_PORT": str(web_port)}
    return subprocess.Popen([sys.executable, str(APP), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path)


async def test_a_kafka_outage_makes_the_worker_unready_but_keeps_it_alive(
    isolated_kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    web_port = free_port()
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = start_worker(isolated_kafka_broker.bootstrap, web_port, tmp_path, log)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as client:
                await wait_for(client, "/readyz", 200, within=90)
                assert await status(client, "/livez") == 200

                isolated_kafka_broker.stop()
                await wait_for(client, "/readyz", 503, within=30)
                # For longer than the chart's liveness budget (3 x 10 s): alive all along, never unready-to-dead.
                deadline = time.monotonic() + 35
                while time.monotonic() < deadline:
                    assert await status(client, "/livez") == 200, log_path.read_text(errors="replace")[-3000:]
                    assert await status(client, "/readyz") == 503
                    await asyncio.sleep(1)
                assert proc.poll() is None

                isolated_kafka_broker.restart()
                await wait_for(client, "/readyz", 200, within=90)
                assert await status(client, "/livez") == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
