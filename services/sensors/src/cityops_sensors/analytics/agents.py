"""The sensors worker's agents and timers: readings → ``SensorWorker`` (worker.py), its ticks, the
rule refresh, the sink and the hand-back of revoked partitions."""

from __future__ import annotations

from typing import Any

import faust

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform import faust_app
from cityops_platform.kafka.topics import SENSOR_READINGS
from cityops_platform.runtime import Resources
from cityops_sensors.analytics.worker import SensorWorker
from cityops_sensors.settings import SensorsSettings


def install(app: faust.App, res: Resources, cfg: SensorsSettings, *, topic_prefix: str) -> SensorWorker:
    """Declare the readings agent, the timers and the sink task on ``app``; returns the worker they drive."""
    readings = faust_app.raw_topic(app, f"{topic_prefix}{SENSOR_READINGS.name}",
                                   partitions=SENSOR_READINGS.partitions)
    # Keyed by sensor id; values are SensorState as JSON (Faust's default codec, used alike by the
    # changelog writer and by recovery). Co-partitioned with the readings topic.
    table = app.Table("sensor-state", default=None, partitions=SENSOR_READINGS.partitions, key_type=str)
    worker = SensorWorker(app, res, table, cfg)
    dead_letters = faust_app.faust_dead_letters(app)

    @app.agent(readings, name="cityops_sensors.app.apply_readings")  # the name it had when app.py declared it
    async def apply_readings(stream: faust.StreamT[bytes]) -> None:
        await faust_app.consume(stream, decode=faust_app.proto_decoder(pb.ReadingRecord), handle=worker.handle,
                                dead_letters=dead_letters)

    @app.timer(cfg.tick_seconds)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await worker.send_ticks()

    @app.timer(cfg.rules_refresh_seconds)  # type: ignore[untyped-decorator]
    async def refresh() -> None:
        await worker.refresh_catalog()

    @app.task  # type: ignore[untyped-decorator]
    async def sink() -> None:
        await worker.wait_resources()
        await worker.sink.run()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        worker.revoke([tp.partition for tp in revoked if tp.topic == readings.get_topic_name()])

    return worker
