"""Settings of the notifications service: the platform's, plus SMTP, the SMS gateway and delivery tuning.

Every field comes from the environment with the ``CITYOPS_`` prefix, e.g. ``CITYOPS_SMTP_HOST``,
``CITYOPS_SMS_GATEWAY_URL``, ``CITYOPS_NOTIFY_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import base64
import hashlib

from pydantic import Field

from cityops_platform import netguard
from cityops_platform.city import current_city
from cityops_platform.settings import Settings


class NotificationsSettings(Settings):
    """``Settings`` extended with what only the notifications service needs."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_user: str | None = None
    smtp_password: str | None = None
    # The From of e-mails: the city's CAP sender name and its domain (city.yaml) unless set.
    smtp_from: str = Field(default_factory=lambda: (
        f"{current_city().text(current_city().cap.names)} <noreply@{current_city().domain or 'localhost'}>"))
    smtp_timeout_seconds: float = 10.0

    sms_gateway_url: str = "http://127.0.0.1:8099/v1/sms"
    sms_gateway_api_key: str = ""
    sms_gateway_api_key_header: str = "X-API-Key"
    sms_max_parts: int = Field(default=4, ge=1, le=10, description="Longer texts are cut to this many segments.")

    webhook_timeout_seconds: float = 5.0
    outbound_allow_cidrs: str = Field(
        "", description="CIDRs webhooks may reach although not public (comma-separated); empty outside local/tests."
    )

    notify_max_attempts: int = Field(default=5, ge=1, le=50)
    notify_retry_base_seconds: float = Field(default=2.0, gt=0)
    notify_retry_max_seconds: float = Field(default=600.0, gt=0)
    notify_poll_seconds: float = Field(default=0.25, gt=0)
    notify_batch_size: int = Field(default=50, ge=1)
    notify_concurrency: int = Field(default=20, ge=1)
    notify_claim_seconds: float = Field(default=120.0, gt=0, description="Lease of a claimed delivery.")
    notify_subscription_check_ms: float = Field(
        default=50.0, ge=1, le=1000,
        description="The worker asks Postgres whether subscriptions changed at most this often (docs/reliability.md).")
    notify_clock_skew_ms: float = Field(
        default=25.0, ge=0, le=5000,
        description="Bound on how far Postgres's clock runs ahead of the event producers' clocks.")

    # Token buckets per recipient: at most <burst> messages, refilled evenly over <window> seconds.
    rate_sms_burst: int = Field(default=5, ge=1)
    rate_sms_window_seconds: float = Field(default=3600.0, gt=0)
    rate_email_burst: int = Field(default=20, ge=1)
    rate_email_window_seconds: float = Field(default=3600.0, gt=0)
    rate_webhook_burst: int = Field(default=600, ge=1)
    rate_webhook_window_seconds: float = Field(default=60.0, gt=0)

    notify_roster_file: str | None = Field(
        None, description="The supervisors' duty roster (YAML); the city's notifications/roster.yaml when unset."
    )

    # CAP <sender> and its display name: the city's (city.yaml `cap`) unless set.
    cap_sender: str = Field(default_factory=lambda: current_city().cap.sender)
    cap_sender_name: str = Field(default_factory=lambda: current_city().text(current_city().cap.names))
    notify_secret_key: str | None = Field(
        None, description="Key that encrypts webhook secrets at rest; derived from the JWT secret when unset."
    )

    @classmethod
    def from_base(cls, settings: Settings) -> NotificationsSettings:
        """The service settings for ``settings``: its values win, the rest is read from the environment."""
        if isinstance(settings, NotificationsSettings):
            return settings
        return cls(**settings.model_dump())

    def fernet_key(self) -> bytes:
        """A Fernet key for the stored webhook secrets."""
        material = self.notify_secret_key or f"cityops-notifications:{self.jwt_secret}"
        return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())

    def outbound_allow(self) -> tuple[netguard.Network, ...]:
        """The networks of ``outbound_allow_cidrs`` (see ``cityops_platform.netguard``)."""
        return netguard.parse_allow(self.outbound_allow_cidrs)

    def rate_limit(self, channel: str) -> tuple[int, float]:
        """(burst, window seconds) for a channel name ``WEBHOOK``/``EMAIL``/``SMS``."""
        if channel == "SMS":
            return self.rate_sms_burst, self.rate_sms_window_seconds
        if channel == "EMAIL":
            return self.rate_email_burst, self.rate_email_window_seconds
        return self.rate_webhook_burst, self.rate_webhook_window_seconds
