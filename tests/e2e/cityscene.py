"""Incidents for the e2e tests, reported over gRPC like a hotline call-taker's or a supervisor's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import grpc

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_platform.testing import bearer


@dataclass(frozen=True)
class Call:
    category: int
    priority: int
    lat: float
    lon: float
    address: str
    description: str
    subcategory: str = ""


# A plausible morning in Bình Dương, spread over the districts (far enough apart not to fuse).
MORNING: tuple[Call, ...] = (
    Call(incidents_pb2.CATEGORY_FLOOD, incidents_pb2.PRIORITY_P2, 10.9330, 106.7110,
         "Đại lộ Bình Dương, ngã tư Chòm Sao, Thuận An", "Ngập sâu 40 cm, xe máy chết máy hàng loạt", "ngap_duong"),
    Call(incidents_pb2.CATEGORY_TRAFFIC_ACCIDENT, incidents_pb2.PRIORITY_P3, 11.1010, 106.6150,
         "Quốc lộ 13, Mỹ Phước, Bến Cát", "Va chạm giữa xe tải và xe máy, không có người bị thương nặng"),
    Call(incidents_pb2.CATEGORY_FIELD_REPORT, incidents_pb2.PRIORITY_P4, 10.9050, 106.6950,
         "Đường Nguyễn Văn Tiết, Lái Thiêu, Thuận An", "Ổ gà lớn giữa làn đường", "o_ga_mat_duong"),
    Call(incidents_pb2.CATEGORY_ENVIRONMENT, incidents_pb2.PRIORITY_P3, 11.1300, 106.6000,
         "KCN Mỹ Phước 2, Bến Cát", "Khói đen bốc ra từ ống khói nhà máy", "o_nhiem_khong_khi"),
    Call(incidents_pb2.CATEGORY_UTILITY_OUTAGE, incidents_pb2.PRIORITY_P3, 10.9060, 106.7700,
         "Phường Dĩ An, TP Dĩ An", "Mất điện toàn khu dân cư từ 7 giờ sáng", "mat_dien"),
    Call(incidents_pb2.CATEGORY_SECURITY, incidents_pb2.PRIORITY_P3, 11.0600, 106.7900,
         "Phường Uyên Hưng, Tân Uyên", "Tụ tập gây rối trước quán karaoke"),
    Call(incidents_pb2.CATEGORY_EMERGENCY_MEDICAL, incidents_pb2.PRIORITY_P2, 11.2900, 106.7950,
         "Thị trấn Phước Vĩnh, Phú Giáo", "Người cao tuổi ngã, chấn thương vùng đầu"),
    Call(incidents_pb2.CATEGORY_ADMINISTRATIVE_PROCEDURE, incidents_pb2.PRIORITY_P4, 10.9800, 106.6600,
         "Trung tâm Hành chính tỉnh, Thủ Dầu Một", "Hỏi thủ tục cấp đổi căn cước"),
)


def report(city: Any, call: Call) -> incidents_pb2.Incident:
    request = incidents_pb2.ReportIncidentRequest(
        category=call.category,  # type: ignore[arg-type]
        subcategory=call.subcategory,
        description=call.description,
        location=common_pb2.GeoPoint(lat=call.lat, lon=call.lon, address=call.address),
        source=incidents_pb2.SOURCE_HOTLINE_1022,
        reporter=incidents_pb2.Reporter(name="Người gọi", phone="0912345678"),
        idempotency_key=f"e2e-{uuid.uuid4().hex}",
        priority_override=call.priority,  # type: ignore[arg-type]
    )
    with grpc.insecure_channel(city.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        response = stub.ReportIncident(request, timeout=10, metadata=bearer(city.settings, "supervisor", "e2e-ct"))
    return response.incident


def get_incident(city: Any, incident_id: str) -> incidents_pb2.Incident:
    with grpc.insecure_channel(city.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        return stub.GetIncident(incidents_pb2.GetIncidentRequest(id=incident_id), timeout=5,
                                metadata=bearer(city.settings, "operator"))


def assignments(city: Any, incident_id: str) -> list[dispatch_pb2.Assignment]:
    with grpc.insecure_channel(city.addr("dispatch")) as channel:
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        reply = stub.ListAssignments(dispatch_pb2.ListAssignmentsRequest(incident_id=incident_id), timeout=5,
                                     metadata=bearer(city.settings, "dispatcher"))
    return list(reply.assignments)
