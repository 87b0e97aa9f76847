"""Incidents for the e2e tests, reported over gRPC like a hotline call-taker's or a supervisor's."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops.sensors.v1 import sensors_pb2, sensors_pb2_grpc
from cityops_devtools.testing import bearer

AXE = Path(__file__).with_name("vendor") / "axe.min.js"


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


@dataclass(frozen=True)
class Gauge:
    sensor_id: str
    kind: int
    name: str
    district: str
    lat: float
    lon: float
    values: tuple[float, ...]  # one reading per minute, the last one just now


# Rising water and bad air, as the gauges' gateways would report them.
GAUGES: tuple[Gauge, ...] = (
    Gauge("wl-thuanan-001", sensors_pb2.SENSOR_KIND_WATER_LEVEL, "Mực nước cầu Bà Lụa", "Thuận An",
          10.9410, 106.7040, (35.0, 44.0, 48.0, 52.0)),
    Gauge("wl-tdm-004", sensors_pb2.SENSOR_KIND_WATER_LEVEL, "Mực nước rạch Bà Cô", "Thủ Dầu Một",
          10.9700, 106.6700, (18.0, 24.0, 27.0, 29.0)),
    Gauge("pm25-bencat-002", sensors_pb2.SENSOR_KIND_AIR_QUALITY_PM25, "Trạm PM2.5 KCN Mỹ Phước", "Bến Cát",
          11.1350, 106.5950, (160.0, 171.0, 175.0, 182.0, 190.0, 188.0, 192.0, 195.0, 198.0, 201.0, 204.0, 210.0)),
)


def stream_gauges(city: Any, gauges: tuple[Gauge, ...] = GAUGES) -> sensors_pb2.IngestSummary:
    """Register the gauges and send their readings (back-dated one minute apart, ending now)."""
    metadata = bearer(city.settings, "integrator", "e2e-gateway-sensors")
    now = time.time()
    with grpc.insecure_channel(city.addr("sensors")) as channel:
        stub = sensors_pb2_grpc.SensorServiceStub(channel)
        readings = []
        for g in gauges:
            stub.RegisterSensor(sensors_pb2.RegisterSensorRequest(sensor=sensors_pb2.Sensor(
                id=g.sensor_id, kind=g.kind, name=g.name, district=g.district, reporting_interval_seconds=60,  # type: ignore[arg-type]
                location=common_pb2.GeoPoint(lat=g.lat, lon=g.lon))), timeout=5, metadata=metadata)
            for i, value in enumerate(g.values):
                at = Timestamp()
                at.FromSeconds(int(now - 60 * (len(g.values) - 1 - i)))
                readings.append(sensors_pb2.Reading(sensor_id=g.sensor_id, value=value, observed_at=at))
        return stub.IngestReadings(iter([sensors_pb2.ReadingBatch(readings=readings)]), timeout=10, metadata=metadata)


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core (vendored from npm) on the page as it is now: its serious and critical violations."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate("""async () => {
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
        .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    }""")
    return found
