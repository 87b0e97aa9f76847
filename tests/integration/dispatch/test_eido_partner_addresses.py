"""EIDO conveyance's outbound POST against a real HTTP receiver: a partner address that resolves to a
non-public address is refused at every attempt (nothing reaches the receiver, and the failure is permanent),
the connection goes to the address checked (Host = the partner's name), and a partner's answer body is never
recorded."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from cityops_devtools.testing import serve_http
from cityops_dispatch.eido.conveyance import ConveyanceSettings, Conveyor, PermanentFailure
from cityops_dispatch.eido.partners import Partner
from cityops_platform import netguard

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
SECRET = "whsec_" + base64.b64encode(b"partner-secret-0123456789abcdef").decode()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[dict[str, Any]]:
    """A partner CAD on 127.0.0.2 answering 200, or 403 with a body on /deny."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.headers), await request.read()))
        if request.path == "/deny":
            return web.Response(status=403, text="internal: token=AKIA-PARTNER-SECRET")
        return web.Response(status=200, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner, port = await serve_http(app, "127.0.0.2")
    try:
        yield {"port": port, "seen": seen}
    finally:
        await runner.cleanup()


def conveyor(allow: str, answers: dict[str, list[str]]) -> Conveyor:
    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    async def export(_: str) -> Any:
        raise AssertionError("not used")

    return Conveyor(pool=lambda: None, partners=(), export=export,  # type: ignore[arg-type, return-value]
                    settings=ConveyanceSettings(allow=netguard.parse_allow(allow)), resolve=resolve)


async def test_a_partner_name_resolving_to_a_non_public_address_is_refused(receiver: dict[str, Any]) -> None:
    c = conveyor("", {"cad.partner.invalid": ["127.0.0.2"]})
    try:
        partner = Partner("p", f"http://cad.partner.invalid:{receiver['port']}/eido", SECRET)
        with pytest.raises(PermanentFailure, match="refused"):
            await c._post(partner, "msg_1", '{"eido": 1}')
        assert receiver["seen"] == []
    finally:
        await c.close()


async def test_an_allowed_partner_is_reached_at_the_checked_address_and_its_body_is_not_kept(
    receiver: dict[str, Any],
) -> None:
    c = conveyor("127.0.0.2/32", {"cad.partner.invalid": ["127.0.0.2"]})
    try:
        port = receiver["port"]
        partner = Partner("p", f"http://cad.partner.invalid:{port}/eido", SECRET)
        assert await c._post(partner, "msg_2", '{"eido": 2}') == 200
        ((path, headers, body),) = receiver["seen"]
        assert path == "/eido" and headers["Host"] == f"cad.partner.invalid:{port}"
        Webhook(SECRET).verify(body, headers)
        with pytest.raises(PermanentFailure) as denied:
            await c._post(Partner("p", f"http://cad.partner.invalid:{port}/deny", SECRET), "msg_3", "{}")
        assert str(denied.value) == "HTTP 403" and denied.value.http_status == 403
    finally:
        await c.close()
