"""A real PostgreSQL server (Debian's packaged binaries) in a private data directory."""

from __future__ import annotations

import functools
import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import _pghome, _process
from ._process import DevstackError, DevstackUnavailable, PortTaken, ServerProcess

log = logging.getLogger("cityops.devstack")

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# sun_path is 108 bytes; Postgres appends "/.s.PGSQL.<port>" to the socket directory.
_MAX_SOCKET_DIR = 90


@functools.lru_cache(maxsize=1)
def find_pg_bin() -> Path:
    """Directory holding initdb/postgres/psql (CITYOPS_PG_BIN, PATH, or newest /usr/lib/postgresql)."""
    env = os.environ.get("CITYOPS_PG_BIN")
    if env:  # explicit wins outright, so a wrong value fails loudly instead of being ignored
        candidates = [Path(env)]
    else:
        on_path = shutil.which("initdb")
        candidates = [Path(on_path).parent] if on_path else []
        candidates += sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    for candidate in candidates:
        if all((candidate / tool).exists() for tool in ("initdb", "postgres", "psql", "pg_isready")):
            return candidate
    raise DevstackUnavailable(
        "Thiếu PostgreSQL server (initdb/postgres); cài gói `postgresql`. "
        "/ PostgreSQL server binaries not found; install the `postgresql` package "
        "or set CITYOPS_PG_BIN."
    )


class PostgresServer(ServerProcess):
    """A PostgreSQL server owned by this process, data under run_dir/data.

    >>> pg = PostgresServer(Path(".run/pg")); pg.start(); pg.dsn
    'postgresql://cityops:cityops@127.0.0.1:41234/cityops'

    The first start() runs initdb and creates the `cityops` role (LOGIN CREATEDB, not superuser)
    and database. Auth is trust on loopback and on the private unix socket: a dev server only.
    fsync stays on because tests rely on committed rows surviving a crash (kill()).
    stop() is a fast shutdown (SIGINT: disconnect clients, checkpoint); kill() is SIGKILL of the
    whole process group; restart() keeps the port and the data. As root the server runs as the
    `postgres` user (Postgres refuses root); see _pghome for where its data goes then.
    Log: run_dir/postgres.log.
    """

    user = "cityops"
    password = "cityops"
    database = "cityops"
    stop_signal = signal.SIGINT  # SIGTERM would be a "smart" shutdown that waits for every client to disconnect

    def __init__(self, run_dir: Path | str, port: int | None = None, *, max_connections: int = 200) -> None:
        super().__init__(run_dir, port)
        self.max_connections = max_connections
        # More server settings (`-c name=value`), e.g. the bench's pg_stat_statements when it profiles.
        self.extra_settings: dict[str, str] = {}
        self._socket_dir: Path | None = None
        self._home = self.run_dir

    @property
    def dsn(self) -> str:
        """URL for CITYOPS_DATABASE_URL: the `cityops` database as the `cityops` role over TCP."""
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        """Same server and role, another database (see create_database)."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self._started_port()}/{database}"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (outside run_dir only as root with an unreachable run_dir)."""
        return self._home / "data"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "postgres.log"

    def start(self, timeout: float | None = None) -> PostgresServer:
        """initdb on first use, start the server and wait until it accepts a real query (within
        ``timeout`` seconds, default ``start_timeout``)."""
        if self.is_running:
            return self
        timeout = self.start_timeout if timeout is None else timeout
        bin_dir = find_pg_bin()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        owner = self._server_user()
        self._home = _pghome.server_home(self.run_dir, owner)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, owner)

        def prepare() -> None:
            if self.port is None:
                self.port = _process.free_port()

        def wait_ready(deadline: float) -> None:
            self._wait_ready(bin_dir, deadline)
            self._ensure_role_and_database()

        def forget_ports() -> None:
            self.port = None

        started = self._launch_until_ready(
            what="postgres", prepare=prepare, launch=lambda: self._launch(bin_dir, owner), wait_ready=wait_ready,
            timeout=timeout, ports_chosen=self.port is None, forget_ports=forget_ports,
        )
        assert self._proc is not None
        log.info("postgres ready on port %d in %.1f s (pid %d)", self.port, time.monotonic() - started, self._proc.pid)
        return self

    def _launch(self, bin_dir: Path, owner: str | None) -> None:
        self._socket_dir = self._make_socket_dir(owner)
        settings = {
            "listen_addresses": "127.0.0.1",
            "fsync": "on",
            "max_connections": str(self.max_connections),
            "logging_collector": "off",
            "log_timezone": "UTC",
            "timezone": "UTC",
            **self.extra_settings,
        }
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-k", str(self._socket_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._log_offset = _process.size_of(self.log_path)
        self._proc = _process.spawn(argv, log_file=self.log_path, cwd=self._home, user=owner)
        _process.on_exit(self.stop)

    def _ensure_role_and_database(self) -> None:
        # Checked on every start, not only after initdb, so a first run interrupted between
        # initdb and here heals itself.
        if not self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{self.user}'"):
            self.psql(f"CREATE ROLE {self.user} LOGIN CREATEDB PASSWORD '{self.password}'")
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"):
            self.psql(f"CREATE DATABASE {self.database} OWNER {self.user}")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), SIGKILL after timeout. Keeps data."""
        super().stop(timeout)
        self._remove_temp_socket_dir()

    def kill(self) -> None:
        """Crash the server and its backends with SIGKILL (for fault tests); WAL recovers it."""
        super().kill()
        self._remove_temp_socket_dir()

    def destroy(self) -> None:
        """Stop and delete the cluster's data (tests use it; a developer's run_dir keeps its data)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self._home != self.run_dir:
            shutil.rmtree(self._home, ignore_errors=True)
            (self.run_dir / "data").unlink(missing_ok=True)

    def psql(self, *statements: str, database: str = "postgres") -> str:
        """Run SQL as the `postgres` superuser over the unix socket; returns unaligned output."""
        if self._socket_dir is None or self.port is None:
            raise DevstackError("PostgresServer chưa start() / not started yet")
        argv = [str(find_pg_bin() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        argv += self._as_postgres(database)
        for statement in statements:
            argv += ["-c", statement]
        return _process.run_checked(argv, what="psql", timeout=60.0).strip()

    def _as_postgres(self, database: str) -> list[str]:
        """Client options: the `postgres` superuser on ``database`` over the private unix socket."""
        return ["-h", str(self._socket_dir), "-p", str(self.port), "-U", "postgres", "-d", database]

    def create_database(self, name: str) -> str:
        """Create an empty database owned by `cityops` and return its DSN."""
        self._check_identifier(name)
        self.psql(f"CREATE DATABASE {name} OWNER {self.user}")
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database even if clients are still connected to it."""
        self._check_identifier(name)
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @staticmethod
    def _check_identifier(name: str) -> None:
        if not _IDENTIFIER.match(name) or name in ("postgres", "template0", "template1"):
            raise ValueError(f"tên database không hợp lệ / invalid database name: {name!r}")

    @staticmethod
    def _server_user() -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise DevstackUnavailable(
                "Chạy bằng root cần user `postgres` (gói postgresql tạo ra). "
                "/ Running as root needs the `postgres` user (created by the postgresql package)."
            ) from None
        return "postgres"

    def _chown(self, path: Path, owner: str | None) -> None:
        if owner is not None:
            shutil.chown(path, owner, owner)

    def _make_socket_dir(self, owner: str | None) -> Path:
        socket_dir = self._home / "sock"
        if len(str(socket_dir)) > _MAX_SOCKET_DIR:
            # A deep run_dir (pytest tmp paths) would overflow the unix socket path limit.
            socket_dir = Path(tempfile.mkdtemp(prefix="cityops-pgsock-"))
        socket_dir.mkdir(parents=True, exist_ok=True)
        self._chown(socket_dir, owner)
        return socket_dir

    def _remove_temp_socket_dir(self) -> None:
        if self._socket_dir is not None and self._socket_dir.name.startswith("cityops-pgsock-"):
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def _initdb(self, bin_dir: Path, owner: str | None) -> None:
        if owner is not None:
            self._chown(self._home, owner)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        _process.run_checked(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
                "--no-sync",
            ],
            what="initdb",
            user=owner,
            cwd=self._home,
        )

    def _wait_ready(self, bin_dir: Path, deadline: float) -> None:
        assert self._proc is not None
        probe = [str(bin_dir / "pg_isready"), "-q", *self._as_postgres("postgres")]
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                if "Address already in use" in _process.read_from(self.log_path, self._log_offset):
                    raise PortTaken(str(self.port))
                raise DevstackError(
                    f"Postgres dừng khi khởi động / exited during startup "
                    f"(code {self._proc.returncode}); log: {self.log_path}\n"
                    f"{_process.tail(self.log_path)}"
                )
            if subprocess.run(probe, check=False).returncode == 0:
                self.psql("SELECT 1")  # a real query, not just "accepting connections"
                return
            time.sleep(0.05)
        raise DevstackError(
            f"Postgres không sẵn sàng / not ready in time; log: {self.log_path}\n{_process.tail(self.log_path)}"
        )
