"""Ceilings measured in the same run, on the same broker: what this machine can do at best.

- Kafka's own ``ProducerPerformance`` / ``ConsumerPerformance`` (kafka-tools jar, Java clients)
  at our record size: the broker's ceiling for records of the readings topic.
- A bare Faust pass-through agent (``bare_faust.py``) over the records the producer wrote: what
  any Faust agent can reach in Python before doing work.
- A bare grpc.aio server that only decodes ReadingBatch (``bare_grpc.py``), driven by the same
  client as our ingest: what Python gRPC can take in before doing work.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cityops_devtools.devstack._process import free_port, spawn, terminate
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
JARS = ROOT / ".cache" / "kafka-libs"
_NUM = r"([\d.]+)"


def _java() -> str:
    from cityops_devtools.devstack.kafka import find_java

    return find_java()


def _kafka_tool(tool: str, args: list[str], timeout: float) -> str:
    argv = [_java(), "-Xmx384m", "-cp", f"{JARS}/*", f"org.apache.kafka.tools.{tool}", *args]
    log4j = JARS.parent / "bench-log4j2.properties"
    if not log4j.exists():
        log4j.write_text("rootLogger.level = WARN\nrootLogger.appenderRef.stderr.ref = STDERR\n"
                         "appender.stderr.type = Console\nappender.stderr.name = STDERR\n"
                         "appender.stderr.target = SYSTEM_ERR\nappender.stderr.layout.type = PatternLayout\n"
                         "appender.stderr.layout.pattern = %m%n\n")
    argv.insert(2, f"-Dlog4j2.configurationFile={log4j}")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


async def create_topic(settings: Settings, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def end_offsets_sum(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def producer_performance(bootstrap: str, topic: str, records: int, record_size: int) -> dict[str, Any]:
    out = _kafka_tool("ProducerPerformance", [
        "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "linger.ms=2", "batch.size=1048576",
    ], timeout=600)
    line = [ln for ln in out.splitlines() if "records sent" in ln][-1]
    m = re.search(rf"(\d+) records sent, {_NUM} records/sec \({_NUM} MB/sec\), {_NUM} ms avg latency, "
                  rf"{_NUM} ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th", line)
    if not m:
        raise RuntimeError(f"cannot parse ProducerPerformance: {line}")
    return {"records": int(m.group(1)), "records_per_s": float(m.group(2)), "mb_per_s": float(m.group(3)),
            "avg_latency_ms": float(m.group(4)), "p50_ms": int(m.group(6)), "p99_ms": int(m.group(8)),
            "record_size": record_size, "acks": "all", "raw": line.strip()}


def consumer_performance(bootstrap: str, topic: str, records: int) -> dict[str, Any]:
    out = _kafka_tool("ConsumerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--messages", str(records),
        "--group", f"bench-perf-consumer-{os.getpid()}-{int(time.time())}", "--timeout", "30000",
    ], timeout=600)
    rows = [ln for ln in out.splitlines() if ln and ln[0].isdigit()]
    if not rows:
        raise RuntimeError(f"cannot parse ConsumerPerformance: {out[-500:]}")
    cols = [c.strip() for c in rows[-1].split(",")]
    # start, end, MB, MB/s, nMsg, nMsg/s, rebalance ms, fetch ms, fetch MB/s, fetch nMsg/s
    return {"records": int(float(cols[4])), "records_per_s": float(cols[5]), "mb_per_s": float(cols[3]),
            "fetch_records_per_s": float(cols[9]), "raw": rows[-1].strip()}


async def bare_faust(settings: Settings, source: str, records: int, run_dir: Path, *,
                     limit_s: float = 300.0) -> dict[str, Any]:
    """Drain ``source`` through a pass-through Faust agent; records/s from first to last output."""
    sink = f"{source}.passthrough"
    await create_topic(settings, sink, 12)
    env = {**os.environ, "CITYOPS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "BENCH_SOURCE": source,
           "BENCH_SINK": sink, "CITYOPS_DATA_DIR": str(run_dir / "bare-faust"), "BENCH_GROUP": f"{source}.bare"}
    log_file = run_dir / "bare-faust.log"
    proc = spawn([sys.executable, "-m", "loadtests.bench.bare_faust", "worker", "-l", "warn"],
                 log_file=log_file, env=env, cwd=ROOT)
    first: float | None = None
    last_count = 0
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"bare Faust agent exited {proc.returncode}; see {log_file}")
            count = await end_offsets_sum(settings, sink)
            now = time.monotonic()
            if count and first is None:
                first = now
            last_count = count
            if count >= records:
                break
            await asyncio.sleep(0.2)
    finally:
        terminate(proc, 15, 10.0)
    if first is None or last_count < records:
        raise RuntimeError(f"bare Faust passed {last_count}/{records} records before the timeout")
    elapsed = max(time.monotonic() - first, 1e-3)
    # The first batch landed at `first`; count the rest over the time they took.
    return {"records": records, "records_per_s": round(records / elapsed, 1), "seconds": round(elapsed, 2)}


def bare_grpc_server(run_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = spawn([sys.executable, "-m", "loadtests.bench.bare_grpc", str(port)],
                 log_file=run_dir / "bare-grpc.log", env={**os.environ}, cwd=ROOT)
    return proc, f"127.0.0.1:{port}"


async def record_shape(settings: Settings, topic: str, *, sample: int = 500) -> dict[str, Any] | None:
    """Mean size and readings of real ReadingRecords on the readings topic (None when it is empty)."""
    from cityops.sensors.v1 import sensors_pb2

    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    # The newest records: those of the max-rate ingest, not earlier small batches.
    tps = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
    if not tps:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps) if tps else {}
    for tp in tps:
        consumer.seek(tp, max(0, ends[tp] - sample // max(1, len(tps))))
    sizes: list[int] = []
    readings: list[int] = []
    try:
        deadline = time.monotonic() + 10
        while len(sizes) < sample and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=sample)
            for records in batch.values():
                for record in records:
                    rec = sensors_pb2.ReadingRecord.FromString(record.value)
                    if rec.tick_at_ms or not rec.sensor_ids:
                        continue  # worker timer ticks, not readings
                    sizes.append(len(record.value))
                    readings.append(len(rec.sensor_ids))
            if not batch and sizes:
                break
    finally:
        await consumer.stop()
    if not sizes:
        return None
    return {"bytes": int(sum(sizes) / len(sizes)), "readings_per_record": round(sum(readings) / len(readings), 1),
            "sampled": len(sizes), "source": "measured on the readings topic"}


def synthetic_record_shape(readings_per_record: int = 84) -> dict[str, Any]:
    """What a record of our api looks like for a 1000-reading batch over 12 partitions (≈84 each)."""
    from cityops.sensors.v1 import sensors_pb2

    now = int(time.time() * 1000)
    rec = sensors_pb2.ReadingRecord(sensor_ids=[f"wl-thuanan-{i:05d}" for i in range(readings_per_record)],
                                    values=[12.5] * readings_per_record, observed_at_ms=[now] * readings_per_record,
                                    ingested_at_ms=[now] * readings_per_record, batch_id="0" * 32)
    return {"bytes": rec.ByteSize(), "readings_per_record": readings_per_record, "sampled": 0,
            "source": "synthetic (no readings were ingested in this run)"}
