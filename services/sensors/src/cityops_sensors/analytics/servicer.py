"""GetSeries: 1-minute aggregates for charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform.errors import FieldViolation, NotFound, ValidationFailed
from cityops_sensors import convert as pc
from cityops_sensors.analytics.store import AnalyticsStore
from cityops_sensors.registry.store import SensorStore

MAX_SPAN = timedelta(days=7)


class SeriesRpc:
    analytics: AnalyticsStore
    sensors: SensorStore

    async def GetSeries(self, request: pb.GetSeriesRequest, context: Any) -> pb.GetSeriesResponse:  # noqa: N802
        end = pc.from_ts(request.end, "end") if request.HasField("end") else datetime.now(UTC)
        start = pc.from_ts(request.start, "start") if request.HasField("start") else end - timedelta(hours=6)
        if start >= end:
            raise ValidationFailed([FieldViolation("start", "phải trước end (must be before end)")])
        if end - start > MAX_SPAN:
            raise ValidationFailed([FieldViolation("start", "khoảng tối đa 7 ngày (at most 7 days)")])
        if not request.sensor_id or await self.sensors.kind_of(request.sensor_id) is None:
            raise NotFound("sensor", request.sensor_id)
        rows = await self.analytics.series(request.sensor_id, start, end)
        return pb.GetSeriesResponse(sensor_id=request.sensor_id, points=[
            pb.Aggregate(sensor_id=r["sensor_id"], window_start=pc.ts(r["window_start"]),
                         window_seconds=r["window_seconds"], count=r["count"], min=r["min"], max=r["max"],
                         mean=r["mean"], sum=r["sum"], last=r["last"])
            for r in rows
        ])
