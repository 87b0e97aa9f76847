"""The bare grpc.aio streaming server: IngestReadings that only decodes each ReadingBatch.

``python -m loadtests.bench.bare_grpc PORT``. Same method path and messages as our sensors api,
no auth, no validation, no Kafka: the ceiling of Python gRPC ingest on this machine.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc

from cityops.sensors.v1 import sensors_pb2

METHOD = "/cityops.sensors.v1.SensorService/IngestReadings"


async def ingest(requests: AsyncIterator[sensors_pb2.ReadingBatch], context: Any) -> sensors_pb2.IngestSummary:
    accepted = batches = 0
    async for batch in requests:
        batches += 1
        accepted += len(batch.readings) + len(batch.columns.sensor_ids)
    return sensors_pb2.IngestSummary(accepted=accepted, batches=batches)


async def main(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 2**20)])
    handler = grpc.method_handlers_generic_handler("cityops.sensors.v1.SensorService", {
        "IngestReadings": grpc.stream_unary_rpc_method_handler(
            ingest, request_deserializer=sensors_pb2.ReadingBatch.FromString,
            response_serializer=sensors_pb2.IngestSummary.SerializeToString),
    })
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
