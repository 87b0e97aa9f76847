"""py-spy sampling of the city's processes during a phase (``--profile``): where the CPU goes.

Each process gets ``py-spy record --format raw`` (collapsed stacks, one line per distinct stack
with its sample count) for the phase; the summary keeps, per process, the frames with the most
samples on top of the stack (self time) and the most samples anywhere in it (inclusive time).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any


class Profiler:
    def __init__(self, out_dir: Path, pids: dict[str, int], *, rate: int = 49) -> None:
        self.out_dir = out_dir
        self.pids = {name: pid for name, pid in pids.items() if name not in ("kafka", "postgres")}
        self.rate = rate
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, phase: str, seconds: float) -> None:
        # The venv's own py-spy first: `make bench` does not activate the venv.
        beside = Path(sys.executable).parent / "py-spy"
        exe = str(beside) if beside.exists() else shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("py-spy không có (not installed): pip install py-spy==0.4.3")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            out = self.out_dir / f"{phase}-{name}.txt"
            self.procs[name] = await asyncio.create_subprocess_exec(
                exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", str(self.rate), "--format", "raw",
                "--nonblocking", "-o", str(out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def stop(self, phase: str) -> dict[str, Any]:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
        self.procs.clear()
        return {name: top_frames(self.out_dir / f"{phase}-{name}.txt") for name in self.pids}


def top_frames(path: Path, n: int = 8) -> dict[str, Any]:
    """Top self and inclusive frames of a collapsed-stack file (percent of samples)."""
    if not path.exists():
        return {"samples": 0}
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return {"samples": 0}
    idle = sum(c for f, c in own.items() if f.split(" (")[0].endswith(("select", "poll", "wait")))
    return {
        "samples": total,
        # Waiting in the event loop's selector: the process had nothing to do (or awaited I/O).
        "idle_pct": round(100 * idle / total, 1),
        "self": [(f, round(100 * c / total, 1)) for f, c in own.most_common(n + 4)
                 if not f.split(" (")[0].endswith(("select", "poll"))][:n],
        # Our own code only: where in CityOps the busy time is spent, callers included.
        "ours": [(f, round(100 * c / total, 1)) for f, c in inclusive.most_common()
                 if "(cityops" in f and "cli.py" not in f and "worker.py" not in f][:n],
    }


def _short(frame: str) -> str:
    """'fn (/long/path/site-packages/pkg/mod.py:12)' → 'fn (pkg/mod.py)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


# The statements that took the most of Postgres's time during a phase (pg_stat_statements).
_TOP_STATEMENTS = (
    "SELECT s.calls, round(s.total_exec_time::numeric, 1), s.rows, "
    "left(regexp_replace(s.query, '\\s+', ' ', 'g'), 180) FROM pg_stat_statements s "
    "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
    "ORDER BY s.total_exec_time DESC LIMIT {n}"
)
_TOTALS = (
    "SELECT coalesce(sum(s.calls), 0), round(coalesce(sum(s.total_exec_time), 0)::numeric, 1) "
    "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
)


class StatementProfile:
    """What the city asked of Postgres during a phase: calls and execution time per statement.

    ``psql(sql)`` runs SQL as a superuser on the city's database (``PostgresServer.psql``); the server
    must preload pg_stat_statements (``LocalCity(statement_stats=True)``)."""

    def __init__(self, out_dir: Path, psql: Any, *, n: int = 25) -> None:
        self.out_dir = out_dir
        self.psql = psql
        self.n = n

    async def start(self) -> None:
        await asyncio.to_thread(self.psql, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await asyncio.to_thread(self.psql, "SELECT pg_stat_statements_reset()")

    async def stop(self, phase: str, *, reports: int) -> dict[str, Any]:
        """Totals, statements per report and the top statements; also written to profile/<phase>-postgres.md."""
        calls, total_ms = (await asyncio.to_thread(self.psql, _TOTALS)).split("|")
        top = []
        for line in (await asyncio.to_thread(self.psql, _TOP_STATEMENTS.format(n=self.n))).splitlines():
            parts = line.split("|", 3)
            if len(parts) == 4:
                top.append({"calls": int(parts[0]), "total_ms": float(parts[1]), "rows": int(parts[2]),
                            "query": parts[3]})
        out = {"calls": int(calls), "exec_ms": float(total_ms),
               "calls_per_report": round(int(calls) / reports, 2) if reports else None,
               "exec_ms_per_report": round(float(total_ms) / reports, 3) if reports else None, "top": top}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"{phase}-postgres.md").write_text(statements_markdown(out), encoding="utf-8")
        return out


def statements_markdown(profile: dict[str, Any]) -> str:
    """The statements profile as a table (calls, time, share of all statement time)."""
    lines = [f"Câu lệnh (statements): {profile['calls']:,} lần gọi (calls), {profile['exec_ms']:,.0f} ms thực thi "
             f"(execution); mỗi phản ánh (per report): {profile['calls_per_report']} lần gọi, "
             f"{profile['exec_ms_per_report']} ms", "",
             "| lần gọi (calls) | ms | % | hàng (rows) | câu lệnh (statement) |", "|---|---|---|---|---|"]
    for s in profile["top"]:
        share = 100 * s["total_ms"] / profile["exec_ms"] if profile["exec_ms"] else 0.0
        query = s["query"].replace("|", "\\|")
        lines.append(f"| {s['calls']:,} | {s['total_ms']:,.0f} | {share:.1f} | {s['rows']:,} | `{query}` |")
    return "\n".join(lines) + "\n"
