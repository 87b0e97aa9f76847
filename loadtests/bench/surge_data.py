"""What the incident surge sends: hotline reports across the reference city, and the units to answer them.

The mix is chosen so that what is measured is clear: P1 categories (EMERGENCY_MEDICAL, FIRE) are
auto-dispatched; the rest (FIELD_REPORT P4, FLOOD P3 without "ngập sâu", ADMINISTRATIVE_PROCEDURE P4)
only load intake, fusion and the event consumers. Locations are uniform over the service area, so
fusion happens at its natural rate, plus an explicit share of repeats of a recent spot (duplicates).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_platform.city import current_city

AREA = current_city().text(current_city().service_area.names)  # the address of every bench report

# The service area of config/rules.yaml of incidents (lat, lon), used for sampling points inside it.
SERVICE_AREA = [(11.50, 106.33), (11.50, 106.98), (10.95, 106.98), (10.85, 106.80), (10.85, 106.62), (11.05, 106.33)]

P1_REPORTS = [
    ("CATEGORY_EMERGENCY_MEDICAL", "Cụ ông ngất xỉu trước cửa nhà, cần xe cấp cứu gấp"),
    ("CATEGORY_EMERGENCY_MEDICAL", "Công nhân té từ giàn giáo, không cử động được"),
    ("CATEGORY_EMERGENCY_MEDICAL", "Sản phụ chuyển dạ, gia đình không có xe đưa đi viện"),
    ("CATEGORY_FIRE", "Cháy kho chứa vải trong khu dân cư, khói bốc cao"),
]
OTHER_REPORTS = [
    ("CATEGORY_FIELD_REPORT", "Ổ gà lớn giữa đường, nhiều người suýt té ngã"),
    ("CATEGORY_FIELD_REPORT", "Đèn đường không sáng cả đoạn, rất nguy hiểm ban đêm"),
    ("CATEGORY_FIELD_REPORT", "Nắp cống bị mất, cần rào chắn tạm"),
    ("CATEGORY_FLOOD", "Mưa lớn làm ngập đường trước chợ, xe đi chậm"),
    ("CATEGORY_FLOOD", "Nước ngập vào nhà dân trong hẻm"),
    ("CATEGORY_ADMINISTRATIVE_PROCEDURE", "Hỏi thủ tục cấp giấy phép xây dựng nhà ở"),
    ("CATEGORY_ADMINISTRATIVE_PROCEDURE", "Hỏi tiến độ hồ sơ đăng ký hộ kinh doanh"),
]


def inside(lat: float, lon: float) -> bool:
    """Ray casting on SERVICE_AREA."""
    hit = False
    n = len(SERVICE_AREA)
    for i in range(n):
        (y1, x1), (y2, x2) = SERVICE_AREA[i], SERVICE_AREA[(i + 1) % n]
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            hit = not hit
    return hit


def random_point(rng: random.Random, margin: float = 0.01) -> tuple[float, float]:
    while True:
        lat, lon = rng.uniform(10.85 + margin, 11.50 - margin), rng.uniform(106.33 + margin, 106.98 - margin)
        if inside(lat, lon) and inside(lat + margin, lon) and inside(lat - margin, lon) \
                and inside(lat, lon + margin) and inside(lat, lon - margin):
            return lat, lon


@dataclass
class ReportMaker:
    p1_share: float
    duplicate_share: float
    seed: int = 1022

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.recent: list[tuple[str, str, float, float]] = []

    def make(self, i: int, run_id: str) -> tuple[incidents_pb2.ReportIncidentRequest, bool]:
        """The i-th report and whether it is a P1 (auto-dispatched) one."""
        rng = self.rng
        p1 = rng.random() < self.p1_share
        if not p1 and self.recent and rng.random() < self.duplicate_share:
            category, text, lat, lon = rng.choice(self.recent)
        else:
            category, text = rng.choice(P1_REPORTS if p1 else OTHER_REPORTS)
            lat, lon = random_point(rng)
            if not p1:
                self.recent = [*self.recent[-49:], (category, text, lat, lon)]
        request = incidents_pb2.ReportIncidentRequest(
            category=incidents_pb2.Category.Value(category), description=text,
            location=common_pb2.GeoPoint(lat=lat, lon=lon, address=AREA),
            source=incidents_pb2.SOURCE_HOTLINE_1022, idempotency_key=f"bench-{run_id}-{i}",
            reporter=incidents_pb2.Reporter(name="Người gọi", phone=f"0909{rng.randint(100000, 999999)}"),
        )
        return request, p1


def bench_units(count: int, run_id: str, *, seed: int = 115) -> list[dispatch_pb2.Unit]:
    """Enough units for every P1 of the surge: ALS ambulances (3 of 4) and fire engines (1 of 4)."""
    rng = random.Random(seed)
    units = []
    run = hashlib.sha1(run_id.encode()).hexdigest()[:6]  # call signs are unique: one set per surge or step
    for i in range(count):
        lat, lon = random_point(rng)
        fire = i % 4 == 3
        units.append(dispatch_pb2.Unit(
            id=f"bench-{run_id}-{i:05d}", call_sign=f"{'PCCC' if fire else 'CC115'}-BENCH-{run}-{i:05d}",
            agency=common_pb2.AGENCY_FIRE_RESCUE_114 if fire else common_pb2.AGENCY_MEDICAL_115,
            capabilities=["FIRE_ENGINE"] if fire else ["ALS", "BLS"],
            status=dispatch_pb2.UNIT_STATUS_AVAILABLE,
            location=common_pb2.GeoPoint(lat=lat, lon=lon, address=AREA),
            station="Trạm thử tải (bench)", unit_type="FIRE_ENGINE" if fire else "AMBULANCE",
            station_location=common_pb2.GeoPoint(lat=lat, lon=lon),
        ))
    return units


def units_needed(reports: int, p1_share: float) -> int:
    """Units so that no P1 waits for one: medical needs 1 ALS, a fire 2 engines + 1 ALS."""
    p1 = reports * p1_share
    # 3 of 4 P1 texts are medical (1 ALS), 1 of 4 fire (2 FIRE_ENGINE + 1 ALS): ALS 1.0·p1, FE 0.5·p1.
    als, fire = p1 * 1.0, p1 * 0.5
    # bench_units makes 3 ALS per fire engine; size by whichever runs out first, plus 20 % slack.
    return int(max(als / 0.75, fire / 0.25) * 1.2) + 8
