"""The outbound-call helper: deadline = min(default, caller's remaining time); the bearer in the
metadata (the trace context is the tracing interceptor's); TLS credentials only when configured."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from cityops_platform.grpc import client
from cityops_platform.settings import Settings


def test_outside_an_rpc_the_default_timeout_applies() -> None:
    token = client.set_inbound_deadline(None)
    try:
        assert client.remaining_seconds() is None
        assert client.call_timeout(5.0) == 5.0
    finally:
        client._inbound_deadline.reset(token)


def test_a_shorter_caller_deadline_shortens_the_outbound_timeout() -> None:
    token = client.set_inbound_deadline(0.75)
    try:
        timeout = client.call_timeout(5.0)
        assert 0.5 < timeout <= 0.75
        assert client.call_timeout(0.2) == 0.2  # a default shorter than what is left wins
    finally:
        client._inbound_deadline.reset(token)


def test_an_expired_caller_deadline_gives_an_immediate_timeout_not_zero_or_negative() -> None:
    token = client.set_inbound_deadline(0.001)
    try:
        time.sleep(0.01)
        assert client.call_timeout(5.0) == client.MIN_TIMEOUT_S
    finally:
        client._inbound_deadline.reset(token)


def test_metadata_carries_the_bearer_token_and_extra_but_not_the_trace_context() -> None:
    # The channel's tracing interceptor injects traceparent (once); the helper must not add a second.
    tracer = TracerProvider().get_tracer("test")  # a local provider: the global one is left alone
    with tracer.start_as_current_span("caller"):
        md = dict(client.outbound_metadata("tok-123", [("x-request-id", "r1")]))
    assert md == {"authorization": "Bearer tok-123", "x-request-id": "r1"}


def test_metadata_without_a_token_has_no_authorization() -> None:
    ctx = otel_context.attach(trace.set_span_in_context(trace.INVALID_SPAN))
    try:
        assert "authorization" not in dict(client.outbound_metadata(None))
    finally:
        otel_context.detach(ctx)


def test_plaintext_unless_a_server_ca_is_configured() -> None:
    assert client.channel_credentials(Settings(grpc_tls_server_ca=None)) is None


def test_a_client_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "c.crt").write_bytes(b"cert")
    settings = Settings(grpc_tls_server_ca=str(tmp_path / "ca.crt"), grpc_tls_client_cert=str(tmp_path / "c.crt"),
                        grpc_tls_client_key=None, grpc_tls_key=None)
    with pytest.raises(ValueError, match="together"):
        client.channel_credentials(settings)
