"""Webhook: a JSON POST signed per Standard Webhooks (https://www.standardwebhooks.com).

Headers of every attempt: ``webhook-id`` (the delivery id, stable across retries, for de-duplication),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``), keyed with the UTF-8 bytes of the
subscription's secret. A receiver verifies with the ``standardwebhooks`` library
(``Webhook(secret.encode()).verify(body, headers)``), which also refuses a timestamp more than five
minutes away from its clock: a captured delivery cannot be replayed later.

The former body-only ``X-CityOps-Signature`` header is no longer sent: a body-only HMAC can be
replayed forever, and a receiver still checking it would stay open to that.

The target is resolved and checked at every attempt and the connection goes to the checked address
(``cityops_platform.netguard``); the target's response body is never recorded, only its status. The
connection stays open for the next delivery to the same name (no TCP or TLS handshake per delivery).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from cityops_notifications.channels.base import Outgoing, PermanentFailure, TemporaryFailure
from cityops_platform import netguard


def standard_headers(*, message_id: str, body: bytes, secret: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    timestamp = now.astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret.encode()).sign(msg_id=message_id, timestamp=timestamp,
                                                            data=body.decode()),
    }


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


def failure_for_status(what: str, status: int) -> TemporaryFailure | PermanentFailure:
    """The failure for an unsuccessful HTTP status: the status only, never the receiver's body."""
    detail = f"{what} HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        return TemporaryFailure(detail)
    return PermanentFailure(detail)


class WebhookChannel:
    def __init__(self, *, timeout_s: float, allow: tuple[netguard.Network, ...] = (),
                 resolve: netguard.Resolver = netguard.system_resolve) -> None:
        self._allow = allow
        self._resolve = resolve
        self._clients = netguard.PinnedClients(lambda: httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
            follow_redirects=False,  # a redirect could carry a signed body somewhere unexpected
            headers={"User-Agent": "CityOps-Notifications/1"},
        ))

    async def send(self, *, address: str, outgoing: Outgoing, secret: str | None) -> int:
        if not secret:
            raise PermanentFailure("webhook subscription has no secret")
        body = body_of(outgoing)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            **standard_headers(message_id=outgoing.delivery_id, body=body, secret=secret, now=datetime.now(UTC)),
            "X-CityOps-Event-Id": outgoing.event_id,
            "X-CityOps-Delivery-Id": outgoing.delivery_id,
            "X-CityOps-Event-Type": outgoing.event_type,
        }
        try:
            response = await netguard.post(self._clients, address, allow=self._allow, resolve=self._resolve,
                                           content=body, headers=headers)
        except netguard.UnsafeAddress as exc:
            raise PermanentFailure(f"webhook: địa chỉ bị từ chối (target refused): {exc}") from exc
        except OSError as exc:
            raise TemporaryFailure(f"webhook: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"webhook: {type(exc).__name__}") from exc
        if response.is_success:
            return 1
        raise failure_for_status("webhook", response.status_code)

    async def close(self) -> None:
        await self._clients.aclose()
