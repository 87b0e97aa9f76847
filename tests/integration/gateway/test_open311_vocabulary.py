"""One vocabulary, end to end: an Open311 POST through the real gateway process reaches the real
incidents service with the catalogue's subcategory code, and the rules route it by that code."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import httpx
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.testing import bearer

DEV_KEY = "cityops-open311-dev-key"
LAT, LON = 10.9804, 106.6519  # Thủ Dầu Một


def _incident(stack: Any, number: str) -> incidents_pb2.Incident:
    with grpc.insecure_channel(stack.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        return stub.GetIncident(incidents_pb2.GetIncidentRequest(number=number), timeout=5,
                                metadata=bearer(stack.settings, "operator"))


CASES = [
    ("den-duong-hong", "Đèn đường hỏng cả dãy trên đường Lê Hồng Phong", "den_duong_hong",
     common_pb2.AGENCY_UTILITIES, incidents_pb2.PRIORITY_P4),
    ("cay-xanh-gay-do", "Cây đổ chắn ngang đường sau cơn mưa", "cay_xanh_gay_do",
     common_pb2.AGENCY_PUBLIC_WORKS, incidents_pb2.PRIORITY_P3),
    ("o-ga-mat-duong", "Hoa nở trên dải phân cách, mặt đường có ổ gà", "o_ga_mat_duong",
     common_pb2.AGENCY_PUBLIC_WORKS, incidents_pb2.PRIORITY_P4),
    ("mat-trat-tu", "Hàng xóm hát karaoke đến khuya", "mat_trat_tu_cong_cong",
     common_pb2.AGENCY_POLICE_113, incidents_pb2.PRIORITY_P3),
]
# The catalogue's required service attributes (metadata=true services) for the cases above.
REQUIRED_ATTRIBUTES = {"den-duong-hong": {"attribute[tinh_trang]": "tat"},
                       "o-ga-mat-duong": {"attribute[vi_tri]": "long_duong"}}


@pytest.mark.parametrize(("service_code", "description", "subcategory", "agency", "priority"), CASES)
def test_open311_post_is_routed_by_the_catalogue_code(
    gateway_stack: Any, service_code: str, description: str, subcategory: str, agency: int, priority: int,
) -> None:
    # Each case at its own spot (about 1 km apart), so no two fuse.
    lat = LAT + 0.01 * (1 + [c[0] for c in CASES].index(service_code))
    created = httpx.post(f"{gateway_stack.gateway_url}/open311/v2/requests.json", timeout=10, data={
        "api_key": DEV_KEY, "service_code": service_code, "lat": lat, "long": LON,
        "description": f"{description} ({uuid.uuid4().hex[:6]})", "address_string": "Phú Cường, Thủ Dầu Một",
        **REQUIRED_ATTRIBUTES.get(service_code, {}),
    })
    assert created.status_code == 201, created.text
    incident = _incident(gateway_stack, created.json()[0]["service_request_id"])
    assert incident.subcategory == subcategory
    assert incident.agency == agency
    assert incident.priority == priority
