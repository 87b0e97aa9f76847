"""Open311 rules without a network: the catalog, validation of posted requests, response shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.open311.catalog import ServiceCatalog
from cityops_gateway.open311.mapping import (
    Open311Error,
    parse_datetime,
    parse_post,
    report_request,
    to_service_request,
)
from cityops_gateway.settings import GatewaySettings
from cityops_platform.city import current_city

CATALOG = ServiceCatalog.load(GatewaySettings().open311_services_file)
VALID = {"service_code": "ngap-duong", "lat": "10.98", "long": "106.65", "attribute[do_sau_cm]": "30"}


def test_every_service_code_maps_to_a_real_category_with_vietnamese_and_english_names() -> None:
    assert len(CATALOG.services) >= 10
    for service in CATALOG.services:
        assert service.category in current_city().category_codes
        assert service.name("vi") and service.name("en") and service.name("vi") != service.name("en")
    name = CATALOG.get("ngap-duong").name("vi")
    assert any(ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ" for ch in name)


def test_services_json_entry_is_vietnamese_by_default_and_english_on_request() -> None:
    service = CATALOG.get("ngap-duong")
    assert service is not None
    assert service.to_json("vi")["service_name"] == "Ngập đường"
    assert service.to_json("en")["service_name"] == "Street flooding"
    assert service.to_json("vi")["group"] == "Ngập nước, thoát nước"


def test_missing_service_code_is_a_400() -> None:
    with pytest.raises(Open311Error) as err:
        parse_post({"lat": "10.98", "long": "106.65"}, CATALOG)
    assert err.value.http_status == 400 and "service_code" in err.value.description


def test_unknown_service_code_is_a_404_as_the_spec_says() -> None:
    with pytest.raises(Open311Error) as err:
        parse_post({**VALID, "service_code": "nope"}, CATALOG)
    assert err.value.body() == [{"code": 404, "description": err.value.description}]


@pytest.mark.parametrize("field", ["lat", "long"])
def test_missing_or_blank_coordinate_is_a_400_naming_it(field: str) -> None:
    for fields in ({k: v for k, v in VALID.items() if k != field}, {**VALID, field: "  "}):
        with pytest.raises(Open311Error) as err:
            parse_post(fields, CATALOG)
        assert err.value.http_status == 400 and err.value.description.startswith(field)


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "91", True])
def test_non_numeric_or_out_of_range_latitude_is_a_400(value: object) -> None:
    with pytest.raises(Open311Error):
        parse_post({**VALID, "lat": value}, CATALOG)


def test_idempotency_key_with_odd_characters_is_a_400() -> None:
    with pytest.raises(Open311Error):
        parse_post({**VALID, "idempotency_key": "a b/c"}, CATALOG)


def test_idempotency_key_falls_back_to_the_header() -> None:
    assert parse_post(VALID, CATALOG, idempotency_header="app-123").client_key == "app-123"


def test_too_long_description_is_a_400() -> None:
    with pytest.raises(Open311Error):
        parse_post({**VALID, "description": "x" * 4001}, CATALOG)


def test_report_request_is_an_open311_report_of_the_mapped_category() -> None:
    posted = parse_post({**VALID, "description": "Ngập", "first_name": "Lan", "last_name": "Nguyễn",
                         "phone": "0912345678", "address_string": "Đường Yersin"}, CATALOG)
    request = report_request(posted, client="app", idempotency_key="open311:app:k1")
    assert request.source == incidents_pb2.SOURCE_OPEN311
    assert request.category_code == "FLOOD" and request.subcategory == "ngap_duong"
    assert (request.location.lat, request.location.lon, request.location.address) == (10.98, 106.65, "Đường Yersin")
    assert request.reporter.name == "Lan Nguyễn" and request.reporter.phone == "0912345678"
    assert request.idempotency_key == "open311:app:k1"
    assert request.external_ids["open311_client"] == "app"
    assert request.external_ids["open311_location"] == "coordinates"
    assert request.description == "Ngập\nĐộ sâu nước (cm): 30"


def _incident(status: int) -> incidents_pb2.Incident:
    incident = incidents_pb2.Incident(
        id="7f1c0a52-8d3e-4a53-9d5f-2f1e3c4b5a69", number="BD-20261126-000123",
        category=incidents_pb2.CATEGORY_FLOOD, subcategory="ngap_duong", status=status,  # type: ignore[arg-type]
        description="Ngập sâu", agency=common_pb2.AGENCY_PUBLIC_WORKS,
        location=common_pb2.GeoPoint(lat=10.98, lon=106.65, address="Yersin"),
    )
    incident.created_at.FromDatetime(datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    incident.sla_due_at.FromDatetime(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
    return incident


def test_open_incident_maps_to_an_open_request_in_city_time() -> None:
    body = to_service_request(_incident(incidents_pb2.STATUS_ACKNOWLEDGED), CATALOG, lang="vi",
                              timezone="Asia/Ho_Chi_Minh")
    assert body["service_request_id"] == "BD-20261126-000123"
    assert body["status"] == "open" and body["status_notes"] == "Đang xác minh"
    assert body["service_code"] == "ngap-duong"
    assert body["requested_datetime"] == "2026-11-26T08:00:00+07:00"
    assert body["expected_datetime"] == "2026-11-26T12:00:00+07:00"
    assert body["agency_responsible"] == "Công trình công cộng"


@pytest.mark.parametrize("status", [incidents_pb2.STATUS_RESOLVED, incidents_pb2.STATUS_CLOSED,
                                    incidents_pb2.STATUS_CANCELLED, incidents_pb2.STATUS_DUPLICATE])
def test_finished_incident_maps_to_a_closed_request_without_expected_time(status: int) -> None:
    body = to_service_request(_incident(status), CATALOG, lang="en", timezone="Asia/Ho_Chi_Minh")
    assert body["status"] == "closed" and body["expected_datetime"] is None


def test_dates_without_offset_are_read_in_city_time() -> None:
    assert parse_datetime("2026-11-26T08:00:00", "start_date", timezone="Asia/Ho_Chi_Minh") == datetime(
        2026, 11, 26, 1, 0, tzinfo=UTC)
    with pytest.raises(Open311Error):
        parse_datetime("26/11/2026", "start_date", timezone="Asia/Ho_Chi_Minh")
