"""The notifications worker: fan-out agents plus the sender loop (consumer group cityops-notifications-worker)."""

from __future__ import annotations

import asyncio
import logging

import faust

from cityops_notifications.channels import build_channels
from cityops_notifications.deliveries import agents
from cityops_notifications.deliveries import metrics as delivery_metrics
from cityops_notifications.deliveries.sender import DeliverySender
from cityops_notifications.rendering import Renderer
from cityops_notifications.secretbox import SecretBox
from cityops_notifications.settings import NotificationsSettings
from cityops_platform import faust_app
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.notifications.worker")


def create_app(settings: Settings, *, web_port: int | None = None) -> faust.App:
    cfg = NotificationsSettings.from_base(settings)
    app = faust_app.create_app("notifications", cfg, web_port=web_port)
    res = faust_app.attach_resources(app, "notifications", cfg)
    delivery_metrics.install()
    created = asyncio.Event()
    agents.install(app, res, cfg, on_created=created.set)

    @app.task  # type: ignore[untyped-decorator]
    async def send_deliveries() -> None:
        await res.wait_open()  # the pool opens in a service started alongside the agents
        channels = build_channels(cfg)
        sender = DeliverySender(pool=res.pool, channels=channels, box=SecretBox(cfg.fernet_key()),
                                renderer=Renderer(timezone=cfg.timezone, sms_max_parts=cfg.sms_max_parts),
                                settings=cfg, wakeup=created)
        stopping = asyncio.Event()
        try:
            await sender.run(stopping)
        finally:
            stopping.set()
            for channel in channels.values():
                await channel.close()

    return app
