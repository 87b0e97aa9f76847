"""Helpers of the sensors bench: CPU per process group (api, worker, broker) and machine-wide; the report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def say(message: str) -> None:
    print(message, flush=True)

_TICK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int | None) -> float:
    """User + system CPU of every live process in a process group (a spawned api, worker, broker)."""
    if pgid is None:
        return 0.0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state ppid pgrp … utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


class CpuMeter:
    """CPU used by the stack's processes (in cores) and by the whole machine over an interval."""

    def __init__(self, groups: dict[str, int | None]) -> None:
        self.groups = groups
        self.start()

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = {name: group_cpu_seconds(pid) for name, pid in self.groups.items()}
        self.machine0 = machine_busy()

    def read(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.t0
        out = {f"{name}_cores": round((group_cpu_seconds(pid) - self.cpu0[name]) / elapsed, 2)
               for name, pid in self.groups.items()}
        busy, total = machine_busy()
        out["machine_busy_fraction"] = round((busy - self.machine0[0]) / max(1, total - self.machine0[1]), 2)
        return out


def print_result(result: dict[str, Any]) -> None:
    lat = result["latency_ms"]
    rows = [("offered (readings/s)", f"{result['offered_readings_per_s']:,.0f}"),
            ("accepted by api (readings/s)", f"{result['accepted_per_s']:,}"),
            ("processed by worker while sending (readings/s)", f"{result['worker_processed_during_send_per_s']:,}"),
            ("drain after sending stopped (s)", result["drain_after_send_s"]),
            ("sustained ingest→worker (readings/s)", f"{result['sustained_end_to_end_readings_per_s'] or 0:,}"),
            ("alerts received / expected", f"{result['alerts_received']} / {result['alerts_expected']}"),
            *((f"reading→alert {q} (ms)", v) for q, v in lat.items()),
            *((f"  {part.replace('_', ' ')} p50/p99/max (ms)", "/".join(str(x) for x in qs.values()))
              for part, qs in result.get("latency_split_ms", {}).items()),
            *((f"cpu {k.replace('_', ' ')}", v) for k, v in result["cpu_during_send"].items()),
            *((f"agent busy: {k}", v) for k, v in result["agent_busy_fraction"].items()),
            ("load average (1 min) start → end",
             f"{result['load_average_1m_at_start']} → {result['load_average_1m_at_end']}")]
    width = max(len(r[0]) for r in rows)
    say("")
    for name, value in rows:
        say(f"  {name:<{width}}  {value}")
