#!/usr/bin/env python3
"""Sensors hot-path benchmark: open-loop fixed-rate ingest through the real gRPC api → Kafka →
Faust worker → alerts topic. Measures sustained readings/s and reading→alert latency.

    python loadtests/sensors/bench_sensors.py                      # starts its own devstack + api + worker
    python loadtests/sensors/bench_sensors.py --rate 50000 --duration 30 --json results/sensors.json
    CITYOPS_KAFKA_BOOTSTRAP=… CITYOPS_DATABASE_URL=… python loadtests/sensors/bench_sensors.py --use-env

Open loop: batch i is due at start + i × period whatever happened before, and its readings carry
that due time as observed_at, so a backlog shows up as latency instead of silently slowing the
offered load (no coordinated omission). Probe sensors (SMOKE) flip 0/1 so every flip raises or
clears an alert; latency = time the alert reaches this process − the reading's due time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
from hdrh.histogram import HdrHistogram

from cityops.common.v1 import common_pb2
from cityops.sensors.v1 import sensors_pb2 as pb
from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_platform.db.migrations import migrate
from cityops_platform.devstack import Devstack
from cityops_platform.devstack._process import spawn, tail, terminate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import SENSOR_ALERTS
from cityops_platform.runtime import migrations_dir
from cityops_platform.settings import Settings
from cityops_platform.testing import bearer, free_port


def say(message: str) -> None:
    print(message, flush=True)


class Stack:
    """The api and worker under test, as the real CLI processes."""

    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.args, self.run_dir = args, run_dir
        self.devstack: Devstack | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.api_port, self.worker_metrics = free_port(), free_port()

    def start(self) -> Settings:
        if self.args.use_env:
            env = {k: v for k, v in os.environ.items() if k.startswith("CITYOPS_")}
        else:
            say("▶ devstack (Kafka + PostgreSQL)…")
            self.devstack = Devstack(self.run_dir / "devstack").start()
            env = self.devstack.env()
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        settings = Settings(kafka_bootstrap=env["CITYOPS_KAFKA_BOOTSTRAP"], database_url=env["CITYOPS_DATABASE_URL"],
                            topic_prefix=prefix)
        asyncio.run(apply_topics(settings))
        asyncio.run(migrate(settings.database_url, "sensors", migrations_dir("sensors")))
        self.env = {**os.environ, **env, "CITYOPS_TOPIC_PREFIX": prefix, "CITYOPS_GRPC_PORT": str(self.api_port),
                    "CITYOPS_DATA_DIR": str(self.run_dir / "data"), "CITYOPS_LOG_LEVEL": "WARNING"}
        self.procs["api"] = spawn([sys.executable, "-m", "cityops_platform.cli", "serve", "sensors"],
                                  log_file=self.run_dir / "api.log",
                                  env={**self.env, "CITYOPS_METRICS_PORT": str(free_port())})
        self.procs["worker"] = spawn([sys.executable, "-m", "cityops_platform.cli", "worker", "sensors"],
                                     log_file=self.run_dir / "worker.log",
                                     env={**self.env, "CITYOPS_METRICS_PORT": str(self.worker_metrics)})
        self._wait(lambda: httpx.get(f"http://127.0.0.1:{self.worker_metrics}/healthz", timeout=1).status_code == 200,
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

    def processed(self) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.worker_metrics}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith("cityops_sensor_readings_processed_total"):
                return float(line.split()[-1])
        return 0.0

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
                id=sid, kind=kind, district="Thuận An", reporting_interval_seconds=3600, name=sid,
                location=common_pb2.GeoPoint(lat=10.92, lon=106.71))), metadata=metadata, timeout=30)

    await asyncio.gather(*(one(s) for s in ids))


async def bench(args: argparse.Namespace, stack: Stack, settings: Settings) -> dict[str, Any]:
    admin, gateway = bearer(settings, "admin"), bearer(settings, "sensor_gateway")
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

    hist = HdrHistogram(1, 60_000, 3)
    alerts_seen = 0
    consumer = AIOKafkaConsumer(f"{settings.topic_prefix}{SENSOR_ALERTS.name}",
                                bootstrap_servers=settings.kafka_bootstrap,
                                group_id=None, auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    await consumer.getmany(timeout_ms=1000)
    stop_consumer = asyncio.Event()

    async def read_alerts() -> None:
        nonlocal alerts_seen
        while not stop_consumer.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time() * 1000
            for records in batch.values():
                for r in records:
                    alert = pb.SensorAlert.FromString(r.value)
                    if alert.sensor_id.startswith("smoke-bench"):
                        alerts_seen += 1
                        hist.record_value(max(1, int(now - alert.observed_at.ToMilliseconds())))

    reader = asyncio.create_task(read_alerts())
    batch_size = args.batch
    period = batch_size * args.streams / args.rate  # seconds between batches of one stream
    rng = random.Random(7)
    pool_values = [round(rng.uniform(0, 15), 1) for _ in range(batch_size)]
    expected_alerts = 0
    summaries: list[pb.IngestSummary] = []
    start_processed = stack.processed()
    start = time.monotonic()
    wall0 = time.time()
    probe_state = dict.fromkeys(probes, 0.0)
    cursor = 0

    def make_batch(due_wall: float) -> pb.ReadingBatch:
        nonlocal cursor, expected_alerts
        ids = [normal[(cursor + k) % len(normal)] for k in range(batch_size - 1)]
        cursor += batch_size - 1
        probe = probes[cursor % len(probes)]
        probe_state[probe] = 1.0 - probe_state[probe]
        expected_alerts += 1
        ms = int(due_wall * 1000)
        return pb.ReadingBatch(columns=pb.ReadingColumns(
            sensor_ids=[*ids, probe], values=[*pool_values[: batch_size - 1], probe_state[probe]],
            observed_at_ms=[ms] * batch_size))

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
                yield make_batch(wall0 + (due - start))
                i += 1

        summaries.append(await stub.IngestReadings(batches(), metadata=gateway, timeout=args.duration + 120))

    await asyncio.gather(*(stream(i) for i in range(args.streams)))
    send_s = time.monotonic() - start
    processed_at_end = stack.processed() - start_processed
    accepted = sum(s.accepted for s in summaries)
    drain_start = time.monotonic()
    while stack.processed() - start_processed < accepted and time.monotonic() - drain_start < 120:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    drain_s = time.monotonic() - drain_start
    total_s = time.monotonic() - start
    await asyncio.sleep(2)
    stop_consumer.set()
    await reader
    await consumer.stop()
    await channel.close()
    return {
        "offered_readings_per_s": args.rate, "duration_s": args.duration, "send_seconds": round(send_s, 2),
        "accepted": accepted, "rejected": sum(s.rejected for s in summaries),
        "accepted_per_s": round(accepted / send_s),
        "worker_processed_during_send_per_s": round(processed_at_end / send_s),
        "drain_after_send_s": round(drain_s, 2),
        "sustained_end_to_end_readings_per_s": round(accepted / total_s) if drain_s < 120 else None,
        "alerts_expected": expected_alerts, "alerts_received": alerts_seen,
        "latency_ms": {q: hist.get_value_at_percentile(p) for q, p in
                       (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))} if alerts_seen else {},
        "sensors": len(normal) + len(probes), "batch": batch_size, "streams": args.streams,
        "cpus": os.cpu_count(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=100_000, help="offered readings/s")
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
                     "-d", str(int(args.duration + 60)), "-r", "50",
                     "-o", str(Path(args.profile) / f"{name}.svg"), "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        result = asyncio.run(bench(args, stack, settings))
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        stack.stop()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            say(f"logs: {run_dir}")
    lat = result["latency_ms"]
    rows = [("offered (readings/s)", f"{result['offered_readings_per_s']:,.0f}"),
            ("accepted by api (readings/s)", f"{result['accepted_per_s']:,}"),
            ("processed by worker while sending (readings/s)", f"{result['worker_processed_during_send_per_s']:,}"),
            ("drain after sending stopped (s)", result["drain_after_send_s"]),
            ("sustained ingest→worker (readings/s)", f"{result['sustained_end_to_end_readings_per_s'] or 0:,}"),
            ("alerts received / expected", f"{result['alerts_received']} / {result['alerts_expected']}"),
            *((f"reading→alert {q} (ms)", v) for q, v in lat.items())]
    width = max(len(r[0]) for r in rows)
    say("")
    for name, value in rows:
        say(f"  {name:<{width}}  {value}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    say(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
