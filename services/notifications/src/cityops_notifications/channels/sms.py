"""SMS through an HTTP gateway: ``POST <CITYOPS_SMS_GATEWAY_URL>`` with JSON ``{"to", "text"}`` per part.

The API key goes in the header named by ``CITYOPS_SMS_GATEWAY_API_KEY_HEADER`` (default ``X-API-Key``).
Any 2xx is accepted; 408/429/5xx are retried; other 4xx are permanent. Parts are posted in order, each a
single SMS (see ``sms.split_sms``); a retry resends from the first part, so a receiver may see a part
twice after a partial failure, never a missing one. The gateway URL is the operator's setting (not a
user's), so it is not subject to the public-address rule; the gateway's response body is never recorded.
"""

from __future__ import annotations

import httpx

from cityops_notifications.channels.base import Outgoing, TemporaryFailure
from cityops_notifications.channels.webhook import failure_for_status
from cityops_notifications.settings import NotificationsSettings


class SmsGatewayChannel:
    def __init__(self, settings: NotificationsSettings) -> None:
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
                raise TemporaryFailure(f"sms gateway: {type(exc).__name__}") from exc
            if response.is_success:
                continue
            raise failure_for_status("sms gateway", response.status_code)  # never the gateway's body
        return len(parts)

    async def close(self) -> None:
        await self._client.aclose()
