"""SMS through an HTTP gateway: ``POST <CITYOPS_SMS_GATEWAY_URL>`` with JSON ``{"to", "text"}`` per part.

The API key goes in the header named by ``CITYOPS_SMS_GATEWAY_API_KEY_HEADER`` (default ``X-API-Key``).
Any 2xx is accepted; 408/429/5xx are retried; other 4xx are permanent. Parts are posted in order, each a
single SMS (see ``sms.split_sms``); a retry resends from the first part, so a receiver may see a part
twice after a partial failure, never a missing one.
"""

from __future__ import annotations

import httpx

from cityops_notifications.channels.base import Outgoing, PermanentFailure, TemporaryFailure
from cityops_notifications.settings import NotificationSettings


class SmsGatewayChannel:
    def __init__(self, settings: NotificationSettings) -> None:
        self._url = settings.sms_gateway_url
        headers = {"User-Agent": "CityOps-Notifications/1"}
        if settings.sms_gateway_api_key:
            headers[settings.sms_gateway_api_key_header] = settings.sms_gateway_api_key
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds, connect=3.0), headers=headers
        )

    async def send(self, *, address: str, outgoing: Outgoing, secret: str | None) -> int:
        parts = outgoing.message.sms_parts
        for text in parts:
            try:
                response = await self._client.post(
                    self._url, json={"to": address, "text": text, "reference": outgoing.delivery_id}
                )
            except httpx.HTTPError as exc:
                raise TemporaryFailure(f"sms gateway: {type(exc).__name__}: {exc}") from exc
            if response.is_success:
                continue
            detail = f"sms gateway HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code in (408, 425, 429) or response.status_code >= 500:
                raise TemporaryFailure(detail)
            raise PermanentFailure(detail)
        return len(parts)

    async def close(self) -> None:
        await self._client.aclose()
