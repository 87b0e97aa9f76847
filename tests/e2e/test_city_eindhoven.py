"""Smoke of the second city, Eindhoven, shipped as data only: every service's api and worker and
the gateway start with ``CITYOPS_CITY=eindhoven`` against the real Kafka and Postgres, a report is
filed by category code and goes end to end (triaged, routed to the city's own agency, a unit of that
agency auto-dispatched, a Dutch notification delivered to a subscribed webhook), Open311 speaks
Dutch from the city's files, and the console page loads with the city's title and profile.
(Chromium tests of the console belong to tests/e2e/test_console.py.)"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import grpc
import pytest
import yaml

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import bearer, load_by_path, status_details
from cityops_platform.city import load_city

citystack = sys.modules["cityops_test_citystack"]  # loaded by this folder's conftest
consolepage = load_by_path("cityops_test_consolepage", Path(__file__).with_name("consolepage.py"))

CITY = "eindhoven"
EHV = load_city(CITY)  # read from the city folder: the test hard-codes no name the data can give
DEV_OPEN311_KEY = "cityops-open311-dev-key"


class Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Hooks.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def webhooks() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def eindhoven(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    services = ["incidents", "dispatch", "sensors", "notifications"]
    name = f"t_{uuid.uuid4().hex[:12]}"
    database_url = postgres_server.create_database(name)
    stack = citystack.CityStack(run_dir=tmp_path_factory.mktemp("eindhoven"), kafka_bootstrap=kafka_broker.bootstrap,
                                database_url=database_url, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    city_env = {"CITYOPS_CITY": CITY}
    try:
        stack.prepare(services)
        for service in services:
            stack.start_api(service, **city_env)
        for service in services:
            if citystack.has_worker(service):
                stack.start_worker(service, **city_env)
        stack.start_gateway(CITYOPS_ENVIRONMENT="local", **city_env)
        stack.wait_ready(timeout=180)
        yield stack
    finally:
        stack.stop()
        postgres_server.drop_database(name)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _eventually(probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_console_page_and_city_profile_are_the_citys(eindhoven: Any) -> None:
    status, page = _get(f"{eindhoven.gateway_url}/")
    assert status == 200 and EHV.branding.title["nl"] in page.decode()
    assert 'content="Europe/Amsterdam"' in page.decode()
    status, body = _get(f"{eindhoven.gateway_url}/api/city")
    profile = json.loads(body)
    assert status == 200 and profile["languages"] == ["nl", "en"] and profile["title"] == dict(EHV.branding.title)
    assert profile["map"] == {"centre": list(EHV.branding.centre), "zoom": EHV.branding.zoom}
    assert {a["code"] for a in profile["agencies"]} == {"BRANDWEER", "AMBULANCE", "POLITIE", "GEMEENTE"}
    status, layer = _get(eindhoven.gateway_url + profile["layers"][0]["url"])
    assert status == 200 and json.loads(layer)["type"] == "FeatureCollection"
    for asset in ("/static/js/main.js", "/static/js/map.js", "/static/console.css"):
        assert _get(eindhoven.gateway_url + asset)[0] == 200, asset


def test_open311_speaks_dutch_from_the_citys_files(eindhoven: Any) -> None:
    status, body = _get(f"{eindhoven.gateway_url}/open311/v2/services.json")
    services = {s["service_code"]: s for s in json.loads(body)}
    assert status == 200 and services["gat-in-de-weg"]["service_name"] == "Gat in de weg of kapot wegdek"
    assert services["gat-in-de-weg"]["group"] == "Openbare ruimte"
    english = json.loads(_get(f"{eindhoven.gateway_url}/open311/v2/services.json?lang=en")[1])
    assert {s["service_code"]: s["service_name"] for s in english}["gat-in-de-weg"] == "Pothole or damaged road"
    form = urllib.parse.urlencode({"api_key": DEV_OPEN311_KEY, "service_code": "straatverlichting",
                                   "lat": "51.4402", "long": "5.4779", "description": "Lantaarnpaal is uit",
                                   "idempotency_key": f"ehv-{uuid.uuid4().hex[:12]}"}).encode()
    request = urllib.request.Request(f"{eindhoven.gateway_url}/open311/v2/requests.json", data=form)
    with urllib.request.urlopen(request, timeout=15) as response:
        created = json.loads(response.read())
    assert created[0]["service_request_id"].startswith("EHV-")


def test_a_report_by_code_goes_end_to_end_in_the_citys_terms(eindhoven: Any, webhooks: ThreadingHTTPServer) -> None:
    port = webhooks.server_address[1]
    with grpc.insecure_channel(eindhoven.addr("notifications")) as channel:
        stub = notifications_pb2_grpc.NotificationServiceStub(channel)
        stub.CreateSubscription(notifications_pb2.CreateSubscriptionRequest(subscription=notifications_pb2.Subscription(
            channel=notifications_pb2.CHANNEL_WEBHOOK, address=f"http://127.0.0.1:{port}/hook", language="nl",
            secret="ehv-smoke-secret-0123456789", filter=notifications_pb2.SubscriptionFilter(
                event_types=["IncidentReported"], categories=["BRAND"]))),
            timeout=10, metadata=bearer(eindhoven.settings, "integrator", "ehv-partner"))
    report = incidents_pb2.ReportIncidentRequest(
        category_code="BRAND", subcategory="woningbrand", description="Uitslaande brand, mensen in het gebouw",
        location=common_pb2.GeoPoint(lat=51.4390, lon=5.4790, address="Markt, Eindhoven"),
        source=incidents_pb2.SOURCE_HOTLINE_1022, idempotency_key=f"ehv-{uuid.uuid4().hex}")
    with grpc.insecure_channel(eindhoven.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        md = bearer(eindhoven.settings, "call_taker", "ehv-ct")
        incident = stub.ReportIncident(report, timeout=10, metadata=md).incident
        with pytest.raises(grpc.RpcError) as err:
            stub.ReportIncident(incidents_pb2.ReportIncidentRequest(
                category_code="FLOOD", location=report.location, source=report.source,
                idempotency_key=f"ehv-{uuid.uuid4().hex}"), timeout=10, metadata=md)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = dict(status_details(err.value))  # type: ignore[arg-type]
    assert "BRANDWEER" not in violations["category"] and "BRAND" in violations["category"]
    assert "WATEROVERLAST" in violations["category"]  # the known codes are named
    assert incident.category_code == "BRAND" and incident.agency_code == "BRANDWEER"
    assert incident.category == incidents_pb2.CATEGORY_UNSPECIFIED  # no enum stands for the city's code
    assert incident.priority == incidents_pb2.PRIORITY_P1 and incident.number.startswith("EHV-")
    assert incident.district == "Centrum"

    def assigned() -> list[dispatch_pb2.Assignment]:
        with grpc.insecure_channel(eindhoven.addr("dispatch")) as channel:
            reply = dispatch_pb2_grpc.DispatchServiceStub(channel).ListAssignments(
                dispatch_pb2.ListAssignmentsRequest(incident_id=incident.id), timeout=5,
                metadata=bearer(eindhoven.settings, "dispatcher"))
        return list(reply.assignments)

    got = _eventually(assigned, timeout=90)
    assert got, "no unit was auto-dispatched"
    assert {a.capability for a in got} >= {"TANKAUTOSPUIT"}
    with grpc.insecure_channel(eindhoven.addr("dispatch")) as channel:
        unit = dispatch_pb2_grpc.DispatchServiceStub(channel).GetUnit(
            dispatch_pb2.GetUnitRequest(id=next(a.unit_id for a in got if a.capability == "TANKAUTOSPUIT")),
            timeout=5, metadata=bearer(eindhoven.settings, "dispatcher"))
    assert unit.agency_code == "BRANDWEER" and unit.agency == common_pb2.AGENCY_UNSPECIFIED

    hooks = _eventually(lambda: [h for h in Hooks.received if incident.number in json.dumps(h)], timeout=90)
    assert hooks, "no notification reached the webhook"
    text = hooks[0]["text"]
    assert "Nieuwe melding" in text and "Brand" in text and "Europe/Amsterdam" in text


def test_the_console_speaks_dutch_and_names_the_citys_categories(eindhoven: Any, browser: Any) -> None:
    report = incidents_pb2.ReportIncidentRequest(
        category_code="WATEROVERLAST", subcategory="ondergelopen_straat", description="Straat staat blank",
        location=common_pb2.GeoPoint(lat=51.4420, lon=5.4700, address="Stratumseind, Eindhoven"),
        source=incidents_pb2.SOURCE_HOTLINE_1022, idempotency_key=f"ehv-{uuid.uuid4().hex}")
    with grpc.insecure_channel(eindhoven.addr("incidents")) as channel:
        incident = incidents_pb2_grpc.IncidentServiceStub(channel).ReportIncident(
            report, timeout=10, metadata=bearer(eindhoven.settings, "call_taker", "ehv-ct")).incident
    dutch = next(c for c in EHV.categories if c.code == "WATEROVERLAST").names
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{eindhoven.gateway_url}/")
        page.wait_for_selector("#login:not([hidden])")
        assert page.get_attribute("html", "lang") == "nl"  # the city's default, not the browser's
        assert page.text_content("#login h2") == "Aanmelden als operator"
        consolepage.log_in(page, "operator", "operator-dev")
        assert page.text_content("#queue-title") == "Incidentenwachtrij"
        row = page.wait_for_selector(f'#queue li[data-incident-id="{incident.id}"]', timeout=15000)
        assert row.query_selector(".q-title").inner_text() == dutch["nl"]  # by code, from the city's registry
        assert row.query_selector(".status-chip").inner_text() == "Nieuw"
        # The ward filter offers the city's own units: Eindhoven's seven stadsdelen.
        options = page.eval_on_selector_all("#queue-ward option", "els => els.map(e => e.value).filter(v => v)")
        assert sorted(options) == sorted(u["code"] for u in yaml.safe_load(
            EHV.file("admin_units.yaml").read_text(encoding="utf-8"))["units"])
        assert page.text_content("#lang-toggle") == "EN"  # the city's languages: nl, en (no vi)
        page.click("#lang-toggle")
        assert page.text_content("#queue-title") == "Incident queue"
        assert page.inner_text(f'#queue li[data-incident-id="{incident.id}"] .q-title') == dutch["en"]
        assert page.text_content("#lang-toggle") == "NL"
    finally:
        context.close()
