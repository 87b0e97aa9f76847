"""The dispatcher's screen (issue 20) in real Chromium on the whole local city, and its API routes
against the real services: recommended units with ETA accepted in one click or overridden with a
reason (kept on the assignment and the timeline with the dispatcher's name), the run card (what
it asks for, what is sent, what is missing), and the unit board's filters.

The incidents are P3 fires: the city's rules dispatch P1/P2 automatically, P3 waits for a dispatcher.
Screenshots go to CITYOPS_SCREENSHOTS_DIR (docs/screenshots with `make screenshots`) or test-artifacts.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2
from cityops_devtools.testing import bearer
from cityops_platform import auth

WALL = {"width": 1920, "height": 1080}
LAPTOP = {"width": 1366, "height": 768}
pytestmark = pytest.mark.timeout(400)


def _token(city: Any, role: str, subject: str) -> str:
    s = city.settings
    codec = auth.TokenCodec(s.jwt_secret, issuer=s.jwt_issuer, audience=s.jwt_audience)
    return codec.issue(subject, [role], ttl_seconds=600)


def _headers(city: Any, role: str, subject: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(city, role, subject or role)}"}


def _fire(city: Any, scene: Any, lat: float, lon: float, address: str) -> tuple[incidents_pb2.Incident, list[Any]]:
    """A P3 fire reported like a call, and its recommended units once dispatch knows it."""
    incident = scene.report(city, scene.Call(incidents_pb2.CATEGORY_FIRE, incidents_pb2.PRIORITY_P3, lat, lon,
                                             address, f"Cháy thùng rác, khói nhiều ({uuid.uuid4().hex[:6]})"))
    return incident, [c["unit"] for c in _plan(city, incident.id)["candidates"]]


def _plan(city: Any, incident_id: str, timeout: float = 30) -> dict[str, Any]:
    """The dispatch plan once dispatch knows the incident (its view is fed by the event stream)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{city.gateway_url}/api/incidents/{incident_id}/dispatch-plan",
                      headers=_headers(city, "dispatcher"), timeout=10)
        if r.status_code == 200 and r.json()["candidates"]:
            return dict(r.json())
        assert time.monotonic() < deadline, (r.status_code, r.text)
        time.sleep(0.3)


def _timeline(city: Any, incident_id: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{city.gateway_url}/api/incidents/{incident_id}/timeline", headers=_headers(city, "dispatcher"),
                  timeout=10)
    assert r.status_code == 200, r.text
    return list(r.json().get("entries", []))


def _open(browser: Any, city: Any, viewport: dict[str, int], wall: bool = False) -> Any:
    context = browser.new_context(viewport=viewport, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto(city.gateway_url + ("/?wall=1" if wall else "/"))
    page.fill("#login-username", "dispatcher")
    page.fill("#login-password", "dispatcher-dev")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login", state="hidden")
    page.wait_for_selector("#live[data-state=on]")
    return page


def _show(page: Any, incident: incidents_pb2.Incident) -> None:
    page.fill("#queue-search", incident.number)
    page.click(f'#queue li[data-incident-id="{incident.id}"]')
    page.wait_for_selector('#candidates li[data-rank="1"]')


@pytest.fixture(scope="module")
def dispatch_city(city: Any) -> Any:
    if "dispatch" not in city.services:
        pytest.fail("cityops-dispatch is not installed: the dispatcher's screen needs the real service")
    return city


# ---- the API routes against the real services -------------------------------------------------

@pytest.mark.parametrize("role", ["call_taker", "citizen", "operator"])
def test_only_dispatchers_and_supervisors_get_the_plan_or_dispatch(dispatch_city: Any, scene: Any, role: str) -> None:
    city = dispatch_city
    # Far apart (each call its own incident, never merged into another test's).
    lat, lon, place = {"call_taker": (10.9790, 106.6560, "Chợ Thủ Dầu Một"),
                       "citizen": (10.9400, 106.7100, "Phường Lái Thiêu, Thuận An"),
                       "operator": (11.0700, 106.6100, "Thị xã Bến Cát")}[role]
    incident, units = _fire(city, scene, lat, lon, place)
    unit_id = units[0]["id"]
    r = httpx.get(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch-plan", headers=_headers(city, role),
                  timeout=10)
    assert r.status_code == 403, r.text
    r = httpx.post(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch", headers=_headers(city, role),
                   json={"unit_id": unit_id, "recommended_unit_id": unit_id}, timeout=10)
    assert r.status_code == 403, r.text
    # Dispatch refuses the same roles on its own (a caller going round the gateway).
    with grpc.insecure_channel(city.addr("dispatch")) as channel, pytest.raises(grpc.RpcError) as refused:
        dispatch_pb2_grpc.DispatchServiceStub(channel).AssignUnit(
            dispatch_pb2.AssignUnitRequest(incident_id=incident.id, unit_id=unit_id), timeout=10,
            metadata=bearer(city.settings, role, f"e2e-{role}"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert not scene.assignments(city, incident.id)


def test_an_override_needs_a_reason_at_the_gateway_and_at_dispatch(dispatch_city: Any, scene: Any) -> None:
    city = dispatch_city
    incident, units = _fire(city, scene, 10.9700, 106.6700, "Đường Yersin, Thủ Dầu Một")
    assert len(units) >= 2, units
    top, other = units[0]["id"], units[1]["id"]
    r = httpx.post(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch", headers=_headers(city, "dispatcher"),
                   json={"unit_id": other, "recommended_unit_id": top, "override_reason": "  "}, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["fields"][0]["field"] == "override_reason"
    with grpc.insecure_channel(city.addr("dispatch")) as channel, pytest.raises(grpc.RpcError) as refused:
        dispatch_pb2_grpc.DispatchServiceStub(channel).AssignUnit(
            dispatch_pb2.AssignUnitRequest(incident_id=incident.id, unit_id=other, recommended_unit_id=top),
            timeout=10, metadata=bearer(city.settings, "dispatcher", "e2e-dispatcher"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "override_reason" in (refused.value.details() or "")
    assert not scene.assignments(city, incident.id)
    # With a reason the supervisor's override goes through and is kept with their name.
    r = httpx.post(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch",
                   headers=_headers(city, "supervisor", "truong-ca-an"),
                   json={"unit_id": other, "recommended_unit_id": top, "override_reason": "Xe đề xuất đang kẹt xe"},
                   timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["unit_id"], body["override_reason"], body["recommended_unit_id"]) == (
        other, "Xe đề xuất đang kẹt xe", top)
    assert body["assigned_by"]["subject"] == "truong-ca-an"
    after = _plan(city, incident.id)
    assert after["run_card"]["name"] == "fire_minor"
    assert after["run_card"]["units"] == [
        {"capability": "FIRE_ENGINE", "count": 1, "assigned": [body["call_sign"]], "missing": 0}]


# ---- the journeys in Chromium --------------------------------------------------------------------

def test_dispatcher_accepts_the_recommendation_and_the_run_card_fills(
    dispatch_city: Any, browser: Any, scene: Any, shots: Path
) -> None:
    incident, units = _fire(dispatch_city, scene, 10.9050, 106.7650, "Chợ Dĩ An, Dĩ An")
    city = dispatch_city
    assert units, "dispatch recommended no unit for the fire"
    page = _open(browser, city, WALL)
    try:
        _show(page, incident)
        # The unit the screen recommends now (one another test sent may have been freed since the plan above).
        top_id = page.get_attribute('#candidates li[data-rank="1"]', "data-unit-id")
        top = {"id": top_id, "call_sign": {u.id: u.call_sign for u in _units(city)}[top_id]}
        first = page.inner_text('#candidates li[data-rank="1"]')
        assert top["call_sign"] in first
        assert " km" in first and "ETA" in first and "phút" in first, first
        assert "phù hợp: Xe chữa cháy" in first, first  # why, by the city's label, not FIRE_ENGINE
        assert "FIRE_ENGINE" not in page.inner_text("#detail-body")
        # The run card asks for one fire engine, none sent yet.
        page.wait_for_selector('#run-card li[data-capability="FIRE_ENGINE"][data-missing="1"]')
        assert "Phương án điều động: Cháy nhỏ" in page.inner_text("#run-card")
        assert "Thiếu 1" in page.inner_text('#run-card li[data-capability="FIRE_ENGINE"]')
        assert scene.serious_violations(page) == []
        page.screenshot(path=shots / "dispatcher-plan-wall.png")
        page.click('#candidates li[data-rank="1"] button[data-act="accept"]')
        # The assignment appears on the incident, the run card fills, the board shows the unit busy.
        page.wait_for_selector(f'#assignments li[data-unit-id="{top["id"]}"]')
        page.wait_for_selector('#run-card li[data-capability="FIRE_ENGINE"][data-missing="0"]')
        assert "✓ Đủ" in page.inner_text('#run-card li[data-capability="FIRE_ENGINE"]')
        row = f'.unit-row[data-unit-id="{top["id"]}"]'
        page.wait_for_selector(f'{row}:not([data-status="AVAILABLE"])')
        page.wait_for_function("([sel, number]) => document.querySelector(sel)?.textContent.includes(number)",
                               arg=[row, incident.number])
        assert "◆" in page.inner_text(row) or "▶" in page.inner_text(row)  # status by shape, not only colour
        made = scene.assignments(city, incident.id)
        assert [(a.unit_id, a.override_reason, a.assigned_by.subject) for a in made] == [(top["id"], "", "dispatcher")]
        # English: the same screen without internal names.
        page.click("#lang-toggle")
        page.wait_for_function(
            "() => document.getElementById('run-card')?.textContent.includes('Run card: Minor fire')")
        assert "Filled" in page.inner_text("#run-card")
    finally:
        page.context.close()


def test_dispatcher_overrides_with_a_reason_recorded_with_their_name(
    dispatch_city: Any, browser: Any, scene: Any, shots: Path
) -> None:
    incident, units = _fire(dispatch_city, scene, 10.9900, 106.6500, "Phường Phú Cường, Thủ Dầu Một")
    assert len(units) >= 2, units
    city = dispatch_city
    page = _open(browser, city, LAPTOP)
    try:
        _show(page, incident)
        # The units as the screen recommends them now (another test may have sent one meanwhile).
        by_id = {u.id: u for u in _units(city)}
        top, chosen = ({"id": i, "call_sign": by_id[i].call_sign} for i in page.eval_on_selector_all(
            '#candidates li[data-rank="1"], #candidates li[data-rank="2"]', "els => els.map((e) => e.dataset.unitId)"))
        page.click('#candidates li[data-rank="2"] button[data-act="override"]')
        page.wait_for_selector("#override-dialog[open]")
        assert chosen["call_sign"] in page.inner_text("#override-what")
        assert top["call_sign"] in page.inner_text("#override-what")
        assert scene.serious_violations(page) == []
        page.screenshot(path=shots / "dispatcher-override-laptop.png")
        page.click("#override-confirm")  # no reason: refused on the screen, nothing sent
        assert "Cần ghi lý do" in page.inner_text("#override-error")
        assert page.is_visible("#override-dialog")
        assert not scene.assignments(city, incident.id)
        reason = "Xe gần nhất vừa báo hỏng bơm"
        page.fill("#override-reason", reason)
        page.click("#override-confirm")
        page.wait_for_selector(f'#assignments li[data-unit-id="{chosen["id"]}"][data-override="1"]')
        text = page.inner_text(f'#assignments li[data-unit-id="{chosen["id"]}"]')
        assert "chọn thay đề xuất bởi dispatcher" in text and reason in text, text
        made = scene.assignments(city, incident.id)
        assert [(a.unit_id, a.override_reason, a.recommended_unit_id, a.assigned_by.subject) for a in made] == [
            (chosen["id"], reason, top["id"], "dispatcher")]
        # The incident's timeline keeps the override and its reason, by the dispatcher (written when
        # the incidents worker has read the UnitAssigned event).
        deadline = time.monotonic() + 30
        while not any(reason in (e.get("detail") or "") for e in _timeline(city, incident.id)):
            assert time.monotonic() < deadline, _timeline(city, incident.id)
            time.sleep(0.3)
        page.click(f'#queue li[data-incident-id="{incident.id}"]')
        page.wait_for_function(
            "(reason) => [...document.querySelectorAll('#timeline li')].some((li) => li.textContent.includes(reason))",
            arg=reason)
        entry = page.locator("#timeline li", has_text=reason).first.inner_text()
        assert "dispatcher" in entry and "chọn thay đề xuất" in entry, entry
        page.click("#lang-toggle")  # in English the engine's sentence is English too
        page.wait_for_function(
            "(reason) => [...document.querySelectorAll('#timeline li')].some((li) => "
            "li.textContent.includes('dispatcher override: ' + reason))", arg=reason)
    finally:
        page.context.close()


def _units(city: Any) -> list[dispatch_pb2.Unit]:
    with grpc.insecure_channel(city.addr("dispatch")) as channel:
        reply = dispatch_pb2_grpc.DispatchServiceStub(channel).ListUnits(
            dispatch_pb2.ListUnitsRequest(page_size=1000), timeout=10, metadata=bearer(city.settings, "dispatcher"))
    return list(reply.units)


def _shown_units(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("#units [data-unit-id]", "els => els.map((e) => e.dataset.unitId)"))


def _board_shows(page: Any, city: Any, wanted: Any) -> set[str]:
    """Waits until the board shows exactly the units ``wanted`` selects from dispatch's current list
    (statuses move on their own: an unacknowledged assignment times out and frees its unit)."""
    deadline = time.monotonic() + 15
    while True:
        expected = {u.id for u in _units(city) if wanted(u)}
        shown = _shown_units(page)
        if shown == expected:
            return shown
        assert time.monotonic() < deadline, (shown ^ expected, expected)
        time.sleep(0.3)


IDLE = (dispatch_pb2.UNIT_STATUS_AVAILABLE, dispatch_pb2.UNIT_STATUS_OUT_OF_SERVICE)


def test_unit_board_filters_by_status_kind_agency_and_ward(dispatch_city: Any, browser: Any, scene: Any) -> None:
    city = dispatch_city
    units = _units(city)
    page = _open(browser, city, LAPTOP)  # the wall has no filters (nobody clicks a wall)
    try:
        page.wait_for_function("(n) => document.querySelectorAll('#units [data-unit-id]').length >= n",
                               arg=len(units))
        assert _board_shows(page, city, lambda u: True) == {u.id for u in units}
        page.select_option("#unit-kind", "FIRE_ENGINE")
        assert _board_shows(page, city, lambda u: u.unit_type == "FIRE_ENGINE")
        page.select_option("#unit-kind", "")
        ward = next(u for u in units if u.ward_code)
        page.select_option("#unit-ward", ward.ward_code)
        assert _board_shows(page, city, lambda u: u.ward_code == ward.ward_code)
        assert ward.ward_name in page.inner_text("#unit-ward")
        page.select_option("#unit-ward", "")
        page.select_option("#unit-agency", "MEDICAL_115")
        page.select_option("#unit-load", "available")
        assert _board_shows(page, city, lambda u: u.agency_code == "MEDICAL_115"
                            and u.status == dispatch_pb2.UNIT_STATUS_AVAILABLE)
        page.select_option("#unit-agency", "")
        page.select_option("#unit-load", "busy")
        _board_shows(page, city, lambda u: u.status not in IDLE)
        # Live: a unit sent now joins the busy board without a reload (same stream as the queue).
        incident, sendable = _fire(city, scene, 11.0500, 106.6500, "Thị xã Tân Uyên")
        unit_id = sendable[0]["id"]
        r = httpx.post(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch",
                       headers=_headers(city, "dispatcher"), json={"unit_id": unit_id, "recommended_unit_id": unit_id},
                       timeout=10)
        assert r.status_code == 200, r.text
        page.wait_for_selector(f'#units [data-unit-id="{unit_id}"]')
        assert unit_id in _board_shows(page, city, lambda u: u.status not in IDLE)
        statuses = set(page.eval_on_selector_all("#units [data-unit-id]", "els => els.map((e) => e.dataset.status)"))
        assert statuses and not statuses & {"AVAILABLE", "OUT_OF_SERVICE"}, statuses
        page.select_option("#unit-status", "OUT_OF_SERVICE")
        page.wait_for_selector("#units .empty")
        assert "Không có đơn vị nào khớp bộ lọc" in page.inner_text("#units")
        # Every filter has a Vietnamese accessible name and no raw enum among its options.
        for sel in ("#unit-kind", "#unit-ward", "#unit-load"):
            assert page.get_attribute(sel, "aria-label")
        assert "Xe chữa cháy" in page.inner_text("#unit-kind") and "FIRE_ENGINE" not in page.inner_text("#unit-kind")
    finally:
        page.context.close()


# ---- substitutes and the offline outbox -----------------------------------------------------------

def _medical(city: Any, scene: Any, lat: float, lon: float, address: str) -> incidents_pb2.Incident:
    """A P3 medical call: the city's card "medical" asks for one BLS ambulance (an ALS one may fill it)."""
    return scene.report(city, scene.Call(incidents_pb2.CATEGORY_EMERGENCY_MEDICAL, incidents_pb2.PRIORITY_P3, lat, lon,
                                         address, f"Người ngã xe, trầy xước nhẹ ({uuid.uuid4().hex[:6]})"))


def _als_only(plan: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The first recommended unit that is ALS and not BLS (rank from 1), recommended for the BLS slot."""
    for rank, candidate in enumerate(plan["candidates"], start=1):
        caps = candidate["unit"].get("capabilities", [])
        if "ALS" in caps and "BLS" not in caps:
            assert candidate["matched_capability"] == "BLS", candidate
            return rank, candidate["unit"]
    raise AssertionError(plan["candidates"])


def test_an_als_ambulance_sent_for_a_bls_slot_fills_the_slot(dispatch_city: Any, browser: Any, scene: Any) -> None:
    city = dispatch_city
    # Without a capability (the API, or the screen's "other unit"): dispatch records the slot it fills.
    incident = _medical(city, scene, 10.9040, 106.7010, "Đường Nguyễn Văn Tiết, Lái Thiêu, Thuận An")
    plan = _plan(city, incident.id)
    assert plan["run_card"]["name"] == "medical", plan["run_card"]
    _, als = _als_only(plan)
    top = plan["candidates"][0]["unit"]["id"]
    r = httpx.post(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch", headers=_headers(city, "dispatcher"),
                   json={"unit_id": als["id"], "recommended_unit_id": top,
                         "override_reason": "" if als["id"] == top else "Xe ALS gần hơn trên đường"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["capability"] == "BLS", r.json()
    card = _plan(city, incident.id)["run_card"]
    assert card["units"] == [{"capability": "BLS", "count": 1, "assigned": [als["call_sign"]], "missing": 0}], card
    assert card["extra"] == [] and card["missing"] == 0, card
    # On the screen: the recommended ALS unit taken from the list fills the BLS slot, no "extra" line.
    incident = _medical(city, scene, 10.9860, 106.6540, "Đường Phạm Ngọc Thạch, Thủ Dầu Một")
    rank, als = _als_only(_plan(city, incident.id))
    page = _open(browser, city, LAPTOP)
    try:
        _show(page, incident)
        page.wait_for_selector('#run-card li[data-capability="BLS"][data-missing="1"]')
        row = f'#candidates li[data-unit-id="{als["id"]}"]'
        page.wait_for_selector(row)
        if page.get_attribute(row, "data-rank") == "1":
            page.click(f'{row} button[data-act="accept"]')
        else:
            page.click(f'{row} button[data-act="override"]')
            page.fill("#override-reason", "Xe ALS đang rảnh ngay trạm")
            page.click("#override-confirm")
        page.wait_for_selector(f'#assignments li[data-unit-id="{als["id"]}"]')
        page.wait_for_selector('#run-card li[data-capability="BLS"][data-missing="0"]')
        assert als["call_sign"] in page.inner_text('#run-card li[data-capability="BLS"]')
        assert page.locator("#run-card li[data-extra]").count() == 0, page.inner_text("#run-card")
        assert page.inner_text("#run-card-summary") == "Đã đủ lực lượng theo phương án"
        assert [a.capability for a in scene.assignments(city, incident.id)] == ["BLS"], rank
        assert scene.serious_violations(page) == []
    finally:
        page.context.close()


def test_a_dispatch_taken_offline_is_queued_and_applied_once(dispatch_city: Any, browser: Any, scene: Any) -> None:
    city = dispatch_city
    incident, units = _fire(city, scene, 11.0300, 106.7200, "Phường Tân Phước Khánh, Tân Uyên")
    page = _open(browser, city, LAPTOP)
    try:
        _show(page, incident)
        top = page.get_attribute('#candidates li[data-rank="1"]', "data-unit-id")
        page.context.set_offline(True)
        page.click('#candidates li[data-rank="1"] button[data-act="accept"]')
        page.wait_for_function("() => JSON.parse(localStorage.getItem('cityops.outbox') || '[]').length === 1")
        page.wait_for_function("() => document.getElementById('toast').textContent.includes('Mất mạng')")
        page.wait_for_selector("#live.off")
        assert "thao tác chờ gửi" in page.inner_text("#live-text")
        queued = page.evaluate("() => JSON.parse(localStorage.getItem('cityops.outbox'))[0]")
        assert queued["path"] == f"/api/incidents/{incident.id}/dispatch", queued
        key = queued["body"]["idempotency_key"]
        assert key and queued["body"]["unit_id"] == top, queued
        assert not scene.assignments(city, incident.id)  # nothing reached dispatch while offline
        page.context.set_offline(False)  # back online: the outbox is sent once, in order
        page.wait_for_function("() => JSON.parse(localStorage.getItem('cityops.outbox') || '[]').length === 0",
                               timeout=30000)
        deadline = time.monotonic() + 15
        while not scene.assignments(city, incident.id):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        made = scene.assignments(city, incident.id)
        assert [(a.unit_id, a.assigned_by.subject) for a in made] == [(top, "dispatcher")]
        # The same key again (an answer lost, a second tab flushing): the assignment it made, nothing new.
        again = httpx.post(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch",
                           headers=_headers(city, "dispatcher"), json=queued["body"], timeout=10)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == made[0].id
        assert [a.id for a in scene.assignments(city, incident.id)] == [made[0].id]
        # Without a key the same request is refused (the unit is busy): the key is what makes a replay safe.
        unkeyed = {k: v for k, v in queued["body"].items() if k != "idempotency_key"}
        refused = httpx.post(f"{city.gateway_url}/api/incidents/{incident.id}/dispatch",
                             headers=_headers(city, "dispatcher"), json=unkeyed, timeout=10)
        assert refused.status_code == 409, refused.text
        page.wait_for_selector(f'#assignments li[data-unit-id="{top}"]')
        # Sent as the screen's recommendation (an accept, not an override). The plan fetched before the page
        # opened may differ by now: a unit an earlier test sent is freed when its assignment goes unacknowledged.
        assert queued["body"]["recommended_unit_id"] == top, queued
        assert (made[0].recommended_unit_id, made[0].override_reason) == ("", ""), made[0]  # no override kept
        assert units, "dispatch recommended no unit for the fire"
    finally:
        page.context.close()
