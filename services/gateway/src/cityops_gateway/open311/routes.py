"""Open311 GeoReport v2 under /open311/v2, in XML (the spec's required format) and JSON.

Every resource answers at ``<name>.xml`` and ``<name>.json``; so does every error
(``<errors><error><code/><description/></error></errors>`` or ``[{"code", "description"}]``,
the HTTP status as ``code``). GET services and requests need no key; POST requests needs an
``api_key`` from the configured clients. ``jurisdiction_id`` is checked when the city sets one.
The discovery document is at /open311/discovery.{xml,json} (and under /open311/v2/).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.clients import UpstreamError
from cityops_gateway.open311.attributes import answers_from_fields
from cityops_gateway.open311.catalog import incident_category
from cityops_gateway.open311.endpoint import Endpoint
from cityops_gateway.open311.formats import FORMATS, error_response, format_of, render
from cityops_gateway.open311.mapping import (
    Open311Error,
    parse_datetime,
    parse_post,
    report_request,
    request_id,
    to_service_request,
)
from cityops_gateway.open311.publish import is_public
from cityops_gateway.state import GatewayState, gateway_state
from cityops_gateway.throttle import client_address
from cityops_platform.city import current_city

log = logging.getLogger("cityops.gateway.open311")
PREFIX = "/open311/v2"
MAX_RESULTS = 1000
MAX_SPAN_DAYS = 90
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

Handler = Callable[[Request], Awaitable[Response]]


def open311_errors(handler: Handler) -> Handler:
    """Turn domain and upstream failures into the Open311 error format."""

    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        fmt = format_of(request.url.path)
        wait = _anonymous_read_wait(request)
        if wait:
            error = Open311Error(429, f"quá nhiều yêu cầu, thử lại sau {wait} giây (too many requests, "
                                      f"retry in {wait} s)")
            response = error_response(fmt, error.body(), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            return await handler(request)
        except Open311Error as exc:
            return error_response(fmt, exc.body(), exc.http_status)
        except UpstreamError as exc:
            if exc.http_status >= 500 or exc.http_status in (401, 403):
                # Our own service token was refused or a service is down: not the client's fault.
                log.warning("open311 upstream failure", extra={"error": str(exc)})
                status = 503 if exc.http_status != 504 else 504
                error = Open311Error(status, "dịch vụ tạm thời không khả dụng (service temporarily unavailable)")
            else:
                detail = "; ".join(f"{f}: {d}" for f, d in exc.fields) or exc.message
                error = Open311Error(exc.http_status if exc.http_status in (400, 404) else 400, detail)
            return error_response(fmt, error.body(), error.http_status)

    return wrapped


def _anonymous_read_wait(request: Request) -> int:
    """Seconds an anonymous reader (a GET without a known api_key) must wait; 0 = go on."""
    state = gateway_state(request)
    if request.method not in ("GET", "HEAD") or state.open311_reads is None:
        return 0
    if request.query_params.get("api_key", "") in state.api_keys:
        return 0
    return state.open311_reads.take(client_address(request.scope.get("client")))


def _lang(request: Request) -> str:
    """``?lang=`` or the first Accept-Language tag, when it is one of the city's languages; else
    the city's default language."""
    languages = current_city().languages
    raw = request.query_params.get("lang") or request.headers.get("accept-language", "")
    lang = raw.split(",", 1)[0].split(";", 1)[0].strip().lower().split("-", 1)[0]
    return lang if lang in languages else languages[0]


def _service_token(state: GatewayState, client: str = "public") -> str:
    return state.service_tokens.token(f"svc-gateway:open311:{client}", state.gateway_settings.open311_role)


def _fmt(request: Request) -> str:
    return format_of(request.url.path)


def _endpoint(state: GatewayState) -> Endpoint:
    if state.endpoint is None:
        raise RuntimeError("the Open311 endpoint data is not loaded")
    return state.endpoint


@open311_errors
async def list_services(request: Request) -> Response:
    state = gateway_state(request)
    _endpoint(state).check_jurisdiction(request.query_params)
    return render(_fmt(request), "services", [s.to_json(_lang(request)) for s in state.catalog.services])


@open311_errors
async def service_definition(request: Request) -> Response:
    state = gateway_state(request)
    _endpoint(state).check_jurisdiction(request.query_params)
    code = request.path_params["service_code"]
    service = state.catalog.get(code)
    if service is None:
        raise Open311Error(404, f"service_code không tồn tại (service_code not found): {code}")
    return render(_fmt(request), "service_definition", service.definition(_lang(request)))


def _base_url(state: GatewayState, request: Request) -> str:
    return (state.gateway_settings.public_base_url or str(request.base_url)).rstrip("/")


@open311_errors
async def discovery(request: Request) -> Response:
    state = gateway_state(request)
    body = _endpoint(state).discovery(f"{_base_url(state, request)}{PREFIX}")
    return render(_fmt(request), "discovery", body)


async def _posted_fields(request: Request) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """The posted fields (first value of each) and every (name, value) pair, for attributes."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise Open311Error(400, "nội dung JSON không hợp lệ (invalid JSON body)") from None
        if not isinstance(body, dict):
            raise Open311Error(400, "nội dung phải là một đối tượng JSON (body must be a JSON object)")
        return body, list(body.items())
    try:
        form: FormData = await request.form()
    except (AssertionError, ValueError):
        raise Open311Error(400, "nội dung biểu mẫu không hợp lệ (invalid form body)") from None
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    fields: dict[str, Any] = {}
    for k, v in items:
        fields.setdefault(k, v)
    return fields, items


@open311_errors
async def post_request(request: Request) -> Response:
    state = gateway_state(request)
    fields, items = await _posted_fields(request)
    _endpoint(state).check_jurisdiction({"jurisdiction_id": fields.get("jurisdiction_id")
                                         or request.query_params.get("jurisdiction_id")})
    api_key = fields.get("api_key") or request.query_params.get("api_key")
    if not api_key or not isinstance(api_key, str):
        raise Open311Error(403, "api_key bắt buộc (api_key is required)")
    client = state.api_keys.get(api_key)
    if client is None:
        raise Open311Error(403, "api_key không hợp lệ (invalid api_key)")
    posted = parse_post(
        fields, state.catalog, gazetteer=state.gazetteer, answers=answers_from_fields(items),
        idempotency_header=request.headers.get("idempotency-key", ""), timezone=state.settings.timezone,
        unlocated_ok=state.gateway_settings.open311_unlocated == "accept",
    )
    # Scoped by client, so two apps can never collide on each other's keys.
    key = f"open311:{client}:{posted.client_key or uuid.uuid4().hex}"
    response = await state.clients.call(
        state.clients.incidents.ReportIncident,
        report_request(posted, client=client, idempotency_key=key),
        token=_service_token(state, client),
    )
    notice = (
        "Phản ánh đã được gộp với một sự cố đang xử lý gần đó (merged with a nearby open incident)"
        if response.merged
        else "Đã tiếp nhận phản ánh (request received)"
    )
    if posted.notice:
        notice = f"{notice}. {posted.notice}"
    body = [{"service_request_id": request_id(response.incident), "service_notice": notice, "account_id": None}]
    return render(_fmt(request), "service_requests", body, status_code=201)


def _timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    try:
        ts.FromDatetime(value.astimezone(UTC))
    except (ValueError, OverflowError):
        raise Open311Error(400, "ngày giờ ngoài phạm vi (date out of range)") from None
    return ts


@open311_errors
async def list_requests(request: Request) -> Response:
    state = gateway_state(request)
    q = request.query_params
    _endpoint(state).check_jurisdiction(q)
    lang, tz, fmt = _lang(request), state.settings.timezone, _fmt(request)
    ids = [i.strip() for i in q.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        found = [await _get_incident(state, i) for i in ids[:50]]
        body = [to_service_request(i, state.catalog, lang=lang, timezone=tz) for i in found if i]
        return render(fmt, "service_requests", body)

    codes = [c.strip() for c in q.get("service_code", "").split(",") if c.strip()]
    services = []
    for code in codes:
        service = state.catalog.get(code)
        if service is None:
            raise Open311Error(400, f"service_code không tồn tại (service_code not found): {code}")
        services.append(service)
    statuses: list[Any] = []
    for status in (s.strip().lower() for s in q.get("status", "").split(",") if s.strip()):
        if status == "open":
            statuses += [incidents_pb2.STATUS_NEW, incidents_pb2.STATUS_ACKNOWLEDGED,
                         incidents_pb2.STATUS_DISPATCHED, incidents_pb2.STATUS_ON_SCENE]
        elif status == "closed":
            statuses += [incidents_pb2.STATUS_RESOLVED, incidents_pb2.STATUS_CLOSED,
                         incidents_pb2.STATUS_CANCELLED, incidents_pb2.STATUS_DUPLICATE]
        else:
            raise Open311Error(400, f"status phải là open hoặc closed (status must be open or closed): {status}")
    end = parse_datetime(q["end_date"], "end_date", timezone=tz) if q.get("end_date") else None
    start = parse_datetime(q["start_date"], "start_date", timezone=tz) if q.get("start_date") else None
    if start is None:  # the GeoReport default window: the 90 days up to end_date (or now)
        start = (end or datetime.now(UTC)) - timedelta(days=MAX_SPAN_DAYS)
    if end is not None and start > end:
        raise Open311Error(400, "start_date phải trước end_date (start_date must precede end_date)")
    if end is not None and end - start > timedelta(days=MAX_SPAN_DAYS):
        raise Open311Error(400, f"start_date..end_date tối đa {MAX_SPAN_DAYS} ngày (may not span more than "
                                f"{MAX_SPAN_DAYS} days)")

    req = incidents_pb2.ListIncidentsRequest(
        statuses=statuses,
        category_codes=sorted({s.category for s in services}) if services else state.catalog.categories,
        page_size=500,
    )
    if start is not None:
        req.created_after.CopyFrom(_timestamp(start))
    if end is not None:
        req.created_before.CopyFrom(_timestamp(end))
    wanted = {(s.category, s.subcategory) for s in services}
    out: list[dict[str, Any]] = []
    token = _service_token(state)
    while len(out) < MAX_RESULTS:
        resp = await state.clients.call(state.clients.incidents.ListIncidents, req, token=token)
        for incident in resp.incidents:
            if not is_public(incident, state.catalog):
                continue
            mapped = state.catalog.for_incident(incident_category(incident), incident.subcategory)
            if wanted and (mapped is None or (mapped.category, mapped.subcategory) not in wanted):
                continue
            out.append(to_service_request(incident, state.catalog, lang=lang, timezone=tz))
        if not resp.next_page_token:
            break
        req.page_token = resp.next_page_token
    return render(fmt, "service_requests", out[:MAX_RESULTS])


async def _get_incident(state: GatewayState, ident: str) -> incidents_pb2.Incident | None:
    if len(ident) > 64:
        raise Open311Error(400, "service_request_id quá dài (too long)")
    req = incidents_pb2.GetIncidentRequest(id=ident) if _UUID_RE.match(ident) else incidents_pb2.GetIncidentRequest(
        number=ident
    )
    try:
        incident: incidents_pb2.Incident = await state.clients.call(
            state.clients.incidents.GetIncident, req, token=_service_token(state)
        )
    except UpstreamError as exc:
        if exc.http_status in (400, 404):
            return None
        raise
    if not is_public(incident, state.catalog):
        return None  # only citizen-facing requests of public categories are published (open311.publish)
    return incident


@open311_errors
async def get_request(request: Request) -> Response:
    state = gateway_state(request)
    _endpoint(state).check_jurisdiction(request.query_params)
    ident = request.path_params["service_request_id"]
    incident = await _get_incident(state, ident)
    if incident is None:
        raise Open311Error(404, f"service_request_id không tồn tại (not found): {ident}")
    lang, tz = _lang(request), state.settings.timezone
    return render(_fmt(request), "service_requests", [to_service_request(incident, state.catalog, lang=lang,
                                                                          timezone=tz)])


_KNOWN = re.compile(r"^(discovery|services|requests)\.(json|xml)$|^(services|requests)/[^/]+\.(json|xml)$")


@open311_errors
async def not_found(request: Request) -> Response:
    """Anything else under /open311: the spec's error format instead of a bare 404 page."""
    rest = request.path_params.get("rest", "")
    if _KNOWN.match(rest.removeprefix("v2/")):
        raise Open311Error(405, f"phương thức không được hỗ trợ (method not allowed): {request.method}")
    raise Open311Error(404, f"không có tài nguyên này (no such resource): /open311/{rest}")


ROUTES = [
    route
    for fmt in FORMATS
    for route in (
        Route(f"/open311/discovery.{fmt}", discovery),
        Route(f"{PREFIX}/discovery.{fmt}", discovery),
        Route(f"{PREFIX}/services.{fmt}", list_services),
        Route(f"{PREFIX}/services/{{service_code}}.{fmt}", service_definition),
        Route(f"{PREFIX}/requests.{fmt}", list_requests, methods=["GET"]),
        Route(f"{PREFIX}/requests.{fmt}", post_request, methods=["POST"]),
        Route(f"{PREFIX}/requests/{{service_request_id}}.{fmt}", get_request),
    )
] + [Route("/open311/{rest:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
