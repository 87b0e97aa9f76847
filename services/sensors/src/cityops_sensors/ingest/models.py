"""The ingest path's vocabulary: rejection reasons, the per-stream ledger, sensor → partition."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from cityops.sensors.v1 import sensors_pb2 as pb

UNKNOWN_SENSOR = pb.REJECTION_REASON_UNKNOWN_SENSOR
OUT_OF_RANGE = pb.REJECTION_REASON_OUT_OF_RANGE
NOT_A_NUMBER = pb.REJECTION_REASON_NOT_A_NUMBER
TIMESTAMP_IN_FUTURE = pb.REJECTION_REASON_TIMESTAMP_IN_FUTURE
TIMESTAMP_TOO_OLD = pb.REJECTION_REASON_TIMESTAMP_TOO_OLD
MISSING_TIMESTAMP = pb.REJECTION_REASON_MISSING_TIMESTAMP
PUBLISH_FAILED = pb.REJECTION_REASON_PUBLISH_FAILED
MALFORMED = pb.REJECTION_REASON_MALFORMED
NOT_OWNED = pb.REJECTION_REASON_NOT_OWNED
# The documented cap of one ReadingBatch (sensors.proto): a larger batch ends the stream, INVALID_ARGUMENT.
MAX_BATCH_READINGS = 10_000

# sensor id → (min valid value, max valid value, partition of the readings topic)
CacheEntry = tuple[float, float, int]


def partition_for(sensor_id: str, partitions: int) -> int:
    """The readings partition of a sensor: a stable hash (CRC-32), the same in every process and
    across restarts, so one sensor's readings always share a partition and keep their order."""
    return zlib.crc32(sensor_id.encode()) % partitions


def bucket_key(partition: int) -> bytes:
    """The Kafka key of a ReadingRecord: its partition bucket."""
    return b"p%03d" % partition


@dataclass(slots=True)
class Rejection:
    sensor_id: str
    reason: int
    index: int
    detail: str
    batch_index: int


@dataclass
class IngestLedger:
    """The running totals of one IngestReadings stream (the summary it returns)."""

    max_details: int = 1000
    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    next_index: int = 0  # stream position of the next reading
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, sensor_id: str, reason: int, index: int, detail: str, batch_index: int) -> None:
        self.rejected += 1
        if len(self.rejections) < self.max_details:
            self.rejections.append(Rejection(sensor_id, reason, index, detail, batch_index))
