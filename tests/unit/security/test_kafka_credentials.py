"""Kafka SASL settings reach both client stacks: aiokafka (client_kwargs) and Faust."""

from __future__ import annotations

from faust.auth import SASLCredentials

from cityops_platform.faust_app import _faust_credentials
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.settings import Settings

SASL = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="svc-incidents",
                kafka_sasl_password="s3cret-s3cret")


def test_aiokafka_clients_get_scram_sha_512_by_default() -> None:
    kwargs = client_kwargs(SASL)
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("svc-incidents", "s3cret-s3cret")


def test_faust_workers_get_the_same_credentials() -> None:
    creds = _faust_credentials(SASL)
    assert isinstance(creds, SASLCredentials)
    assert creds.username == "svc-incidents"
    assert creds.mechanism.value == "SCRAM-SHA-512"


def test_plaintext_has_no_sasl_options() -> None:
    assert "sasl_mechanism" not in client_kwargs(Settings())
