"""Pure rules of the gateway's hardening: login lockout, token bucket, role event table, media URLs."""

from __future__ import annotations

import pytest

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.events.filters import ROLE_EVENT_KINDS, StreamLimiter, allowed_kinds
from cityops_gateway.open311.catalog import ServiceCatalog
from cityops_gateway.open311.publish import is_public, is_web_url
from cityops_gateway.security import content_security_policy, session_cookie_header, tile_origin
from cityops_gateway.settings import city_gateway_file
from cityops_gateway.throttle import LoginThrottle, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lockout_starts_at_the_threshold_and_doubles() -> None:
    clock = Clock()
    throttle = LoginThrottle(user_threshold=5, address_threshold=100, base_seconds=30, max_seconds=100, clock=clock)
    for _ in range(4):
        throttle.failed("Lan", "10.0.0.1")
    assert throttle.retry_after("lan", "10.0.0.2") == 0
    throttle.failed("Lan", "10.0.0.1")
    assert throttle.retry_after("LAN", "10.0.0.2") == 30  # per username, whatever the address or case
    throttle.failed("lan", "10.0.0.1")
    assert throttle.retry_after("lan", "10.0.0.2") == 60
    throttle.failed("lan", "10.0.0.1")
    assert throttle.retry_after("lan", "10.0.0.2") == 100  # capped
    clock.now += 101
    assert throttle.retry_after("lan", "10.0.0.2") == 0
    throttle.succeeded("lan")
    throttle.failed("lan", "10.0.0.1")
    assert throttle.retry_after("lan", "10.0.0.2") == 0  # the count started again


def test_lockout_per_address_covers_every_username() -> None:
    throttle = LoginThrottle(user_threshold=100, address_threshold=3, base_seconds=10, clock=Clock())
    for i in range(3):
        throttle.failed(f"user{i}", "10.0.0.9")
    assert throttle.retry_after("someone-else", "10.0.0.9") == 10
    assert throttle.retry_after("someone-else", "10.0.0.8") == 0


def test_token_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    assert [limiter.take("a"), limiter.take("a")] == [0, 0]
    assert limiter.take("a") == 1
    assert limiter.take("b") == 0
    clock.now += 1.0
    assert limiter.take("a") == 0


def test_role_event_table() -> None:
    assert allowed_kinds(["citizen"]) == frozenset()
    assert allowed_kinds(["field_unit", "sensor_gateway", "integrator"]) == frozenset()
    assert allowed_kinds(["call_taker"]) == {"incident"}
    assert allowed_kinds(["call_taker", "dispatcher"]) == {"incident", "dispatch", "unit", "alert"}
    assert set(ROLE_EVENT_KINDS) == {"call_taker", "operator", "dispatcher", "supervisor", "admin"}


def test_stream_limiter_gives_slots_back() -> None:
    limiter = StreamLimiter(2)
    assert limiter.acquire("t") and limiter.acquire("t") and not limiter.acquire("t")
    limiter.release("t")
    assert limiter.acquire("t")


@pytest.mark.parametrize("url,ok", [("https://anh.example.vn/a.jpg", True), ("http://example.vn/x", True),
                                    ("javascript:alert(1)", False), ("JAVASCRIPT:alert(1)", False),
                                    ("data:image/png;base64,AA", False), ("//example.vn/a", False),
                                    ("https:///nohost", False), ("ftp://example.vn/a", False)])
def test_media_url_scheme(url: str, ok: bool) -> None:
    assert is_web_url(url) is ok


def _incident(category: int, subcategory: str, *sources: int) -> incidents_pb2.Incident:
    return incidents_pb2.Incident(category=category, subcategory=subcategory, sources=list(sources))


def test_only_citizen_requests_of_public_categories_are_published() -> None:
    catalog = ServiceCatalog.load(city_gateway_file("open311_services.yaml"))
    flood = incidents_pb2.CATEGORY_FLOOD
    assert is_public(_incident(flood, "ngap_duong", incidents_pb2.SOURCE_OPEN311), catalog)
    assert is_public(_incident(flood, "ngap_duong", incidents_pb2.SOURCE_HOTLINE_1022,
                               incidents_pb2.SOURCE_CITIZEN_APP), catalog)
    assert not is_public(_incident(flood, "ngap_duong", incidents_pb2.SOURCE_HOTLINE_1022), catalog)
    assert not is_public(_incident(flood, "ngap_duong", incidents_pb2.SOURCE_CAD_INTEGRATION), catalog)
    assert not is_public(_incident(flood, "ngap_duong", incidents_pb2.SOURCE_SENSOR), catalog)
    assert not is_public(_incident(incidents_pb2.CATEGORY_SECURITY, "mat_trat_tu_cong_cong",
                                   incidents_pb2.SOURCE_OPEN311), catalog)
    assert not is_public(_incident(incidents_pb2.CATEGORY_EMERGENCY_MEDICAL, "", incidents_pb2.SOURCE_OPEN311),
                         catalog)


def test_csp_and_cookie() -> None:
    csp = content_security_policy(tile_origin("https://{s}.tile.example.vn/{z}/{x}/{y}.png"))
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "https://*.tile.example.vn" in csp
    assert tile_origin("") == []
    cookie = session_cookie_header("abc", max_age=60, secure=True)
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
