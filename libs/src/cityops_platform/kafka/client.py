"""Kafka client configuration shared by producers, consumers, admin and Faust."""

from __future__ import annotations

import ssl
from typing import Any

from cityops_platform.settings import Settings


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients: bootstrap, and SASL/TLS when configured."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ca_file)
        kwargs["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism or "SCRAM-SHA-512"
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password
    return kwargs


def faust_broker_url(settings: Settings) -> str:
    return ";".join(f"kafka://{host}" for host in settings.kafka_bootstrap.split(","))
