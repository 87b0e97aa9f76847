"""The operations console in real headless Chromium against the whole local city.

Screenshots (1920×1080) go to test-artifacts/e2e/; the best are copied to docs/screenshots/.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cityops.incidents.v1 import incidents_pb2
from cityops_devtools.testing import load_by_path

pytestmark = pytest.mark.timeout(400)
consolepage = load_by_path("cityops_test_consolepage", Path(__file__).with_name("consolepage.py"))
WALL = consolepage.WALL
open_console = consolepage.open_console


@pytest.fixture(scope="module")
def morning(city: Any, scene: Any) -> list[incidents_pb2.Incident]:
    return [scene.report(city, call) for call in scene.MORNING]


@pytest.fixture(scope="module")
def operator_page(browser: Any, city: Any, morning: list[Any]) -> Any:
    page = open_console(browser, city, "operator", "operator-dev")
    yield page
    page.context.close()


def test_console_loads_in_vietnamese(browser: Any, city: Any, artifacts: Path) -> None:
    context = browser.new_context(viewport=WALL, locale="en-US")
    page = context.new_page()
    page.goto(city.gateway_url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.screenshot(path=artifacts / "00-login.png")
    assert page.get_attribute("html", "lang") == "vi"
    assert page.text_content("#login h2") == "Đăng nhập điều hành viên"
    consolepage.log_in(page, "operator", "operator-dev")
    assert page.inner_text("header h1") == "Trung tâm Điều hành Thông minh Bình Dương"
    assert page.text_content("#queue-title") == "Hàng đợi sự cố"
    assert page.text_content("#map-title") == "Bản đồ tình huống"
    page.click("#lang-toggle")
    assert page.text_content("#queue-title") == "Incident queue"
    assert page.get_attribute("html", "lang") == "en"
    context.close()


def test_the_map_draws_the_36_wards_and_communes(operator_page: Any) -> None:
    page = operator_page
    page.wait_for_function("() => document.querySelectorAll('.district-label').length >= 36", timeout=15000)
    labels = page.eval_on_selector_all(".district-label", "els => els.map((e) => e.textContent)")
    assert len(labels) == 36
    assert {"Lái Thiêu", "Thủ Dầu Một", "Bình Dương", "Thanh An", "Trừ Văn Thố"} <= set(labels)
    # ward polygons (36) and the province outline, no longer the nine districts
    paths = page.eval_on_selector_all("#map path.leaflet-interactive", "els => els.length")
    assert paths >= 37
    page.click("#lang-toggle")
    assert "Lai Thieu Ward" in page.eval_on_selector_all(".district-label", "els => els.map((e) => e.textContent)")
    page.click("#lang-toggle")


def test_the_queue_filters_by_ward(operator_page: Any, morning: list[Any]) -> None:
    page = operator_page
    wards = {i.ward_code for i in morning if i.ward_code}
    assert len(wards) >= 2, "the morning's calls lie in several wards"
    chosen = next(i for i in morning if i.ward_code)
    page.wait_for_selector(f'#queue li[data-incident-id="{chosen.id}"]', timeout=15000)
    page.wait_for_selector(f'#queue-ward option[value="{chosen.ward_code}"]', state="attached")
    with page.expect_response(lambda r: "/api/incidents?" in r.url and f"ward={chosen.ward_code}" in r.url) as answer:
        page.select_option("#queue-ward", chosen.ward_code)
    listed = answer.value.json()["incidents"]
    assert answer.value.status == 200 and chosen.id in {i["id"] for i in listed}
    assert {i["ward_code"] for i in listed} == {chosen.ward_code}  # filtered by the incidents service
    page.wait_for_function(
        "code => [...document.querySelectorAll('#queue li[data-incident-id]')].every((li) => li.dataset.ward === code)",
        arg=chosen.ward_code, timeout=5000)
    shown = page.eval_on_selector_all("#queue li[data-incident-id]", "els => els.map((e) => e.dataset.incidentId)")
    assert chosen.id in shown
    assert not {i.id for i in morning if i.ward_code != chosen.ward_code} & set(shown)
    page.select_option("#queue-ward", "")
    page.wait_for_function("n => document.querySelectorAll('#queue li[data-incident-id]').length > n",
                           arg=len(shown), timeout=5000)


def test_reported_incident_appears_on_queue_and_map_within_2s_without_reload(
    operator_page: Any, city: Any, artifacts: Path, scene: Any
) -> None:
    page = operator_page
    page.wait_for_selector("#queue li[data-incident-id]")
    page.mouse.move(5, 1075)  # no tooltip in the picture
    page.screenshot(path=artifacts / "01-console-overview.png")
    page.evaluate("window.__sameDocument = 'yes'")
    incident = scene.report(city, scene.Call(
        incidents_pb2.CATEGORY_FIRE, incidents_pb2.PRIORITY_P1, 10.9270, 106.7150,
        "KCN VSIP 1, phường Bình Hòa, Thuận An", "Cháy lớn tại nhà xưởng sản xuất nệm, khói đen dày đặc"))
    started = time.monotonic()
    try:
        page.wait_for_selector(f'#queue li[data-incident-id="{incident.id}"]', timeout=2000)
        remaining_ms = max(1, int((2.0 - (time.monotonic() - started)) * 1000))
        page.wait_for_selector(f"path.incident-{incident.id}", timeout=remaining_ms)
    except PlaywrightTimeout:
        on_queue = page.query_selector(f'#queue li[data-incident-id="{incident.id}"]') is not None
        pytest.fail(f"not on the queue and the map within 2 s (on queue: {on_queue}; "
                    f"{time.monotonic() - started:.2f} s after ReportIncident returned)")
    assert page.evaluate("window.__sameDocument") == "yes", "the page reloaded"
    # A new P1 is announced visibly, and sorts to the top of the queue.
    banner = page.wait_for_selector("#p1-banner:not([hidden])", timeout=2000)
    assert incident.number in banner.inner_text()
    assert "SỰ CỐ KHẨN CẤP P1" in banner.inner_text()
    assert page.get_attribute("#queue li:first-child", "data-incident-id") == incident.id
    page.mouse.move(5, 1075)
    page.screenshot(path=artifacts / "02-p1-announcement.png")
    page.click("#p1-dismiss")


def test_acknowledging_from_the_console_changes_the_status_everywhere(
    operator_page: Any, browser: Any, city: Any, artifacts: Path, scene: Any
) -> None:
    page = operator_page
    wall = open_console(browser, city, "supervisor", "supervisor-dev")
    incident = scene.report(city, scene.Call(
        incidents_pb2.CATEGORY_FIELD_REPORT, incidents_pb2.PRIORITY_P3, 10.9960, 106.6560,
        "Đường Yersin, phường Phú Cường, Thủ Dầu Một", "Cây xanh gãy đổ chắn một nửa lòng đường", "cay_xanh_gay_do"))
    row = f'#queue li[data-incident-id="{incident.id}"]'
    page.wait_for_selector(f'{row}[data-status="NEW"]', timeout=5000)
    wall.wait_for_selector(f'{row}[data-status="NEW"]', timeout=5000)

    page.click(row)
    page.wait_for_selector("#detail:not([hidden])")
    page.click("#act-ack")

    page.wait_for_selector(f'{row}[data-status="ACKNOWLEDGED"]', timeout=5000)
    page.wait_for_selector('#detail-status[data-status="ACKNOWLEDGED"]', timeout=5000)
    page.wait_for_selector(f'path.incident-{incident.id}[data-status="ACKNOWLEDGED"]', timeout=5000)
    # Another screen learns it from the live stream, not from its own action.
    wall.wait_for_selector(f'{row}[data-status="ACKNOWLEDGED"]', timeout=5000)
    wall.wait_for_selector(f'path.incident-{incident.id}[data-status="ACKNOWLEDGED"]', timeout=5000)
    assert scene.get_incident(city, incident.id).status == incidents_pb2.STATUS_ACKNOWLEDGED
    page.wait_for_selector("#timeline li")
    page.wait_for_function("() => document.querySelector('#timeline').textContent.includes('Đã tiếp nhận')")
    page.screenshot(path=artifacts / "03-incident-acknowledged.png")
    page.click("#detail-close")
    wall.context.close()


def test_sensor_panel_and_map_show_raised_alerts(operator_page: Any, city: Any, scene: Any) -> None:
    if "sensors" not in city.services:
        pytest.fail("cityops-sensors is not installed: no alerts can be raised")
    page = operator_page
    summary = scene.stream_gauges(city)
    assert summary.rejected == 0, summary
    # Thuận An's gauge held ≥ 40 cm for minutes: a CRITICAL water-level alert, live on the panel.
    page.wait_for_selector('#sensors li[data-sensor-id="wl-thuanan-001"] .sev.CRITICAL', timeout=30000)
    page.wait_for_selector(".alert-marker .alert-icon.CRITICAL", timeout=5000)
    assert "Mực nước cầu Bà Lụa" in page.inner_text("#sensors")


def test_unit_board_shows_an_auto_dispatched_unit(
    operator_page: Any, city: Any, artifacts: Path, scene: Any
) -> None:
    if "dispatch" not in city.services:
        pytest.fail("cityops-dispatch is not installed: auto-dispatch cannot be shown")
    page = operator_page
    incident = scene.report(city, scene.Call(
        incidents_pb2.CATEGORY_EMERGENCY_MEDICAL, incidents_pb2.PRIORITY_P1, 10.9030, 106.7680,
        "Chợ Dĩ An, đường Nguyễn An Ninh, Dĩ An", "Người đàn ông bất tỉnh, ngưng thở"))
    deadline = time.monotonic() + 30
    auto: list[Any] = []
    while not auto and time.monotonic() < deadline:
        auto = [a for a in scene.assignments(city, incident.id) if a.auto]
        time.sleep(0.2)
    assert auto, (f"dispatch made no automatic assignment within 30 s for {incident.number} "
                  f"(priority {incident.priority}, status {incident.status}); "
                  f"its assignments: {scene.assignments(city, incident.id)}")
    unit_row = f'.unit-row[data-unit-id="{auto[0].unit_id}"]'
    page.wait_for_selector(f'{unit_row}:not([data-status="AVAILABLE"])', timeout=10000)
    page.wait_for_function(
        "([sel, number]) => document.querySelector(sel)?.textContent.includes(number)",
        arg=[unit_row, incident.number], timeout=10000)
    page.eval_on_selector(unit_row, "el => el.scrollIntoView({block: 'center'})")
    page.wait_for_selector("#kpi-figures b")
    page.wait_for_selector("#toast", state="hidden")
    page.mouse.move(5, 1075)
    page.screenshot(path=artifacts / "04-unit-board-auto-dispatch.png")


def test_console_in_english_and_on_a_laptop(browser: Any, city: Any, morning: list[Any], artifacts: Path) -> None:
    page = open_console(browser, city, "dispatcher", "dispatcher-dev", viewport={"width": 1366, "height": 768})
    page.wait_for_selector("#queue li[data-incident-id]")
    page.screenshot(path=artifacts / "06-laptop-1366x768.png", full_page=True)
    page.click("#lang-toggle")
    page.set_viewport_size(WALL)
    assert page.text_content("#queue-title") == "Incident queue"
    page.click("#queue li:first-child")
    page.wait_for_selector("#candidates li", timeout=10000)
    page.screenshot(path=artifacts / "05-console-english-dispatcher.png")
    page.context.close()
