"""The service settings extend the platform's and read their own CITYOPS_* variables."""

from __future__ import annotations

import pytest

from cityops_notifications.settings import NotificationsSettings
from cityops_platform.settings import Settings


def test_from_base_keeps_platform_values_and_reads_service_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_SMTP_PORT", "2525")
    monkeypatch.setenv("CITYOPS_SMTP_STARTTLS", "true")
    monkeypatch.setenv("CITYOPS_SMS_GATEWAY_URL", "https://sms.example.vn/send")
    base = Settings(topic_prefix="t1.", database_url="postgresql://x@127.0.0.1:1/db")  # type: ignore[call-arg]
    cfg = NotificationsSettings.from_base(base)
    assert (cfg.topic_prefix, cfg.database_url) == ("t1.", "postgresql://x@127.0.0.1:1/db")
    assert cfg.smtp_port == 2525 and cfg.smtp_starttls is True
    assert cfg.sms_gateway_url == "https://sms.example.vn/send"
    assert cfg.rate_limit("SMS") == (5, 3600.0)
    assert NotificationsSettings.from_base(cfg) is cfg
