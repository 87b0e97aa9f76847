"""The gateway's public data views against the real services: the CAP feed (notifications),
SensorThings v1.1 (sensors api + worker) and NGSI-LD (incidents and sensors).

CAP documents are validated with lxml against the OASIS XSD read from the standards folder
(CITYOPS_STANDARDS_DIR)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from lxml import etree

from cityops.common.v1 import common_pb2
from cityops.notifications.v1 import notifications_pb2 as npb
from cityops.notifications.v1 import notifications_pb2_grpc
from cityops.sensors.v1 import sensors_pb2 as spb
from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_devtools.testing import bearer

T = TypeVar("T")
ATOM = "{http://www.w3.org/2005/Atom}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
DEV_KEY = "cityops-open311-dev-key"
NOW_MS = int(time.time() * 1000)
BASE_MS = NOW_MS - 3_600_000 - NOW_MS % 60_000  # a minute boundary an hour ago


def wait_for(check: Callable[[], T], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last and time.monotonic() < deadline:
        time.sleep(0.3)
        last = check()
    assert last, f"still not true after {timeout}s: {last!r}"
    return last


def _ts(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


# --- CAP ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cap_schema(standards_dir: Path) -> etree.XMLSchema:
    return etree.XMLSchema(file=str(standards_dir / "cap" / "CAP-v1.2.xsd"))


@pytest.fixture(scope="module")
def notifications(gateway_stack: Any) -> Any:
    if "notifications" not in gateway_stack.apis:
        pytest.fail("cityops-notifications is not installed: the CAP feed tests need the real service")
    channel = grpc.insecure_channel(gateway_stack.addr("notifications"))
    yield notifications_pb2_grpc.NotificationServiceStub(channel)
    channel.close()


def _infos(headline: str) -> list[npb.CapInfo]:
    ring = [(10.975, 106.645), (10.975, 106.660), (10.990, 106.660), (10.990, 106.645)]
    area = npb.CapArea(area_desc="Phường Thủ Dầu Một",
                       polygon=common_pb2.Polygon(points=[common_pb2.GeoPoint(lat=a, lon=b) for a, b in ring]))
    common = {"categories": [npb.CAP_CATEGORY_MET], "urgency": npb.URGENCY_IMMEDIATE,
              "severity": npb.SEVERITY_SEVERE, "certainty": npb.CERTAINTY_OBSERVED, "area": area,
              "expires": _ts(datetime.now(UTC) + timedelta(hours=6))}
    return [npb.CapInfo(language="vi-VN", event="Ngập lụt", headline=headline,
                        description="Mực nước 80 cm ở đường Bạch Đằng.", **common),
            npb.CapInfo(language="en-US", event="Flooding", headline=f"EN {headline}", **common)]


def _publish(stack: Any, stub: Any, headline: str, *, approve: bool = True, **fields: Any) -> npb.CapAlert:
    alert = stub.DraftAlert(npb.DraftAlertRequest(alert=npb.CapAlert(infos=_infos(headline), **fields)),
                            metadata=bearer(stack.settings, "supervisor", "gs-an"), timeout=10)
    if not approve:
        return alert
    return stub.ApproveAlert(npb.ApproveAlertRequest(alert_id=alert.id),
                             metadata=bearer(stack.settings, "supervisor", "gs-binh"), timeout=10)


@pytest.fixture(scope="module")
def published(gateway_stack: Any, notifications: Any) -> dict[str, npb.CapAlert]:
    tag = uuid.uuid4().hex[:6]
    first = _publish(gateway_stack, notifications, f"Ngập sâu {tag} (1)")
    time.sleep(1.1)  # CAP <sent> has second precision: the second alert is strictly newer
    second = _publish(gateway_stack, notifications, f"Ngập sâu {tag} (2)")
    draft = _publish(gateway_stack, notifications, f"Bản nháp {tag}", approve=False)
    restricted = _publish(gateway_stack, notifications, f"Nội bộ {tag}", scope=npb.CAP_SCOPE_RESTRICTED,
                          restriction="Chỉ dành cho lực lượng cứu hộ")
    return {"first": first, "second": second, "draft": draft, "restricted": restricted}


def _feed(stack: Any, **headers: str) -> httpx.Response:
    return httpx.get(f"{stack.gateway_url}/cap/alerts.atom", headers=headers, timeout=15)


def test_feed_lists_published_public_alerts_newest_first_and_never_drafts(gateway_stack: Any,
                                                                          published: dict[str, Any]) -> None:
    response = _feed(gateway_stack)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed" and feed.findtext(f"{ATOM}id") and feed.findtext(f"{ATOM}updated")
    identifiers = [e.findtext(f"{CAP}identifier") for e in feed.findall(f"{ATOM}entry")]
    first, second = published["first"].identifier, published["second"].identifier
    assert identifiers.index(second) < identifiers.index(first)
    assert published["draft"].identifier not in identifiers
    assert published["restricted"].identifier not in identifiers
    entry = feed.findall(f"{ATOM}entry")[identifiers.index(second)]
    assert entry.findtext(f"{ATOM}title", "").startswith("Ngập sâu")  # the Vietnamese info first
    link = entry.find(f"{ATOM}link[@rel='alternate']")
    assert link is not None and link.get("type") == "application/cap+xml"
    assert link.get("href", "").endswith(f"/cap/alerts/{second}.xml")


def test_each_alert_is_served_as_cap_xml_valid_against_the_oasis_xsd(gateway_stack: Any, published: dict[str, Any],
                                                                     cap_schema: etree.XMLSchema) -> None:
    for key in ("first", "second"):
        response = httpx.get(f"{gateway_stack.gateway_url}/cap/alerts/{published[key].identifier}.xml", timeout=15)
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/cap+xml")
        doc = etree.fromstring(response.content)
        assert cap_schema.validate(doc), cap_schema.error_log
        assert doc.findtext(f"{CAP}identifier") == published[key].identifier


def test_drafts_and_restricted_alerts_are_not_served(gateway_stack: Any, published: dict[str, Any]) -> None:
    for key in ("draft", "restricted"):
        response = httpx.get(f"{gateway_stack.gateway_url}/cap/alerts/{published[key].identifier}.xml", timeout=15)
        assert response.status_code == 404


def test_feed_and_alert_answer_304_to_if_none_match_and_if_modified_since(gateway_stack: Any,
                                                                          published: dict[str, Any]) -> None:
    url = f"{gateway_stack.gateway_url}/cap/alerts/{published['first'].identifier}.xml"
    for get in (lambda **h: _feed(gateway_stack, **h), lambda **h: httpx.get(url, headers=h, timeout=15)):
        first = get()
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('"') and modified.endswith("GMT")
        again = get(**{"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert get(**{"If-Modified-Since": modified}).status_code == 304
        assert get(**{"If-None-Match": '"something-else"'}).status_code == 200
        assert get(**{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200


def test_a_new_alert_changes_the_feed_etag(gateway_stack: Any, notifications: Any, published: dict[str, Any]) -> None:
    before = _feed(gateway_stack).headers["etag"]
    newer = _publish(gateway_stack, notifications, f"Cảnh báo mới {uuid.uuid4().hex[:6]}")
    response = _feed(gateway_stack, **{"If-None-Match": before})
    assert response.status_code == 200 and response.headers["etag"] != before
    assert newer.identifier in response.text


# --- SensorThings ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sensor_ids(gateway_stack: Any) -> dict[str, str]:
    if "sensors" not in gateway_stack.apis:
        pytest.fail("cityops-sensors is not installed: the SensorThings/NGSI-LD tests need the real service")
    tag = uuid.uuid4().hex[:8]
    ids = {"wl": f"wl-sta-{tag}", "pm": f"pm-sta-{tag}"}
    with grpc.insecure_channel(gateway_stack.addr("sensors")) as channel:
        stub = sensors_pb2_grpc.SensorServiceStub(channel)
        admin = bearer(gateway_stack.settings, "admin")
        for key, kind in (("wl", spb.SENSOR_KIND_WATER_LEVEL), ("pm", spb.SENSOR_KIND_AIR_QUALITY_PM25)):
            stub.RegisterSensor(spb.RegisterSensorRequest(sensor=spb.Sensor(
                id=ids[key], kind=kind, district="Thuận An", reporting_interval_seconds=60,  # type: ignore[arg-type]
                name=f"Trạm {key} Lái Thiêu", location=common_pb2.GeoPoint(lat=10.905, lon=106.705,
                                                                         address="Cầu Bà Lụa, Lái Thiêu"))),
                metadata=admin, timeout=10)
        time.sleep(1.0)  # the api's registry cache refreshes every 0.5 s in this stack
        for key, values in (("wl", [10, 20, 30, 40, 50, 70, 5]), ("pm", [35, 45, 55])):
            times = [BASE_MS + 10_000 * i for i in range(4)] + [BASE_MS + 60_000, BASE_MS + 70_000, BASE_MS + 120_000]
            batch = spb.ReadingBatch(columns=spb.ReadingColumns(
                sensor_ids=[ids[key]] * len(values), values=values, observed_at_ms=times[:len(values)]))
            summary = stub.IngestReadings(iter([batch]), metadata=bearer(gateway_stack.settings, "integrator"),
                                          timeout=30)
            assert summary.accepted == len(values), summary
    return ids


def _sta(stack: Any, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{stack.gateway_url}/sta/v1.1/{path}", params=params, timeout=30)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def test_sta_root_lists_the_entity_sets_and_conformance(gateway_stack: Any) -> None:
    body = _sta(gateway_stack, "").json()
    assert {v["name"] for v in body["value"]} >= {"Things", "Locations", "Datastreams", "Observations"}
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/core" in body["serverSettings"]["conformance"]


def test_sta_thing_location_and_datastream_are_linked(gateway_stack: Any, sensor_ids: dict[str, str]) -> None:
    wl = sensor_ids["wl"]
    thing = _sta(gateway_stack, f"Things('{wl}')").json()
    assert thing["@iot.id"] == wl and thing["@iot.selfLink"].endswith(f"/Things('{wl}')")
    [location] = httpx.get(thing["Locations@iot.navigationLink"], timeout=15).json()["value"]
    assert location["encodingType"] == "application/geo+json"
    assert location["location"] == {"type": "Point", "coordinates": [106.705, 10.905]}
    [stream] = httpx.get(thing["Datastreams@iot.navigationLink"], timeout=15).json()["value"]
    assert stream["unitOfMeasurement"]["symbol"] == "cm"
    assert httpx.get(stream["Thing@iot.navigationLink"], timeout=15).json()["@iot.id"] == wl
    assert httpx.get(stream["ObservedProperty@iot.navigationLink"], timeout=15).json()["@iot.id"] == "water_level"
    listed = _sta(gateway_stack, "Things", **{"$count": "true", "$top": "1000"}).json()
    assert wl in [t["@iot.id"] for t in listed["value"]] and listed["@iot.count"] >= 2


def test_sta_observations_are_the_one_minute_means(gateway_stack: Any, sensor_ids: dict[str, str]) -> None:
    wl = sensor_ids["wl"]

    def three() -> list[dict[str, Any]]:  # minutes 0, 1 and 2 (all closed: event time is an hour ago)
        values: list[dict[str, Any]] = _sta(gateway_stack, f"Datastreams('{wl}')/Observations").json()["value"]
        return values if len(values) >= 3 else []

    first, second, third = wait_for(three)
    assert first["phenomenonTime"] == f"{_iso(BASE_MS)}/{_iso(BASE_MS + 60_000)}"
    assert (first["result"], first["parameters"]["count"]) == (25, 4)
    assert (second["result"], second["parameters"]["count"]) == (60, 2)
    assert (third["result"], third["parameters"]["min"], third["parameters"]["max"]) == (5, 5, 5)
    one = httpx.get(first["@iot.selfLink"], timeout=15).json()
    assert one["@iot.id"] == first["@iot.id"] and one["result"] == 25
    assert httpx.get(one["Datastream@iot.navigationLink"], timeout=15).json()["@iot.id"] == wl


def test_sta_filter_orderby_top_skip_and_next_link(gateway_stack: Any, sensor_ids: dict[str, str]) -> None:
    wl = sensor_ids["wl"]
    path = f"Datastreams('{wl}')/Observations"
    wait_for(lambda: len(_sta(gateway_stack, path).json().get("value", [])) >= 3)
    minute1 = _iso(BASE_MS + 60_000)
    only = _sta(gateway_stack, path, **{"$filter": f"phenomenonTime ge {minute1} and phenomenonTime lt "
                                                   f"{_iso(BASE_MS + 120_000)}"}).json()["value"]
    assert [o["result"] for o in only] == [60]
    either = _sta(gateway_stack, path, **{"$filter": f"phenomenonTime lt {minute1} or result gt 50"}).json()["value"]
    assert sorted(o["result"] for o in either) == [25, 60]
    desc = _sta(gateway_stack, path, **{"$orderby": "phenomenonTime desc", "$top": "1", "$count": "true"}).json()
    assert [o["result"] for o in desc["value"]] == [5] and desc["@iot.count"] == 3
    following = httpx.get(desc["@iot.nextLink"], timeout=15).json()
    assert [o["result"] for o in following["value"]] == [60]
    last = httpx.get(following["@iot.nextLink"], timeout=15).json()
    assert [o["result"] for o in last["value"]] == [25] and "@iot.nextLink" not in last
    assert [o["result"] for o in _sta(gateway_stack, path, **{"$skip": "1"}).json()["value"]] == [60, 5]
    # Across every Datastream, with a time filter: this sensor's three windows are among them.
    everywhere = _sta(gateway_stack, "Observations", **{"$filter": f"phenomenonTime ge {_iso(BASE_MS)}",
                                                        "$top": "1000"}).json()["value"]
    assert sum(1 for o in everywhere if o["@iot.id"].startswith(f"{wl}:")) == 3
    kinds = _sta(gateway_stack, "ObservedProperties('water_level')/Datastreams", **{"$top": "1000"}).json()
    assert wl in [d["@iot.id"] for d in kinds["value"]]


def test_sta_refuses_what_it_cannot_do_with_a_400(gateway_stack: Any, sensor_ids: dict[str, str]) -> None:
    path = f"Datastreams('{sensor_ids['wl']}')/Observations"
    for params in ({"$filter": "phenomenonTime gt yesterday"}, {"$filter": "name eq 'x'"}, {"$top": "-1"},
                   {"$orderby": "color"}, {"$expand": "Thing"}):
        response = _sta(gateway_stack, path, **params)
        assert response.status_code == 400 and response.json()["code"] == 400, params
    assert _sta(gateway_stack, "Things('khong-co')").status_code == 404
    assert _sta(gateway_stack, "Unicorns").status_code == 404


# --- NGSI-LD --------------------------------------------------------------------------------------
def _ngsi(stack: Any, path: str = "entities", accept: str = "application/json", **params: Any) -> httpx.Response:
    return httpx.get(f"{stack.gateway_url}/ngsi-ld/v1/{path}", params=params, headers={"Accept": accept}, timeout=30)


def test_ngsi_sensors_are_devices_and_observed_entities_of_smart_data_models(gateway_stack: Any,
                                                                             sensor_ids: dict[str, str]) -> None:
    wl, pm = sensor_ids["wl"], sensor_ids["pm"]
    water = wait_for(lambda: [e for e in _ngsi(gateway_stack, type="WaterObserved", limit=1000).json()
                              if e["id"] == f"urn:ngsi-ld:WaterObserved:{wl}" and "height" in e])
    assert water[0]["height"]["unitCode"] == "CMT" and water[0]["refDevice"]["object"] == f"urn:ngsi-ld:Device:{wl}"
    assert water[0]["location"]["value"] == {"type": "Point", "coordinates": [106.705, 10.905]}
    [air] = _ngsi(gateway_stack, id=f"urn:ngsi-ld:AirQualityObserved:{pm}").json()
    assert air["type"] == "AirQualityObserved"
    [device] = _ngsi(gateway_stack, id=f"urn:ngsi-ld:Device:{wl}", options="keyValues").json()
    assert device["type"] == "Device" and device["controlledProperty"] == ["depth"]


def test_ngsi_incidents_are_alerts_without_any_free_text(gateway_stack: Any) -> None:
    created = httpx.post(f"{gateway_stack.gateway_url}/open311/v2/requests.json", timeout=15, data={
        "api_key": DEV_KEY, "service_code": "o-ga-mat-duong", "lat": 11.0100, "long": 106.7300,
        "attribute[vi_tri]": "long_duong", "first_name": "Lan", "phone": "0912345678",
        "description": "Ổ gà to trước nhà, gọi 0987654321", "address_string": "Nhà chị Lan, Tân Khánh"})
    assert created.status_code == 201, created.text
    number = created.json()[0]["service_request_id"]
    listed = _ngsi(gateway_stack, type="Alert", limit=1000, count="true")
    assert listed.status_code == 200 and int(listed.headers["NGSILD-Results-Count"]) >= 1
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in listed.headers["link"]
    [alert] = [e for e in listed.json() if e["id"] == f"urn:ngsi-ld:Alert:{number}"]
    assert (alert["category"]["value"], alert["subCategory"]["value"]) == ("traffic", "pothole")
    assert alert["severity"]["value"] in {"low", "medium", "high", "critical"}
    text = listed.text
    for secret in ("0987654321", "0912345678", "Lan", "trước nhà"):
        assert secret not in text, secret
    ld = _ngsi(gateway_stack, path=f"entities/urn:ngsi-ld:Alert:{number}", accept="application/ld+json")
    assert ld.headers["content-type"].startswith("application/ld+json") and "@context" in ld.json()


def test_ngsi_paging_and_errors(gateway_stack: Any, sensor_ids: dict[str, str]) -> None:
    everything = _ngsi(gateway_stack, type="Device", limit=1000).json()
    page = _ngsi(gateway_stack, type="Device", limit=1, offset=1).json()
    assert len(page) == 1 and page[0]["id"] == everything[1]["id"]
    for params, status in (({}, 400), ({"type": "Unicorn"}, 400), ({"type": "Device", "limit": "x"}, 400),
                           ({"type": "Device", "q": "a==1"}, 400)):
        response = _ngsi(gateway_stack, **params)
        assert response.status_code == status and response.json()["type"].startswith(
            "https://uri.etsi.org/ngsi-ld/errors/"), params
    assert _ngsi(gateway_stack, path="entities/urn:ngsi-ld:Device:khong-co").status_code == 404
