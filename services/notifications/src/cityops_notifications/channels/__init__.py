"""Channels: how a rendered message reaches a recipient (webhook, SMTP e-mail, HTTP SMS gateway).

To add a channel: implement ``Channel`` in a module here, register it in ``build_channels`` and add
its name to ``subscriptions.models.CHANNELS`` and the ``Channel`` proto enum (see docs/notifications.md).
"""

from __future__ import annotations

from cityops_notifications.channels.base import Channel, Outgoing, PermanentFailure, TemporaryFailure
from cityops_notifications.channels.email import EmailChannel
from cityops_notifications.channels.sms import SmsGatewayChannel
from cityops_notifications.channels.webhook import WebhookChannel
from cityops_notifications.settings import NotificationsSettings

__all__ = ["Channel", "Outgoing", "PermanentFailure", "TemporaryFailure", "build_channels"]


def build_channels(settings: NotificationsSettings) -> dict[str, Channel]:
    """One instance of every channel, keyed by the subscription's channel name."""
    return {
        "WEBHOOK": WebhookChannel(timeout_s=settings.webhook_timeout_seconds, allow=settings.outbound_allow()),
        "EMAIL": EmailChannel(settings),
        "SMS": SmsGatewayChannel(settings),
    }
