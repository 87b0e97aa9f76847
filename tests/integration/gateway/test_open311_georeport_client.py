"""The real PyPI client ``georeport`` (pinned in requirements.txt) against the real gateway, in
both of its formats. georeport reads only (it has no POST), so requests are created with httpx
and then read back through the client; its XML path parses with xmltodict, a third parser."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import requests
from georeport import GeoReport

DEV_KEY = "cityops-open311-dev-key"


def _create(stack: Any, lat: float, lon: float) -> str:
    response = httpx.post(f"{stack.gateway_url}/open311/v2/requests.json", timeout=15, data={
        "api_key": DEV_KEY, "service_code": "den-duong-hong", "lat": lat, "long": lon,
        "attribute[tinh_trang]": "tat", "description": "Đèn đường tắt cả dãy (georeport)"})
    assert response.status_code == 201, response.text
    return str(response.json()[0]["service_request_id"])


@pytest.fixture(scope="module")
def created(gateway_stack: Any) -> str:
    return _create(gateway_stack, 10.9120, 106.7450)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_the_service_list(gateway_stack: Any, fmt: str) -> None:
    client = GeoReport(f"{gateway_stack.gateway_url}/open311/v2", jurisdiction="binhduong.gov.vn", output_format=fmt)
    services = client.get_service_list()
    by_code = {s["service_code"]: s for s in services}
    assert by_code["ngap-duong"]["service_name"] == "Ngập đường"
    assert str(by_code["ngap-duong"]["metadata"]).lower() == "true"
    assert str(by_code["khac"]["metadata"]).lower() == "false"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_a_service_definition_with_its_attributes(gateway_stack: Any, fmt: str) -> None:
    client = GeoReport(f"{gateway_stack.gateway_url}/open311/v2", output_format=fmt)
    definition = client.get_service_definition("den-duong-hong")
    attributes = definition["attributes"]
    if fmt == "xml":  # xmltodict: <attributes><attribute>…</attribute></attributes>
        attributes = attributes["attribute"]
    codes = [a["code"] for a in attributes]
    assert codes == ["tinh_trang", "so_cot"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_requests_and_one_request(gateway_stack: Any, created: str, fmt: str) -> None:
    client = GeoReport(f"{gateway_stack.gateway_url}/open311/v2", jurisdiction="binhduong.gov.vn", output_format=fmt)
    listed = client.get_service_requests(service_code="den-duong-hong", status="open")
    if isinstance(listed, dict):  # xmltodict gives a dict when there is one <request>
        listed = [listed]
    assert created in [r["service_request_id"] for r in listed]
    one = client.get_service_request(created)
    assert one["service_request_id"] == created and one["status"] == "open"
    assert one["service_code"] == "den-duong-hong"
    assert "Tình trạng đèn: Tắt hẳn" in one["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_raises_on_a_wrong_jurisdiction(gateway_stack: Any, fmt: str) -> None:
    client = GeoReport(f"{gateway_stack.gateway_url}/open311/v2", jurisdiction="sfgov.org", output_format=fmt)
    with pytest.raises(requests.HTTPError) as err:
        client.get_service_list()
    assert err.value.response.status_code == 404
