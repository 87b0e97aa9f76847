"""Webhook body and signature."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cityops_notifications.channels.base import Outgoing
from cityops_notifications.channels.webhook import body_of, standard_headers
from cityops_notifications.rendering import Rendered


def test_standard_webhooks_signature_verifies_and_binds_id_and_timestamp() -> None:
    body = '{"x":"đ"}'.encode()
    headers = standard_headers(message_id="d-1", body=body, secret="k" * 16, now=datetime.now(UTC))
    assert Webhook(b"k" * 16).verify(body, headers) == {"x": "đ"}
    with pytest.raises(WebhookVerificationError):  # the same signature under another delivery id
        Webhook(b"k" * 16).verify(body, {**headers, "webhook-id": "d-2"})


def test_an_old_delivery_is_refused_as_a_replay() -> None:
    body = b'{"x":1}'
    old = standard_headers(message_id="d-1", body=body, secret="k" * 16, now=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError):
        Webhook(b"k" * 16).verify(body, old)


def test_no_body_only_signature_header_is_sent() -> None:
    headers = standard_headers(message_id="d-1", body=b"{}", secret="k" * 16, now=datetime.now(UTC))
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}


def test_body_is_utf8_json_without_escaping_vietnamese() -> None:
    outgoing = Outgoing(delivery_id="d", event_id="e", event_type="t", occurred_at="2026-11-26T00:00:00+00:00",
                        language="vi", message=Rendered("Ngập", "Đường ngập", ("x",)), data={"a": 1})
    body = body_of(outgoing)
    assert "Đường ngập".encode() in body
    assert json.loads(body)["data"] == {"a": 1}
