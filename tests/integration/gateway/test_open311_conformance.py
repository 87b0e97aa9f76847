"""Open311 GeoReport v2 conformance, written from the spec's own text (../shared/standards/open311,
read through CITYOPS_STANDARDS_DIR), against the real gateway and the real incidents service.

Each check is one test (its id is the check's name) so pytest's closing line counts the passes and
failures; ``test_the_checks_cover_the_spec_sections`` ties the list to the spec file. XML is parsed
with lxml, independently of the ElementTree code that writes it.

Checks: discovery (xml, json, fields), services (xml, json, fields, both formats agree), service
definitions (xml, json, fields, metadata flag, 404), POST (xml, json, by lat/long, by
address_string, by address_id, unlocated, no location, unknown and missing service_code, api_key,
attributes: required, value list, multivaluelist, several errors at once), jurisdiction_id (right,
wrong, on GET), GET requests (xml, json, agree, ids, status, bad date), GET one request (xml, json,
404), date-times with offsets, UTF-8 XML declaration and content types, the error format, unknown
resources, public-safe descriptions.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

DEV_KEY = "cityops-open311-dev-key"
JURISDICTION = "binhduong.gov.vn"
W3_OFFSET = r"(Z|[+-]\d{2}:\d{2})$"
CHECKS: dict[str, Callable[[Any], None]] = {}
# Every POST gets its own point, ~440 m from any other, so no report fuses into another's incident.
_GRID = itertools.count()


def _spot() -> dict[str, float]:
    n = next(_GRID)
    return {"lat": round(10.93 + 0.004 * (n // 20), 5), "long": round(106.63 + 0.004 * (n % 20), 5)}


def check(section: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a check under the spec section it verifies."""

    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        CHECKS[f"{section}: {fn.__name__.removeprefix('check_')}"] = fn
        return fn

    return register


def _url(stack: Any, path: str) -> str:
    return f"{stack.gateway_url}/open311/v2/{path}"


def _get(stack: Any, path: str, **params: Any) -> httpx.Response:
    return httpx.get(_url(stack, path), params=params, timeout=15)


def _post(stack: Any, fmt: str, data: Any) -> httpx.Response:
    return httpx.post(_url(stack, f"requests.{fmt}"), data=data, timeout=15)


def _xml(response: httpx.Response) -> etree._Element:
    assert response.headers["content-type"] == "text/xml; charset=utf-8", response.headers["content-type"]
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), response.content[:60]
    return etree.fromstring(response.content)


def _json(response: httpx.Response) -> Any:
    assert response.headers["content-type"] == "application/json; charset=utf-8", response.headers["content-type"]
    return response.json()


def _xml_errors(response: httpx.Response, status: int) -> list[str]:
    assert response.status_code == status, response.text
    doc = _xml(response)
    assert doc.tag == "errors" and len(doc) >= 1
    for error in doc:
        assert error.tag == "error" and error.findtext("code") == str(status) and error.findtext("description")
    return [e.findtext("description") or "" for e in doc]


def _json_errors(response: httpx.Response, status: int) -> list[str]:
    assert response.status_code == status, response.text
    body = _json(response)
    assert isinstance(body, list) and body
    for error in body:
        assert set(error) == {"code", "description"} and error["code"] == status and error["description"]
    return [e["description"] for e in body]


def _not_found_in_both_formats(stack: Any, path: str) -> None:
    """``path``.xml and ``path``.json both answer 404 in their format's error body."""
    _xml_errors(_get(stack, f"{path}.xml"), 404)
    _json_errors(_get(stack, f"{path}.json"), 404)


def _fields(**extra: Any) -> dict[str, Any]:
    return {"api_key": DEV_KEY, "service_code": "khac", "description": f"Kiểm thử chuẩn {uuid.uuid4().hex[:8]}",
            **extra}


def _created_id_xml(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    doc = _xml(response)
    assert doc.tag == "service_requests" and [c.tag for c in doc] == ["request"]
    request = doc[0]
    assert request.find("token") is None  # realtime services return the id, never a token
    assert request.find("account_id") is not None and request.find("service_notice") is not None
    return request.findtext("service_request_id") or ""


def _request_xml(stack: Any, ident: str) -> etree._Element:
    doc = _xml(_get(stack, f"requests/{ident}.xml"))
    assert doc.tag == "service_requests" and len(doc) == 1
    return doc[0]


# --- Service Discovery -------------------------------------------------------------------------
@check("Service Discovery")
def check_discovery_xml_has_every_required_field(stack: Any) -> None:
    doc = _xml(httpx.get(f"{stack.gateway_url}/open311/discovery.xml", timeout=15))
    assert doc.tag == "discovery"
    for name in ("changeset", "contact", "key_service"):
        assert doc.findtext(name), name
    endpoints = doc.findall("endpoints/endpoint")
    assert endpoints
    v2 = [e for e in endpoints if e.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"]
    assert v2 and v2[0].findtext("url", "").endswith("/open311/v2")
    assert v2[0].findtext("type") in ("production", "test") and v2[0].findtext("changeset")
    assert {f.text for f in v2[0].findall("formats/format")} == {"text/xml", "application/json"}


@check("Service Discovery")
def check_discovery_json_follows_the_spark_convention(stack: Any) -> None:
    body = _json(httpx.get(f"{stack.gateway_url}/open311/discovery.json", timeout=15))
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
    endpoint = body["endpoints"][0]
    assert endpoint["formats"] == ["text/xml", "application/json"]  # an array of strings, not {"format": ...}
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"


# --- GET Service List ----------------------------------------------------------------------------
SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")


@check("GET Service List")
def check_services_xml_lists_every_field(stack: Any) -> None:
    doc = _xml(_get(stack, "services.xml"))
    assert doc.tag == "services" and len(doc) >= 10
    for service in doc:
        assert service.tag == "service"
        assert [c.tag for c in service] == list(SERVICE_FIELDS)
        assert service.findtext("metadata") in ("true", "false")
        assert service.findtext("type") in ("realtime", "batch", "blackbox")


@check("GET Service List")
def check_services_json_and_xml_say_the_same(stack: Any) -> None:
    body = _json(_get(stack, "services.json"))
    doc = _xml(_get(stack, "services.xml"))
    assert [s["service_code"] for s in body] == [s.findtext("service_code") for s in doc]
    for entry, element in zip(body, doc, strict=True):
        assert entry["service_name"] == element.findtext("service_name")
        assert ("true" if entry["metadata"] else "false") == element.findtext("metadata")


@check("GET Service List")
def check_services_are_vietnamese_first_and_english_on_request(stack: Any) -> None:
    vi = {s["service_code"]: s["service_name"] for s in _json(_get(stack, "services.json"))}
    en = {s["service_code"]: s["service_name"] for s in _json(_get(stack, "services.json", lang="en"))}
    assert vi["ngap-duong"] == "Ngập đường" and en["ngap-duong"] == "Street flooding"


# --- GET Service Definition ---------------------------------------------------------------------
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


@check("GET Service Definition")
def check_metadata_true_services_have_attributes_and_false_ones_none(stack: Any) -> None:
    services = _json(_get(stack, "services.json"))
    assert any(s["metadata"] for s in services) and not all(s["metadata"] for s in services)
    for service in services:
        definition = _json(_get(stack, f"services/{service['service_code']}.json"))
        assert definition["service_code"] == service["service_code"]
        assert bool(definition["attributes"]) == service["metadata"]


@check("GET Service Definition")
def check_definition_xml_has_every_attribute_field(stack: Any) -> None:
    doc = _xml(_get(stack, "services/ngap-duong.xml"))
    assert doc.tag == "service_definition" and doc.findtext("service_code") == "ngap-duong"
    attributes = doc.findall("attributes/attribute")
    assert attributes
    orders = []
    for attr in attributes:
        for name in ("variable", "code", "datatype", "required", "datatype_description", "order", "description"):
            assert attr.find(name) is not None, name
        assert attr.findtext("variable") in ("true", "false") and attr.findtext("required") in ("true", "false")
        assert attr.findtext("datatype") in DATATYPES
        orders.append(int(attr.findtext("order") or "0"))
        if attr.findtext("datatype") in ("singlevaluelist", "multivaluelist"):
            values = attr.findall("values/value")
            assert values and all(v.findtext("key") and v.findtext("name") for v in values)
    assert all(o > 0 for o in orders) and len(set(orders)) == len(orders)


@check("GET Service Definition")
def check_definition_json_matches_the_xml(stack: Any) -> None:
    body = _json(_get(stack, "services/rac-thai.json"))
    doc = _xml(_get(stack, "services/rac-thai.xml"))
    assert [a["code"] for a in body["attributes"]] == [a.findtext("code") for a in doc.findall("attributes/attribute")]
    assert body["attributes"][0]["datatype"] == "multivaluelist"
    assert [v["key"] for v in body["attributes"][0]["values"]] == [
        v.findtext("key") for v in doc.findall("attributes/attribute/values/value")]


@check("GET Service Definition")
def check_unknown_service_code_definition_is_404_in_both_formats(stack: Any) -> None:
    _not_found_in_both_formats(stack, "services/khong-co")


# --- POST Service Request ------------------------------------------------------------------------
@check("POST Service Request")
def check_post_xml_with_lat_long_returns_the_request_id(stack: Any) -> None:
    ident = _created_id_xml(_post(stack, "xml", _fields(**_spot())))
    request = _request_xml(stack, ident)
    assert request.findtext("service_request_id") == ident
    assert float(request.findtext("lat") or 0) > 10.9


@check("POST Service Request")
def check_post_json_returns_an_array_with_the_id(stack: Any) -> None:
    response = _post(stack, "json", _fields(**_spot()))
    assert response.status_code == 201
    [created] = _json(response)
    assert created["service_request_id"] and "token" not in created


@check("POST Service Request")
def check_post_by_address_string_alone_is_geocoded(stack: Any) -> None:
    address = "25 Đường Yersin, phường Phú Cường, Thủ Dầu Một"
    ident = _created_id_xml(_post(stack, "xml", _fields(address_string=address)))
    request = _request_xml(stack, ident)
    assert request.findtext("address") == address
    assert request.findtext("address_id") == "s-yersin-tdm"
    assert (float(request.findtext("lat") or 0), float(request.findtext("long") or 0)) == pytest.approx(
        (10.9795, 106.6545))


@check("POST Service Request")
def check_post_by_address_id_alone_is_located(stack: Any) -> None:
    ident = _created_id_xml(_post(stack, "xml", _fields(address_id="p-lai-thieu")))
    request = _request_xml(stack, ident)
    assert request.findtext("address_id") == "p-lai-thieu"
    # The ward's point in the city's unit registry (cities/<city>/admin_units.yaml), where the
    # gazetteer places a ward given by its id alone.
    assert float(request.findtext("lat") or 0) == pytest.approx(10.9091)


@check("POST Service Request")
def check_post_by_an_address_not_in_the_gazetteer_is_accepted_with_a_clear_status(stack: Any) -> None:
    response = _post(stack, "xml", _fields(address_string="Hẻm sau nhà văn hóa ấp 7"))
    ident = _created_id_xml(response)
    assert "xác minh" in (etree.fromstring(response.content).findtext("request/service_notice") or "")
    request = _request_xml(stack, ident)
    assert "xác minh" in (request.findtext("status_notes") or "")
    assert request.findtext("lat") == "" and request.findtext("long") == ""  # not published at a made-up point


@check("POST Service Request")
def check_post_without_any_location_is_400_in_both_formats(stack: Any) -> None:
    for fmt, read in (("xml", _xml_errors), ("json", _json_errors)):
        [description] = read(_post(stack, fmt, _fields()), 400)
        assert "address_string" in description and "address_id" in description


@check("POST Service Request")
def check_post_unknown_service_code_is_404_in_both_formats(stack: Any) -> None:
    for fmt, read in (("xml", _xml_errors), ("json", _json_errors)):
        [description] = read(_post(stack, fmt, _fields(service_code="khong-co", **_spot())), 404)
        assert "service_code" in description


@check("POST Service Request")
def check_post_without_service_code_is_400(stack: Any) -> None:
    fields = _fields(**_spot())
    del fields["service_code"]
    assert "service_code" in _xml_errors(_post(stack, "xml", fields), 400)[0]


@check("Errors")
def check_missing_or_invalid_api_key_is_403(stack: Any) -> None:
    fields = _fields(**_spot())
    del fields["api_key"]
    assert "api_key" in _xml_errors(_post(stack, "xml", fields), 403)[0]
    _json_errors(_post(stack, "json", {**fields, "api_key": "sai"}), 403)


@check("POST Service Request")
def check_required_attribute_missing_is_400_naming_it(stack: Any) -> None:
    [description] = _xml_errors(_post(stack, "xml", _fields(service_code="ngap-duong", **_spot())), 400)
    assert description.startswith("attribute[do_sau_cm]")


@check("POST Service Request")
def check_several_bad_attributes_are_all_reported(stack: Any) -> None:
    fields = _fields(service_code="mat-dien", **_spot(), **{"attribute[pham_vi]": "ca-tinh"})
    descriptions = _json_errors(_post(stack, "json", fields), 400)
    assert [d.split(":")[0] for d in descriptions] == ["attribute[pham_vi]", "attribute[day_dien_dut]"]


@check("POST Service Request")
def check_multivaluelist_attribute_takes_repeated_values(stack: Any) -> None:
    data = {**_fields(service_code="rac-thai", **_spot()), "attribute[loai_rac][]": ["sinh_hoat", "xa_ban"]}
    ident = _created_id_xml(_post(stack, "xml", data))
    assert "Rác sinh hoạt, Xà bần" in (_request_xml(stack, ident).findtext("description") or "")


@check("POST Service Request")
def check_number_attribute_with_text_is_400(stack: Any) -> None:
    fields = _fields(service_code="ngap-duong", **_spot(), **{"attribute[do_sau_cm]": "ngang gối"})
    assert "attribute[do_sau_cm]" in _xml_errors(_post(stack, "xml", fields), 400)[0]


# --- jurisdiction_id -----------------------------------------------------------------------------
@check("jurisdiction_id")
def check_the_configured_jurisdiction_is_accepted(stack: Any) -> None:
    _created_id_xml(_post(stack, "xml", _fields(**_spot(), jurisdiction_id=JURISDICTION)))
    assert _get(stack, "services.xml", jurisdiction_id=JURISDICTION).status_code == 200


@check("jurisdiction_id")
def check_another_jurisdiction_is_404_on_post_and_get(stack: Any) -> None:
    assert "jurisdiction_id" in _xml_errors(_post(stack, "xml", _fields(**_spot(),
                                                                         jurisdiction_id="sfgov.org")), 404)[0]
    _xml_errors(_get(stack, "services.xml", jurisdiction_id="sfgov.org"), 404)
    _json_errors(_get(stack, "requests.json", jurisdiction_id="sfgov.org"), 404)


# --- GET Service Requests ------------------------------------------------------------------------
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")


@check("GET Service Requests")
def check_requests_xml_has_every_field(stack: Any) -> None:
    _created_id_xml(_post(stack, "xml", _fields(**_spot())))
    doc = _xml(_get(stack, "requests.xml"))
    assert doc.tag == "service_requests" and len(doc) >= 1
    for request in doc:
        assert [c.tag for c in request] == list(REQUEST_FIELDS)
        assert request.findtext("status") in ("open", "closed")


@check("GET Service Requests")
def check_requests_json_and_xml_say_the_same(stack: Any) -> None:
    body = _json(_get(stack, "requests.json", service_code="khac"))
    doc = _xml(_get(stack, "requests.xml", service_code="khac"))
    assert [r["service_request_id"] for r in body] == [r.findtext("service_request_id") for r in doc]
    assert [r["status"] for r in body] == [r.findtext("status") for r in doc]


@check("GET Service Requests")
def check_several_service_request_ids_override_other_filters(stack: Any) -> None:
    a = _created_id_xml(_post(stack, "xml", _fields(**_spot())))
    b = _created_id_xml(_post(stack, "xml", _fields(**_spot())))
    doc = _xml(_get(stack, "requests.xml", service_request_id=f"{a},{b}", status="closed"))
    assert sorted(r.findtext("service_request_id") for r in doc) == sorted([a, b])


@check("GET Service Requests")
def check_status_filter_returns_only_that_status(stack: Any) -> None:
    doc = _xml(_get(stack, "requests.xml", status="open"))
    assert len(doc) >= 1 and {r.findtext("status") for r in doc} == {"open"}


@check("GET Service Requests")
def check_bad_start_date_is_400_in_both_formats(stack: Any) -> None:
    _xml_errors(_get(stack, "requests.xml", start_date="hôm qua"), 400)
    _json_errors(_get(stack, "requests.json", start_date="hôm qua"), 400)


@check("GET Service Requests")
def check_a_date_range_over_90_days_is_400_and_within_it_is_served(stack: Any) -> None:
    assert "90" in _xml_errors(_get(stack, "requests.xml", start_date="2026-01-01T00:00:00Z",
                                    end_date="2026-06-01T00:00:00Z"), 400)[0]
    now = datetime.now(UTC)
    window = {"start_date": (now - timedelta(days=1)).isoformat(), "end_date": (now + timedelta(hours=1)).isoformat()}
    assert len(_xml(_get(stack, "requests.xml", **window))) >= 1


@check("Date/time format")
def check_every_datetime_carries_a_timezone(stack: Any) -> None:
    import re

    doc = _xml(_get(stack, "requests.xml"))
    stamps = [r.findtext(n) for r in doc for n in ("requested_datetime", "updated_datetime") if r.findtext(n)]
    assert stamps and all(re.search(W3_OFFSET, s or "") for s in stamps)


# --- GET Service Request -------------------------------------------------------------------------
@check("GET Service Request")
def check_one_request_in_both_formats(stack: Any) -> None:
    ident = _created_id_xml(_post(stack, "xml", _fields(**_spot())))
    [one] = _json(_get(stack, f"requests/{ident}.json"))
    assert one["service_request_id"] == ident == _request_xml(stack, ident).findtext("service_request_id")


@check("GET Service Request")
def check_unknown_request_is_404_in_both_formats(stack: Any) -> None:
    _not_found_in_both_formats(stack, "requests/BD-19990101-999999")


# --- Errors, encoding, public safety -------------------------------------------------------------
@check("Errors")
def check_unknown_resources_answer_in_the_error_format(stack: Any) -> None:
    _not_found_in_both_formats(stack, "khong-co")


@check("Encoding")
def check_xml_is_utf8_with_vietnamese_intact_and_markup_escaped(stack: Any) -> None:
    ident = _created_id_xml(_post(stack, "xml", _fields(**_spot(),
                                                         description="Nắp cống <bể> & nghiêng \x07")))
    assert _request_xml(stack, ident).findtext("description") == "Nắp cống <bể> & nghiêng"


@check("Privacy")
def check_reporter_phone_never_appears_in_public_requests(stack: Any) -> None:
    ident = _created_id_xml(_post(stack, "xml", _fields(**_spot(), phone="0912345678", first_name="Lan",
                                                         description="Gọi tôi 0987 654 321 khi xử lý")))
    text = etree.tostring(_request_xml(stack, ident), encoding="unicode")
    assert "0912345678" not in text and "0987 654 321" not in text and "0987654321" not in text
    assert "Gọi tôi" in text  # the rest of the description is published


@pytest.mark.parametrize("name", list(CHECKS))
def test_open311_conformance(gateway_stack: Any, name: str) -> None:
    CHECKS[name](gateway_stack)


def test_the_checks_cover_the_spec_sections(standards_dir: Path) -> None:
    spec = (standards_dir / "open311" / "GeoReport_v2_index.md").read_text(encoding="utf-8")
    discovery = (standards_dir / "open311" / "Service_Discovery.md").read_text(encoding="utf-8")
    sections = {name.split(":")[0] for name in CHECKS}
    for section in ("GET Service List", "GET Service Definition", "POST Service Request", "GET Service Requests",
                    "GET Service Request", "Errors", "Date/time format", "Encoding"):
        assert f"### {section}" in spec, section  # the section exists in the frozen spec...
        assert section in sections, section  # ...and is checked here
    assert "discovery.<format>" in discovery and "Service Discovery" in sections
    # The spec's required formats and error codes are the ones checked.
    assert "XML is a required format" in spec and "404 - service_code or jurisdiction_id was not found" in spec
    assert len(CHECKS) >= 30
