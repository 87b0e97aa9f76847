"""The gateway's HTTP hardening: security headers, request body limit, CSRF check, session cookie.

``SecurityMiddleware`` (pure ASGI, outermost) does, for every request:

- adds the security headers to every response (CSP with ``default-src 'self'`` and
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``,
  ``X-Frame-Options: DENY``, ``Strict-Transport-Security`` outside local);
- refuses a body larger than ``max_body_bytes`` with 413 *before* the app reads it (by its
  ``Content-Length``, and by counting the chunks of a body sent without one);
- refuses a state-changing request (POST/PUT/PATCH/DELETE) under ``/api/`` that carries the
  session cookie but no ``Authorization`` header unless it also carries the console's custom
  header ``X-CityOps-Console: 1`` and, when the browser sent one, an ``Origin`` of this host
  (403). The cookie is ``SameSite=Strict`` too; both together stop cross-site form posts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "cityops_session"
CSRF_HEADER = "x-cityops-console"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def content_security_policy(extra_img_sources: Iterable[str] = ()) -> str:
    """The console's CSP: everything from this origin only; map tiles may add image origins."""
    img = " ".join(["'self'", "data:", "blob:", *extra_img_sources])
    return (
        "default-src 'self'; "
        f"img-src {img}; "
        # Style attributes (colours set by the console's templates, Leaflet's positions) are allowed;
        # <style> elements and every script must come from this origin.
        "style-src 'self'; style-src-elem 'self'; style-src-attr 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def tile_origin(tile_url: str) -> list[str]:
    """The origin of a map tile URL template, for ``img-src`` (none when no tiles)."""
    parts = urlsplit(tile_url.replace("{s}", "a"))
    if parts.scheme in ("http", "https") and parts.hostname:
        host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
        return [f"{parts.scheme}://{host}"]
    return []


def _error(status: int, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message, "fields": []}}
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json")


class _BodyTooLarge(Exception):
    pass


class SecurityMiddleware:
    """Security headers, body size limit and CSRF check around the whole gateway."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, csp: str, hsts: bool) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if hsts:
            headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self._headers = headers
        self._names = {name for name, _ in headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self._names]
                message = {**message, "headers": kept + self._headers}
            await send(message)

        request = Request(scope)
        refusal = self._refuse(request)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted_receive, send_with_headers)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large()(scope, receive, send_with_headers)

    def _too_large(self) -> Response:
        return _error(413, "payload_too_large",
                      f"nội dung yêu cầu quá lớn, tối đa {self.max_body_bytes} byte "
                      f"(request body too large, at most {self.max_body_bytes} bytes)")

    def _refuse(self, request: Request) -> Response | None:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                if int(length) > self.max_body_bytes:
                    return self._too_large()
            except ValueError:
                return _error(400, "invalid_argument", "Content-Length không hợp lệ (invalid Content-Length)")
        cookie_write = request.method in _UNSAFE and request.url.path.startswith("/api/") and _cookie_only(request)
        # /api/login is not authenticated by the cookie (a stale one may ride along): Origin only.
        needs_header = request.url.path != "/api/login"
        if cookie_write and ((needs_header and request.headers.get(CSRF_HEADER) != "1")
                             or not _same_origin(request)):
            return _error(403, "permission_denied",
                          "yêu cầu từ trang khác bị chặn (cross-site request refused: CSRF check)")
        return None


def _cookie_only(request: Request) -> bool:
    return SESSION_COOKIE in request.cookies and not request.headers.get("authorization")


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # same-origin fetches may omit it; the custom header already proves a script of ours
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host and origin != "null"


def session_cookie_header(token: str, *, max_age: int, secure: bool) -> str:
    """``Set-Cookie`` value of the console session: HttpOnly, SameSite=Strict, Secure outside local."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[SESSION_COOKIE] = token
    morsel = cookie[SESSION_COOKIE]
    morsel["path"] = "/"
    morsel["max-age"] = str(max_age)
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


def clear_cookie_header(*, secure: bool) -> str:
    return session_cookie_header("", max_age=0, secure=secure)
