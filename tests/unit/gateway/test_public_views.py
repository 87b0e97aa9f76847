"""The public data views without a network: SensorThings query options, CAP feed rules and HTTP
validators, NGSI-LD entity shapes (no PII, no free text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as ipb
from cityops.sensors.v1 import sensors_pb2 as spb
from cityops_gateway.capfeed.feed import PublicAlert, atom_feed, http_date, not_modified, public
from cityops_gateway.ngsild import entities as ngsi
from cityops_gateway.open311.catalog import ServiceCatalog, incident_category
from cityops_gateway.settings import GatewaySettings
from cityops_gateway.sta import entities as sta
from cityops_gateway.sta.query import QueryError, matches, parse_filter, parse_options, time_bounds

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
CAP_XML = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{ident}</identifier>
<sender>ioc@binhduong.gov.vn</sender>
<sent>2026-12-01T08:00:00+07:00</sent><status>{status}</status><msgType>Alert</msgType><scope>{scope}</scope>
<info><language>vi-VN</language><category>Met</category><event>Ngập lụt</event><urgency>Immediate</urgency>
<severity>Severe</severity><certainty>Observed</certainty><headline>Ngập sâu</headline>
<area><areaDesc>Phường Thủ Dầu Một</areaDesc></area></info></alert>"""


def _values(minute: int, result: float) -> dict[str, object]:
    start = T0 + timedelta(minutes=minute)
    return {"phenomenonTime": start, "resultTime": start + timedelta(minutes=1), "result": result}


def test_filter_combines_comparisons_with_and_or_not_and_parentheses() -> None:
    node = parse_filter("(phenomenonTime ge 2026-12-01T08:01:00+07:00 and phenomenonTime lt 2026-12-01T01:03:00Z)"
                        " or not result le 50")
    assert [m for m in range(5) if matches(node, _values(m, 10))] == [1, 2]
    assert matches(node, _values(0, 60))


@pytest.mark.parametrize("text", ["phenomenonTime gt yesterday", "name eq 'x'", "phenomenonTime gt",
                                  "phenomenonTime between 2026-12-01T00:00:00Z", "result gt 2026-12-01T00:00:00Z",
                                  "(phenomenonTime gt 2026-12-01T00:00:00Z", "phenomenonTime gt 0001-01-01T00:00:00Z"])
def test_filters_the_view_cannot_honour_are_refused(text: str) -> None:
    with pytest.raises(QueryError):
        parse_filter(text)


def test_time_bounds_narrow_the_series_request() -> None:
    low, high = time_bounds(parse_filter("phenomenonTime ge 2026-12-01T01:00:00Z and phenomenonTime le "
                                         "2026-12-01T02:00:00Z"))
    assert (low, high) == (T0, T0 + timedelta(hours=1))
    assert time_bounds(parse_filter("phenomenonTime ge 2026-12-01T01:00:00Z or result gt 3")) == (None, None)


def test_options_are_checked() -> None:
    opts = parse_options({"$top": "5", "$skip": "10", "$count": "true", "$orderby": "phenomenonTime desc"},
                         orderable=("phenomenonTime",), filterable=True)
    assert (opts.top, opts.skip, opts.count, opts.orderby) == (5, 10, True, [("phenomenonTime", True)])
    for bad in ({"$top": "-1"}, {"$top": "5000"}, {"$orderby": "color"}, {"$expand": "Thing"}, {"$foo": "1"},
                {"$filter": "result gt 1"}):
        with pytest.raises(QueryError):
            parse_options(bad, orderable=("@iot.id",), filterable=False)


def _sensor() -> spb.Sensor:
    sensor = spb.Sensor(id="wl-'1", kind=spb.SENSOR_KIND_WATER_LEVEL, name="Mực nước cầu Bà Lụa", district="Thuận An",
                        location=common_pb2.GeoPoint(lat=10.905, lon=106.705), last_value=42.5,
                        labels={"owner_phone": "0912345678"})
    sensor.last_seen_at.FromDatetime(T0)
    return sensor


def test_sta_entities_have_ids_self_links_and_navigation_links_and_no_labels() -> None:
    thing = sta.thing(_sensor(), "http://gw/sta/v1.1")
    assert thing["@iot.selfLink"] == "http://gw/sta/v1.1/Things('wl-''1')"
    assert thing["Datastreams@iot.navigationLink"].endswith("/Datastreams")
    assert "0912345678" not in str(thing)
    stream = sta.datastream(_sensor(), "http://gw/sta/v1.1")
    assert stream["unitOfMeasurement"]["symbol"] == "cm"
    point = spb.Aggregate(window_seconds=60, count=4, min=10, max=40, mean=25)
    point.window_start.FromDatetime(T0)
    obs = sta.observation("wl-1", point, "http://gw/sta/v1.1")
    assert obs["phenomenonTime"] == "2026-12-01T01:00:00Z/2026-12-01T01:01:00Z" and obs["result"] == 25
    assert sta.parse_observation_id(obs["@iot.id"]) == ("wl-1", T0)
    assert sta.parse_observation_id("wl-1:99999999999999999999") is None


def test_only_public_alerts_with_a_published_status_are_public() -> None:
    statuses = frozenset({"Actual", "Exercise"})
    assert public(CAP_XML.format(ident="a", status="Actual", scope="Public"), statuses)
    assert not public(CAP_XML.format(ident="a", status="Test", scope="Public"), statuses)
    assert not public(CAP_XML.format(ident="a", status="Actual", scope="Restricted"), statuses)
    assert not public("<not xml", statuses)


def test_atom_feed_lists_current_alerts_newest_first_with_cap_links() -> None:
    alerts = [PublicAlert(f"00000000-0000-0000-0000-00000000000{i}", f"BD-{i}",
                          CAP_XML.format(ident=f"BD-{i}", status="Actual", scope="Public"),
                          T0 + timedelta(minutes=i), T0 + timedelta(minutes=i), current=i != 3) for i in range(4)]
    feed = etree.fromstring(atom_feed(alerts, feed_url="http://gw/cap/alerts.atom",
                                      alert_url="http://gw/cap/alerts/{identifier}.xml", title="t",
                                      empty_updated=T0))
    atom, cap = "{http://www.w3.org/2005/Atom}", "{urn:oasis:names:tc:emergency:cap:1.2}"
    assert [e.findtext(f"{cap}identifier") for e in feed.findall(f"{atom}entry")] == ["BD-2", "BD-1", "BD-0"]
    assert feed.find(f"{atom}entry/{atom}link").get("href") == "http://gw/cap/alerts/BD-2.xml"  # type: ignore[union-attr]
    assert feed.findtext(f"{atom}entry/{cap}areaDesc") == "Phường Thủ Dầu Một"


def test_conditional_get_prefers_if_none_match_and_compares_dates() -> None:
    etag = '"abc"'
    assert not_modified({"if-none-match": '"x", W/"abc"'}, etag=etag, last_modified=T0)
    assert not not_modified({"if-none-match": '"x"', "if-modified-since": http_date(T0)}, etag=etag, last_modified=T0)
    assert not_modified({"if-modified-since": http_date(T0 + timedelta(seconds=1))}, etag=etag, last_modified=T0)
    assert not not_modified({"if-modified-since": http_date(T0 - timedelta(seconds=1))}, etag=etag, last_modified=T0)
    assert not not_modified({"if-modified-since": "garbage"}, etag=etag, last_modified=T0)


def test_ngsi_alert_carries_no_free_text_and_uses_data_model_vocabularies() -> None:
    catalog = ServiceCatalog.load(GatewaySettings().open311_services_file)
    incident = ipb.Incident(number="BD-20261201-000001", category=ipb.CATEGORY_FLOOD, subcategory="ngap_duong",
                            priority=ipb.PRIORITY_P2, status=ipb.STATUS_RESOLVED, district="Thuận An",
                            description="Ngập, gọi 0912345678", location=common_pb2.GeoPoint(
                                lat=10.93, lon=106.70, address="Nhà chị Lan"))
    incident.created_at.FromDatetime(T0)
    incident.resolved_at.FromDatetime(T0 + timedelta(hours=2))
    service = catalog.for_incident(incident_category(incident), incident.subcategory)
    assert service is not None
    alert = ngsi.alert(incident, service)
    assert (alert["category"]["value"], alert["subCategory"]["value"], alert["severity"]["value"]) == (
        "naturalDisaster", "flood", "high")
    assert alert["validTo"]["value"]["@value"] == "2026-12-01T03:00:00Z"
    assert "0912345678" not in str(alert) and "Lan" not in str(alert)
    incident.external_ids["open311_location"] = "unlocated"
    assert "location" not in ngsi.alert(incident, service)


def test_ngsi_sensor_is_a_device_and_a_water_observed_with_its_latest_reading() -> None:
    device, water = ngsi.device(_sensor()), ngsi.observed(_sensor())
    assert device["controlledProperty"]["value"] == ["depth"] and "0912345678" not in str(device)
    assert water is not None and water["type"] == "WaterObserved"
    assert water["height"] == {"type": "Property", "value": 42.5, "unitCode": "CMT",
                               "observedAt": "2026-12-01T01:00:00Z"}
    assert ngsi.key_values(water)["refDevice"] == "urn:ngsi-ld:Device:wl-'1"
    smoke = spb.Sensor(id="sm-1", kind=spb.SENSOR_KIND_SMOKE)
    assert ngsi.observed(smoke) is None
