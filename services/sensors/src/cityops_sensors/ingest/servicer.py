"""IngestReadings: proto batches → plain columns → validation → one record per partition → acks."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform import auth
from cityops_platform.errors import FieldViolation, Unavailable, ValidationFailed
from cityops_sensors import access
from cityops_sensors import metrics as sensor_metrics
from cityops_sensors.ingest.cache import SensorCache
from cityops_sensors.ingest.models import (
    MALFORMED,
    MAX_BATCH_READINGS,
    NOT_OWNED,
    PUBLISH_FAILED,
    UNKNOWN_SENSOR,
    IngestLedger,
)
from cityops_sensors.ingest.publisher import ReadingPublisher
from cityops_sensors.ingest.service import Columns, split_by_partition
from cityops_sensors.settings import SensorsSettings

log = logging.getLogger("cityops.sensors.ingest")
# A dead broker leaves aiokafka's batches waiting for a leader that never answers; without a bound
# the stream would hang past the client's deadline instead of answering UNAVAILABLE.
ACK_TIMEOUT_S = 10.0
STALLED_ACK_WAIT_S = 0.5  # once one record timed out, the others of the stream get only this long


def batch_columns(batch: pb.ReadingBatch, ledger: IngestLedger, batch_index: int) -> tuple[Columns, int]:
    """Both forms of a batch as parallel lists; a ragged ``columns`` tail is rejected as MALFORMED."""
    ids: list[str] = []
    values: list[float] = []
    times: list[int] = []
    for r in batch.readings:
        ids.append(r.sensor_id)
        values.append(r.value)
        if r.HasField("observed_at"):
            o = r.observed_at
            times.append(o.seconds * 1000 + o.nanos // 1_000_000 or -1)
        else:
            times.append(0)
    if batch.HasField("columns"):
        c = batch.columns
        n = min(len(c.sensor_ids), len(c.values), len(c.observed_at_ms))
        ids.extend(c.sensor_ids[:n] if n < len(c.sensor_ids) else c.sensor_ids)
        values.extend(c.values[:n] if n < len(c.values) else c.values)
        times.extend(c.observed_at_ms[:n] if n < len(c.observed_at_ms) else c.observed_at_ms)
        ragged = max(len(c.sensor_ids), len(c.values), len(c.observed_at_ms)) - n
        if ragged:
            start = ledger.next_index + len(ids)
            for j in range(ragged):
                sid = c.sensor_ids[n + j] if n + j < len(c.sensor_ids) else ""
                ledger.reject(sid, MALFORMED, start + j,
                              "các mảng columns không cùng độ dài (columns arrays of unequal length)", batch_index)
        # The ragged tail takes the stream positions right after this batch's valid-shaped readings.
        return (ids, values, times), ragged
    return (ids, values, times), 0


class IngestRpc:
    cache: SensorCache
    publisher: ReadingPublisher
    sensor_settings: SensorsSettings

    async def IngestReadings(self, request_iterator: AsyncIterator[pb.ReadingBatch], context: Any) -> pb.IngestSummary:  # noqa: N802
        cfg = self.sensor_settings
        ledger = IngestLedger(max_details=cfg.max_rejection_details)
        in_flight: collections.deque[tuple[asyncio.Future[object], Columns, int]] = collections.deque()
        limit = max(1, cfg.in_flight_batches) * max(1, self.publisher.partitions)
        wait = ACK_TIMEOUT_S
        gateway = access.bound_gateway(auth.current_principal())
        async for batch in request_iterator:
            batch_index = ledger.batches
            ledger.batches += 1
            size = len(batch.readings) + (len(batch.columns.sensor_ids) if batch.HasField("columns") else 0)
            if size > MAX_BATCH_READINGS:
                raise ValidationFailed([FieldViolation(
                    "readings", f"tối đa {MAX_BATCH_READINGS} số đo mỗi lô, lô {batch_index} có {size} "
                                f"(at most {MAX_BATCH_READINGS} readings per batch)")])
            (ids, values, times), ragged = batch_columns(batch, ledger, batch_index)
            await self.cache.resolve(ids)
            now_ms = time.time_ns() // 1_000_000
            entries = self.cache.entries if gateway is None else _owned(self.cache, ids, gateway)
            first_rejection = len(ledger.rejections)
            groups = split_by_partition(
                ids, values, times, entries, now_ms=now_ms,
                max_future_ms=cfg.max_future_seconds * 1000, max_past_ms=cfg.max_past_seconds * 1000,
                ledger=ledger, batch_index=batch_index,
            )
            if gateway is not None:
                _name_not_owned(ledger, first_rejection, self.cache)
            ledger.next_index += ragged
            try:
                sent = await self.publisher.publish(groups, now_ms)
            except Exception as exc:  # the producer refused before sending: nothing of this batch is on Kafka
                log.warning("publish failed", extra={"error": repr(exc)})
                sent = []
                for cols in groups.values():
                    _reject_unpublished(ledger, cols, batch_index, exc)
            in_flight.extend((future, cols, batch_index) for future, cols in sent)
            while len(in_flight) > limit:
                wait = await _settle(ledger, *in_flight.popleft(), wait=wait)
        while in_flight:
            wait = await _settle(ledger, *in_flight.popleft(), wait=wait)
        if ledger.accepted == 0 and any(r.reason == PUBLISH_FAILED for r in ledger.rejections):
            # Nothing reached Kafka: an OK summary would read as success to a careless client.
            raise Unavailable("Kafka chưa nhận số đo nào, hãy gửi lại cả luồng "
                              "(no reading was acknowledged by Kafka; resend the stream)")
        sensor_metrics.READINGS_INGESTED.labels("accepted").inc(ledger.accepted)
        sensor_metrics.READINGS_INGESTED.labels("rejected").inc(ledger.rejected)
        return pb.IngestSummary(
            accepted=ledger.accepted, rejected=ledger.rejected, batches=ledger.batches,
            rejections=[pb.Rejection(sensor_id=r.sensor_id, reason=r.reason, index=r.index, detail=r.detail,  # type: ignore[arg-type]
                                     batch_index=r.batch_index) for r in ledger.rejections],
        )


def _owned(cache: SensorCache, ids: list[str], gateway: str) -> dict[str, tuple[float, float, int]]:
    """The cache entries of this batch's sensors that belong to ``gateway``: the others are refused."""
    entries, owners = cache.entries, cache.owners
    return {sid: entries[sid] for sid in set(ids) if sid in entries and owners.get(sid) == gateway}


def _name_not_owned(ledger: IngestLedger, start: int, cache: SensorCache) -> None:
    """A registered sensor refused as unknown to this gateway is really another's: say so."""
    for rejection in ledger.rejections[start:]:
        if rejection.reason == UNKNOWN_SENSOR and rejection.sensor_id in cache.entries:
            rejection.reason = NOT_OWNED
            rejection.detail = (f"cảm biến '{rejection.sensor_id[:64]}' không thuộc cổng này "
                                "(the sensor does not belong to this gateway)")


def _reject_unpublished(ledger: IngestLedger, cols: Columns, batch_index: int, exc: BaseException) -> None:
    detail = f"Kafka chưa xác nhận, có thể gửi lại (not acknowledged, safe to resend): {type(exc).__name__}"
    for sid in cols[0]:
        # The hot path keeps no per-reading stream positions: -1 means "identify it by sensor_id and batch".
        ledger.reject(sid, PUBLISH_FAILED, -1, detail, batch_index)


async def _settle(ledger: IngestLedger, future: asyncio.Future[object], cols: Columns, batch_index: int,
                  *, wait: float = ACK_TIMEOUT_S) -> float:
    """Count a record's readings as accepted only once the broker has acknowledged it, within
    ``wait`` seconds. Returns how long the stream's next record may be waited for."""
    try:
        if future.done():
            future.result()
        else:
            await asyncio.wait_for(asyncio.shield(future), wait)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("reading record not acknowledged", extra={"error": repr(exc), "readings": len(cols[0])})
        _reject_unpublished(ledger, cols, batch_index, exc)
        return STALLED_ACK_WAIT_S if isinstance(exc, TimeoutError) else wait
    ledger.accepted += len(cols[0])
    return wait
