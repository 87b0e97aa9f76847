"""Samplers that run beside the load, once a second: CPU and RSS of every process, consumer lag."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cityops_platform.kafka.client import client_kwargs
from cityops_platform.settings import Settings

log = logging.getLogger("loadtests.bench")


@dataclass
class ProcessMonitor:
    """CPU% (of one core) and RSS of named processes, each with its children (Postgres backends)."""

    pids: dict[str, int]
    # Processes measured without their children (the harness spawned the whole city).
    solo: set[str] = field(default_factory=set)
    samples: list[dict[str, Any]] = field(default_factory=list)
    _procs: dict[str, psutil.Process] = field(default_factory=dict)
    _kids: dict[int, psutil.Process] = field(default_factory=dict)

    def add(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def _tree(self, name: str, pid: int) -> list[psutil.Process]:
        proc = self._procs.get(name)
        if proc is None or proc.pid != pid:
            proc = self._procs[name] = psutil.Process(pid)
            proc.cpu_percent(None)
        tree = [proc]
        if name in self.solo:
            return tree
        for kid in proc.children(recursive=True):
            known = self._kids.get(kid.pid)
            if known is None:
                known = self._kids[kid.pid] = kid
                known.cpu_percent(None)  # first call only primes the counter
            tree.append(known)
        return tree

    def sample(self, t: float) -> None:
        row: dict[str, Any] = {"t": t, "machine_cpu": psutil.cpu_percent(None),
                               "load1": psutil.getloadavg()[0]}
        for name, pid in list(self.pids.items()):
            cpu = rss = 0.0
            try:
                for proc in self._tree(name, pid):
                    with contextlib.suppress(psutil.Error):
                        cpu += proc.cpu_percent(None)
                        rss += proc.memory_info().rss
            except psutil.Error:
                continue
            row[name] = {"cpu": round(cpu, 1), "rss_mb": round(rss / 2**20, 1)}
        self.samples.append(row)

    async def run(self, stop: asyncio.Event, t0: float) -> None:
        psutil.cpu_percent(None)
        while not stop.is_set():
            await asyncio.to_thread(self.sample, time.time() - t0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    def cpu_ms_per_report(self, window: tuple[float, float], reports: int) -> dict[str, float]:
        """Per process: the CPU it spent within ``window`` (seconds since t0, the samples' clock),
        in milliseconds per one of the window's ``reports``: where a phase's CPU per report goes.
        Each sample is the CPU % since the one before it (about a second), so the window's mean CPU %
        times its length is the CPU seconds spent in it."""
        start, end = window
        rows = [s for s in self.samples[1:] if start < s["t"] <= end]
        if not rows or reports <= 0:
            return {}
        seconds = max(end - start, 1e-9)
        out: dict[str, float] = {}
        for name in self.pids:
            got = [r[name]["cpu"] for r in rows if name in r]
            if got:
                out[name] = round(10 * (sum(got) / len(got)) * seconds / reports, 3)
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """Per process: mean and max CPU% (100 = one core), max RSS in MB."""
        out: dict[str, dict[str, float]] = {}
        for name in self.pids:
            rows = [s[name] for s in self.samples[1:] if name in s]
            if rows:
                out[name] = {"cpu_mean": round(sum(r["cpu"] for r in rows) / len(rows), 1),
                             "cpu_max": max(r["cpu"] for r in rows),
                             "rss_max_mb": max(r["rss_mb"] for r in rows)}
        return out


@dataclass
class LagMonitor:
    """Consumer lag per group (end offset − committed offset, summed over partitions), every second."""

    settings: Settings
    group_prefix: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event, t0: float) -> None:
        admin = AIOKafkaAdminClient(**client_kwargs(self.settings))
        offsets = AIOKafkaConsumer(**client_kwargs(self.settings), group_id=None, enable_auto_commit=False)
        await admin.start()
        await offsets.start()
        try:
            while not stop.is_set():
                started = time.time()
                try:
                    row = await self.sample(admin, offsets)
                    row["t"] = started - t0
                    self.samples.append(row)
                except Exception as exc:  # a missed sample must not stop the bench
                    log.debug("lag sample failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.05, 1.0 - (time.time() - started)))
        finally:
            await offsets.stop()
            await admin.close()

    async def sample(self, admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer) -> dict[str, Any]:
        groups = [g[0] for g in await admin.list_consumer_groups()]
        groups = [g for g in groups if g.startswith(self.group_prefix) and "__assignor" not in g]
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            raw = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in raw.items() if meta.offset >= 0}
        partitions = {tp for c in committed.values() for tp in c}
        ends = await offsets.end_offsets(list(partitions)) if partitions else {}
        lag: dict[str, int] = {}
        for group, parts in committed.items():
            lag[group] = int(sum(max(0, ends.get(tp, off) - off) for tp, off in parts.items()))
        return {"lag": lag}

    def groups(self) -> list[str]:
        return sorted({g for s in self.samples for g in s["lag"]})

    def summary(self) -> dict[str, dict[str, float]]:
        """Per group: max lag, the lag at the end, and whether it kept growing in the last third."""
        out: dict[str, dict[str, float]] = {}
        for group in self.groups():
            series = [s["lag"].get(group, 0) for s in self.samples if group in s["lag"]]
            if not series:
                continue
            out[group] = {"max": max(series), "last": series[-1], "growing": lag_growing(series)}
        return out


def lag_growing(series: list[int], *, slack: int = 1000) -> bool:
    """True when the lag rises through the run: its last third sits clearly above its first third."""
    if len(series) < 6:
        return False
    third = len(series) // 3
    early = sum(series[:third]) / third
    late = sum(series[-third:]) / third
    return late > early * 1.5 + slack


@dataclass
class DbWaitMonitor:
    """What Postgres sessions wait on, sampled each second (pg_stat_activity): a profiler for locks.

    A Python service that is idle while its latency grows is waiting on something; when that is
    a row or advisory lock in Postgres, it shows up here as ``Lock:transactionid`` / ``Lock:advisory``.
    """

    database_url: str
    counts: dict[str, int] = field(default_factory=dict)
    samples: int = 0

    async def run(self, stop: asyncio.Event, t0: float) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.database_url)
        try:
            while not stop.is_set():
                rows = await conn.fetch(
                    "SELECT coalesce(wait_event_type, 'CPU') AS t, coalesce(wait_event, 'running') AS e, "
                    "count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1, 2")
                self.samples += 1
                for row in rows:
                    key = f"{row['t']}:{row['e']}"
                    self.counts[key] = self.counts.get(key, 0) + int(row["n"])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await conn.close()

    def summary(self) -> dict[str, Any]:
        """Mean number of active sessions in each wait state (over all samples), most first."""
        top = sorted(self.counts.items(), key=lambda kv: -kv[1])
        return {"samples": self.samples,
                "mean_active_sessions": {k: round(v / max(1, self.samples), 2) for k, v in top[:12]}}
