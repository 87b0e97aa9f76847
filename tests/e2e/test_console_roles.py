"""Every role's screen in real Chromium: wall mode (?wall=1, 1920×1080) and laptop (1366×768).

For each role and layout: a screenshot (into CITYOPS_SCREENSHOTS_DIR, which `make screenshots`
points at docs/screenshots; test-artifacts/e2e otherwise) and axe-core (vendored from npm) with
0 serious or critical violations, so every control has an accessible name. The wall must be
readable at 4 m: body text at least 24 px, status written as text and shape as well as colour,
clustered markers, and an overflow count when the queue holds more than the screen shows.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.testing import bearer

WALL = {"width": 1920, "height": 1080}
LAPTOP = {"width": 1366, "height": 768}
ROLES = [("call_taker", "call-taker-dev"), ("operator", "operator-dev"), ("dispatcher", "dispatcher-dev"),
         ("supervisor", "supervisor-dev")]
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def busy_morning(city: Any, scene: Any) -> int:
    """The morning's calls plus 300 administrative cases: more than any screen shows, and enough
    markers for the map to cluster."""
    for call in scene.MORNING:
        scene.report(city, call)
    metadata = bearer(city.settings, "call_taker", "e2e-roles")
    with grpc.insecure_channel(city.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        futures = [stub.ReportIncident.future(incidents_pb2.ReportIncidentRequest(
            category=incidents_pb2.CATEGORY_ADMINISTRATIVE_PROCEDURE,
            description=f"Hỏi thủ tục cấp lại giấy tờ bị ướt do ngập, hồ sơ {n}",
            location=common_pb2.GeoPoint(lat=10.97 + (n // 20) * 0.01, lon=106.60 + (n % 20) * 0.01,
                                         address=f"Khu phố {n % 20 + 1}"),
            source=incidents_pb2.SOURCE_HOTLINE_1022, idempotency_key=f"roles-{uuid.uuid4().hex}",
        ), timeout=60, metadata=metadata) for n in range(300)]
        for f in futures:
            f.result()
    return len(scene.MORNING) + 300


def _open(browser: Any, city: Any, username: str, password: str, viewport: dict[str, int], wall: bool) -> Any:
    # bypass_csp: axe is injected by the test; the console's own CSP stays on for its scripts.
    context = browser.new_context(viewport=viewport, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh",
                                  bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60000)
    page.goto(city.gateway_url + ("/?wall=1" if wall else "/"))
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login", state="hidden")
    page.wait_for_selector("#live[data-state=on]", timeout=30000)
    page.wait_for_selector("#queue li[data-incident-id]")
    page.wait_for_function("() => !document.getElementById('queue-overflow').textContent.includes('đang tải')")
    page.wait_for_selector(".incident-cluster", timeout=30000)
    page.mouse.move(5, viewport["height"] - 5)
    return page


SMALLEST_TEXT = """() => {
  let smallest = 1000, where = '';
  for (const root of document.querySelectorAll('#queue, #queue-overflow, .kpi-figures, #units, #sensors, .legend')) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const el = walker.currentNode.parentElement;
      if (!walker.currentNode.textContent.trim() || !el.offsetParent) continue;
      const size = parseFloat(getComputedStyle(el).fontSize);
      if (size < smallest) { smallest = size; where = el.className || el.tagName; }
    }
  }
  return { smallest, where };
}"""


@pytest.mark.parametrize(("username", "password"), ROLES)
def test_every_role_on_the_wall_and_on_a_laptop(
    browser: Any, city: Any, busy_morning: int, shots: Path, username: str, password: str, scene: Any
) -> None:
    for layout, viewport, wall in (("wall", WALL, True), ("laptop", LAPTOP, False)):
        page = _open(browser, city, username, password, viewport, wall)
        try:
            page.screenshot(path=shots / f"{username}-{layout}.png")
            violations = scene.serious_violations(page)  # axe-core, vendored
            assert violations == [], (layout, violations)
            count = int(page.get_attribute("#queue-count", "data-count") or 0)
            assert count >= busy_morning
            if wall:
                smallest = page.evaluate(SMALLEST_TEXT)
                assert smallest["smallest"] >= 24, smallest
                # More incidents than rows: the queue says how many more there are.
                overflow = page.inner_text("#queue-overflow")
                assert "↓" in overflow and "sự cố nữa" in overflow, overflow
                # Rows are as tall as their text (nothing clipped or overlapping at wall size).
                clipped = page.evaluate("""() => [...document.querySelectorAll('#queue li')]
                  .filter((li) => li.scrollHeight > li.clientHeight + 1).length""")
                assert clipped == 0, clipped
                # Status as text and as a shape, not only colour.
                chip = page.locator("#queue li .status-chip").first
                assert chip.inner_text().strip()
                shape = page.evaluate(
                    "() => getComputedStyle(document.querySelector('#queue li .st-shape'), '::before').content")
                assert shape not in ("", "none", "normal"), shape
        finally:
            page.context.close()


# --- dialogs and drawers: each one open, then axe-core on the whole page ---------------------------


def _scan(scene: Any, page: Any, what: str) -> None:
    violations = scene.serious_violations(page)
    assert violations == [], (what, violations)


def test_every_dialog_and_drawer_has_no_serious_violation(
    browser: Any, city: Any, scene: Any, busy_morning: int
) -> None:
    # A supervisor sees every tool: detail drawer, note, transition, DUPLICATE picker, CAP, SLA board.
    page = _open(browser, city, "supervisor", "supervisor-dev", LAPTOP, False)
    try:
        page.click("#queue li[data-incident-id]")
        page.wait_for_selector("#detail:not([hidden]) #act-note")
        page.fill("#act-note", "Ghi chú thử")
        _scan(scene, page, "detail drawer with the note field")
        page.select_option("#act-status", "DUPLICATE")
        page.wait_for_selector("#act-duplicate-of li")
        _scan(scene, page, "DUPLICATE picker")
        page.click("#detail-close")
        page.click("#open-sla")
        page.wait_for_selector("#sla-drawer:not([hidden]) #sla-summary")
        _scan(scene, page, "SLA board")
        page.click("#open-cap")
        page.wait_for_selector("#cap-drawer:not([hidden]) #cap-n-headline")
        _scan(scene, page, "CAP drawer (new alert form)")
    finally:
        page.context.close()
    # The call-taker's intake while a call is open: places, nearby incidents, the caller's history.
    page = _open(browser, city, "call_taker", "call-taker-dev", LAPTOP, False)
    try:
        page.fill("#in-phone", "0912 345 678")
        page.fill("#in-desc", "Ngập sâu trước chợ")
        page.fill("#in-address", "thu dau mot")
        page.click("#in-places button.place")
        page.wait_for_selector("#in-nearby li")
        _scan(scene, page, "intake form with suggestions and nearby incidents")
    finally:
        page.context.close()
