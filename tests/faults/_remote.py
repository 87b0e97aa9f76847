"""A devstack server (Kafka or Postgres) owned by a helper process, so the test can crash and
restart it while gRPC runs in the test process.

Why: the broker's crash and restart stay out of the test process, which runs gRPC. (Devstack's
spawn used to run a Python ``preexec_fn`` in the forked child, which can abort it while gRPC
threads are busy, "Fatal Python error: Aborted"; it now sets the parent-death signal with
setpriv, so no Python runs in the child.) The helper is a fresh interpreter that never loads
gRPC, and it does every fork itself. It stops its server when its stdin closes, that is when the test ends
or dies.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

_SCRIPT = r"""
import json, sys
from cityops_devtools.devstack import KafkaBroker, PostgresServer
kind, run_dir = sys.argv[1], sys.argv[2]
server = KafkaBroker(run_dir) if kind == "kafka" else PostgresServer(run_dir)
def reply(**kw):
    print(json.dumps(kw), flush=True)
try:
    server.start()
    reply(ok=True, port=server.port)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "kill":
                server.kill()
                reply(ok=True)
            elif cmd == "start":
                server.start()
                reply(ok=True)
            elif cmd == "createdb":
                reply(ok=True, dsn=server.create_database(arg))
            else:
                reply(ok=False, error=f"unknown command {cmd!r}")
        except Exception as exc:
            reply(ok=False, error=repr(exc))
finally:
    server.destroy() if kind == "postgres" else server.stop()
"""


class RemoteServer:
    """``kind`` is "kafka" or "postgres"; methods block, ``a*`` variants run them in a thread."""

    def __init__(self, kind: str, run_dir: Path) -> None:
        self.kind = kind
        self.run_dir = run_dir
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> RemoteServer:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.run_dir / "helper.log", "w")  # noqa: SIM115 (the child keeps its own copy)
        with log:
            self._proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, self.kind, str(self.run_dir)], text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.port = int(self._call(None)["port"])
        return self

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        self._call("kill")

    def restart(self) -> None:
        self._call("start")

    def create_database(self, name: str) -> str:
        return str(self._call(f"createdb {name}")["dsn"])

    async def akill(self) -> None:
        await asyncio.to_thread(self.kill)

    async def arestart(self) -> None:
        await asyncio.to_thread(self.restart)

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)

    def _call(self, command: str | None) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        if command is not None:
            self._proc.stdin.write(command + "\n")
            self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.kind} helper exited: see {self.run_dir / 'helper.log'}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"{self.kind} helper: {answer.get('error')}")
        return answer
