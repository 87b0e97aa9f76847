"""Satisfaction ratings at the edge (đánh giá mức độ hài lòng).

- ``GET /ratings/{token}``: the small page a resolution SMS/e-mail links to (Vietnamese first,
  English second): 1-5 stars and a comment. No login: the signed one-time token is the credential.
- ``POST /ratings/{token}`` (form or JSON ``rating``, ``comment``): RateIncident with the token,
  under the gateway's own service token; incidents verifies the signature, the expiry and that the
  link is unused. Answers HTML to a browser form and JSON to a JSON client.
- ``POST /open311/v2/requests/{service_request_id}/rating.json`` (form or JSON ``rating``,
  ``comment``, and either ``token`` = the link token, or ``Authorization: Bearer <citizen JWT>`` of
  the reporter): the same for Open311 clients, in the GeoReport error format.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.clients import UpstreamError
from cityops_gateway.state import GatewayState, gateway_state
from cityops_platform import ratinglinks

log = logging.getLogger("cityops.gateway.ratings")
SUBJECT = "svc-gateway:ratings"
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LABELS = {1: ("Rất không hài lòng", "Very dissatisfied"), 2: ("Không hài lòng", "Dissatisfied"),
           3: ("Bình thường", "Neutral"), 4: ("Hài lòng", "Satisfied"), 5: ("Rất hài lòng", "Very satisfied")}
MAX_COMMENT = 1000
_CODES = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied", 404: "not_found",
          409: "failed_precondition", 503: "unavailable"}


class RatingError(Exception):
    def __init__(self, http_status: int, vi: str, en: str) -> None:
        super().__init__(f"{vi} ({en})")
        self.http_status = http_status
        self.vi = vi
        self.en = en


def _service_token(state: GatewayState) -> str:
    return state.service_tokens.token(SUBJECT, state.gateway_settings.open311_role)


async def _fields(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise RatingError(400, "Nội dung JSON không hợp lệ", "invalid JSON body") from None
        if not isinstance(body, dict):
            raise RatingError(400, "Nội dung phải là một đối tượng JSON", "body must be a JSON object")
        return body
    try:
        form: FormData = await request.form()
    except (AssertionError, ValueError):
        raise RatingError(400, "Biểu mẫu không hợp lệ", "invalid form body") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _rating_and_comment(fields: dict[str, Any]) -> tuple[int, str]:
    raw = fields.get("rating")
    try:
        rating = int(str(raw).strip())
    except (TypeError, ValueError):
        raise RatingError(400, "rating: chọn từ 1 đến 5 sao", "rating: choose 1 to 5") from None
    if not 1 <= rating <= 5:
        raise RatingError(400, "rating: chọn từ 1 đến 5 sao", "rating: choose 1 to 5")
    comment = fields.get("comment") or ""
    if not isinstance(comment, str):
        raise RatingError(400, "comment: phải là chuỗi", "comment must be a string")
    if len(comment) > MAX_COMMENT:
        raise RatingError(400, f"comment: tối đa {MAX_COMMENT} ký tự", f"comment: at most {MAX_COMMENT} characters")
    return rating, comment.strip()


def _from_upstream(exc: UpstreamError) -> RatingError:
    if exc.http_status == 409 or exc.grpc_code == "FAILED_PRECONDITION":
        return RatingError(409, "Không thể ghi nhận: " + exc.message, "cannot be recorded")
    if exc.http_status == 403:
        return RatingError(403, "Liên kết hoặc tài khoản không được phép đánh giá sự cố này",
                           "this link or account may not rate this incident")
    if exc.http_status == 404:
        return RatingError(404, "Không tìm thấy sự cố", "incident not found")
    if exc.http_status == 400:
        detail = "; ".join(f"{f}: {d}" for f, d in exc.fields) or exc.message
        return RatingError(400, detail, "invalid input")
    log.warning("rating upstream failure", extra={"error": str(exc)})
    return RatingError(503, "Dịch vụ tạm thời không khả dụng, vui lòng thử lại", "service temporarily unavailable")


async def _rate(state: GatewayState, request: incidents_pb2.RateIncidentRequest, token: str) -> incidents_pb2.Rating:
    try:
        rating: incidents_pb2.Rating = await state.clients.call(state.clients.incidents.RateIncident, request,
                                                                token=token)
    except UpstreamError as exc:
        raise _from_upstream(exc) from exc
    return rating


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:34rem;"
        "margin:2rem auto;padding:0 1rem;line-height:1.5}label{display:block;margin:.3rem 0}"
        "textarea{width:100%;min-height:5rem}button{font-size:1.1rem;padding:.5rem 1.5rem}"
        ".en{color:#555;font-size:.9em}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def _error_page(err: RatingError) -> HTMLResponse:
    return _page("Đánh giá không thành công", f"<h1>Đánh giá không thành công</h1><p>{html.escape(err.vi)}</p>"
                 f"<p class=\"en\">Rating not recorded: {html.escape(err.en)}</p>", err.http_status)


def _wants_json(request: Request) -> bool:
    return (request.headers.get("content-type", "").startswith("application/json")
            or "application/json" in request.headers.get("accept", ""))


async def rating_page(request: Request) -> Response:
    """The form a resolution message links to."""
    token = request.path_params["token"]
    state = gateway_state(request)
    try:
        link = ratinglinks.read(token)
    except ratinglinks.InvalidLink:
        return _error_page(RatingError(400, "Liên kết đánh giá không hợp lệ", "malformed rating link"))
    number = ""
    try:
        inc = await state.clients.call(state.clients.incidents.GetIncident,
                                       incidents_pb2.GetIncidentRequest(id=link.incident_id),
                                       token=_service_token(state))
        number = inc.number
    except UpstreamError as exc:  # the page still works: the rating call reports what is wrong
        log.info("rating page: incident not shown", extra={"error": str(exc)})
    choices = "".join(
        f"<label><input type=\"radio\" name=\"rating\" value=\"{n}\" required> {'★' * n} {vi} "
        f"<span class=\"en\">({en})</span></label>" for n, (vi, en) in sorted(_LABELS.items(), reverse=True)
    )
    about = f" {html.escape(number)}" if number else ""
    body = (
        f"<h1>Đánh giá kết quả xử lý phản ánh{about}</h1>"
        "<p class=\"en\">Rate how your report was handled</p>"
        f"<form method=\"post\" action=\"{html.escape(ratinglinks.PATH)}/{html.escape(token)}\">{choices}"
        "<label for=\"comment\">Góp ý (không bắt buộc) <span class=\"en\">Comment (optional)</span></label>"
        f"<textarea id=\"comment\" name=\"comment\" maxlength=\"{MAX_COMMENT}\"></textarea>"
        "<p><button type=\"submit\">Gửi đánh giá <span class=\"en\">Send</span></button></p></form>"
    )
    return _page("Đánh giá mức độ hài lòng", body)


async def submit_rating(request: Request) -> Response:
    """RateIncident with the link's token."""
    state = gateway_state(request)
    token = request.path_params["token"]
    as_json = _wants_json(request)
    try:
        rating, comment = _rating_and_comment(await _fields(request))
        done = await _rate(state, incidents_pb2.RateIncidentRequest(rating=rating, comment=comment, link_token=token),
                           _service_token(state))
    except RatingError as err:
        if as_json:
            return JSONResponse({"error": {"code": _CODES.get(err.http_status, "unavailable"),
                                           "message": f"{err.vi} ({err.en})", "fields": []}},
                                status_code=err.http_status)
        return _error_page(err)
    if as_json:
        return JSONResponse({"rating_id": done.id, "incident_number": done.incident_number, "rating": done.rating},
                            status_code=201)
    return _page("Cảm ơn bạn", f"<h1>Cảm ơn bạn đã đánh giá!</h1><p>Phản ánh {html.escape(done.incident_number)}: "
                 f"{'★' * done.rating} {_LABELS[done.rating][0]}.</p><p class=\"en\">Thank you for your rating.</p>",
                 201)


async def _incident_id(state: GatewayState, service_request_id: str) -> str:
    if _UUID_RE.match(service_request_id):
        return service_request_id
    if len(service_request_id) > 64:
        raise RatingError(400, "service_request_id quá dài", "service_request_id too long")
    try:
        inc = await state.clients.call(state.clients.incidents.GetIncident,
                                       incidents_pb2.GetIncidentRequest(number=service_request_id),
                                       token=_service_token(state))
    except UpstreamError as exc:
        raise _from_upstream(exc) from exc
    return str(inc.id)


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def open311_rating(request: Request) -> Response:
    """Open311 clients rate a resolved request with the citizen's link token or the reporter's JWT."""
    state = gateway_state(request)
    ident = request.path_params["service_request_id"]
    try:
        fields = await _fields(request)
        rating, comment = _rating_and_comment(fields)
        link_token = fields.get("token") or ""
        citizen = _bearer(request)
        if not isinstance(link_token, str) or (not link_token and not citizen):
            raise RatingError(401, "Cần token của liên kết đánh giá hoặc token đăng nhập của người phản ánh",
                              "a rating link token or the reporter's bearer token is required")
        incident_id = await _incident_id(state, ident)
        req = incidents_pb2.RateIncidentRequest(id=incident_id, rating=rating, comment=comment, link_token=link_token)
        done = await _rate(state, req, _service_token(state) if link_token else citizen)
    except RatingError as err:
        return JSONResponse([{"code": err.http_status, "description": f"{err.vi} ({err.en})"}],
                            status_code=err.http_status)
    return JSONResponse([{"service_request_id": done.incident_number or ident, "rating_id": done.id,
                          "rating": done.rating, "service_notice": "Cảm ơn bạn đã đánh giá (thank you for rating)"}],
                        status_code=201)


ROUTES = [
    Route(f"{ratinglinks.PATH}/{{token}}", rating_page, methods=["GET"]),
    Route(f"{ratinglinks.PATH}/{{token}}", submit_rating, methods=["POST"]),
    Route("/open311/v2/requests/{service_request_id}/rating.json", open311_rating, methods=["POST"]),
]
