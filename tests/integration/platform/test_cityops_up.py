"""`cityops up` as a person meets it: missing prerequisites and busy ports are refused before
anything starts (bilingual, no traceback), a crashing child is restarted with backoff up to a
limit, and Ctrl-C during start-up stops everything without claiming the city is up.

Real processes throughout: the `cityops` CLI in a subprocess, real crashing children for the
supervisor, and the real devstack (Java, Postgres) for the interrupted start-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cityops_devtools.devstack import DevstackUnavailable
from cityops_devtools.devstack.kafka import find_java
from cityops_devtools.devstack.postgres import find_pg_bin
from cityops_devtools.supervision import Child, ChildGaveUp, RestartPolicy, Supervisor

UP_LINE = "the city is up"


def _up(tmp_path: Path, env: dict[str, str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityops_platform.cli", "up", "--run-dir", str(tmp_path / "city"), "--no-simulate"],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(extra)
    return env


def _assert_refused_before_start(result: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "Chưa thể khởi động thành phố (the city cannot start)" in output
    assert "Khởi động Kafka" not in output and UP_LINE not in output
    assert not (tmp_path / "city" / "devstack").exists(), "nothing may start before the checks pass"
    return output


def test_missing_java_is_refused_in_both_languages_before_anything_starts(tmp_path: Path) -> None:
    output = _assert_refused_before_start(_up(tmp_path, _env(JAVA_HOME=str(tmp_path / "no-java"))), tmp_path)
    assert "Thiếu Java 17+" in output and "Java 17+ is needed" in output


def test_missing_postgres_is_refused_in_both_languages(tmp_path: Path) -> None:
    output = _assert_refused_before_start(_up(tmp_path, _env(CITYOPS_PG_BIN=str(tmp_path / "no-pg"))), tmp_path)
    assert "Thiếu PostgreSQL server" in output and "install the `postgresql` package" in output


def test_missing_maven_is_refused_when_the_kafka_jars_are_not_fetched(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    (tmp_path / "no-jars").mkdir()
    env = _env(PATH=str(empty_path), CITYOPS_KAFKA_LIBS=str(tmp_path / "no-jars"))
    output = _assert_refused_before_start(_up(tmp_path, env), tmp_path)
    assert "Thiếu Maven (mvn)" in output and "install the `maven` package" in output


def test_busy_port_is_named_with_the_child_that_needs_it(tmp_path: Path, busy_port: int) -> None:
    output = _assert_refused_before_start(_up(tmp_path, _env(CITYOPS_HTTP_PORT=str(busy_port))), tmp_path)
    assert f"Cổng {busy_port} đang bận, gateway cần cổng này" in output
    assert f"Port {busy_port} is busy and gateway needs it" in output


def _crashing_child(tmp_path: Path, name: str = "crashy-api") -> Child:
    script = "import sys; print('khởi động lỗi: cấu hình hỏng / bad config', flush=True); sys.exit(3)"
    return Child(name, [sys.executable, "-c", script], tmp_path / f"{name}.log")


def _supervise_until_given_up(supervisor: Supervisor) -> ChildGaveUp:
    guard = time.monotonic() + 60  # a safety net against a hang, not a timing assertion
    while time.monotonic() < guard:
        try:
            supervisor.check()
        except ChildGaveUp as exc:
            return exc
        time.sleep(0.005)
    raise AssertionError("the supervisor never gave up on a child that always crashes")


def test_crashing_child_restarts_with_exponential_backoff_then_the_city_gives_up(tmp_path: Path) -> None:
    child = _crashing_child(tmp_path)
    lines: list[str] = []
    policy = RestartPolicy(initial=0.01, factor=2.0, max_delay=0.03, max_restarts=4, reset_after=3600)
    supervisor = Supervisor([child], env=dict(os.environ), policy=policy, say=lines.append)
    supervisor.start_all()
    given_up = _supervise_until_given_up(supervisor)
    assert child.delays == [0.01, 0.02, 0.03, 0.03]  # doubling, capped at max_delay
    assert child.restarts == 4
    assert given_up.returncode == 3
    message = str(given_up)
    assert "crashy-api đã dừng 5 lần liên tiếp" in message and "crashy-api exited 5 times in a row" in message
    assert "cấu hình hỏng / bad config" in message  # the child's last log lines
    assert len([line for line in lines if line.startswith("⚠ crashy-api đã dừng")]) == 4


def test_a_child_that_ran_long_enough_starts_its_restart_count_over(tmp_path: Path) -> None:
    now = [0.0]
    child = _crashing_child(tmp_path, "flaky-worker")
    policy = RestartPolicy(initial=1.0, max_restarts=2, reset_after=100.0)
    supervisor = Supervisor([child], env=dict(os.environ), policy=policy, say=lambda _line: None,
                            clock=lambda: now[0])
    supervisor.start_all()
    assert child.proc is not None
    child.proc.wait()
    supervisor.check()  # exited after 0 s: first backoff
    now[0] += 1.0
    supervisor.check()  # due: restarted
    assert child.restarts == 1
    assert child.proc.wait() == 3
    now[0] += 150.0  # this run counts as having stayed up past reset_after
    supervisor.check()
    assert child.restarts == 0 and child.delays == [1.0, 1.0]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _is_broker(proc: psutil.Process) -> bool:
    try:
        return "kafka.Kafka" in proc.cmdline()
    except psutil.Error:
        return False


def test_ctrl_c_during_the_checks_is_honoured_without_a_traceback(tmp_path: Path) -> None:
    # A JAVA_HOME whose "java" sleeps: the SIGINT lands while the checks are running.
    java_home = tmp_path / "slow-java"
    (java_home / "bin").mkdir(parents=True)
    java = java_home / "bin" / "java"
    java.write_text("#!/bin/sh\nexec sleep 30\n")
    java.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops_platform.cli", "up", "--run-dir", str(tmp_path / "city")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(JAVA_HOME=str(java_home)), text=True,
    )
    guard = time.monotonic() + 60
    while time.monotonic() < guard and not any(p.name() == "sleep" for p in _descendants(proc.pid)):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Traceback" not in output and UP_LINE not in output
    assert "Đã hủy khởi động (start-up interrupted)" in output


def test_ctrl_c_during_start_up_stops_everything_and_never_says_the_city_is_up(tmp_path: Path) -> None:
    try:
        find_java()
        find_pg_bin()
    except DevstackUnavailable as exc:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"Java/PostgreSQL unavailable under CI=true: {exc}", pytrace=False)
        pytest.skip(f"Java/PostgreSQL unavailable: {exc}")
    log_path = tmp_path / "up.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cityops_platform.cli", "up", "--run-dir", str(tmp_path / "city"),
             "--no-simulate"],
            stdout=log, stderr=subprocess.STDOUT, env=_env(), text=True,
        )
        seen: dict[int, psutil.Process] = {}
        try:
            # Interrupt once the devstack's servers are being launched (kafka.Kafka is the broker).
            guard = time.monotonic() + 120
            launched = False
            while not launched and time.monotonic() < guard and proc.poll() is None:
                for p in _descendants(proc.pid):
                    seen[p.pid] = p
                    launched = launched or _is_broker(p)
                time.sleep(0.05)
            assert proc.poll() is None, log_path.read_text()
            assert launched, f"the broker never started:\n{log_path.read_text()}"
            proc.send_signal(signal.SIGINT)
            code = proc.wait(90)
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log_path.read_text()
    assert code == 130, output
    assert "Traceback" not in output
    assert "Đã hủy khởi động (start-up interrupted)" in output
    assert UP_LINE not in output and "Thành phố đã sẵn sàng" not in output
    assert "Đã dừng tất cả (everything stopped)" in output
    _, alive = psutil.wait_procs(list(seen.values()), timeout=15)
    assert not alive, f"processes left behind: {[(p.pid, p.name()) for p in alive]}"
