"""`cityops up` (what `make run` runs) brings the whole city up, and Ctrl-C stops all of it.

This is the README's promise, tested as a user would meet it: a real process tree on the real
ports (50051–50054, 8080), health answered SERVING, then SIGINT and nothing left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from cityops_devtools.city import grpc_serving
from cityops_platform.settings import DEFAULT_GRPC_PORTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
READY_LINE = "Thành phố đã sẵn sàng"


def _ports_in_use() -> list[int]:
    wanted = {*DEFAULT_GRPC_PORTS.values(), 8080}
    return sorted({c.laddr.port for c in psutil.net_connections("tcp")
                   if c.status == psutil.CONN_LISTEN and c.laddr.port in wanted})


def test_cityops_up_starts_every_service_and_sigint_stops_everything(tmp_path: Path) -> None:
    busy = _ports_in_use()
    if busy:
        pytest.fail(f"ports already in use before the test: {busy}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    log_path = tmp_path / "up.log"
    log = open(log_path, "w")  # noqa: SIM115 - the child writes to it for the whole test
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops_platform.cli", "up", "--run-dir", str(tmp_path / "city"), "--no-simulate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while READY_LINE not in log_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, f"cityops up exited early:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        output = log_path.read_text()
        assert READY_LINE in output, f"the city did not come up in time:\n{output[-3000:]}"
        for service, port in DEFAULT_GRPC_PORTS.items():
            assert grpc_serving(port, timeout=2), f"{service} on {port} is not SERVING\n{output[-2000:]}"
        assert httpx.get("http://127.0.0.1:8080/healthz", timeout=5).status_code == 200
        tree = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        for service in DEFAULT_GRPC_PORTS:
            assert f"serve {service}" in names and f"worker {service}" in names
        assert "serve gateway" in names and "kafka.Kafka" in names and "postgres" in names

        proc.send_signal(signal.SIGINT)
        assert proc.wait(90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, f"processes left behind: {[p.pid for p in alive]}"
    assert _ports_in_use() == []
    assert "Đã dừng tất cả" in log_path.read_text()
