"""Webhook: a JSON POST signed with ``X-CityOps-Signature: sha256=<hex HMAC-SHA256(raw body, secret)>``."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from cityops_notifications.channels.base import Outgoing, PermanentFailure, TemporaryFailure

SIGNATURE_HEADER = "X-CityOps-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(outgoing: Outgoing) -> bytes:
    payload = {
        "delivery_id": outgoing.delivery_id,
        "event_id": outgoing.event_id,
        "event_type": outgoing.event_type,
        "occurred_at": outgoing.occurred_at,
        "language": outgoing.language,
        "subject": outgoing.message.subject,
        "text": outgoing.message.body,
        "data": outgoing.data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookChannel:
    def __init__(self, *, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
            follow_redirects=False,  # a redirect could carry a signed body somewhere unexpected
            headers={"User-Agent": "CityOps-Notifications/1"},
        )

    async def send(self, *, address: str, outgoing: Outgoing, secret: str | None) -> int:
        if not secret:
            raise PermanentFailure("webhook subscription has no secret")
        body = body_of(outgoing)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(body, secret),
            "X-CityOps-Event-Id": outgoing.event_id,
            "X-CityOps-Delivery-Id": outgoing.delivery_id,
            "X-CityOps-Event-Type": outgoing.event_type,
        }
        try:
            response = await self._client.post(address, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"webhook: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return 1
        detail = f"webhook HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise TemporaryFailure(detail)
        raise PermanentFailure(detail)

    async def close(self) -> None:
        await self._client.aclose()
