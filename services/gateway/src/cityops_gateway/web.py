"""Small HTTP helpers shared by the console API and Open311: errors, tokens, enums, numbers."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from cityops_gateway.clients import UpstreamError
from cityops_gateway.security import SESSION_COOKIE
from cityops_platform import auth, metrics

audit = logging.getLogger("cityops.audit")


@dataclass
class ApiError(Exception):
    """An error of the console's JSON API: ``{"error": {code, message, fields}}``."""

    http_status: int
    code: str
    message: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_upstream(cls, exc: UpstreamError) -> ApiError:
        return cls(exc.http_status, exc.code, exc.message, exc.fields)

    def response(self) -> JSONResponse:
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": [{"field": f, "description": d} for f, d in self.fields],
            }
        }
        headers = {**({"WWW-Authenticate": "Bearer"} if self.http_status == 401 else {}), **self.headers}
        return JSONResponse(body, status_code=self.http_status, headers=headers)


def invalid(field_name: str, description: str) -> ApiError:
    return ApiError(400, "invalid_argument", f"{field_name}: {description}", [(field_name, description)])


def bearer_token(request: Request) -> str:
    """The request's token: the ``Authorization: Bearer`` header, else the console's HttpOnly session
    cookie (which the EventSource sends). Never a query parameter: URLs end up in logs."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie_token = request.cookies.get(SESSION_COOKIE, "").strip()
    if cookie_token:
        return cookie_token
    raise ApiError(401, "unauthenticated", "thiếu token đăng nhập (missing bearer token)")


def unauthenticated(exc: auth.AuthError) -> ApiError:
    """A 401 that tells the caller nothing about why: the reason goes to the audit log and metrics."""
    metrics.AUTH_DENIALS.labels("http", "UNAUTHENTICATED", exc.reason).inc()
    audit.warning("access denied", extra={"audit": "access_denied", "method": "http", "code": "UNAUTHENTICATED",
                                          "reason": str(exc), "reason_kind": exc.reason})
    return ApiError(401, "unauthenticated", "token không hợp lệ (invalid token)")


def parse_enum(enum: Any, prefix: str, raw: str, field_name: str) -> Any:
    """``"NEW"``, ``"new"`` or ``"STATUS_NEW"`` → the enum number; anything else is a 400 naming the field.

    ``enum`` is a generated protobuf enum (typed loosely: each has its own ``ValueType``)."""
    name = raw.strip().upper()
    if not name.startswith(prefix):
        name = f"{prefix}{name}"
    try:
        value = int(enum.Value(name))
    except ValueError:
        raise invalid(field_name, f"giá trị không hợp lệ (unknown value) {raw!r}") from None
    if value == 0:
        raise invalid(field_name, f"giá trị không hợp lệ (unspecified) {raw!r}")
    return value


def parse_enum_list(enum: Any, prefix: str, raw: str | None, field_name: str) -> list[Any]:
    if not raw:
        return []
    return [parse_enum(enum, prefix, part, field_name) for part in raw.split(",") if part.strip()]


def parse_int(raw: Any, field_name: str, *, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid(field_name, "phải là số nguyên (must be an integer)") from None
    if not low <= value <= high:
        raise invalid(field_name, f"phải trong khoảng {low}..{high} (out of range)")
    return value


MAX_VERSION = 2**62  # an incident's version never gets near it; bounds what a caller may send


def expected_version(body: Mapping[str, Any]) -> int:
    """The body's ``expected_version`` (optimistic concurrency; 0 when absent)."""
    return parse_int(body.get("expected_version"), "expected_version", default=0, low=0, high=MAX_VERSION)


def parse_float(raw: Any, field_name: str) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise invalid(field_name, "phải là số (must be a number)") from None
    if not math.isfinite(value):
        raise invalid(field_name, "phải là số hữu hạn (must be finite)")
    return value


async def json_body(request: Request) -> Mapping[str, Any]:
    """The JSON object body; anything else is a 400."""
    try:
        body = await request.json()
    except ValueError:
        raise invalid("body", "không phải JSON hợp lệ (invalid JSON)") from None
    if not isinstance(body, dict):
        raise invalid("body", "phải là một đối tượng JSON (must be a JSON object)")
    return body


def text_field(body: Mapping[str, Any], name: str, *, max_len: int, required: bool = False) -> str:
    raw = body.get(name)
    if raw is None:
        if required:
            raise invalid(name, "bắt buộc (required)")
        return ""
    if not isinstance(raw, str):
        raise invalid(name, "phải là chuỗi (must be a string)")
    value = raw.strip()
    if required and not value:
        raise invalid(name, "bắt buộc (required)")
    if len(value) > max_len:
        raise invalid(name, f"tối đa {max_len} ký tự (too long)")
    return value
