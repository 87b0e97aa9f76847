"""A real HTTP webhook receiver for the notifications service: verifies every signature.

It answers the way a good receiver does (200 at once, de-duplicates on delivery id) and records
when each delivery arrived, with the body's source event, so the bench can correlate it with the
assignment it announces.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    received_at: float
    delivery_id: str
    event_type: str
    data: dict[str, Any]


@dataclass
class WebhookReceiver:
    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    bad_signatures: int = 0
    duplicates: int = 0
    on_delivery: Any = None  # callable(Delivery) -> None
    _seen: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _verifier: Webhook = field(init=False)

    def __post_init__(self) -> None:
        self._verifier = Webhook(self.secret.encode())

    async def start(self) -> str:
        app = web.Application(client_max_size=4 * 2**20)
        app.router.add_post("/hook/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return f"http://{self.host}:{self.port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Standard Webhooks verification (id, timestamp within the replay window, signature)."""
        try:
            self._verifier.verify(body, dict(headers), json_parse=False)
        except WebhookVerificationError:
            return False
        return True

    async def _handle(self, request: web.Request) -> web.Response:
        received = time.time()
        body = await request.read()
        if not self.verify(body, request.headers):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        payload = json.loads(body)
        delivery_id = str(payload.get("delivery_id", ""))
        if delivery_id in self._seen:
            self.duplicates += 1
            return web.Response(status=200)
        self._seen.add(delivery_id)
        data = payload.get("data") or {}
        item = Delivery(received, delivery_id, str(payload.get("event_type", "")),
                        data if isinstance(data, dict) else {})
        self.deliveries.append(item)
        if self.on_delivery is not None:
            self.on_delivery(item)
        return web.Response(status=200)


def field_of(data: dict[str, Any], snake: str) -> str:
    """A field of proto JSON whichever naming the sender used (camelCase or original)."""
    head, *rest = snake.split("_")
    camel = head + "".join(p.title() for p in rest)
    value = data.get(camel, data.get(snake, ""))
    return str(value or "")
