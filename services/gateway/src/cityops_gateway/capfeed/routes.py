"""The public CAP feed: ``GET /cap/alerts.atom`` and ``GET /cap/alerts/{identifier}.xml``.

No login: these are public warnings. Alerts come from the notifications service (ListAlerts)
with the gateway's own token; only approved, published messages with scope Public and a
published status are served. Both answers carry ETag and Last-Modified and honour
If-None-Match / If-Modified-Since with 304.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cityops.notifications.v1 import notifications_pb2 as npb
from cityops_gateway.capfeed.feed import (
    ATOM_TYPE,
    CAP_TYPE,
    PublicAlert,
    atom_feed,
    etag_of,
    http_date,
    not_modified,
    public,
)
from cityops_gateway.clients import UpstreamError
from cityops_gateway.state import GatewayState, gateway_state
from cityops_platform import codecs

log = logging.getLogger("cityops.gateway.capfeed")
STARTED = datetime.now(UTC).replace(microsecond=0)
# Ever-published states: PUBLISHED is current; SUPERSEDED/CANCELLED stay readable by identifier.
_EVER_PUBLISHED = [npb.CAP_ALERT_STATE_PUBLISHED, npb.CAP_ALERT_STATE_SUPERSEDED, npb.CAP_ALERT_STATE_CANCELLED]
FEED_TITLE = "Cảnh báo công cộng CAP, Trung tâm Điều hành IOC (public CAP warnings)"


def _dt(ts: Timestamp) -> datetime:
    return codecs.from_timestamp(ts)


async def public_alerts(state: GatewayState) -> list[PublicAlert]:
    """Every public, published alert (bounded by cap_feed_max_alerts), cached for a few seconds."""
    cached = state.public_cache.get("cap")
    if cached is not None and time.monotonic() - cached[0] < state.gateway_settings.public_cache_seconds:
        return cached[1]  # type: ignore[no-any-return]
    statuses = frozenset(s.strip() for s in state.gateway_settings.cap_feed_statuses.split(",") if s.strip())
    token = state.service_tokens.token("svc-gateway:cap-feed", "integrator")
    request = npb.ListAlertsRequest(states=_EVER_PUBLISHED, page_size=100)
    out: list[PublicAlert] = []
    seen = 0
    while seen < state.gateway_settings.cap_feed_max_alerts:
        page = await state.clients.call(state.clients.notifications.ListAlerts, request, token=token)
        for alert in page.alerts:
            seen += 1
            if not alert.xml or not alert.HasField("sent_at") or not public(alert.xml, statuses):
                continue
            out.append(PublicAlert(
                alert_id=alert.id, identifier=alert.identifier, xml=alert.xml, sent=_dt(alert.sent_at),
                updated=max(_dt(alert.sent_at), _dt(alert.updated_at)) if alert.HasField("updated_at")
                else _dt(alert.sent_at),
                current=alert.state == npb.CAP_ALERT_STATE_PUBLISHED,
            ))
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    state.public_cache["cap"] = (time.monotonic(), out)
    return out


def _base(state: GatewayState, request: Request) -> str:
    return (state.gateway_settings.public_base_url or str(request.base_url)).rstrip("/")


def _conditional(request: Request, body: bytes, media_type: str, last_modified: datetime | None,
                 max_age: float) -> Response:
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max(0, int(max_age))}"}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    if not_modified(dict(request.headers), etag=etag, last_modified=last_modified):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _unavailable(exc: UpstreamError) -> Response:
    log.warning("cap feed upstream failure", extra={"error": str(exc)})
    return PlainTextResponse("dịch vụ cảnh báo tạm thời không khả dụng (alerts service unavailable)\n",
                             status_code=503, headers={"Retry-After": "5"})


async def alerts_atom(request: Request) -> Response:
    state = gateway_state(request)
    try:
        alerts = await public_alerts(state)
    except UpstreamError as exc:
        return _unavailable(exc)
    base = _base(state, request)
    body = atom_feed(alerts, feed_url=f"{base}/cap/alerts.atom", alert_url=f"{base}/cap/alerts/{{identifier}}.xml",
                     title=FEED_TITLE, empty_updated=STARTED)
    current = [a.updated for a in alerts if a.current]
    return _conditional(request, body, ATOM_TYPE, max(current) if current else None,
                        state.gateway_settings.public_cache_seconds)


async def alert_xml(request: Request) -> Response:
    state = gateway_state(request)
    identifier = request.path_params["identifier"]
    try:
        alerts = await public_alerts(state)
    except UpstreamError as exc:
        return _unavailable(exc)
    found = next((a for a in alerts if a.identifier == identifier), None)
    if found is None:
        return PlainTextResponse(f"không có cảnh báo công khai này (no public alert): {identifier}\n",
                                 status_code=404)
    return _conditional(request, found.xml.encode("utf-8"), f"{CAP_TYPE}; charset=utf-8", found.sent,
                        state.gateway_settings.public_cache_seconds)


ROUTES = [
    Route("/cap/alerts.atom", alerts_atom),
    Route("/cap/alerts/{identifier}.xml", alert_xml),
]
