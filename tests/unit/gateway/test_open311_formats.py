"""Open311 without a network: XML rendering, service definitions and their validation, the
gazetteer behind address_string / address_id, jurisdiction_id, and public-safe text."""

from __future__ import annotations

import pytest
from lxml import etree

from cityops_gateway.open311.catalog import ServiceCatalog
from cityops_gateway.open311.endpoint import Endpoint
from cityops_gateway.open311.formats import to_xml
from cityops_gateway.open311.gazetteer import Gazetteer
from cityops_gateway.open311.mapping import Open311Error, parse_post
from cityops_gateway.publicsafe import redact_contacts
from cityops_gateway.settings import GatewaySettings
from cityops_platform.geo.admin_units import admin_units

CONFIG = GatewaySettings()
CATALOG = ServiceCatalog.load(CONFIG.open311_services_file)
GAZETTEER = Gazetteer.load(CONFIG.open311_gazetteer_file)
ENDPOINT = Endpoint.load(CONFIG.open311_endpoint_file)


def _post(**fields: str) -> object:
    return parse_post(fields, CATALOG, gazetteer=GAZETTEER)


def test_xml_lists_become_containers_of_repeated_elements_and_none_an_empty_element() -> None:
    doc = etree.fromstring(to_xml("service_requests", [{"service_request_id": "BD-1", "account_id": None}]).encode())
    assert doc.tag == "service_requests"
    assert [c.tag for c in doc] == ["request"]
    assert doc.findtext("request/service_request_id") == "BD-1"
    assert doc.find("request/account_id") is not None and doc.findtext("request/account_id") == ""


def test_xml_starts_with_the_utf8_declaration_and_escapes_markup_and_drops_control_characters() -> None:
    text = to_xml("errors", [{"code": 400, "description": "<b>&\x01 Ngập"}])
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    doc = etree.fromstring(text.encode("utf-8"))
    assert doc.findtext("error/description") == "<b>& Ngập"
    assert doc.findtext("error/code") == "400"


def test_services_with_attributes_have_metadata_true_and_a_definition_in_spec_order() -> None:
    flood = CATALOG.get("ngap-duong")
    assert flood is not None and flood.to_json("vi")["metadata"] is True
    definition = flood.definition("vi")
    assert [a["order"] for a in definition["attributes"]] == sorted(a["order"] for a in definition["attributes"])
    first = definition["attributes"][0]
    assert list(first) == ["variable", "code", "datatype", "required", "datatype_description", "order", "description"]
    assert CATALOG.get("khac").to_json("vi")["metadata"] is False  # type: ignore[union-attr]


def test_service_definition_xml_nests_attributes_and_values() -> None:
    flood = CATALOG.get("ngap-duong")
    assert flood is not None
    doc = etree.fromstring(to_xml("service_definition", flood.definition("en")).encode())
    values = doc.findall("attributes/attribute[code='phuong_tien']/values/value")
    assert [v.findtext("key") for v in values] == ["tat_ca", "o_to", "khong"]
    assert values[0].findtext("name") == "All vehicles"


def test_missing_required_attribute_and_bad_list_value_are_all_reported() -> None:
    with pytest.raises(Open311Error) as err:
        _post(service_code="mat-dien", lat="10.98", long="106.65", **{"attribute[pham_vi]": "ca_tinh"})
    body = err.value.body()
    assert [e["code"] for e in body] == [400, 400]
    assert body[0]["description"].startswith("attribute[pham_vi]")
    assert body[1]["description"].startswith("attribute[day_dien_dut]")


@pytest.mark.parametrize(("code", "value", "fragment"), [
    ("attribute[do_sau_cm]", "sâu lắm", "phải là số"),
    ("attribute[bat_dau_luc]", "hôm qua", "ISO 8601"),
    ("attribute[khong_co]", "1", "không thuộc"),
])
def test_attribute_datatypes_are_checked(code: str, value: str, fragment: str) -> None:
    fields = {"service_code": "ngap-duong", "lat": "10.98", "long": "106.65", "attribute[do_sau_cm]": "30", code: value}
    with pytest.raises(Open311Error) as err:
        parse_post(fields, CATALOG, gazetteer=GAZETTEER)
    assert any(fragment in e["description"] for e in err.value.body())


def test_multivaluelist_takes_several_values_and_they_reach_the_description() -> None:
    posted = parse_post({"service_code": "rac-thai", "lat": "10.98", "long": "106.65"}, CATALOG,
                        answers={"loai_rac": ["xa_ban", "sinh_hoat"]})
    assert posted.answers == "Loại rác: Xà bần, Rác sinh hoạt"  # type: ignore[attr-defined]


def test_address_string_alone_is_geocoded_to_the_street_in_its_ward() -> None:
    posted = _post(service_code="khac", address_string="12 Đường Yersin, phường Phú Cường, TP. Thủ Dầu Một")
    assert (posted.located_by, posted.address_id) == ("street", "s-yersin-tdm")  # type: ignore[attr-defined]
    assert (posted.lat, posted.lon) == (10.9795, 106.6545)  # type: ignore[attr-defined]


def test_old_style_ward_names_find_the_2025_ward() -> None:
    place = GAZETTEER.geocode("khu phố 2, phường Mỹ Phước, thị xã Bến Cát, tỉnh Bình Dương")
    assert place is not None and place.id == "p-ben-cat" and place.precision == "unit"


@pytest.mark.parametrize(("address", "unit"), [
    # pre-2025 forms: the ward each became (the official conversion, split wards to their default)
    ("phường Lái Thiêu, thị xã Thuận An, tỉnh Bình Dương", "p-lai-thieu"),
    ("xã An Sơn, TP Thuận An, Bình Dương", "p-thuan-an"),
    ("phường Hiệp Thành, TP. Thủ Dầu Một", "p-phu-loi"),
    ("phường Bình Chuẩn, thành phố Thuận An", "p-thuan-giao"),
    ("thị trấn Phước Vĩnh, huyện Phú Giáo", "x-phu-giao"),
    ("phuong Tan Binh, thi xa Di An", "p-tan-dong-hiep"),
    # the 2025 form
    ("phường Bình Hòa, TP. Hồ Chí Minh", "p-binh-hoa"),
])
def test_old_and_new_addresses_find_the_current_unit(address: str, unit: str) -> None:
    place = GAZETTEER.geocode(address)
    assert place is not None and place.id == unit, (address, place)
    assert place.ward_code and admin_units().get(place.ward_code) is not None


def test_diacritics_are_matched_first_and_bare_spellings_only_when_unambiguous() -> None:
    assert GAZETTEER.geocode("Phường Tân Hiệp") is not None
    place = GAZETTEER.geocode("duong nguyen an ninh, di an")
    assert place is not None and place.id == "s-nguyen-an-ninh-di-an"
    assert GAZETTEER.geocode("Quốc lộ 13") is None  # three stretches, no ward named: not guessed


def test_unknown_address_is_accepted_as_unlocated_or_refused_by_setting() -> None:
    posted = _post(service_code="khac", address_string="nhà ông Tư, ấp 3")
    assert posted.located_by == "unlocated"  # type: ignore[attr-defined]
    assert "xác minh" in posted.notice  # type: ignore[attr-defined]
    with pytest.raises(Open311Error) as err:
        parse_post({"service_code": "khac", "address_string": "nhà ông Tư"}, CATALOG, gazetteer=GAZETTEER,
                   unlocated_ok=False)
    assert err.value.http_status == 400 and err.value.description.startswith("address_string")


def test_address_id_locates_and_an_unknown_one_is_a_400() -> None:
    posted = _post(service_code="khac", address_id="x-dau-tieng")
    # a unit entry takes its point from the city's administrative registry (Xã Dầu Tiếng, 25777)
    assert (posted.located_by, posted.lat) == ("address_id", admin_units().get("25777").lat)  # type: ignore[attr-defined,union-attr]
    with pytest.raises(Open311Error) as err:
        _post(service_code="khac", address_id="khong-co")
    assert err.value.http_status == 400 and "address_id" in err.value.description


def test_no_location_at_all_is_a_400_naming_the_three_forms() -> None:
    with pytest.raises(Open311Error) as err:
        _post(service_code="khac")
    assert "address_string" in err.value.description and "address_id" in err.value.description


def test_wrong_jurisdiction_is_a_404_and_a_missing_one_is_fine_unless_required() -> None:
    ENDPOINT.check_jurisdiction({"jurisdiction_id": "binhduong.gov.vn"})
    ENDPOINT.check_jurisdiction({})
    with pytest.raises(Open311Error) as err:
        ENDPOINT.check_jurisdiction({"jurisdiction_id": "sfgov.org"})
    assert err.value.http_status == 404
    strict = Endpoint("binhduong.gov.vn", True, "", "", "")
    with pytest.raises(Open311Error) as err:
        strict.check_jurisdiction({"jurisdiction_id": ""})
    assert err.value.http_status == 400


def test_discovery_lists_both_formats_for_the_georeport_v2_endpoint() -> None:
    doc = ENDPOINT.discovery("http://ioc.example/open311/v2")
    assert doc["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert doc["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    xml = etree.fromstring(to_xml("discovery", doc).encode())
    assert [f.text for f in xml.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


@pytest.mark.parametrize("text", ["gọi 0912345678 nhé", "sđt 0912 345 678", "+84 912.345.678", "lan@example.vn"])
def test_public_text_masks_phone_numbers_and_emails(text: str) -> None:
    masked = redact_contacts(text)
    assert "345" not in masked and "@" not in masked


def test_public_text_keeps_house_numbers_and_dates() -> None:
    assert redact_contacts("Số 12 Yersin, ngập 30 cm từ 26/11/2026") == "Số 12 Yersin, ngập 30 cm từ 26/11/2026"
