"""The OpenAPI 3 document of the gateway's HTTP API, written by hand to match the routes.

Tested: a schemathesis run against /openapi.json (tests/integration/gateway) checks that no
generated request produces a server error and that responses match the schemas below.
"""

from __future__ import annotations

from typing import Any

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops.sensors.v1 import sensors_pb2
from cityops_platform.city import current_city


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _names(enum: Any, prefix: str) -> list[str]:
    names: list[str] = list(enum.keys())
    return [n.removeprefix(prefix) for n in names if not n.endswith("_UNSPECIFIED")]


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


OPEN311_ERRORS = {"type": "array", "items": _ref("Open311Error")}
NULLABLE_STR = {"type": "string", "nullable": True}
LANG = _query("lang", f"{current_city().default_language} (mặc định / default) or another of the city's languages",
              {"type": "string", "enum": list(current_city().languages)})


def _open311_error(description: str) -> dict[str, Any]:
    return _json(OPEN311_ERRORS, description)


def _api_error(description: str) -> dict[str, Any]:
    return _json(_ref("ApiError"), description)


def _console_get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None,
                 not_found: bool = False) -> dict[str, Any]:
    responses = {"200": _json(schema, "OK"), "400": _api_error("invalid_argument"),
                 "401": _api_error("unauthenticated"), "403": _api_error("permission_denied"),
                 "503": _api_error("a service is unavailable"), "504": _api_error("deadline exceeded")}
    if not_found:
        responses["404"] = _api_error("not_found")
    return {"get": {"summary": summary, "tags": ["console"], "security": [{"bearer": []}],
                    "parameters": params or [], "responses": responses}}


def _console_post(summary: str, body: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "tags": ["console"], "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _json(schema, "OK"), "400": _api_error("invalid_argument"),
                          "401": _api_error("unauthenticated"), "403": _api_error("permission_denied"),
                          "404": _api_error("not_found"), "409": _api_error("failed_precondition"),
                          "503": _api_error("a service is unavailable"), "504": _api_error("deadline exceeded")}}


def _schemas() -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "object", "additionalProperties": True}
    return {
        "Open311Error": {"type": "object", "required": ["code", "description"],
                         "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}},
        "Service": {
            "type": "object",
            "required": ["service_code", "service_name", "metadata", "type"],
            "properties": {
                "service_code": {"type": "string"}, "service_name": {"type": "string"},
                "description": {"type": "string"}, "metadata": {"type": "boolean"},
                "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
                "keywords": {"type": "string"}, "group": {"type": "string"},
            },
        },
        "ServiceDefinition": {"type": "object", "required": ["service_code", "attributes"],
                              "properties": {"service_code": {"type": "string"},
                                             "attributes": {"type": "array", "items": obj}}},
        "ServiceRequestIn": {
            "type": "object",
            "required": ["api_key", "service_code", "lat", "long"],
            "properties": {
                "api_key": {"type": "string"}, "service_code": {"type": "string"},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "long": {"type": "number", "minimum": -180, "maximum": 180},
                "address_string": {"type": "string", "maxLength": 500},
                "description": {"type": "string", "maxLength": 4000},
                "email": {"type": "string"}, "first_name": {"type": "string", "maxLength": 64},
                "last_name": {"type": "string", "maxLength": 64}, "phone": {"type": "string", "maxLength": 32},
                "device_id": {"type": "string", "maxLength": 128}, "account_id": {"type": "string", "maxLength": 128},
                "media_url": {"type": "string", "maxLength": 1000},
                "idempotency_key": {
                    "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,80}$",
                    "description": "CityOps extension: a retry with the same key returns the same request"},
            },
        },
        "ServiceRequestCreated": {
            "type": "object", "required": ["service_request_id"],
            "properties": {"service_request_id": {"type": "string"}, "service_notice": NULLABLE_STR,
                           "account_id": NULLABLE_STR},
        },
        "ServiceRequest": {
            "type": "object",
            "required": ["service_request_id", "status", "lat", "long"],
            "properties": {
                "service_request_id": {"type": "string"},
                "status": {"type": "string", "enum": ["open", "closed"]},
                "status_notes": NULLABLE_STR, "service_name": NULLABLE_STR, "service_code": NULLABLE_STR,
                "description": NULLABLE_STR, "agency_responsible": NULLABLE_STR, "service_notice": NULLABLE_STR,
                "requested_datetime": {"type": "string", "format": "date-time", "nullable": True},
                "updated_datetime": {"type": "string", "format": "date-time", "nullable": True},
                "expected_datetime": {"type": "string", "format": "date-time", "nullable": True},
                "address": NULLABLE_STR, "address_id": NULLABLE_STR, "zipcode": NULLABLE_STR,
                "lat": {"type": "number"}, "long": {"type": "number"}, "media_url": NULLABLE_STR,
            },
        },
        "ApiError": {
            "type": "object", "required": ["error"],
            "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"},
                "fields": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "description": {"type": "string"}}}}}}},
        },
        "Login": {"type": "object", "required": ["username", "password"],
                  "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 128},
                                 "password": {"type": "string", "minLength": 1, "maxLength": 256}}},
        "LoginResult": {"type": "object", "required": ["token", "username", "roles", "expires_at"],
                        "properties": {"token": {"type": "string"}, "username": {"type": "string"},
                                       "display_name": {"type": "string"},
                                       "roles": {"type": "array", "items": {"type": "string"}},
                                       "expires_at": {"type": "integer"}}},
        "Incident": {**obj, "description": "cityops.incidents.v1.Incident as proto JSON (snake_case, enum names)",
                     "properties": {"id": {"type": "string"}, "number": {"type": "string"},
                                    "status": {"type": "string", "enum": list(incidents_pb2.Status.keys())},
                                    "priority": {"type": "string", "enum": list(incidents_pb2.Priority.keys())},
                                    "category": {"type": "string", "enum": list(incidents_pb2.Category.keys())},
                                    "version": {"type": "string", "description": "int64 as a string"}}},
        "Proto": {**obj, "description": "a CityOps protobuf message as proto JSON (snake_case, enum names)"},
    }


def _aftercare_paths(incident_id: dict[str, Any]) -> dict[str, Any]:
    """Reports, split, reopen, satisfaction (console/aftercare.py) and ratings (ratings.py)."""
    versioned = {"type": "integer", "minimum": 1, "description": "required: the Incident.version seen"}
    reason = {"type": "string", "minLength": 1, "maxLength": 1000}
    html = {"text/html": {"schema": {"type": "string"}}}
    rating_props: dict[str, Any] = {"rating": {"type": "integer", "minimum": 1, "maximum": 5},
                                    "comment": {"type": "string", "maxLength": 1000}}
    rating_body: dict[str, Any] = {"type": "object", "required": ["rating"], "properties": rating_props}
    page_errors = {str(c): {"description": d, "content": {**html, "application/json": {"schema": _ref("ApiError")}}}
                   for c, d in ((400, "invalid"), (403, "forged link"), (404, "not found"),
                                (409, "already rated, expired or not resolved"), (503, "unavailable"))}
    return {
        "/api/incidents/{incident_id}/reports": _console_get("Phản ánh đã gộp (fused reports)", _ref("Proto"),
                                                             [incident_id], True),
        "/api/incidents/{incident_id}/split": {"parameters": [incident_id], "post": _console_post(
            "Tách phản ánh thành sự cố riêng (split a report out)",
            {"type": "object", "required": ["report_id", "reason", "expected_version"], "properties": {
                "report_id": {"type": "string", "minLength": 1, "maxLength": 64}, "reason": reason,
                "expected_version": versioned}}, _ref("Proto"))},
        "/api/incidents/{incident_id}/reopen": {"parameters": [incident_id], "post": _console_post(
            "Mở lại: chưa xử lý xong (reopen)",
            {"type": "object", "required": ["reason", "expected_version"], "properties": {
                "reason": reason, "expected_version": versioned}}, _ref("Incident"))},
        "/api/satisfaction": _console_get("Mức độ hài lòng theo cơ quan và loại (satisfaction)", _ref("Proto"), [
            _query("since", "ISO 8601, default 30 days ago", {"type": "string", "format": "date-time"}),
            _query("until", "ISO 8601, default now", {"type": "string", "format": "date-time"})]),
        "/ratings/{token}": {
            "parameters": [_path("token")],
            "get": {"summary": "Trang đánh giá từ liên kết SMS/e-mail (rating page)", "tags": ["ratings"],
                    "responses": {"200": {"description": "the form", "content": html},
                                  "400": {"description": "malformed link", "content": html}}},
            "post": {"summary": "Gửi đánh giá bằng liên kết ký (rate with the signed link)", "tags": ["ratings"],
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": rating_body},
                         "application/x-www-form-urlencoded": {"schema": rating_body}}},
                     "responses": {"201": {"description": "recorded", "content": {**html, "application/json": {
                         "schema": {"type": "object"}}}}, **page_errors}},
        },
        "/open311/v2/requests/{service_request_id}/rating.json": {"post": {
            "summary": "Đánh giá một phản ánh đã giải quyết (rate a resolved request)", "tags": ["open311"],
            "parameters": [_path("service_request_id")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                **rating_body, "properties": {**rating_props, "token": {"type": "string"}}}}}},
            "responses": {"201": _json({"type": "array", "items": {"type": "object"}}, "recorded"),
                          **{str(c): _open311_error(d) for c, d in (
                              (400, "invalid"), (401, "no link token and no reporter token"),
                              (403, "forged link or not the reporter"), (404, "not found"),
                              (409, "already rated, expired or not resolved"), (503, "unavailable"))}}}},
    }


def _intake_paths() -> dict[str, Any]:
    """The call-taker's intake (console/intake.py)."""
    num = {"type": "number"}
    return {
        "/api/gazetteer": _console_get("Gợi ý địa chỉ (address suggestions)", {"type": "object"}, [
            _query("q", "address text, diacritics optional")]),
        "/api/incidents/nearby": _console_get("Sự cố đang mở gần cuộc gọi, xếp hạng (ranked nearby open incidents)",
                                              {"type": "object"}, [
            {**_query("lat", "latitude", num), "required": True}, {**_query("lon", "longitude", num), "required": True},
            _query("radius_m", "1..5000, default 1000", num), _query("category", "the call's category"),
            _query("text", "the call's description")]),
        "/api/callers/lookup": {"post": _console_post(
            "Phản ánh trước đây của người gọi (caller's earlier reports, by phone hash)",
            {"type": "object", "required": ["phone"], "properties": {
                "phone": {"type": "string", "minLength": 9, "maxLength": 32}}}, {"type": "object"})},
    }


def _alert_paths() -> dict[str, Any]:
    """CAP alerts from the console (console/alerts.py)."""
    alert_id = _path("alert_id")
    text = {"type": "string", "maxLength": 4000}
    form: dict[str, Any] = {"type": "object", "required": ["headline", "area_desc"], "properties": {
        "headline": {"type": "string", "minLength": 1, "maxLength": 160},
        "headline_en": {"type": "string", "maxLength": 160},
        "description": text, "description_en": text, "instruction": text, "instruction_en": text,
        "event": {"type": "string", "maxLength": 200},
        "area_desc": {"type": "string", "minLength": 1, "maxLength": 500},
        "radius_km": {"type": "number", "minimum": 0.1, "maximum": 100},
        "category": {"type": "string"}, "urgency": {"type": "string"}, "severity": {"type": "string"},
        "certainty": {"type": "string"}, "incident_id": {"type": "string", "maxLength": 64}}}
    return {
        "/api/alerts": {**_console_get("Cảnh báo CAP (CAP alerts)", {"type": "object"}, [
            _query("state", "comma-separated: DRAFT, PUBLISHED, CANCELLED, SUPERSEDED")]),
            "post": _console_post("Soạn cảnh báo CAP (draft a CAP alert)", form, {"type": "object"})},
        "/api/alerts/{alert_id}/approve": {"parameters": [alert_id], "post": _console_post(
            "Duyệt và phát hành (approve: a second supervisor)", {"type": "object"}, {"type": "object"})},
        "/api/alerts/{alert_id}/update": {"parameters": [alert_id], "post": _console_post(
            "Cập nhật (update)", {**form, "properties": {**form["properties"], "note": {"type": "string"}}},
            {"type": "object"})},
        "/api/alerts/{alert_id}/cancel": {"parameters": [alert_id], "post": _console_post(
            "Hủy (cancel)", {"type": "object", "required": ["reason"], "properties": {
                "reason": {"type": "string", "minLength": 1, "maxLength": 1000}}}, {"type": "object"})},
    }


def _report_post() -> dict[str, Any]:
    return _console_post(
        "Tiếp nhận cuộc gọi 1022 (file a hotline call; attach_to_incident_id merges it into that incident)",
        {"type": "object", "required": ["category", "location", "idempotency_key"], "properties": {
            "category": {"type": "string"}, "subcategory": {"type": "string", "maxLength": 64},
            "description": {"type": "string", "maxLength": 4000},
            "location": {"type": "object", "required": ["lat", "lon"], "properties": {
                "lat": {"type": "number"}, "lon": {"type": "number"}, "address": {"type": "string", "maxLength": 300}}},
            "caller_phone": {"type": "string", "maxLength": 32}, "caller_name": {"type": "string", "maxLength": 200},
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 128},
            "attach_to_incident_id": {"type": "string", "maxLength": 64}}},
        {"type": "object"})


def build_openapi() -> dict[str, Any]:
    statuses = _names(incidents_pb2.Status, "STATUS_")
    incident_id = _path("incident_id")

    def list_of(key: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {
            key: {"type": "array", "items": item}, "next_page_token": {"type": "string"}}}

    incident_params = [
        _query("status", f"comma-separated: {', '.join(statuses)}"),
        _query("category", f"comma-separated: {', '.join(_names(incidents_pb2.Category, 'CATEGORY_'))}"),
        _query("priority", "comma-separated: P1, P2, P3, P4"),
        _query("agency", f"comma-separated: {', '.join(_names(common_pb2.Agency, 'AGENCY_'))}"),
        _query("ward", "comma-separated ward/commune codes (GET /api/admin-units)"),
        _query("text", "search ignoring diacritics"),
        _query("page_size", "1..500", {"type": "integer", "minimum": 1, "maximum": 500}),
        _query("page_token", "from a previous page"),
    ]
    paths: dict[str, Any] = {
        "/livez": {"get": {"summary": "Liveness: the process answers", "tags": ["ops"], "responses": {
            "200": _json({"type": "object"}, "alive")}}},
        "/readyz": {"get": {"summary": "Readiness: upstream gRPC apis SERVING, event hub following Kafka",
                            "tags": ["ops"], "responses": {
            "200": _json({"type": "object"}, "serving"), "503": _json({"type": "object"}, "not ready")}}},
        "/healthz": {"get": {"summary": "Alive, with the event hub's state (local tools; probes use /livez, /readyz)",
                             "tags": ["ops"], "responses": {"200": _json({"type": "object"}, "alive")}}},
        "/open311/v2/services.json": {"get": {
            "summary": "Danh mục dịch vụ (list services)", "tags": ["open311"], "parameters": [LANG],
            "responses": {"200": _json({"type": "array", "items": _ref("Service")}, "services")}}},
        "/open311/v2/services/{service_code}.json": {"get": {
            "summary": "Định nghĩa dịch vụ (service definition)", "tags": ["open311"],
            "parameters": [_path("service_code")],
            "responses": {"200": _json(_ref("ServiceDefinition"), "definition"),
                          "404": _open311_error("unknown service_code")}}},
        "/open311/v2/requests.json": {
            "get": {
                "summary": "Tra cứu phản ánh (query service requests)", "tags": ["open311"],
                "parameters": [
                    _query("service_request_id", "comma-separated ids; other filters are ignored when set"),
                    _query("service_code", "comma-separated service codes"),
                    _query("start_date", "ISO 8601; default: 90 days ago", {"type": "string", "format": "date-time"}),
                    _query("end_date", "ISO 8601", {"type": "string", "format": "date-time"}),
                    _query("status", "open, closed or both (comma-separated)"), LANG,
                ],
                "responses": {"200": _json({"type": "array", "items": _ref("ServiceRequest")}, "at most 1000"),
                              "400": _open311_error("bad filter"),
                              "503": _open311_error("incidents service unavailable"),
                              "504": _open311_error("incidents service too slow")},
            },
            "post": {
                "summary": "Gửi phản ánh (create a service request)", "tags": ["open311"],
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,80}$"}}],
                "requestBody": {"required": True, "content": {
                    "application/x-www-form-urlencoded": {"schema": _ref("ServiceRequestIn")},
                    "application/json": {"schema": _ref("ServiceRequestIn")}}},
                "responses": {"201": _json({"type": "array", "items": _ref("ServiceRequestCreated")}, "created"),
                              "400": _open311_error("invalid request (service_code, lat/long, ...)"),
                              "403": _open311_error("api_key missing or invalid"),
                              "503": _open311_error("incidents service unavailable"),
                              "504": _open311_error("incidents service too slow")},
            },
        },
        "/open311/v2/requests/{service_request_id}.json": {"get": {
            "summary": "Một phản ánh (one service request)", "tags": ["open311"],
            "parameters": [_path("service_request_id"), LANG],
            "responses": {"200": _json({"type": "array", "items": _ref("ServiceRequest")}, "one request"),
                          "400": _open311_error("bad id"), "404": _open311_error("not found"),
                          "503": _open311_error("incidents service unavailable"),
                          "504": _open311_error("incidents service too slow")}}},
        "/api/login": {"post": {
            "summary": "Đăng nhập (operator login) → bearer JWT", "tags": ["console"],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Login")}}},
            "responses": {"200": _json(_ref("LoginResult"), "signed in"), "400": _api_error("invalid body"),
                          "401": _api_error("wrong username or password"),
                          "403": _api_error("cross-site request (Origin)"),
                          "429": _api_error("too many failed logins (Retry-After)")}}},
        "/api/logout": {"post": {
            "summary": "Đăng xuất (clear the session cookie)", "tags": ["console"],
            "responses": {"204": {"description": "cookie cleared"},
                          "403": _api_error("cookie without the X-CityOps-Console header (CSRF)")}}},
        "/api/config": {"get": {"summary": "Console configuration (map tiles)", "tags": ["console"],
                                "responses": {"200": _json({"type": "object"}, "config")}}},
        "/api/city": {"get": {"summary": "The city's console profile (title, map, languages, layers, codes)",
                              "tags": ["console"], "responses": {"200": _json({"type": "object"}, "profile")}}},
        "/api/admin-units": {"get": {"summary": "The city's wards and communes (code, names, kind, centroid)",
                                     "tags": ["console"], "responses": {"200": _json({"type": "object"}, "units")}}},
        "/console/i18n/{lang}.json": {"get": {
            "summary": "The console's strings of one language (shipped file and the city's additions)",
            "tags": ["console"],
            "parameters": [{"name": "lang", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object"}, "key → text"), "404": _api_error("no strings")}}},
        "/city/map/{layer_id}": {"get": {
            "summary": "One of the city's map layers (GeoJSON)", "tags": ["console"],
            "parameters": [{"name": "layer_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "GeoJSON", "content": {"application/geo+json": {
                "schema": {"type": "object"}}}}, "404": _api_error("no such layer")}}},
        "/api/me": _console_get("The signed-in principal", {"type": "object"}),
        "/api/events": {"get": {
            "summary": "Server-Sent Events: incident, dispatch, unit, alert (+ hello, resync)", "tags": ["console"],
            "security": [{"bearer": []}],
            "description": "Bearer header or the console's session cookie (never a query parameter); events "
                           "filtered by role (docs/console.md).",
            "responses": {"200": {"description": "event stream",
                                  "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                          "401": _api_error("unauthenticated"),
                          "403": _api_error("this role has no operations stream"),
                          "429": _api_error("too many open streams for this token")}}},
        "/api/incidents": {**_console_get("Incidents", list_of("incidents", _ref("Incident")), incident_params),
                           "post": _report_post()},
        **_intake_paths(),
        **_alert_paths(),
        "/api/incidents/{incident_id}": _console_get("One incident", _ref("Incident"), [incident_id], True),
        "/api/incidents/{incident_id}/transition": {"parameters": [incident_id], "post": _console_post(
            "Chuyển trạng thái (transition)",
            {"type": "object", "required": ["to_status"], "properties": {
                "to_status": {"type": "string", "enum": statuses}, "reason": {"type": "string", "maxLength": 1000},
                "expected_version": {"type": "integer", "minimum": 1, "description": "required: the version seen"},
                "duplicate_of": {"type": "string"}}},
            _ref("Incident"))},
        "/api/incidents/{incident_id}/notes": {"parameters": [incident_id], "post": _console_post(
            "Thêm ghi chú (add note)",
            {"type": "object", "required": ["text"], "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 4000}}},
            _ref("Incident"))},
        "/api/incidents/{incident_id}/timeline": _console_get("Audit timeline", _ref("Proto"), [incident_id], True),
        "/api/incidents/{incident_id}/recommendations": _console_get(
            "Recommended units", _ref("Proto"),
            [incident_id, _query("limit", "1..50", {"type": "integer", "minimum": 1, "maximum": 50})], True),
        # The dispatcher's screen (console/dispatch.py): dispatcher, supervisor and admin only.
        "/api/incidents/{incident_id}/dispatch-plan": _console_get(
            "Recommended units and the run card with what is sent and missing (dispatchers)", {"type": "object"},
            [incident_id, _query("limit", "1..50", {"type": "integer", "minimum": 1, "maximum": 50})], True),
        "/api/incidents/{incident_id}/dispatch": {"parameters": [incident_id], "post": _console_post(
            "Điều động: nhận đề xuất hoặc chọn đơn vị khác kèm lý do (accept or override, dispatchers)",
            {"type": "object", "required": ["unit_id"], "properties": {
                "unit_id": {"type": "string", "minLength": 1, "maxLength": 64},
                "recommended_unit_id": {"type": "string", "maxLength": 64},
                "override_reason": {"type": "string", "maxLength": 1000,
                                    "description": "required when unit_id is not recommended_unit_id"},
                "capability": {"type": "string", "maxLength": 64}}},
            _ref("Proto"))},
        "/api/incidents/{incident_id}/assignments": {
            **_console_get("Assignments of an incident", _ref("Proto"), [incident_id], True),
            "post": {**_console_post(
                "Điều động đơn vị (assign a unit)",
                {"type": "object", "required": ["unit_id"], "properties": {
                    "unit_id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "reason": {"type": "string", "maxLength": 1000},
                    "capability": {"type": "string", "maxLength": 64}}},
                _ref("Proto")), "parameters": [incident_id]},
        },
        "/api/units": _console_get("Units", list_of("units", _ref("Proto")), [
            _query("agency", "comma-separated agencies"),
            _query("status", f"comma-separated: {', '.join(_names(dispatch_pb2.UnitStatus, 'UNIT_STATUS_'))}"),
            _query("page_size", "1..1000", {"type": "integer", "minimum": 1, "maximum": 1000})]),
        "/api/sensors": _console_get("Sensors", list_of("sensors", _ref("Proto")), [
            _query("status", f"comma-separated: {', '.join(_names(sensors_pb2.SensorStatus, 'SENSOR_STATUS_'))}"),
            _query("kind", f"comma-separated: {', '.join(_names(sensors_pb2.SensorKind, 'SENSOR_KIND_'))}"),
            _query("page_size", "1..1000", {"type": "integer", "minimum": 1, "maximum": 1000})]),
        "/api/sensors/alerts": _console_get("Sensor alerts", list_of("alerts", _ref("Proto")), [
            _query("active_only", "true (default) or false", {"type": "string", "enum": ["true", "false"]}),
            _query("page_size", "1..1000", {"type": "integer", "minimum": 1, "maximum": 1000})]),
        "/api/kpis": _console_get("KPI figures for the charts", {"type": "object"}),
        **_aftercare_paths(incident_id),
    }
    for path, item in paths.items():  # anonymous Open311 reads are rate-limited per client address
        if path.startswith("/open311/") and "get" in item:
            item["get"]["responses"].setdefault("429", _open311_error("too many anonymous reads (Retry-After)"))
    return {
        "openapi": "3.0.3",
        "info": {"title": "CityOps gateway", "version": "1.0.0",
                 "description": "Bảng điều hành IOC và Open311 GeoReport v2 (IOC console API and Open311)."},
        "paths": paths,
        "components": {"schemas": _schemas(),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }
