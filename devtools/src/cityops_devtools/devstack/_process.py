"""Child-process plumbing shared by the Kafka and Postgres servers of the devstack.

The promise here is "no orphans": every server runs in its own session (so a signal reaches its
whole process group), gets PR_SET_PDEATHSIG so the kernel kills it when we die, and is stopped by
an atexit hook on a normal interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Self

log = logging.getLogger("cityops.devstack")

_PR_SET_PDEATHSIG = 1


class DevstackError(RuntimeError):
    """A devstack server failed to start or stop; the message names its log file."""


class DevstackUnavailable(DevstackError):
    """A prerequisite (Java, Maven, Postgres binaries) is missing on this machine."""


class PortTaken(DevstackError):
    """The port a server was given was taken before it bound it (the caller may pick another)."""


class ServerProcess:
    """What the devstack's servers share: one child process (``_proc``, set by the server's launch),
    stopped with ``stop_signal`` (then SIGKILL), crashed with SIGKILL, restarted with its data."""

    stop_signal = signal.SIGTERM
    start_timeout = 60.0

    def __init__(self, run_dir: Path | str, port: int | None) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def _started_port(self) -> int:
        """The server's port; DevstackError before start()."""
        if self.port is None:
            raise DevstackError(f"{type(self).__name__} chưa start() / not started yet")
        return self.port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float | None = None) -> Self:
        raise NotImplementedError

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to shut down (``stop_signal``); SIGKILL after timeout. Keeps data."""
        forget_on_exit(self.stop)
        if self._proc is not None:
            terminate(self._proc, self.stop_signal, timeout)

    def kill(self) -> None:
        """Crash the server with SIGKILL (for fault tests). Keeps data; restart() recovers it."""
        forget_on_exit(self.stop)
        if self._proc is not None:
            kill(self._proc)

    def _launch_until_ready(
        self,
        *,
        what: str,
        prepare: Callable[[], None],
        launch: Callable[[], None],
        wait_ready: Callable[[float], None],
        timeout: float,
        ports_chosen: bool,
        forget_ports: Callable[[], None],
    ) -> float:
        """``prepare`` (pick ports, write config), ``launch``, then ``wait_ready(deadline)``, ``timeout``
        seconds after the launch; returns when the successful launch began (``time.monotonic()``).

        Ports we picked ourselves (``ports_chosen``) can be taken by another process between the pick
        and the bind (parallel test runs): on PortTaken the server is killed, ``forget_ports`` drops
        the picked ports and all starts again, three times at most. Ports given by the caller are
        kept: PortTaken goes to the caller. Any other failure kills the server and is raised.
        """
        attempt = 1
        while True:
            prepare()
            started = time.monotonic()
            launch()
            try:
                wait_ready(started + timeout)
                return started
            except PortTaken:
                self.kill()
                if not ports_chosen or attempt == 3:
                    raise
                log.warning("%s port %s taken, retrying with another", what, self.port)
                forget_ports()
                attempt += 1
            except BaseException:
                self.kill()
                raise

    def restart(self, timeout: float | None = None) -> Self:
        """Stop (if running) and start again on the same port(s) with the same data."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


# Loaded before any fork: the child must not import or dlopen anything between fork and exec.
_LIBC = _libc()


def _die_with_parent() -> None:
    # Only when setpriv is missing: Python code between fork and exec. It runs after Popen's own
    # setuid (3.9+ order), which matters: a credential change clears the parent-death signal.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# util-linux's setpriv (Essential on Debian) sets the parent-death signal after exec, so the
# forked child runs no Python at all. A Python ``preexec_fn`` in a child forked while gRPC threads
# are busy in this process can abort it ("Fatal Python error: Aborted", seen in the fault suite).
# It runs after Popen's setuid as well, and the signal survives its own exec of the server.
_SETPRIV = shutil.which("setpriv")


class _Spawner:
    """One long-lived daemon thread that forks every server.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. A server
    started from a short-lived thread (asyncio.to_thread, a thread pool) would be killed as soon as
    that thread finished, so all forks happen on this thread, which lives as long as the process.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._pid = -1
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            # After a fork the old thread does not exist in this process: start a new one.
            self._jobs = queue.SimpleQueue()
            thread = threading.Thread(target=self._run, name="devstack-spawner", daemon=True)
            thread.start()
            self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            job, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:  # handed back to the caller, not swallowed
                future.set_exception(exc)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        self._ensure_thread()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((lambda: subprocess.Popen(list(argv), **kwargs), future))
        return future.result()


_SPAWNER = _Spawner()


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running server: own session, dies with us, stdout+stderr appended to log_file.

    No Python runs in the child between fork and exec (setpriv sets the parent-death signal), so
    this is safe while gRPC or other threads are busy in the calling process.
    """
    extra: dict[str, Any] = {}
    if user is not None:
        extra = {"user": user, "group": user, "extra_groups": []}
    if _SETPRIV is not None:
        argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
    else:
        extra["preexec_fn"] = _die_with_parent
    with open(log_file, "ab") as out:  # the child keeps its own copy of the descriptor
        return _SPAWNER.popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            **extra,
        )


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send sig to the server's whole process group (Postgres backends included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait until no process is left in the group, so its ports and shared memory are free."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.02)
    return False


def terminate(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Ask a server to stop with sig; SIGKILL its group if it has not exited within timeout."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored signal %d for %.0f s; sending SIGKILL", proc.pid, sig, timeout)
            signal_group(proc, signal.SIGKILL)
            proc.wait()
    # Children that outlive the leader (Postgres backends) still hold ports and shared memory.
    signal_group(proc, signal.SIGKILL)
    wait_group_gone(proc.pid, 5.0)
    return proc.returncode


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole group and reap it: a crash, for fault-injection tests."""
    signal_group(proc, signal.SIGKILL)
    proc.wait()
    wait_group_gone(proc.pid, 5.0)


_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10000
_ports_lock = threading.Lock()
_ports_issued: set[int] = set()
_ports_cursor: list[int] = []


def _planning_window() -> range:
    """The ports handed out by ``free_port``: outside the kernel's ephemeral range.

    A port is picked now and bound later (a city plans every port, then spawns; a fault test
    restarts a process on the port it had). A port from the ephemeral range can be taken in
    between as the local end of any outgoing connection (a Kafka client's, a test's), and the
    server then fails to bind. The kernel never hands out ports below that range on its own.
    """
    try:
        low, high = (int(x) for x in _EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - _LOWEST_PORT >= 4096:
        return range(_LOWEST_PORT, low)
    return range(high + 1, 65536)


def free_port(preferred: int | None = None) -> int:
    """A loopback TCP port that is free right now (preferred if it is free), never one this
    process handed out before, and never one the kernel would give an outgoing connection."""
    window = _planning_window()
    with _ports_lock:
        if preferred and port_is_free(preferred):
            _ports_issued.add(preferred)  # never planned again for another component
            return preferred
        if not _ports_cursor:  # processes planning at once start far apart
            _ports_cursor.append(int.from_bytes(os.urandom(4), "big") % len(window))
        for _ in range(len(window)):
            port = window[_ports_cursor[0] % len(window)]
            _ports_cursor[0] += 1
            if port not in _ports_issued and port_is_free(port):
                _ports_issued.add(port)
                return port
    raise OSError(f"no free loopback port in {window.start}-{window.stop - 1}")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_from(path: Path, offset: int) -> str:
    """What a log gained since offset (a server's own startup output, not earlier runs')."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return ""


def tail(path: Path, lines: int = 30) -> str:
    """The end of a log file, for error messages."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


_ATEXIT: list[Callable[[], None]] = []
_ATEXIT_LOCK = threading.Lock()


def _run_atexit() -> None:
    with _ATEXIT_LOCK:
        hooks = list(reversed(_ATEXIT))
        _ATEXIT.clear()
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("devstack cleanup failed")


atexit.register(_run_atexit)


def on_exit(hook: Callable[[], None]) -> None:
    with _ATEXIT_LOCK:
        if hook not in _ATEXIT:
            _ATEXIT.append(hook)


def forget_on_exit(hook: Callable[[], None]) -> None:
    with _ATEXIT_LOCK:
        if hook in _ATEXIT:
            _ATEXIT.remove(hook)


def run_checked(
    argv: Sequence[str], *, what: str, user: str | None = None, timeout: float = 120.0, cwd: Path | None = None
) -> str:
    """Run a short command to completion; raise DevstackError with its output if it fails."""
    extra: dict[str, Any] = {}
    if user is not None:
        extra = {"user": user, "group": user, "extra_groups": []}
    result = subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        check=False,
        cwd=cwd,
        **extra,
    )
    output = (result.stdout or b"").decode("utf-8", "replace")
    if result.returncode != 0:
        raise DevstackError(f"{what} thất bại / failed (exit {result.returncode}):\n{output[-4000:]}")
    return output
