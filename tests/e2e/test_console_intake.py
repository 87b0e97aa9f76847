"""The call-taker's journey in real Chromium on a 1366×768 laptop, against the whole local city:
an intake form first on the screen, nearby open incidents and the caller's earlier reports while the
call is open, one click to attach the call to an incident, or a new incident at a point picked on
the map; and the everyone-journeys on the same stack: diacritic-insensitive search, DUPLICATE with
an incident picker, English labels with no internal names."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import grpc
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops.notifications.v1 import notifications_pb2 as npb
from cityops.notifications.v1 import notifications_pb2_grpc
from cityops_devtools.testing import bearer, load_by_path
from cityops_notifications.alerts.conformance import conformance_errors

LAPTOP = {"width": 1366, "height": 768}
pytestmark = pytest.mark.timeout(400)
consolepage = load_by_path("cityops_test_consolepage", Path(__file__).with_name("consolepage.py"))
open_console = consolepage.open_console


def timeline(city: Any, incident_id: str) -> list[Any]:
    with grpc.insecure_channel(city.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        reply = stub.GetTimeline(incidents_pb2.GetTimelineRequest(id=incident_id), timeout=5,
                                 metadata=bearer(city.settings, "operator"))
    return list(reply.entries)


@pytest.fixture(scope="module")
def earlier(city: Any, scene: Any) -> incidents_pb2.Incident:
    # The caller (0912345678, scene.report's phone) reported flooding in Thuận Giao an hour ago, a few
    # hundred metres from the ward's registry point (where the gazetteer puts "thuan giao").
    return scene.report(city, scene.Call(
        incidents_pb2.CATEGORY_FLOOD, incidents_pb2.PRIORITY_P3, 10.9641, 106.7152,
        "Đường ĐT743, phường Thuận Giao", "Nước ngập ngang bánh xe trước chợ Thuận Giao", "ngap_duong"))


def test_call_taker_attaches_a_call_to_the_nearby_incident(
    browser: Any, city: Any, scene: Any, earlier: incidents_pb2.Incident, artifacts: Path
) -> None:
    page = open_console(browser, city, "call_taker", "call-taker-dev", viewport=LAPTOP)
    # The laptop puts the form and the queue first: both start inside the first screen.
    page.wait_for_selector("#intake", state="visible")
    page.wait_for_selector(".queue-panel", state="visible")
    form = page.locator("#intake").bounding_box()
    queue = page.locator(".queue-panel").bounding_box()
    assert form and queue
    assert form["y"] < 120 and queue["y"] < 120, (form, queue)
    assert form["x"] + form["width"] <= LAPTOP["width"] and queue["x"] + queue["width"] <= LAPTOP["width"] + 1

    page.select_option("#in-category", "FLOOD")
    page.select_option("#in-sub", "ngap_sau")
    page.fill("#in-desc", "Nước ngập sâu trước chợ Thuận Giao, xe máy chết máy")
    page.fill("#in-phone", "+84 912 345 678")
    page.fill("#in-address", "thuan giao")  # no diacritics: the gazetteer still finds it
    page.click("#in-places button.place")
    page.wait_for_selector("#in-where[data-set]")

    # Nearby: the earlier flood report, ranked; history: the same caller's report, phone masked.
    nearby = page.wait_for_selector(f'#in-nearby li[data-incident-id="{earlier.id}"]', timeout=10000)
    assert "m ·" in nearby.inner_text()
    history = page.wait_for_selector(f'#in-history li[data-incident-id="{earlier.id}"]', timeout=10000)
    assert earlier.number in history.inner_text()
    assert "09xx xxx 678" in history.inner_text()  # found by the keyed hash of the national form, shown masked
    assert "345678" not in page.inner_text("body") and "0912345678" not in page.content()
    page.screenshot(path=artifacts / "10-call-taker-intake.png")

    page.click(f'#in-nearby li[data-incident-id="{earlier.id}"] button[data-attach]')
    page.wait_for_selector(f'#in-result[data-incident-id="{earlier.id}"][data-merged="true"]', timeout=10000)
    after = scene.get_incident(city, earlier.id)
    assert after.report_count == 2
    merged = [e for e in timeline(city, earlier.id) if e.action == "IncidentMerged"]
    assert merged and merged[-1].actor.subject == "call_taker", merged  # the call-taker's merge
    assert "tổng đài viên" in merged[-1].detail
    page.context.close()


def test_call_taker_files_a_new_incident_at_a_point_on_the_map(browser: Any, city: Any, scene: Any) -> None:
    page = open_console(browser, city, "call_taker", "call-taker-dev", viewport=LAPTOP)
    page.select_option("#in-category", "FIELD_REPORT")
    page.select_option("#in-sub", "cay_xanh_gay_do")
    page.fill("#in-desc", "Cây me tây gãy đổ chắn ngang hẻm")
    page.locator("#map").scroll_into_view_if_needed()  # on the laptop the map is below the form and queue
    box = page.locator("#map").bounding_box()
    assert box
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("#in-where[data-set]")
    page.click("#intake-form button[type=submit]")
    result = page.wait_for_selector('#in-result[data-merged="false"]', timeout=10000)
    incident_id = result.get_attribute("data-incident-id")
    assert incident_id
    incident = scene.get_incident(city, incident_id)
    assert incident.category == incidents_pb2.CATEGORY_FIELD_REPORT
    assert incident.subcategory == "cay_xanh_gay_do"
    assert incident.sources == [incidents_pb2.SOURCE_HOTLINE_1022]
    page.wait_for_selector(f'#queue li[data-incident-id="{incident_id}"]', timeout=5000)
    page.context.close()


def test_search_ignores_diacritics_and_duplicate_picks_the_surviving_incident(
    browser: Any, city: Any, scene: Any, earlier: incidents_pb2.Incident
) -> None:
    twin = scene.report(city, scene.Call(
        incidents_pb2.CATEGORY_FIELD_REPORT, incidents_pb2.PRIORITY_P4, 11.0900, 106.6700,
        "Đường Hùng Vương, phường Hòa Lợi", "Cột đèn nghiêng sắp đổ", "den_duong_hong"))
    page = open_console(browser, city, "operator", "operator-dev")
    page.fill("#queue-search", "cot den nghieng")
    page.wait_for_selector(f'#queue li[data-incident-id="{twin.id}"]', timeout=5000)
    assert page.locator("#queue li").count() == 1
    page.fill("#queue-search", "")
    page.click(f'#queue li[data-incident-id="{twin.id}"]')
    page.select_option("#act-status", "DUPLICATE")
    page.wait_for_selector("#act-duplicate-of")
    page.fill("#act-duplicate-search", earlier.number)
    page.click(f'#act-duplicate-of button[data-incident-id="{earlier.id}"]')
    page.click("#act-transition")
    page.wait_for_selector(f'#queue li[data-incident-id="{twin.id}"]', state="detached", timeout=5000)
    closed = scene.get_incident(city, twin.id)
    assert closed.status == incidents_pb2.STATUS_DUPLICATE and closed.duplicate_of == earlier.id
    page.context.close()


def test_english_mode_shows_no_internal_names(browser: Any, city: Any, earlier: incidents_pb2.Incident) -> None:
    page = open_console(browser, city, "supervisor", "supervisor-dev")
    page.click("#lang-toggle")
    page.click(f'#queue li[data-incident-id="{earlier.id}"]')
    page.wait_for_selector("#timeline li", timeout=10000)
    text = page.inner_text("body")
    for internal in ("IncidentReported", "IncidentMerged", "STATUS_", "PRIORITY_", "CATEGORY_", "AGENCY_",
                     "PUBLIC_WORKS", "FIRE_RESCUE_114", "ngap_duong", "DispatchEventSkipped"):
        assert internal not in text, internal
    for vietnamese in ("Tiếp nhận từ", "Hợp nhất phản ánh", "Ngập lụt"):
        assert vietnamese not in page.inner_text("#detail"), vietnamese
    page.context.close()


def _alert_row(page: Any, alert_id: str, state: str, msg_type: str | None = None) -> Any:
    """The console's row of ``alert_id`` once it shows ``state``; a timeout says what the screen said."""
    selector = f'#cap-list li[data-alert-id="{alert_id}"][data-state="{state}"]' + (
        f'[data-type="{msg_type}"]' if msg_type else "")
    try:
        return page.wait_for_selector(selector, timeout=30000)
    except PlaywrightTimeout:
        pytest.fail(f"{alert_id} not {state}; the console said: {page.inner_text('#toast')!r}; "
                    f"list: {page.inner_text('#cap-list')!r}")


def _new_alert_id(page: Any, state: str, msg_type: str, known: set[str]) -> str:
    selector = f'#cap-list li[data-state="{state}"][data-type="{msg_type}"]'
    page.wait_for_function(
        "([sel, known]) => [...document.querySelectorAll(sel)].some((li) => !known.includes(li.dataset.alertId))",
        arg=[selector, sorted(known)], timeout=30000)
    ids = page.eval_on_selector_all(selector, "els => els.map((li) => li.dataset.alertId)")
    return next(i for i in ids if i not in known)


def _reopen_alerts(page: Any) -> None:
    page.click("#cap-drawer .close")
    page.click("#open-cap")


def _cap_field(xml: str, tag: str) -> str:
    return ET.fromstring(xml.encode()).findtext(f"{{urn:oasis:names:tc:emergency:cap:1.2}}{tag}") or ""


def test_cap_alert_drafted_approved_updated_and_cancelled_with_two_supervisors(browser: Any, city: Any) -> None:
    """draft → approve → update → approve → cancel → approve, each approval by the other supervisor,
    all on the console; then the published CAP documents on the real notifications service."""
    if "notifications" not in city.services:
        pytest.fail("cityops-notifications is not installed: no CAP workflow")
    wide = {"width": 1920, "height": 1080}
    author = open_console(browser, city, "supervisor", "supervisor-dev", viewport=wide)
    approver = open_console(browser, city, "supervisor2", "supervisor2-dev", viewport=wide)
    try:
        author.click("#open-cap")
        author.fill("#cap-n-headline", "Cảnh báo ngập sâu khu vực Thuận Giao")
        author.fill("#cap-n-headline_en", "Deep flooding warning for Thuan Giao")
        author.fill("#cap-n-description", "Nước ngập 40-60 cm trên đường ĐT743")
        author.fill("#cap-n-instruction", "Không đi vào vùng ngập, di chuyển xe lên chỗ cao")
        author.fill("#cap-n-area", "Phường Thuận Giao")
        author.click("#cap-form button[type=submit]")
        alert_id = _new_alert_id(author, "DRAFT", "ALERT", set())
        draft = _alert_row(author, alert_id, "DRAFT")
        assert draft.query_selector('button[data-cap="approve"]') is None  # the author may not approve
        assert "Chờ trưởng ca khác duyệt" in draft.inner_text()

        approver.click("#open-cap")
        approver.click(f'#cap-list li[data-alert-id="{alert_id}"] button[data-cap="approve"]')
        _alert_row(approver, alert_id, "PUBLISHED")

        # Update: a new UPDATE message, waiting for the other supervisor.
        approver.click(f'#cap-list li[data-alert-id="{alert_id}"] button[data-cap="edit"]')
        form = f'#cap-list li[data-alert-id="{alert_id}"] .cap-edit'
        approver.fill(f"{form} input[id$=-headline]", "Cảnh báo ngập sâu Thuận Giao (cập nhật: nước lên 1 m)")
        approver.click(f"{form} button[type=submit]")
        update_id = _new_alert_id(approver, "DRAFT", "UPDATE", {alert_id})
        assert approver.query_selector(f'#cap-list li[data-alert-id="{update_id}"] button[data-cap="approve"]') is None

        _reopen_alerts(author)
        author.click(f'#cap-list li[data-alert-id="{update_id}"] button[data-cap="approve"]')
        _alert_row(author, update_id, "PUBLISHED", "UPDATE")
        _alert_row(author, alert_id, "SUPERSEDED")

        # Cancel the update: a CANCEL message, approved by the other supervisor again.
        author.click(f'#cap-list li[data-alert-id="{update_id}"] button[data-cap="cancel"]')
        author.fill(f'#cap-list li[data-alert-id="{update_id}"] .cap-reason', "Nước đã rút hết")
        author.click(f'#cap-list li[data-alert-id="{update_id}"] button[data-cap="cancel"]')
        cancel_id = _new_alert_id(author, "DRAFT", "CANCEL", {alert_id, update_id})

        _reopen_alerts(approver)
        approver.click(f'#cap-list li[data-alert-id="{cancel_id}"] button[data-cap="approve"]')
        _alert_row(approver, cancel_id, "PUBLISHED", "CANCEL")
        _alert_row(approver, update_id, "CANCELLED")
    finally:
        author.context.close()
        approver.context.close()

    # The published documents: valid CAP 1.2 (OASIS XSD + data dictionary), chained by <references>.
    with grpc.insecure_channel(city.addr("notifications")) as channel:
        stub = notifications_pb2_grpc.NotificationServiceStub(channel)
        docs = [stub.GetAlert(npb.GetAlertRequest(alert_id=i), timeout=10, metadata=bearer(city.settings, "operator"))
                for i in (alert_id, update_id, cancel_id)]
    for doc in docs:
        assert doc.xml and conformance_errors(doc.xml) == [], conformance_errors(doc.xml)
    assert [d.state for d in docs] == [npb.CAP_ALERT_STATE_SUPERSEDED, npb.CAP_ALERT_STATE_CANCELLED,
                                       npb.CAP_ALERT_STATE_PUBLISHED]
    assert [(d.author, d.approver) for d in docs] == [
        ("supervisor", "supervisor2"), ("supervisor2", "supervisor"), ("supervisor", "supervisor2")]
    assert [_cap_field(d.xml, "msgType") for d in docs] == ["Alert", "Update", "Cancel"]
    original_ref = f"{docs[0].sender},{docs[0].identifier},{_cap_field(docs[0].xml, 'sent')}"
    update_ref = f"{docs[1].sender},{docs[1].identifier},{_cap_field(docs[1].xml, 'sent')}"
    refs = [_cap_field(d.xml, "references").split() for d in docs]
    assert refs == [[], [original_ref], [original_ref, update_ref]]
    assert _cap_field(docs[2].xml, "note") == "Nước đã rút hết"


def test_dispatcher_filters_the_unit_board(browser: Any, city: Any) -> None:
    page = open_console(browser, city, "dispatcher", "dispatcher-dev")
    page.wait_for_selector("#units .agency")
    assert page.locator("#units .agency").count() > 1
    page.select_option("#unit-agency", "MEDICAL_115")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#units .agency')].every(a => a.dataset.agency === 'MEDICAL_115')")
    assert page.locator('#units .agency[data-agency="MEDICAL_115"]').count() == 1
    page.select_option("#unit-agency", "")
    page.select_option("#unit-status", "AVAILABLE")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#units [data-unit-id]')].every(u => u.dataset.status === 'AVAILABLE')")
    page.context.close()


def _waiting(page: Any, count: int, lang: str = "vi") -> None:
    words = "thao tác chờ gửi" if lang == "vi" else "actions waiting"
    page.wait_for_function(f"() => document.getElementById('live').textContent.includes('{count} {words}')")


def _replay(page: Any, items: list[dict[str, Any]]) -> list[int]:
    """The queued requests sent again as they were (same body, same idempotency key): HTTP statuses."""
    return page.evaluate("""async (items) => {
        const token = sessionStorage.getItem("cityops.token");
        const out = [];
        for (const item of items) {
          const r = await fetch(item.path, { method: item.method, body: JSON.stringify(item.body), headers: {
            "Content-Type": "application/json", "X-CityOps-Console": "1", Authorization: `Bearer ${token}` } });
          out.push(r.status);
        }
        return out;
    }""", items)


def test_offline_actions_wait_and_are_applied_once_on_reconnect(browser: Any, city: Any, scene: Any) -> None:
    incident = scene.report(city, scene.Call(
        incidents_pb2.CATEGORY_FIELD_REPORT, incidents_pb2.PRIORITY_P4, 11.0300, 106.6300,
        "Đường 30/4, phường Chánh Hiệp", "Rác thải đổ trộm bên lề đường", "rac_thai"))
    page = open_console(browser, city, "operator", "operator-dev")
    page.wait_for_function("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now every file and answer of the screen has gone through the worker (and its cache)
    page.wait_for_selector("#live[data-state=on]", timeout=15000)
    row = f'#queue li[data-incident-id="{incident.id}"]'
    page.click(row)
    page.wait_for_selector("#act-ack")
    page.context.set_offline(True)
    page.wait_for_selector("body.is-offline", timeout=10000)
    assert "NGOẠI TUYẾN" in page.inner_text("#live")
    page.fill("#act-note", "Đã gọi lại người báo, chờ đội vệ sinh")
    page.click("#act-note-save")
    _waiting(page, 1)
    page.click("#act-ack")  # made on the version before the note: rebased over it when sent
    _waiting(page, 2)
    page.click("#lang-toggle")
    assert "OFFLINE" in page.inner_text("#live")
    _waiting(page, 2, "en")
    page.click("#lang-toggle")
    queued = page.evaluate("() => JSON.parse(localStorage.getItem('cityops.outbox'))")
    assert [q["path"].rsplit("/", 1)[-1] for q in queued] == ["notes", "transition"]
    keys = [q["body"]["idempotency_key"] for q in queued]
    assert all(keys) and len(set(keys)) == 2  # made when the action was taken, one per action
    page.reload()  # offline: the shell and the last state come from the service worker, the actions stay
    page.wait_for_selector("body.is-offline", timeout=15000)
    assert "NGOẠI TUYẾN" in page.inner_text("#live")
    _waiting(page, 2)
    assert scene.get_incident(city, incident.id).status == incidents_pb2.STATUS_NEW  # nothing sent yet

    page.context.set_offline(False)
    page.wait_for_selector(f'{row}[data-status="ACKNOWLEDGED"]', timeout=30000)
    page.wait_for_function("() => !document.getElementById('live').textContent.includes('chờ gửi')")

    def counts() -> tuple[int, int]:
        actions = [e.action for e in timeline(city, incident.id)]
        return actions.count("NoteAdded"), actions.count("IncidentTransitioned")

    assert scene.get_incident(city, incident.id).status == incidents_pb2.STATUS_ACKNOWLEDGED
    assert counts() == (1, 1)  # applied once
    # The answers were lost and the same requests come again (twice): applied already, answered 200.
    assert _replay(page, queued) == [200, 200]
    assert _replay(page, queued) == [200, 200]
    # A reconnect that flushes the same outbox again.
    page.evaluate("(items) => localStorage.setItem('cityops.outbox', JSON.stringify(items))", queued)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_function("() => JSON.parse(localStorage.getItem('cityops.outbox') || '[]').length === 0")
    assert counts() == (1, 1)
    # An action that waited 7 days (past the 6-day limit, inside which the services still hold its key)
    # is dropped and said so, never sent.
    stale = [{**queued[0], "at": int(time.time() * 1000) - 7 * 24 * 3600 * 1000,
              "body": {**queued[0]["body"], "idempotency_key": uuid.uuid4().hex}}]
    page.evaluate("(items) => localStorage.setItem('cityops.outbox', JSON.stringify(items))", stale)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_function("() => JSON.parse(localStorage.getItem('cityops.outbox') || '[]').length === 0")
    page.wait_for_function(
        "() => document.getElementById('toast').textContent.includes('Thao tác chờ quá lâu đã bị bỏ')")
    assert counts() == (1, 1)
    page.context.close()
