#!/usr/bin/env python3
"""Sensors hot-path benchmark: open-loop fixed-rate ingest through the real gRPC api → Kafka →
Faust worker → alerts topic. Measures sustained readings/s and reading→alert latency.

    python loadtests/sensors/bench_sensors.py                      # starts its own devstack + api + worker
    python loadtests/sensors/bench_sensors.py --rate 50000 --duration 30 --json results/sensors.json
    python loadtests/sensors/bench_sensors.py --steps 40000,60000,80000,100000 --duration 25 --start-second 50
    CITYOPS_KAFKA_BOOTSTRAP=… CITYOPS_DATABASE_URL=… python loadtests/sensors/bench_sensors.py --use-env

Open loop: batch i is due at start + i × period whatever happened before, and its readings carry
that due time as observed_at, so a backlog shows up as latency instead of silently slowing the
offered load (no coordinated omission). Probe sensors (SMOKE) flip 0/1 so every flip raises or
clears an alert; latency = time the alert reaches this process − the reading's due time.
Also reported per step: the latency split (due → api acceptance → alert), CPU of api, worker(s) and
broker in cores, the machine's busy fraction and load average (the machine may be shared), the share
of wall time the worker's agent spent per stage, and the slowest alerts with their second of the minute
(every 1-minute window closes at a minute boundary: use --start-second so a step crosses one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
from aiokafka import AIOKafkaConsumer
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from cityops.common.v1 import common_pb2
from cityops.sensors.v1 import sensors_pb2 as pb
from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import Devstack
from cityops_devtools.devstack._process import spawn, tail, terminate
from cityops_devtools.testing import bearer, free_port
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import SENSOR_ALERTS
from cityops_platform.runtime import migrations_dir
from cityops_platform.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))  # benchlib, next to this script
from benchlib import CpuMeter, print_result, say  # type: ignore[import-not-found]


class Stack:
    """The api and worker under test, as the real CLI processes."""

    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.args, self.run_dir = args, run_dir
        self.devstack: Devstack | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.api_port = free_port()
        self.worker_metrics = [free_port() for _ in range(args.workers)]

    def start(self) -> Settings:
        if self.args.use_env:
            env = {k: v for k, v in os.environ.items() if k.startswith("CITYOPS_")}
        else:
            say("▶ devstack (Kafka + PostgreSQL)…")
            self.devstack = Devstack(self.run_dir / "devstack").start()
            env = self.devstack.env()
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        # One signing key for the api and the bench's own tokens: the caller's, else one for this run.
        jwt_secret = env.get("CITYOPS_JWT_SECRET") or "bench-" + secrets.token_hex(24)
        settings = Settings(kafka_bootstrap=env["CITYOPS_KAFKA_BOOTSTRAP"], database_url=env["CITYOPS_DATABASE_URL"],
                            topic_prefix=prefix, jwt_secret=jwt_secret)
        asyncio.run(apply_topics(settings))
        asyncio.run(migrate(settings.database_url, "sensors", migrations_dir("sensors")))
        self.env = {**os.environ, **env, "CITYOPS_TOPIC_PREFIX": prefix, "CITYOPS_JWT_SECRET": jwt_secret,
                    "CITYOPS_GRPC_PORT": str(self.api_port),
                    "CITYOPS_DATA_DIR": str(self.run_dir / "data"), "CITYOPS_LOG_LEVEL": "WARNING"}
        self.procs["api"] = spawn(cli_argv("serve", "sensors"),
                                  log_file=self.run_dir / "api.log",
                                  env={**self.env, "CITYOPS_METRICS_PORT": str(free_port())})
        for i, port in enumerate(self.worker_metrics):
            name = "worker" if i == 0 else f"worker{i + 1}"
            self.procs[name] = spawn(cli_argv("worker", "sensors"),
                                     log_file=self.run_dir / f"{name}.log",
                                     env={**self.env, "CITYOPS_METRICS_PORT": str(port),
                                          "CITYOPS_DATA_DIR": str(self.run_dir / f"data-{name}")})
        for port in self.worker_metrics:
            self._wait(lambda p=port: httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=1).status_code == 200,
                       "worker")
        return settings

    def _wait(self, check: Any, name: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for pname, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{pname} exited:\n" + tail(self.run_dir / f"{pname}.log", 40))
            try:
                if check():
                    return
            except Exception:
                pass
            time.sleep(0.3)
        raise SystemExit(f"{name} not ready")

    def cpu_groups(self) -> dict[str, int | None]:
        groups: dict[str, int | None] = {name: proc.pid for name, proc in self.procs.items()}
        if self.devstack is not None:
            groups["kafka"] = self.devstack.kafka.pid
        return groups

    def metric_sums(self) -> dict[str, float]:
        """The workers' counters of interest, summed over workers."""
        sums: dict[str, float] = {}
        for port in self.worker_metrics:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            for line in text.splitlines():
                if line.startswith(("cityops_sensor_readings_processed_total", "cityops_sensor_worker_seconds_total")):
                    name, value = line.rsplit(" ", 1)
                    sums[name] = sums.get(name, 0.0) + float(value)
        return sums

    def processed(self) -> float:
        return self.metric_sums().get("cityops_sensor_readings_processed_total", 0.0)

    def stop(self) -> None:
        for proc in self.procs.values():
            terminate(proc, signal.SIGTERM, 20)
        if self.devstack is not None:
            self.devstack.stop()


async def register(stub: Any, ids: list[str], kind: int, metadata: Any) -> None:
    sem = asyncio.Semaphore(64)

    async def one(sid: str) -> None:
        async with sem:
            await stub.RegisterSensor(pb.RegisterSensorRequest(sensor=pb.Sensor(
                id=sid, kind=kind, district="bench", reporting_interval_seconds=3600, name=sid,  # type: ignore[arg-type]
                location=common_pb2.GeoPoint(lat=10.92, lon=106.71))), metadata=metadata, timeout=30)

    await asyncio.gather(*(one(s) for s in ids))


class Alerts:
    """Probe alerts read from the alerts topic; latency = arrival − the reading's due time."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = AIOKafkaConsumer(f"{settings.topic_prefix}{SENSOR_ALERTS.name}",
                                         bootstrap_servers=settings.kafka_bootstrap,
                                         group_id=None, auto_offset_reset="latest", enable_auto_commit=False)
        self.hist = HdrHistogram(1, 120_000, 3)
        self.to_api = HdrHistogram(1, 120_000, 3)  # due time → the api's acceptance (ingested_at_ms)
        self.after_api = HdrHistogram(1, 120_000, 3)  # the api's acceptance → the alert arrives here
        self.seen = 0
        self.samples: list[tuple[int, int]] = []  # (due ms, latency ms): when the slow ones happened
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.getmany(timeout_ms=1000)
        self._task = asyncio.create_task(self._read())

    def reset(self) -> None:
        self.hist = HdrHistogram(1, 120_000, 3)
        self.to_api = HdrHistogram(1, 120_000, 3)
        self.after_api = HdrHistogram(1, 120_000, 3)
        self.seen = 0
        self.samples = []

    async def _read(self) -> None:
        while not self._stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=100)
            now = time.time() * 1000
            for records in batch.values():
                for r in records:
                    alert = pb.SensorAlert.FromString(r.value)
                    if alert.sensor_id.startswith("smoke-bench"):
                        self.seen += 1
                        due = alert.observed_at.ToMilliseconds()
                        self.hist.record_value(min(119_999, max(1, int(now - due))))
                        self.to_api.record_value(min(119_999, max(1, alert.ingested_at_ms - due)))
                        self.after_api.record_value(min(119_999, max(1, int(now - alert.ingested_at_ms))))
                        self.samples.append((due, int(now - due)))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.consumer.stop()


async def bench(args: argparse.Namespace, stack: Stack, settings: Settings) -> list[dict[str, Any]]:
    admin = bearer(settings, "admin")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{stack.api_port}",
                                        options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
    stub = sensors_pb2_grpc.SensorServiceStub(channel)
    await asyncio.wait_for(channel.channel_ready(), 60)
    normal = [f"wl-bench-{i:06d}" for i in range(args.sensors)]
    probes = [f"smoke-bench-{i:04d}" for i in range(args.probes)]
    t0 = time.monotonic()
    await register(stub, normal, pb.SENSOR_KIND_WATER_LEVEL, admin)
    await register(stub, probes, pb.SENSOR_KIND_SMOKE, admin)
    say(f"✔ {len(normal) + len(probes)} sensors registered in {time.monotonic() - t0:.1f} s")
    await asyncio.sleep(2 * 1.0 + 5)  # api cache and worker catalog refresh
    alerts = Alerts(settings)
    await alerts.start()
    load = Load(args, stub, bearer(settings, "integrator"), normal, probes)
    results: list[dict[str, Any]] = []
    try:
        for rate in args.rates:
            if results:
                await asyncio.sleep(args.pause)
            if args.start_second is not None:  # e.g. 50: the step crosses a minute boundary 10 s in
                await asyncio.sleep((args.start_second - time.time()) % 60)
            results.append(await run_step(rate, args, stack, load, alerts))
    finally:
        await alerts.stop()
        await channel.close()
    return results


class Load:
    """Open-loop batches: batch i of a stream is due at start + i × period whatever happened before."""

    def __init__(self, args: argparse.Namespace, stub: Any, gateway: Any, normal: list[str], probes: list[str]) -> None:
        self.args, self.stub, self.gateway, self.normal, self.probes = args, stub, gateway, normal, probes
        rng = random.Random(7)
        self.pool_values = [round(rng.uniform(0, 15), 1) for _ in range(args.batch)]
        self.probe_state = dict.fromkeys(probes, 0.0)
        self.cursor = 0
        self.expected_alerts = 0
        self.clock_ms = 0  # observed_at never goes backwards for a sensor across steps

    def make_batch(self, due_wall: float) -> pb.ReadingBatch:
        size = self.args.batch
        ids = [self.normal[(self.cursor + k) % len(self.normal)] for k in range(size - 1)]
        self.cursor += size - 1
        probe = self.probes[self.cursor % len(self.probes)]
        self.probe_state[probe] = 1.0 - self.probe_state[probe]
        self.expected_alerts += 1
        ms = self.clock_ms = max(self.clock_ms + 1, int(due_wall * 1000))
        return pb.ReadingBatch(columns=pb.ReadingColumns(
            sensor_ids=[*ids, probe], values=[*self.pool_values[: size - 1], self.probe_state[probe]],
            observed_at_ms=[ms] * size))

    async def run(self, rate: float) -> tuple[list[pb.IngestSummary], float]:
        args = self.args
        period = args.batch * args.streams / rate  # seconds between batches of one stream
        summaries: list[pb.IngestSummary] = []
        start = time.monotonic()
        wall0 = time.time()

        async def stream(index: int) -> None:
            async def batches() -> Any:
                i = 0
                while True:
                    due = start + index * period / args.streams + i * period
                    if due - start >= args.duration:
                        return
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    yield self.make_batch(wall0 + (due - start))
                    i += 1

            summaries.append(await self.stub.IngestReadings(batches(), metadata=self.gateway,
                                                            timeout=args.duration + 120))

        await asyncio.gather(*(stream(i) for i in range(args.streams)))
        return summaries, start


async def run_step(rate: float, args: argparse.Namespace, stack: Stack, load: Load, alerts: Alerts) -> dict[str, Any]:
    alerts.reset()
    expected0 = load.expected_alerts
    start_processed = stack.processed()
    stages0 = stack.metric_sums()
    meter = CpuMeter(stack.cpu_groups())
    load_avg = os.getloadavg()[0]
    summaries, start = await load.run(rate)
    send_s = time.monotonic() - start
    cpu = meter.read()
    stages1 = stack.metric_sums()
    # Fraction of the send phase the agent(s) spent per stage (apply = CPU; publish = waiting for acks).
    agent = {k.split('"')[1]: round((v - stages0.get(k, 0.0)) / send_s, 3) for k, v in stages1.items()
             if k.startswith("cityops_sensor_worker_seconds_total")}
    processed_at_end = stack.processed() - start_processed
    accepted = sum(s.accepted for s in summaries)
    drain_start = time.monotonic()
    while stack.processed() - start_processed < accepted and time.monotonic() - drain_start < 120:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    drain_s = time.monotonic() - drain_start
    total_s = time.monotonic() - start
    await asyncio.sleep(2)
    hist = alerts.hist
    result = {
        "offered_readings_per_s": rate, "duration_s": args.duration, "send_seconds": round(send_s, 2),
        "accepted": accepted, "rejected": sum(s.rejected for s in summaries),
        "accepted_per_s": round(accepted / send_s),
        "worker_processed_during_send_per_s": round(processed_at_end / send_s),
        "drain_after_send_s": round(drain_s, 2),
        "sustained_end_to_end_readings_per_s": round(accepted / total_s) if drain_s < 120 else None,
        "alerts_expected": load.expected_alerts - expected0, "alerts_received": alerts.seen,
        "latency_ms": {q: hist.get_value_at_percentile(p) for q, p in
                       (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))} if alerts.seen else {},
        "latency_split_ms": {
            name: {q: h.get_value_at_percentile(p) for q, p in (("p50", 50), ("p99", 99), ("max", 100))}
            for name, h in (("due_to_api_accept", alerts.to_api), ("api_accept_to_alert", alerts.after_api))
        } if alerts.seen else {},
        # The slowest alerts, with the second of the minute their reading was due (minute-boundary bursts).
        "slowest": [{"latency_ms": lat_ms, "second_of_minute": round(due % 60_000 / 1000, 1)}
                    for due, lat_ms in sorted(alerts.samples, key=lambda x: -x[1])[:8]],
        "cpu_during_send": cpu, "agent_busy_fraction": agent, "load_average_1m_at_start": round(load_avg, 2),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "sensors": len(load.normal) + len(load.probes), "batch": args.batch, "streams": args.streams,
        "workers": args.workers, "cpus": os.cpu_count(),
    }
    lat = result["latency_ms"]
    say(f"  {rate:>9,.0f}/s offered → api {result['accepted_per_s']:,}/s,"
        f" worker {result['worker_processed_during_send_per_s']:,}/s"
        f" (drain {drain_s:.1f} s), alerts {alerts.seen}/{result['alerts_expected']},"
        f" p50/p95/p99 {lat.get('p50')}/{lat.get('p95')}/{lat.get('p99')} ms, cpu {cpu}, agent {agent},"
        f" load {load_avg:.1f}")
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=100_000, help="offered readings/s")
    p.add_argument("--steps", help="step-up on one stack, e.g. 40000,60000,80000,100000 (overrides --rate)")
    p.add_argument("--pause", type=float, default=5.0, help="seconds between steps")
    p.add_argument("--start-second", type=float,
                   help="start each step at this second of the minute (windows close on minute boundaries)")
    p.add_argument("--workers", type=int, default=1, help="Faust worker processes (the topic has 12 partitions)")
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--sensors", type=int, default=20_000)
    p.add_argument("--probes", type=int, default=200)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--streams", type=int, default=2)
    p.add_argument("--use-env", action="store_true", help="use CITYOPS_KAFKA_BOOTSTRAP/DATABASE_URL, no devstack")
    p.add_argument("--profile", help="py-spy: write flamegraphs of api and worker into this folder")
    p.add_argument("--json", default="results/bench-sensors.json")
    p.add_argument("--keep", action="store_true", help="keep the run folder (logs)")
    args = p.parse_args()
    args.rates = [float(r) for r in args.steps.split(",")] if args.steps else [args.rate]
    run_dir = Path(tempfile.mkdtemp(prefix="cityops-bench-sensors-"))
    stack = Stack(args, run_dir)
    spies: list[subprocess.Popen[bytes]] = []
    try:
        settings = stack.start()
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            for name, proc in stack.procs.items():
                spies.append(subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(proc.pid),
                     "-d", str(int(len(args.rates) * (args.duration + args.pause + 10) + 40)), "-r", "50",
                     "-o", str(Path(args.profile) / f"{name}.svg"), "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        results = asyncio.run(bench(args, stack, settings))
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        stack.stop()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            say(f"logs: {run_dir}")
    for result in results:
        print_result(result)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    # One rate: the object loadtests/bench reads; a step-up: every step.
    Path(args.json).write_text(json.dumps(results[0] if len(results) == 1 else {"steps": results}, indent=2))
    say(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
