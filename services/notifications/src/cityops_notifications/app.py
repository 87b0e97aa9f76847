"""The notifications worker: fan-out agents plus the sender loop (consumer group cityops-notifications-worker)."""

from __future__ import annotations

import faust

from cityops_notifications.deliveries import agents
from cityops_notifications.deliveries import metrics as delivery_metrics
from cityops_notifications.settings import NotificationsSettings
from cityops_platform import faust_app
from cityops_platform.settings import Settings


def create_app(settings: Settings, *, web_port: int | None = None) -> faust.App:
    cfg = NotificationsSettings.from_base(settings)
    app = faust_app.create_app("notifications", cfg, web_port=web_port)
    res = faust_app.attach_resources(app, "notifications", cfg)
    delivery_metrics.install()
    agents.install(app, res, cfg)
    return app
