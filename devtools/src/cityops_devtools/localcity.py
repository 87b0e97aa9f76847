"""``cityops up``: the whole city on one machine, for ``make run``.

Checks first that Java 17, Maven (when the Kafka jars are not fetched yet), PostgreSQL and every
port the city needs are there, and starts nothing otherwise: one bilingual message per problem, no
traceback. Then starts the devstack (Kafka, Postgres), applies topics and migrations, then every
installed service's api and worker, the gateway and the simulator, each as its own process with its
log in ``<run_dir>/logs``. A child that exits is restarted with exponential backoff, up to a limit
(cityops_devtools.supervision); past it the city stops and names the child. Ctrl-C (SIGINT) or
SIGTERM at any moment, start-up included, stops all of them, then the devstack; nothing is left
behind (children also die with this process: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from cityops_devtools.city import City, Component
from cityops_devtools.devstack import Devstack, DevstackError, DevstackUnavailable, kafka_jars_ready
from cityops_devtools.devstack._process import port_is_free, tail
from cityops_devtools.devstack.kafka import find_java
from cityops_devtools.devstack.postgres import find_pg_bin
from cityops_devtools.supervision import ChildGaveUp, RestartPolicy, Supervisor
from cityops_platform.settings import Settings

EXIT_INTERRUPTED = 130
EXIT_PREREQUISITES = 2


class StartupInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM before the city was up: unwinds start-up, which stops what already runs."""


def _say(message: str) -> None:
    """Progress for the person who ran `make run` (this is a CLI's output, not a log)."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def plan_city(root: Path, settings: Settings, *, simulate: bool) -> City:
    """Which processes make up the city, on the documented default ports: what is installed decides."""
    city = City(root, settings, base_env=dict(os.environ), fixed_ports=True, log_dir=root / "logs")
    city.plan(simulator=simulate)
    return city


def preflight(children: list[Component]) -> list[str]:
    """Every reason the city cannot start, checked before anything starts (empty: all good)."""
    problems: list[str] = []
    for check in (find_java, find_pg_bin):
        try:
            check()
        except DevstackUnavailable as exc:
            problems.append(str(exc))
    try:
        jars_ready = kafka_jars_ready()
    except DevstackError as exc:  # no checkout around: nothing to fetch the jars from
        problems.append(str(exc))
        jars_ready = True
    if not jars_ready and shutil.which("mvn") is None:
        problems.append(
            "Thiếu Maven (mvn) để tải jar Kafka; cài gói `maven` (hoặc chạy `make setup`). "
            "/ Maven (mvn) is needed to fetch the Kafka jars; install the `maven` package (or run `make setup`)."
        )
    for child in children:
        for port in child.ports:
            if not port_is_free(port):
                problems.append(
                    f"Cổng {port} đang bận, {child.name} cần cổng này; dừng tiến trình đang giữ nó "
                    f"(`ss -ltnp 'sport = :{port}'`). / Port {port} is busy and {child.name} needs it; "
                    f"stop the process holding it."
                )
    return problems


def run_local_city(
    run_dir: str = ".run/city",
    *,
    simulate: bool = True,
    ready_timeout: float = 120.0,
    policy: RestartPolicy | None = None,
) -> int:
    """Run the city until Ctrl-C/SIGTERM (0), a child given up on (1), missing prerequisites (2)
    or an interrupted start-up (130)."""
    root = Path(run_dir).resolve()
    logs = root / "logs"
    stop = threading.Event()
    starting = threading.Event()
    starting.set()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        if starting.is_set():
            starting.clear()  # a second signal while unwinding must not interrupt the clean-up
            raise StartupInterrupted

    # First of all, so that Ctrl-C is honoured at any moment, the checks included.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    city: City | None = None
    stack: Devstack | None = None
    try:
        city = plan_city(root, Settings(), simulate=simulate)
        problems = preflight(city.components)
        if problems:
            _say("✘ Chưa thể khởi động thành phố (the city cannot start):")
            for problem in problems:
                _say(f"  • {problem}")
            return EXIT_PREREQUISITES
        logs.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        stack = Devstack(root / "devstack")
        _say("▶ Khởi động Kafka và PostgreSQL (starting Kafka and PostgreSQL)…")
        stack.start()
        jwt_secret = share_signing_key(root)
        city.settings = Settings(kafka_bootstrap=stack.kafka.bootstrap, database_url=stack.postgres.dsn,
                                 jwt_secret=jwt_secret)
        _say(f"  Kafka {stack.kafka.bootstrap} · PostgreSQL {stack.postgres.dsn}")
        _say("▶ Tạo chủ đề Kafka (applying topics)…")
        _say(f"  {len(city.apply_topics())} chủ đề (topics)")
        _say("▶ Migration cơ sở dữ liệu (migrating)…")
        for service, applied in city.migrate().items():
            _say(f"  {service:<14} +{len(applied)}")
        children = city.components
        supervisor = Supervisor(children, env=city.env_for, policy=policy or RestartPolicy(), say=_say)
        _say(f"▶ Khởi động {len(children)} tiến trình (starting processes)…")
        supervisor.start_all()
        _wait_ready(city, supervisor, ready_timeout)
        starting.clear()
        if stop.is_set():  # a signal landed between the last check and here
            raise StartupInterrupted
        _print_summary(children, stack, logs, time.monotonic() - started)
        while not stop.wait(0.5):
            supervisor.check()
        return 0
    except StartupInterrupted:
        _say("■ Đã hủy khởi động (start-up interrupted).")
        return EXIT_INTERRUPTED
    except ChildGaveUp as exc:
        _say(f"✘ {exc}")
        return 1
    except DevstackError as exc:
        _say(f"✘ {exc}")
        return 1
    finally:
        starting.clear()
        if stack is not None:
            _say("■ Đang dừng thành phố (stopping the city)…")
            if city is not None:
                city.stop(20.0)
            stack.stop()
            (root / JWT_SECRET_FILE).unlink(missing_ok=True)  # this run's key dies with it
            _say("■ Đã dừng tất cả (everything stopped).")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


JWT_SECRET_FILE = "jwt-secret"


def share_signing_key(root: Path) -> str:
    """The key every process of this run signs and checks tokens with: CITYOPS_JWT_SECRET when
    given, else a fresh random one. Written to ``<root>/jwt-secret`` (0600) for `cityops dev-token`."""
    key = os.environ.get("CITYOPS_JWT_SECRET", "").strip() or secrets.token_urlsafe(48)
    path = root / JWT_SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key


def _wait_ready(city: City, supervisor: Supervisor, timeout: float) -> None:
    def announce(child: Component) -> None:
        _say(f"  ✔ {child.name:<22} {child.endpoint}")

    # A child that exits meanwhile is the supervisor's: restarted with backoff, or ChildGaveUp.
    pending = city.wait_ready(timeout, tolerate_exits=supervisor.check, on_ready=announce)
    if pending:
        _say("  ✘ chưa sẵn sàng (not ready): " + ", ".join(c.name for c in pending))
        for child in pending:
            _say(f"    {child.name}: {child.log_file}\n" + "\n".join(
                f"      {line}" for line in tail(child.log_file, 5).splitlines()))


def _print_summary(children: list[Component], stack: Devstack, logs: Path, elapsed: float) -> None:
    _say("")
    _say(f"Thành phố đã sẵn sàng sau {elapsed:.1f} s (the city is up)")
    _say(f"  {'thành phần (component)':<24} {'địa chỉ (address)':<44} pid")
    _say(f"  {'kafka':<24} {stack.kafka.bootstrap:<44} {stack.kafka.pid}")
    _say(f"  {'postgres':<24} {stack.postgres.dsn:<44} ")
    for child in children:
        _say(f"  {child.name:<24} {child.endpoint:<44} {child.proc.pid if child.proc else ''}")
    _say("")
    _say("  Bảng điều khiển (ops console):   http://127.0.0.1:8080/")
    _say("  Open311:                          http://127.0.0.1:8080/open311/v2/services.json")
    _say("  Đăng nhập (login):                operator / operator-dev (docs/console.md)")
    _say("  Token:                            cityops dev-token --role operator")
    _say(f"  Nhật ký (logs):                   {logs}")
    _say("  Dừng (stop):                      Ctrl-C")
