"""The sensors worker: ``cityops worker sensors`` (consumer group cityops-sensors-worker)."""

from __future__ import annotations

import logging

import faust

from cityops_platform import faust_app
from cityops_platform.settings import Settings
from cityops_sensors.analytics import agents as analytics_agents
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
    worker = analytics_agents.install(app, res, cfg, topic_prefix=settings.topic_prefix)
    app.sensor_worker = worker  # type: ignore[attr-defined]
    return app
