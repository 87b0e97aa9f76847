"""Reads on the real stack: diacritic-free search, filters and paging, nearby, by number,
live WatchIncidents, and validation errors that name their field."""

from __future__ import annotations

import asyncio
import math

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import status_details

from .conftest import TDM, Api, report_request

pytestmark = pytest.mark.integration


async def test_search_without_diacritics_finds_vietnamese_text(api: Api) -> None:
    flooded = await api.stub.ReportIncident(
        report_request(category=pb.CATEGORY_FLOOD, description="Đường ngập sâu sau mưa lớn"), metadata=api.md())
    await api.stub.ReportIncident(
        report_request(category=pb.CATEGORY_SECURITY, description="Mất trộm xe máy"), metadata=api.md())
    for text in ("duong ngap", "ĐƯỜNG NGẬP", "ngap duong", flooded.incident.number.lower()):
        found = await api.stub.ListIncidents(pb.ListIncidentsRequest(text=text), metadata=api.md())
        assert [i.id for i in found.incidents] == [flooded.incident.id], text
    none = await api.stub.ListIncidents(pb.ListIncidentsRequest(text="chay rung"), metadata=api.md())
    assert not none.incidents


async def test_list_filters_by_status_and_category_and_pages_newest_first(api: Api) -> None:
    ids = [(await api.report_unfused(f"Hồ sơ {i}")).id for i in range(5)]
    other = await api.stub.ReportIncident(report_request(category=pb.CATEGORY_FIRE), metadata=api.md())
    await api.stub.TransitionIncident(
        pb.TransitionIncidentRequest(id=ids[0], to_status=pb.STATUS_ACKNOWLEDGED, expected_version=1),
        metadata=api.md("operator"))

    seen: list[str] = []
    token = ""
    while True:
        page = await api.stub.ListIncidents(
            pb.ListIncidentsRequest(categories=[pb.CATEGORY_ADMINISTRATIVE_PROCEDURE], page_size=2, page_token=token),
            metadata=api.md("integrator"))
        assert len(page.incidents) <= 2
        seen += [i.id for i in page.incidents]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))
    new_only = await api.stub.ListIncidents(
        pb.ListIncidentsRequest(statuses=[pb.STATUS_NEW], categories=[pb.CATEGORY_ADMINISTRATIVE_PROCEDURE]),
        metadata=api.md())
    assert {i.id for i in new_only.incidents} == set(ids[1:])
    fires = await api.stub.ListIncidents(pb.ListIncidentsRequest(priorities=[pb.PRIORITY_P1]), metadata=api.md())
    assert [i.id for i in fires.incidents] == [other.incident.id]


async def test_find_nearby_returns_open_incidents_nearest_first(api: Api) -> None:
    near = await api.stub.ReportIncident(report_request(lat=TDM[0] + 0.002), metadata=api.md())  # ~220 m
    nearer = await api.stub.ReportIncident(
        report_request(category=pb.CATEGORY_UTILITY_OUTAGE, lat=TDM[0] + 0.001), metadata=api.md())  # ~110 m
    closed = await api.stub.ReportIncident(report_request(category=pb.CATEGORY_SECURITY), metadata=api.md())
    await api.stub.TransitionIncident(
        pb.TransitionIncidentRequest(id=closed.incident.id, to_status=pb.STATUS_CANCELLED, reason="nhầm",
                                     expected_version=closed.incident.version),
        metadata=api.md("operator"))
    await api.stub.ReportIncident(report_request(lat=TDM[0] + 0.05), metadata=api.md())  # ~5.5 km: out of range
    reply = await api.stub.FindNearbyIncidents(
        pb.FindNearbyIncidentsRequest(location=common_pb2.GeoPoint(lat=TDM[0], lon=TDM[1]), radius_m=500),
        metadata=api.md())
    assert [n.incident.id for n in reply.incidents] == [nearer.incident.id, near.incident.id]
    assert math.isclose(reply.incidents[0].distance_m, 111, abs_tol=5)
    only_field = await api.stub.FindNearbyIncidents(
        pb.FindNearbyIncidentsRequest(location=common_pb2.GeoPoint(lat=TDM[0], lon=TDM[1]), radius_m=500,
                                      categories=[pb.CATEGORY_FIELD_REPORT]), metadata=api.md())
    assert [n.incident.id for n in only_field.incidents] == [near.incident.id]


async def test_get_by_number(api: Api) -> None:
    reply = await api.stub.ReportIncident(report_request(), metadata=api.md())
    got = await api.stub.GetIncident(pb.GetIncidentRequest(number=reply.incident.number), metadata=api.md())
    assert got.id == reply.incident.id


async def test_watch_streams_matching_events_live(api: Api) -> None:
    call = api.stub.WatchIncidents(pb.WatchIncidentsRequest(categories=[pb.CATEGORY_FIRE]), metadata=api.md())
    await call.initial_metadata()  # the stream is positioned: nothing published from now on is missed
    await api.stub.ReportIncident(report_request(category=pb.CATEGORY_SECURITY), metadata=api.md())
    fire = await api.stub.ReportIncident(report_request(category=pb.CATEGORY_FIRE, description="Cháy kho"),
                                         metadata=api.md())
    event = await asyncio.wait_for(call.read(), timeout=20)
    assert event.incident_id == fire.incident.id and event.WhichOneof("body") == "reported"
    assert event.incident.category == pb.CATEGORY_FIRE
    call.cancel()


async def test_citizen_may_not_read_or_watch(api: Api) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ListIncidents(pb.ListIncidentsRequest(), metadata=api.md("citizen"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def invalid_fields(api: Api, req: pb.ReportIncidentRequest) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ReportIncident(req, metadata=api.md())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return sorted(f for f, _ in status_details(err.value))


async def test_location_outside_the_service_area_is_named(api: Api) -> None:
    assert await invalid_fields(api, report_request(lat=10.776, lon=106.700)) == ["location"]  # HCMC centre
    assert await invalid_fields(api, report_request(lat=95, lon=200)) == ["location.lat", "location.lon"]
    req = report_request()
    req.ClearField("location")
    assert await invalid_fields(api, req) == ["location"]


async def test_every_bad_field_is_named_at_once(api: Api) -> None:
    req = report_request(category=0, source=0, key=" ", description="x" * 4001, subcategory="s" * 65,
                         reporter=pb.Reporter(name="n" * 129, phone="12ab"))
    req.occurred_at.FromSeconds(4_102_444_800)  # 2100-01-01
    assert await invalid_fields(api, req) == [
        "category", "description", "idempotency_key", "occurred_at", "reporter.name", "reporter.phone", "source",
        "subcategory",
    ]


async def test_unknown_enum_values_are_invalid_argument(api: Api) -> None:
    assert await invalid_fields(api, report_request(category=99, source=42)) == ["category", "source"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ListIncidents(pb.ListIncidentsRequest(statuses=[77]), metadata=api.md())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(err.value)] == ["statuses[0]"]


async def test_bad_ids_and_tokens_are_invalid_argument_never_internal(api: Api) -> None:
    calls = [
        api.stub.GetIncident(pb.GetIncidentRequest(id="not-a-uuid"), metadata=api.md()),
        api.stub.ListIncidents(pb.ListIncidentsRequest(page_token="%%%"), metadata=api.md()),
        api.stub.ListIncidents(pb.ListIncidentsRequest(page_size=-1), metadata=api.md()),
        api.stub.AddNote(pb.AddNoteRequest(id="00000000-0000-4000-8000-000000000000", text=""), metadata=api.md()),
        api.stub.FindNearbyIncidents(pb.FindNearbyIncidentsRequest(), metadata=api.md()),
        api.stub.TransitionIncident(pb.TransitionIncidentRequest(id="x", to_status=99), metadata=api.md("admin")),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        assert status_details(err.value)
