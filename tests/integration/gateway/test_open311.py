"""Open311 GeoReport v2 against the real incidents service, through the real gateway process."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx
import pytest

from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.testing import bearer

DEV_KEY = "cityops-open311-dev-key"
# Inside Thủ Dầu Một, well within the service area.
LAT, LON = 10.9804, 106.6519


def _post(stack: Any, **fields: Any) -> httpx.Response:
    return httpx.post(f"{stack.gateway_url}/open311/v2/requests.json", data=fields, timeout=10)


def _new_request(stack: Any, **overrides: Any) -> httpx.Response:
    fields = {"api_key": DEV_KEY, "service_code": "ngap-duong", "lat": LAT, "long": LON,
              "address_string": "Đường Yersin, Phú Cường, Thủ Dầu Một",
              "description": f"Nước ngập sâu 30 cm trước chợ ({uuid.uuid4().hex[:6]})",
              "first_name": "Lan", "last_name": "Nguyễn", "phone": "0912345678", "attribute[do_sau_cm]": "30"}
    fields.update(overrides)
    return _post(stack, **fields)


def test_post_creates_an_open311_incident_that_appears_in_requests_json(gateway_stack: Any) -> None:
    created = _new_request(gateway_stack)
    assert created.status_code == 201, created.text
    request_id = created.json()[0]["service_request_id"]

    listed = httpx.get(f"{gateway_stack.gateway_url}/open311/v2/requests.json",
                       params={"service_code": "ngap-duong", "status": "open"}, timeout=10)
    assert listed.status_code == 200
    mine = [r for r in listed.json() if r["service_request_id"] == request_id]
    assert len(mine) == 1
    assert mine[0]["status"] == "open"
    assert mine[0]["service_code"] == "ngap-duong"
    assert mine[0]["service_name"] == "Ngập đường"
    assert mine[0]["requested_datetime"].endswith("+07:00")
    assert (mine[0]["lat"], mine[0]["long"]) == pytest.approx((LAT, LON))

    single = httpx.get(f"{gateway_stack.gateway_url}/open311/v2/requests/{request_id}.json", timeout=10)
    assert single.status_code == 200
    assert single.json()[0]["service_request_id"] == request_id

    # The incident behind it really is an Open311 incident of the mapped category.
    with grpc.insecure_channel(gateway_stack.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        incident = stub.GetIncident(incidents_pb2.GetIncidentRequest(number=request_id), timeout=5,
                                    metadata=bearer(gateway_stack.settings, "operator"))
    assert incident.category == incidents_pb2.CATEGORY_FLOOD
    assert incident.subcategory == "ngap_duong"
    assert incidents_pb2.SOURCE_OPEN311 in incident.sources


def test_json_post_with_the_same_idempotency_key_returns_the_same_request(gateway_stack: Any) -> None:
    body = {"api_key": DEV_KEY, "service_code": "den-duong-hong", "lat": 10.9, "long": 106.75,
            "description": "Đèn đường tắt cả dãy", "idempotency_key": f"app-{uuid.uuid4().hex}",
            "attribute": {"tinh_trang": "tat"}}  # a JSON body answers the service definition as an object
    url = f"{gateway_stack.gateway_url}/open311/v2/requests.json"
    first = httpx.post(url, json=body, timeout=10)
    second = httpx.post(url, json=body, timeout=10)
    assert first.status_code == second.status_code == 201, first.text
    assert first.json()[0]["service_request_id"] == second.json()[0]["service_request_id"]


def test_unknown_service_code_gets_a_404_open311_error(gateway_stack: Any) -> None:
    response = _new_request(gateway_stack, service_code="khong-ton-tai")
    assert response.status_code == 404
    [error] = response.json()
    assert error["code"] == 404
    assert "service_code" in error["description"]


@pytest.mark.parametrize("missing", ["lat", "long"])
def test_missing_coordinates_get_a_400_open311_error(gateway_stack: Any, missing: str) -> None:
    fields = {"api_key": DEV_KEY, "service_code": "ngap-duong", "lat": LAT, "long": LON}
    del fields[missing]
    response = _post(gateway_stack, **fields)
    assert response.status_code == 400
    [error] = response.json()
    assert error == {"code": 400, "description": error["description"]}
    assert missing in error["description"]


def test_missing_api_key_gets_a_403_open311_error(gateway_stack: Any) -> None:
    response = _post(gateway_stack, service_code="ngap-duong", lat=LAT, long=LON)
    assert response.status_code == 403
    assert response.json()[0]["code"] == 403
    assert "api_key" in response.json()[0]["description"]


def test_wrong_api_key_gets_a_403_open311_error(gateway_stack: Any) -> None:
    response = _post(gateway_stack, api_key="not-a-key", service_code="ngap-duong", lat=LAT, long=LON)
    assert response.status_code == 403
    assert response.json()[0]["code"] == 403


def test_location_outside_the_city_gets_a_400_naming_the_field(gateway_stack: Any) -> None:
    response = _new_request(gateway_stack, lat=21.0285, long=105.8542)  # Hà Nội
    assert response.status_code == 400
    assert "location" in response.json()[0]["description"]


def test_unknown_request_id_gets_a_404_open311_error(gateway_stack: Any) -> None:
    response = httpx.get(f"{gateway_stack.gateway_url}/open311/v2/requests/BD-19990101-999999.json", timeout=10)
    assert response.status_code == 404
    assert response.json()[0]["code"] == 404


def test_services_json_lists_vietnamese_names_first_and_english_on_request(gateway_stack: Any) -> None:
    vi = httpx.get(f"{gateway_stack.gateway_url}/open311/v2/services.json", timeout=10).json()
    en = httpx.get(f"{gateway_stack.gateway_url}/open311/v2/services.json?lang=en", timeout=10).json()
    by_code_vi = {s["service_code"]: s for s in vi}
    by_code_en = {s["service_code"]: s for s in en}
    assert by_code_vi["ngap-duong"]["service_name"] == "Ngập đường"
    assert by_code_en["ngap-duong"]["service_name"] == "Street flooding"
    definition = httpx.get(f"{gateway_stack.gateway_url}/open311/v2/services/ngap-duong.json", timeout=10).json()
    assert definition["service_code"] == "ngap-duong"
    assert [a["code"] for a in definition["attributes"]] == ["do_sau_cm", "phuong_tien", "bat_dau_luc"]


@pytest.mark.parametrize(("fields", "ward"), [
    # an address_string alone, written the pre-2025 way: geocoded and converted to today's ward
    ({"address_string": "phường Hiệp Thành, thành phố Thủ Dầu Một, tỉnh Bình Dương"}, ("25750", "Phường Phú Lợi")),
    ({"address_string": "Đường Nguyễn Văn Tiết, phường Lái Thiêu, thị xã Thuận An"},
     ("25966", "Phường Lái Thiêu")),
    # coordinates with an old-style address naming a ward: the named ward wins (another service
    # than the case above, so the two nearby reports do not fuse into one incident)
    ({"service_code": "khac", "lat": 10.9046, "long": 106.7053,
      "address_string": "xã An Sơn, TP Thuận An, Bình Dương"}, ("25978", "Phường Thuận An")),
    # coordinates and a district-level address: the point decides among the district's units
    ({"service_code": "den-duong-hong", "attribute[tinh_trang]": "tat", "lat": 10.9046, "long": 106.7053,
      "address_string": "Thuận An, Bình Dương"}, ("25966", "Phường Lái Thiêu")),
])
def test_an_old_style_address_gets_the_incident_its_current_ward(
    gateway_stack: Any, fields: dict[str, Any], ward: tuple[str, str],
) -> None:
    body = {"api_key": DEV_KEY, "service_code": "ngap-duong", "description": f"Sự cố ({uuid.uuid4().hex[:6]})",
            **fields}
    if body["service_code"] == "ngap-duong":
        body["attribute[do_sau_cm]"] = "30"
    created = _post(gateway_stack, **body)
    assert created.status_code == 201, created.text
    request_id = created.json()[0]["service_request_id"]
    with grpc.insecure_channel(gateway_stack.addr("incidents")) as channel:
        incident = incidents_pb2_grpc.IncidentServiceStub(channel).GetIncident(
            incidents_pb2.GetIncidentRequest(number=request_id), timeout=5,
            metadata=bearer(gateway_stack.settings, "operator"))
    assert (incident.ward_code, incident.ward_name) == ward
