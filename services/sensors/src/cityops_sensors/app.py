"""The sensors worker: ``cityops worker sensors`` (consumer group cityops-sensors-worker)."""

from __future__ import annotations

import logging
from typing import Any

import faust

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform import faust_app
from cityops_platform.kafka.topics import SENSOR_READINGS
from cityops_platform.settings import Settings
from cityops_sensors.analytics.worker import SensorWorker
from cityops_sensors.settings import get_sensor_settings

log = logging.getLogger("cityops.sensors.worker")


def create_app(settings: Settings, *, web_port: int | None = None) -> faust.App:
    cfg = get_sensor_settings()
    app = faust_app.create_app(
        "sensors", settings, web_port=web_port, store=cfg.table_store,
        consumer_max_fetch_size=16 * 1024 * 1024, broker_max_poll_records=1000,
        # The changelog: big batches, so checkpoints travel as few requests (Faust's default is 16 KiB).
        producer_max_batch_size=1024 * 1024, producer_max_request_size=8 * 1024 * 1024, producer_linger_ms=5,
    )
    res = faust_app.attach_resources(app, "sensors", settings, relay=False)
    readings = faust_app.raw_topic(app, f"{settings.topic_prefix}{SENSOR_READINGS.name}",
                                   partitions=SENSOR_READINGS.partitions)
    # Keyed by sensor id; values are SensorState as JSON (Faust's default codec, used alike by the
    # changelog writer and by recovery). Co-partitioned with the readings topic.
    table = app.Table("sensor-state", default=None, partitions=SENSOR_READINGS.partitions, key_type=str)
    worker = SensorWorker(app, res, table, cfg)
    dead_letters = faust_app.faust_dead_letters(app)

    @app.agent(readings)
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

    app.sensor_worker = worker  # type: ignore[attr-defined]
    return app
