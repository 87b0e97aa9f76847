"""Webhook body and signature."""

from __future__ import annotations

import hashlib
import hmac
import json

from cityops_notifications.channels.base import Outgoing
from cityops_notifications.channels.webhook import body_of, sign
from cityops_notifications.rendering import Rendered


def test_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"x":"\xc4\x91"}'
    assert sign(body, "k" * 16) == "sha256=" + hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()


def test_body_is_utf8_json_without_escaping_vietnamese() -> None:
    outgoing = Outgoing(delivery_id="d", event_id="e", event_type="t", occurred_at="2026-11-26T00:00:00+00:00",
                        language="vi", message=Rendered("Ngập", "Đường ngập", ("x",)), data={"a": 1})
    body = body_of(outgoing)
    assert "Đường ngập".encode() in body
    assert json.loads(body)["data"] == {"a": 1}
