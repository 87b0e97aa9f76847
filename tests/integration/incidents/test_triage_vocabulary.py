"""Triage and vocabulary on the real api (real Postgres and Kafka): old subcategory codes are
stored as the catalogue's, Vietnamese is read with its diacritics."""

from __future__ import annotations

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb

from .conftest import Api, report_request


async def test_old_subcategory_code_is_stored_as_the_catalogue_code_and_routed_by_it(api: Api) -> None:
    reply = await api.stub.ReportIncident(
        report_request(subcategory="den_hong", description="Đèn đường không sáng ở hẻm 45", lat=10.95),
        metadata=api.md("call_taker"))
    assert reply.incident.subcategory == "den_duong_hong"
    assert reply.incident.agency == common_pb2.AGENCY_UTILITIES


async def test_flowers_blooming_are_not_an_explosion_and_gas_with_evacuation_is_urgent(api: Api) -> None:
    bloom = await api.stub.ReportIncident(
        report_request(description="Hoa nở trên dải phân cách, cần cắt tỉa cây", lat=10.96),
        metadata=api.md("call_taker"))
    assert bloom.incident.priority == pb.PRIORITY_P4
    gas = await api.stub.ReportIncident(
        report_request(description="Mùi khí gas nồng nặc trong chung cư, mọi người đang sơ tán", lat=10.97),
        metadata=api.md("call_taker"))
    assert gas.incident.priority in (pb.PRIORITY_P1, pb.PRIORITY_P2)
    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=gas.incident.id), metadata=api.md("operator"))
    assert any("mùi khí gas" in e.detail for e in timeline.entries)
