"""A fast IngestReadings client: pre-serialised columnar batches over a few concurrent streams.

Used against the bare decode-only server (the ceiling) and, with the same batches, against our
sensors api, so the ratio compares servers, not clients. Readings/s counts what the server
acknowledged in its IngestSummary (for our api: accepted = on Kafka with acks=all).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc

from cityops.sensors.v1 import sensors_pb2

METHOD = "/cityops.sensors.v1.SensorService/IngestReadings"


def columnar_batches(sensor_ids: list[str], per_batch: int, count: int, *, value: float = 12.5) -> list[bytes]:
    """``count`` serialised ReadingBatch of ``per_batch`` readings, cycling through the sensors."""
    now_ms = int(time.time() * 1000)
    out = []
    cursor = 0
    for _ in range(count):
        ids = [sensor_ids[(cursor + k) % len(sensor_ids)] for k in range(per_batch)]
        cursor += per_batch
        cols = sensors_pb2.ReadingColumns(sensor_ids=ids, values=[value] * per_batch,
                                          observed_at_ms=[now_ms] * per_batch)
        out.append(sensors_pb2.ReadingBatch(columns=cols, gateway_id="bench").SerializeToString())
    return out


@dataclass
class IngestRun:
    accepted: int
    rejected: int
    seconds: float
    errors: int

    @property
    def readings_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


async def drive(addr: str, batches: list[bytes], *, seconds: float, streams: int = 4,
                batches_per_stream_call: int = 50,
                metadata: tuple[tuple[str, str], ...] = ()) -> IngestRun:
    """Closed-loop as fast as the server takes them, for ``seconds``: a throughput ceiling, not latency."""
    accepted = rejected = errors = 0
    options = [("grpc.max_send_message_length", 64 * 2**20)]
    async with grpc.aio.insecure_channel(addr, options=options) as channel:
        call = channel.stream_unary(METHOD, request_serializer=lambda b: b,
                                    response_deserializer=sensors_pb2.IngestSummary.FromString)
        await channel.channel_ready()
        started = time.monotonic()
        stop_at = started + seconds

        async def worker(offset: int) -> None:
            nonlocal accepted, rejected, errors
            i = offset
            while time.monotonic() < stop_at:
                def chunk(start: int) -> list[bytes]:
                    return [batches[(start + k) % len(batches)] for k in range(batches_per_stream_call)]

                async def requests(items: list[bytes]):  # type: ignore[no-untyped-def]
                    for item in items:
                        yield item

                try:
                    summary = await call(requests(chunk(i)), metadata=metadata, timeout=120)
                    accepted += summary.accepted
                    rejected += summary.rejected
                except grpc.aio.AioRpcError:
                    errors += 1
                    await asyncio.sleep(0.1)
                i += batches_per_stream_call

        await asyncio.gather(*(worker(k * 7) for k in range(streams)))
        elapsed = time.monotonic() - started
    return IngestRun(accepted, rejected, elapsed, errors)
