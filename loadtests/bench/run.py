"""The bench run: monitors on, surge, sensors, ceilings, monitors off, then numbers and verdicts."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cityops_platform.kafka.topics import SENSOR_READINGS

from . import ceilings, cpuprobe
from .monitor import DbWaitMonitor, LagMonitor, ProcessMonitor
from .profile import Profiler, StatementProfile
from .report import METRIC_KEYS, SURGE_HOPS, harness_group, markdown, missing_keys, plots, write_json
from .sensors_phase import alert_probe, ingest_ratio, register_probes, register_sensors, step_up
from .stack import BENCH_SERVICE_ENV, Endpoints, LocalCity
from .surge import SurgeConfig, run_surge
from .targets import load_targets


@dataclass
class BenchOptions:
    out_dir: Path
    run_id: str
    smoke: bool
    surge: SurgeConfig
    sensors_args: list[str]
    sensors_timeout: float
    step_rates: list[float]
    step_duration: float
    bounded_p99_ms: float
    alert_probes: int
    ingest_seconds: float
    ingest_sensors: int
    ingest_batch: int
    perf_records: int
    faust_records: int
    phases: set[str] = field(default_factory=lambda: {"surge", "sensors", "ceilings"})
    targets_file: Path | None = None
    sensors_worker_metrics: str | None = None
    drain_worker_timeout: float = 120.0
    perf_bytes: int = 2 * 2**30
    profile: bool = False
    # The surge step-up (the knee): these rates, each for ``surge_step_duration`` seconds.
    surge_steps: list[float] = field(default_factory=list)
    surge_step_duration: float = 30.0
    # A step meets the surge when every call is OK and these p99s hold (ms).
    surge_p99_ms: dict[str, float] = field(default_factory=lambda: dict(SURGE_P99_MS))
    # ``--city-env``: settings given to every process of the local city, over BENCH_SERVICE_ENV.
    city_env: dict[str, str] = field(default_factory=dict)


# The three surge p99 targets (loadtests/targets.yaml) a step must meet to count for the knee.
SURGE_P99_MS = {"report_incident_rpc": 50.0, "report_to_unit_assigned": 500.0, "report_to_notification": 1000.0}


def cpu_seconds(pids: dict[str, int]) -> float:
    """User+system CPU seconds of these processes and all their children (Postgres backends, the
    JVM's threads are one process), summed: the whole city's CPU."""
    total = 0.0
    for pid in pids.values():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
    return total


def step_verdict(latency: dict[str, Any], counts: dict[str, Any], p99_ms: dict[str, float]) -> dict[str, Any]:
    """Whether one surge step met the surge: every call OK, every P1 assigned and notified, each
    p99 within its bound. Returns the p99s and the reasons it did not."""
    why = []
    if counts.get("reports_failed"):
        why.append(f"{counts['reports_failed']} calls not OK")
    if counts.get("p1_assigned", 0) < counts.get("p1_incidents", 0):
        why.append("P1 not all assigned")
    if counts.get("p1_notified", 0) < counts.get("p1_incidents", 0):
        why.append("P1 not all notified")
    p99s = {hop: (latency.get(hop) or {}).get("p99_ms") for hop in p99_ms}
    for hop, bound in p99_ms.items():
        value = p99s[hop]
        if value is None or value > bound:
            why.append(f"{hop} p99 {value} > {bound:g} ms")
    return {"p99_ms": p99s, "met": not why, "why_not": why}


class Display:
    """A rich progress display (phases as tasks) with log lines above it."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.completed:>8.0f}/{task.total:<8.0f}"), TimeElapsedColumn(),
                                 console=console, transient=False)
        self.tasks: dict[str, Any] = {}

    def phase(self, name: str, total: float) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total)

    def update(self, name: str, completed: float) -> None:
        if name in self.tasks:
            self.progress.update(self.tasks[name], completed=completed)

    def done(self, name: str) -> None:
        if name in self.tasks:
            task = self.progress.tasks[self.tasks[name]]
            self.progress.update(self.tasks[name], completed=task.total)

    def say(self, message: str) -> None:
        self.progress.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")


def _city_psql(city: LocalCity) -> Callable[[str], str]:
    """SQL as the superuser on the city's database (the bench's own devstack)."""
    assert city.stack is not None
    postgres = city.stack.postgres
    return lambda sql: postgres.psql(sql, database=postgres.database)


async def bench(ep: Endpoints, opts: BenchOptions, display: Display, city: LocalCity | None) -> dict[str, Any]:
    t0 = time.time()
    settings = ep.settings()
    stop = asyncio.Event()
    procs = ProcessMonitor(city.pids() if city else {})
    procs.add("bench-harness", os.getpid())
    procs.solo.add("bench-harness")
    lag = LagMonitor(settings, group_prefix=ep.topic_prefix)
    monitors = [asyncio.create_task(procs.run(stop, t0)), asyncio.create_task(lag.run(stop, t0))]
    db_waits = DbWaitMonitor(ep.database_url) if ep.database_url else None
    surge_stop = asyncio.Event()  # the lock profile that matters is the surge's
    if db_waits is not None:
        monitors.append(asyncio.create_task(db_waits.run(surge_stop, t0)))
    summary: dict[str, Any] = {"surge": {}, "sensors": {}, "ceilings": {}, "ratios": {}, "profiles": {}}
    series: dict[str, Any] = {"throughput": [], "percentiles": [], "latency_over_time": []}
    say = display.say
    try:
        if "surge" in opts.phases:
            total = int(opts.surge.rate * opts.surge.duration)
            display.phase("surge", total)
            completed = 0

            def progress(_phase: str, _i: float) -> None:
                nonlocal completed
                completed += 1
                display.update("surge", completed)

            profiler = Profiler(opts.out_dir / "profile", city.pids()) if opts.profile and city else None
            statements = (StatementProfile(opts.out_dir / "profile", _city_psql(city))
                          if opts.profile and city and city.statement_stats else None)
            if profiler:
                # Registration of the units comes first; sampling it too is cheap and harmless.
                await profiler.start("surge", opts.surge.duration + opts.surge.drain_timeout + 60)
            if statements:
                await statements.start()
            city_pids = dict(city.pids()) if city else {}
            result = await run_surge(ep, opts.surge, run_id=opts.run_id, t0=t0, say=say, progress=progress,
                                     cpu=(lambda: cpu_seconds(city_pids)) if city_pids else None)
            cpu_used = result.counts.get("city_cpu_s")
            surge_stop.set()
            if profiler:
                summary["profiles"]["surge"] = await profiler.stop("surge")
            if statements:
                summary["profiles"]["surge_postgres"] = await statements.stop(
                    "surge", reports=result.counts["reports_scheduled"])
            display.done("surge")
            ok = result.counts["reports_ok"]
            summary["surge"] = {
                "config": {"rate": opts.surge.rate, "duration_s": opts.surge.duration,
                           "p1_share": opts.surge.p1_share, "duplicate_share": opts.surge.duplicate_share},
                "achieved_reports_per_s": round(ok / opts.surge.duration, 1) if ok else 0.0,
                "latency": {name: h.summary() for name, h in result.latencies.items()},
                "hdr": {name: h.encoded() for name, h in result.latencies.items()},
                "counts": result.counts,
                # Every city process (services, Kafka, Postgres with its backends), from the first
                # request to the end of the drain, over the calls that completed.
                "cpu_ms_per_report": round(1000 * cpu_used / ok, 2) if ok and cpu_used is not None else None,
                "window_s": list(result.window),
            }
            series["throughput"].append(("ReportIncident/s", result.throughput, "reports_per_s"))
            series["surge_rows"] = [result.throughput]
            series["phases"] = [(f"surge {opts.surge.rate:g}/s", *result.window)]
            series["percentiles"] += [(hop, summary["surge"]["latency"][hop]) for hop in SURGE_HOPS]
            series["latency_over_time"] += [(hop, result.latencies[hop].series(t0)) for hop in SURGE_HOPS]
        if "surge" in opts.phases and opts.surge_steps:
            summary["surge_steps"] = await surge_step_up(ep, opts, city, t0=t0, say=say, series=series,
                                                         settle=lambda: settle_city(procs, lag, say=say))
        if "sensors" in opts.phases:
            display.phase("sensors", len(opts.step_rates) + 2)
            # Registered first, used last: by then the api's and worker's registry caches know them.
            say(f"Đăng ký {opts.ingest_sensors} cảm biến + {opts.alert_probes} đầu báo khói (registering sensors)…")
            ingest_ids = await register_sensors(ep, opts.ingest_sensors, opts.run_id)
            probe_ids = await register_probes(ep, probes=opts.alert_probes, run_id=opts.run_id)
            data = await step_up(ep, opts.out_dir, rates=opts.step_rates, duration=opts.step_duration,
                                 extra=opts.sensors_args, limit_s=opts.sensors_timeout,
                                 bounded_p99_ms=opts.bounded_p99_ms, lag=lag, t0=t0, say=say,
                                 on_pid=lambda pid: procs.add("sensors-bench (client+api+worker)", pid),
                                 profile_dir=opts.out_dir / "profile" if opts.profile else None)
            display.update("sensors", len(opts.step_rates))
            profiler = Profiler(opts.out_dir / "profile", {k: v for k, v in city.pids().items()
                                                           if k.startswith("sensors")}) \
                if opts.profile and city else None
            if profiler:
                await profiler.start("ingest", opts.ingest_seconds + opts.drain_worker_timeout)
            extra = await ingest_ratio(ep, opts.out_dir, ids=ingest_ids, seconds=opts.ingest_seconds,
                                       per_batch=opts.ingest_batch, drain_timeout=opts.drain_worker_timeout,
                                       worker_metrics=opts.sensors_worker_metrics or (
                                           city.worker_metrics("sensors") if city else None), say=say)
            if profiler:
                summary["profiles"]["ingest"] = await profiler.stop("ingest")
            summary["ceilings"]["grpc_bare"] = extra.pop("grpc_bare")
            summary["ceilings"]["record"] = await ceilings.record_shape(
                settings, f"{ep.topic_prefix}{SENSOR_READINGS.name}")
            display.update("sensors", len(opts.step_rates) + 1)
            data.update(extra)
            data["alert_to_incident"] = await alert_probe(ep, probe_ids, say=say)
            summary["sensors"] = data
            series["throughput"].append(("readings/s (step-up)", data["throughput_series"], "readings_per_s"))
            display.done("sensors")
        if "ceilings" in opts.phases:
            display.phase("ceilings", 3)
            summary["ceilings"].update(await measure_ceilings(ep, opts, say, display,
                                                              summary["ceilings"].get("record")))
            display.done("ceilings")
    finally:
        stop.set()
        surge_stop.set()
        await asyncio.gather(*monitors, return_exceptions=True)
    summary["db_waits_during_surge"] = db_waits.summary() if db_waits else None
    summary["lag"] = lag.summary()
    summary["lag_series"] = lag.samples
    summary["processes"] = procs.summary()
    _cpu_by_process(summary, procs)
    series["lag"] = lag.samples
    series["cpu"] = procs.samples
    summary["_series"] = series
    return summary


def step_configs(opts: BenchOptions) -> list[SurgeConfig]:
    """One surge per step of the step-up, each with a seed of its own: with the surge's seed a step's
    reports would land on the surge's still-open incidents and merge into them."""
    return [
        SurgeConfig(rate=rate, duration=opts.surge_step_duration, p1_share=opts.surge.p1_share,
                    duplicate_share=opts.surge.duplicate_share, drain_timeout=opts.surge.drain_timeout,
                    seed=opts.surge.seed + step)
        for step, rate in enumerate(opts.surge_steps, start=1)
    ]


SETTLE_MOST_S = 120.0  # the longest wait for the city to digest the previous phase
SETTLE_CPU_PERCENT = 40.0  # the city's CPU (% of one core, harness excluded) that counts as quiet
SETTLE_LAG = 10  # records a city consumer group may still lag by (commits are once a second)
SETTLE_CALM_SAMPLES = 3  # … for this many consecutive 1-s samples


def city_quiet(cpu_row: dict[str, Any] | None, lag_row: dict[str, Any] | None,
               previous_lag_row: dict[str, Any] | None = None) -> bool:
    """One 1-s sample of a quiet city: its processes' CPU below SETTLE_CPU_PERCENT, and every city
    consumer group at most SETTLE_LAG behind or not moving since the previous sample (a lag that
    stays put while the city idles is no work in progress: e.g. a group that commits only when it
    processes). The bench's own groups do not count."""
    if cpu_row is None or lag_row is None:
        return False
    cpu = sum(v["cpu"] for k, v in cpu_row.items() if isinstance(v, dict) and k != "bench-harness")
    before = (previous_lag_row or {}).get("lag", {})
    busy = [g for g, n in lag_row.get("lag", {}).items()
            if not harness_group(g) and n > SETTLE_LAG and before.get(g) != n]
    return cpu < SETTLE_CPU_PERCENT and not busy


async def settle_city(procs: ProcessMonitor, lag: LagMonitor, *, say: Any) -> dict[str, Any]:
    """Wait until the city has digested the previous phase (its consumers caught up, its CPU back
    near idle), at most SETTLE_MOST_S: a step started on a city still working off the surge would
    measure that backlog, not the step's rate."""
    started = time.monotonic()
    calm = 0
    while time.monotonic() - started < SETTLE_MOST_S:
        await asyncio.sleep(1.0)
        quiet = city_quiet(procs.samples[-1] if procs.samples else None, lag.samples[-1] if lag.samples else None,
                           lag.samples[-2] if len(lag.samples) > 1 else None)
        calm = calm + 1 if quiet else 0
        if calm >= SETTLE_CALM_SAMPLES:
            return {"settled": True, "settle_s": round(time.monotonic() - started, 1)}
    say(f"  thành phố chưa lắng sau (city not settled after) {SETTLE_MOST_S:g} s: bậc vẫn chạy (step runs anyway)")
    return {"settled": False, "settle_s": round(time.monotonic() - started, 1)}


async def surge_step_up(ep: Endpoints, opts: BenchOptions, city: LocalCity | None, *, t0: float,
                        say: Any, series: dict[str, Any],
                        settle: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The surge at rising rates (``opts.surge_steps``, each ``surge_step_duration`` s), until a
    step misses; the knee is the highest rate whose step met every call OK and the three p99s.
    Each step starts once the city has settled (``settle``), and says how long that took."""
    steps: list[dict[str, Any]] = []
    knee: float | None = None
    city_pids = dict(city.pids()) if city else {}
    for cfg in step_configs(opts):
        rate = cfg.rate
        settled = await settle() if settle is not None else {"settled": None, "settle_s": 0.0}
        say(f"Bậc tăng tải (surge step): {rate:g}/s × {cfg.duration:g} s")
        result = await run_surge(ep, cfg, run_id=f"{opts.run_id}-s{int(rate)}", t0=t0, say=say,
                                 progress=lambda *_: None,
                                 cpu=(lambda: cpu_seconds(city_pids)) if city_pids else None)
        cpu_used = result.counts.get("city_cpu_s")
        ok = result.counts["reports_ok"]
        latency = {name: h.summary() for name, h in result.latencies.items()}
        verdict = step_verdict(latency, result.counts, opts.surge_p99_ms)
        steps.append({"rate": rate, "duration_s": cfg.duration, "completed_per_s": round(ok / cfg.duration, 1),
                      **settled,
                      "counts": result.counts, "latency": latency, **verdict,
                      "cpu_ms_per_report": round(1000 * cpu_used / ok, 2) if ok and cpu_used is not None else None,
                      "window_s": list(result.window)})
        series.setdefault("surge_rows", []).append(result.throughput)
        series.setdefault("phases", []).append((f"step {rate:g}/s", *result.window))
        say(f"  {'✔' if verdict['met'] else '✘'} {rate:g}/s: " + (", ".join(verdict["why_not"]) or "đạt (met)"))
        if not verdict["met"]:
            break
        knee = rate
    return {"steps": steps, "knee_reports_per_s": knee or 0.0, "p99_bounds_ms": opts.surge_p99_ms,
            "cpu_ms_per_report_at_knee": next((s["cpu_ms_per_report"] for s in steps if s["rate"] == knee), None)}


def _cpu_by_process(summary: dict[str, Any], procs: ProcessMonitor) -> None:
    """The surge's and each step's CPU per report, split by process (ms): which process a change
    must make cheaper. The harness is listed too but is not part of the city's total."""
    phases = [("surge", summary.get("surge") or {})]
    phases += [(f"step {st['rate']:g}/s", st) for st in (summary.get("surge_steps") or {}).get("steps", [])]
    out: dict[str, dict[str, float]] = {}
    for label, phase in phases:
        window, ok = phase.get("window_s"), (phase.get("counts") or {}).get("reports_ok", 0)
        if window and ok:
            out[label] = procs.cpu_ms_per_report((window[0], window[1]), ok)
    summary["cpu_ms_per_report_by_process"] = out


async def measure_ceilings(ep: Endpoints, opts: BenchOptions, say: Any, display: Display,
                           summary_record: dict[str, Any] | None) -> dict[str, Any]:
    settings = ep.settings()
    shape = summary_record or await ceilings.record_shape(settings, f"{ep.topic_prefix}{SENSOR_READINGS.name}")
    shape = shape or ceilings.synthetic_record_shape()
    topic = f"{ep.topic_prefix}bench.ceiling.{opts.run_id}"
    await ceilings.create_topic(settings, topic, SENSOR_READINGS.partitions)
    out: dict[str, Any] = {"record": shape}
    # At most perf_bytes of data: enough to leave the JVM's warm-up behind, not to fill a disk.
    records = max(1000, min(opts.perf_records, opts.perf_bytes // max(1, shape["bytes"])))
    say(f"Kafka ProducerPerformance: {records} bản ghi × {shape['bytes']} B (acks=all)…")
    out["kafka_producer"] = await asyncio.to_thread(
        ceilings.producer_performance, ep.kafka_bootstrap, topic, records, shape["bytes"])
    display.update("ceilings", 1)
    say("Kafka ConsumerPerformance…")
    out["kafka_consumer"] = await asyncio.to_thread(ceilings.consumer_performance, ep.kafka_bootstrap, topic,
                                                    records)
    display.update("ceilings", 2)
    say(f"Faust trần (bare pass-through agent): {opts.faust_records} bản ghi…")
    try:
        out["faust_bare"] = await ceilings.bare_faust(settings, topic, min(opts.faust_records, records),
                                                      opts.out_dir)
    except RuntimeError as exc:
        out["faust_bare"] = {"records_per_s": None, "error": str(exc)}
    return out


def finish(summary: dict[str, Any], opts: BenchOptions, *, mode: str, load_start: float) -> tuple[dict[str, Any], int]:
    """Ratios, targets, outputs. Returns (summary, exit code)."""
    series = summary.pop("_series")
    rpr = (summary["ceilings"].get("record") or {}).get("readings_per_record") or 0
    sensors = summary["sensors"]
    c = summary["ceilings"]

    def rate(name: str, key: str = "records_per_s") -> float | None:
        value = (c.get(name) or {}).get(key)
        return value * rpr if value and key == "records_per_s" else value

    def ratio(ours: Any, ceiling: Any) -> float | None:
        return round(ours / ceiling, 3) if isinstance(ours, int | float) and ceiling else None

    sustained = sensors.get("sustained_readings_per_s")
    worker = sensors.get("worker_readings_per_s") or sustained
    rows = [
        ("sensors worker readings/s vs bare Faust pass-through (readings/s)", worker, rate("faust_bare"),
         "sensors_worker_vs_bare_faust"),
        ("IngestReadings readings/s vs bare grpc.aio decode", sensors.get("ingest_readings_per_s"),
         rate("grpc_bare", "readings_per_s"), "ingest_vs_bare_grpc"),
        ("sustained readings/s vs Kafka ProducerPerformance (readings/s)", sustained, rate("kafka_producer"),
         "readings_vs_kafka_producer"),
        ("sustained readings/s vs Kafka ConsumerPerformance (readings/s)", sustained, rate("kafka_consumer"),
         "readings_vs_kafka_consumer"),
    ]
    summary["ratios"] = {key: ratio(ours, ceiling) for _l, ours, ceiling, key in rows}
    summary["ratio_rows"] = [(label, ours, ceiling, summary["ratios"][key]) for label, ours, ceiling, key in rows]
    cpus = psutil.cpu_count() or 1
    load_end = psutil.getloadavg()[0]
    mean_machine = [s.get("machine_cpu", 0) for s in series.get("cpu", [])]
    probes = summary.get("cpu_probe") or {}
    # Other work on the machine while we ran: the load average before we started, and a host that
    # runs our own fixed work unevenly or slower at the end than at the start (cpuprobe).
    reasons = cpuprobe.contention(load_start=load_start, cpus=cpus, start=probes.get("start"),
                                  end=probes.get("end"))
    summary["run"] = {
        "id": opts.run_id, "mode": mode, "smoke": opts.smoke, "cpus": cpus, "load_start": load_start,
        "load_end": load_end, "contended": bool(reasons), "contended_reasons": reasons,
        "machine_cpu_mean": round(sum(mean_machine) / len(mean_machine), 1) if mean_machine else None,
        "service_env": {**BENCH_SERVICE_ENV, **opts.city_env} if mode == "local" else {},
    }
    surge = summary.get("surge") or {}
    if surge:
        surge["cpu_probe_ops_per_report"] = cpuprobe.report_cost_ops(surge.get("cpu_ms_per_report"),
                                                                     probes.get("start"))
    targets = load_targets(opts.targets_file) if opts.targets_file else load_targets()
    summary["targets"] = [t.check(summary) for t in targets]
    summary["missing_keys"] = missing_keys(summary)
    summary["metric_keys"] = list(METRIC_KEYS)
    summary["plots"] = plots(opts.out_dir, series)
    write_json(opts.out_dir / "summary.json", summary)
    (opts.out_dir / "summary.md").write_text(markdown(summary), encoding="utf-8")
    missed = [t for t in summary["targets"] if not t["ok"]]
    return summary, (1 if missed and not opts.smoke else 0)
