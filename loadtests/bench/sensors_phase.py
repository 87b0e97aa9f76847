"""Phase 2, sensors: the sensors engineer's hot-path bench, plus the ratios only this harness can take.

- ``loadtests/sensors/bench_sensors.py`` (owned by the sensors service) drives readings and reports
  sustained readings/s and reading → alert percentiles; it is called, never re-implemented, here.
- This module adds: the same IngestReadings client against our api and the bare decode-only
  server (ingest ratio), the worker's processed readings/s from its own counter (Faust ratio), and
  alert → incident from sensors.alerts to incidents.events while the sensors bench runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops.sensors.v1 import sensors_pb2, sensors_pb2_grpc
from cityops_platform.devstack._process import terminate
from cityops_platform.kafka.topics import INCIDENT_EVENTS, SENSOR_ALERTS

from .ceilings import ROOT, bare_grpc_server
from .hdr import Latency
from .ingest_client import columnar_batches, drive
from .stack import Endpoints
from .surge import Tail, metadata
from .surge_data import random_point

log = logging.getLogger("loadtests.bench")
SENSORS_BENCH = ROOT / "loadtests" / "sensors" / "bench_sensors.py"


async def register_sensors(ep: Endpoints, count: int, run_id: str) -> list[str]:
    import random

    rng = random.Random(7)
    ids = [f"bench-{run_id}-wl-{i:05d}" for i in range(count)]
    async with grpc.aio.insecure_channel(ep.addrs["sensors"]) as channel:
        stub = sensors_pb2_grpc.SensorServiceStub(channel)
        md = metadata(ep, "admin")
        gate = asyncio.Semaphore(16)

        async def one(sid: str) -> None:
            lat, lon = random_point(rng)
            sensor = sensors_pb2.Sensor(id=sid, kind=sensors_pb2.SENSOR_KIND_WATER_LEVEL, district="Thuận An",
                                        location=common_pb2.GeoPoint(lat=lat, lon=lon), reporting_interval_seconds=3600,
                                        name=f"Cảm biến thử tải {sid[-5:]}")
            async with gate:
                await stub.RegisterSensor(sensors_pb2.RegisterSensorRequest(sensor=sensor), metadata=md, timeout=30)

        await asyncio.gather(*(one(s) for s in ids))
    return ids


async def worker_processed(metrics_url: str | None) -> float | None:
    """cityops_sensor_readings_processed_total from the sensors worker's /metrics."""
    if not metrics_url:
        return None
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            text = (await client.get(metrics_url)).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("cityops_sensor_readings_processed_total "):
            return float(line.split()[1])
    return None


async def ingest_ratio(ep: Endpoints, run_dir: Path, *, sensors: int, seconds: float, per_batch: int,
                       run_id: str, worker_metrics: str | None, say: Callable[[str], None]) -> dict[str, Any]:
    """Same client and batches: our api (then the worker draining them) vs the bare decode server."""
    say(f"Đăng ký {sensors} cảm biến thử tải (registering bench sensors)…")
    ids = await register_sensors(ep, sensors, run_id)
    batches = columnar_batches(ids, per_batch, 40, value=5.0)  # 5 cm: below every threshold, no alerts
    md = metadata(ep, "sensor_gateway")
    probe = columnar_batches(ids, min(per_batch, len(ids)), 1, value=5.0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the api's registry cache refreshes every few seconds
        run = await drive(ep.addrs["sensors"], probe, seconds=0.01, streams=1, batches_per_stream_call=1, metadata=md)
        if run.accepted and not run.rejected:
            break
        await asyncio.sleep(1.0)
    before = await worker_processed(worker_metrics)
    say(f"IngestReadings tối đa (max rate) {seconds:g} s → api của ta (our api)…")
    ours = await drive(ep.addrs["sensors"], batches, seconds=seconds, metadata=md)
    # The worker's rate over the same readings: from the first to the last one it applied.
    worker_rate = None
    if before is not None:
        target = before + ours.accepted
        started, last = time.monotonic(), before
        while time.monotonic() - started < 120:
            now = await worker_processed(worker_metrics)
            if now is None or now >= target:
                last = now or last
                break
            last = now
            await asyncio.sleep(0.5)
        elapsed = ours.seconds + (time.monotonic() - started)
        worker_rate = round((last - before) / elapsed, 1) if last > before else 0.0
    say("IngestReadings → máy chủ gRPC trần (bare decode-only server)…")
    proc, addr = bare_grpc_server(run_dir)
    try:
        await asyncio.sleep(1.5)
        bare = await drive(addr, batches, seconds=seconds)
    finally:
        terminate(proc, 15, 5.0)
    return {
        "ingest_readings_per_s": round(ours.readings_per_s, 1), "ingest_rejected": ours.rejected,
        "ingest_errors": ours.errors, "worker_readings_per_s": worker_rate,
        "grpc_bare": {"readings_per_s": round(bare.readings_per_s, 1), "errors": bare.errors,
                      "batch_readings": per_batch, "streams": 4},
    }


async def run_sensors_bench(ep: Endpoints, out_dir: Path, *, args: list[str], timeout: float,
                            say: Callable[[str], None], on_pid: Callable[[int], None]) -> dict[str, Any]:
    """Run the sensors engineer's bench against our endpoints; its JSON report, or why there is none."""
    if not SENSORS_BENCH.exists():
        return {"source": "missing", "note": f"{SENSORS_BENCH.relative_to(ROOT)} chưa có (does not exist yet)"}
    report = out_dir / "sensors-bench.json"
    env = {**os.environ, **ep.env(), "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
    argv = [sys.executable, str(SENSORS_BENCH), *args, "--json-out", str(report)]
    say("Bench cảm biến (sensors bench): " + " ".join(argv[1:]))
    log_path = out_dir / "sensors-bench.log"
    with open(log_path, "wb") as log_file:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=ROOT, stdout=log_file, stderr=log_file)
        on_pid(proc.pid)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return {"source": "timeout", "note": f"sensors bench > {timeout:g} s; see {log_path.name}"}
    if proc.returncode != 0 and not report.exists():
        return {"source": "failed", "note": f"exit {proc.returncode}; see {log_path.name}"}
    data: dict[str, Any] = json.loads(report.read_text())
    data["source"] = str(SENSORS_BENCH.relative_to(ROOT))
    data["exit_code"] = proc.returncode
    return data


class AlertToIncident:
    """SensorAlert (sensors.alerts) → the incident event citing it (incidents.events), by alert id."""

    def __init__(self, ep: Endpoints) -> None:
        self.latency = Latency("alert_to_incident", "SensorAlert record → IncidentReported/Merged citing it")
        self.alerts: dict[str, float] = {}
        self.incidents: dict[str, float] = {}
        settings = ep.settings()
        self.tails = [Tail(settings, f"{ep.topic_prefix}{SENSOR_ALERTS.name}", self._on_alert),
                      Tail(settings, f"{ep.topic_prefix}{INCIDENT_EVENTS.name}", self._on_incident)]

    def _on_alert(self, record: Any) -> None:
        alert = sensors_pb2.SensorAlert.FromString(record.value)
        if alert.state == sensors_pb2.ALERT_STATE_RAISED:
            self.alerts.setdefault(alert.alert_id, record.timestamp / 1000.0)

    def _on_incident(self, record: Any) -> None:
        event = incidents_pb2.IncidentEvent.FromString(record.value)
        body = event.WhichOneof("body")
        if body in ("reported", "merged"):
            alert_id = getattr(event, body).sensor_alert_id
            if alert_id:
                self.incidents.setdefault(alert_id, record.timestamp / 1000.0)

    async def start(self) -> None:
        for tail in self.tails:
            await tail.start()

    async def stop(self) -> dict[str, Any]:
        await asyncio.sleep(2.0)  # incidents that were on their way
        for tail in self.tails:
            await tail.stop()
        for alert_id, raised in self.alerts.items():
            if alert_id in self.incidents:
                self.latency.record(self.incidents[alert_id] - raised, at=raised)
        return {**self.latency.summary(), "alerts_raised": len(self.alerts),
                "incidents_from_alerts": len(self.alerts.keys() & self.incidents.keys())}
