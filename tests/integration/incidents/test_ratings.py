"""RateIncident and GetSatisfactionReport on the real stack: the reporter rates once; a signed
one-time link (as sent by SMS/e-mail) rates once; forged, expired and reused links are refused; the
report aggregates per agency and category; IncidentRated is published."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import consume, status_details
from cityops_platform import ratinglinks
from cityops_platform.kafka.topics import INCIDENT_EVENTS

from .conftest import Api, report_request

pytestmark = pytest.mark.integration


async def resolved_citizen_report(api: Api, subject: str, **kw: object) -> pb.Incident:
    filed = await api.stub.ReportIncident(
        report_request(source=pb.SOURCE_CITIZEN_APP, description="Rác thải đổ trộm ven đường", **kw),  # type: ignore[arg-type]
        metadata=api.md("citizen", subject))
    inc = filed.incident
    for to in (pb.STATUS_ACKNOWLEDGED, pb.STATUS_RESOLVED):
        inc = await api.stub.TransitionIncident(
            pb.TransitionIncidentRequest(id=inc.id, to_status=to, expected_version=inc.version),
            metadata=api.md("operator"))
    return inc


def link_for(api: Api, incident_id: str, nonce: str = "", *, ttl: timedelta = timedelta(days=1),
             secret: str | None = None) -> str:
    key = ratinglinks.link_key(secret or api.settings.jwt_secret)
    return ratinglinks.issue(key, incident_id=incident_id, nonce=nonce or str(uuid.uuid4()),
                            expires_at=datetime.now(UTC) + ttl)


async def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    return err.value.code()


async def test_the_reporter_rates_a_resolved_incident_once(api: Api) -> None:
    inc = await resolved_citizen_report(api, "citizen-hoa")
    rating = await api.stub.RateIncident(pb.RateIncidentRequest(id=inc.id, rating=5, comment="Xử lý nhanh, cảm ơn"),
                                         metadata=api.md("citizen", "citizen-hoa"))
    assert (rating.rating, rating.channel, rating.incident_number) == (5, "reporter", inc.number)
    assert rating.agency == inc.agency and rating.category == inc.category
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(id=inc.id, rating=1),
                                               metadata=api.md("citizen", "citizen-hoa"))) == \
        grpc.StatusCode.FAILED_PRECONDITION
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(id=inc.id, rating=4),
                                               metadata=api.md("citizen", "someone-else"))) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(id=inc.id, rating=4),
                                               metadata=api.md("operator"))) == grpc.StatusCode.PERMISSION_DENIED

    after = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc.id), metadata=api.md())
    assert after.version == inc.version  # a rating does not change the incident
    tl = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=api.md())
    assert (tl.entries[-1].action, tl.entries[-1].after, tl.entries[-1].actor.subject) == (
        "IncidentRated", "5/5", "citizen-hoa")
    assert "Xử lý nhanh" in tl.entries[-1].detail

    def rated(record: object) -> bool:
        e = pb.IncidentEvent.FromString(record.value)  # type: ignore[attr-defined]
        return e.incident_id == inc.id and e.WhichOneof("body") == "rated"

    records = await consume(api.settings, INCIDENT_EVENTS.name, count=1, predicate=rated, timeout=60)
    body = pb.IncidentEvent.FromString(records[0].value).rated
    assert (body.rating, body.channel, body.rating_id) == (5, "reporter", rating.id)


async def test_only_resolved_or_closed_incidents_with_a_rating_of_1_to_5(api: Api) -> None:
    filed = await api.stub.ReportIncident(report_request(source=pb.SOURCE_CITIZEN_APP),
                                          metadata=api.md("citizen", "citizen-minh"))
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(id=filed.incident.id, rating=3),
                                               metadata=api.md("citizen", "citizen-minh"))) == \
        grpc.StatusCode.FAILED_PRECONDITION
    for bad in (0, 6, -1):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.stub.RateIncident(pb.RateIncidentRequest(id=filed.incident.id, rating=bad),
                                        metadata=api.md("citizen", "citizen-minh"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in status_details(err.value)] == ["rating"]


async def test_a_signed_link_rates_once_and_forged_or_expired_links_are_refused(api: Api) -> None:
    inc = await resolved_citizen_report(api, "citizen-tuan")
    token = link_for(api, inc.id)
    gateway = api.md("integrator", "svc-gateway:ratings")
    rating = await api.stub.RateIncident(pb.RateIncidentRequest(rating=2, comment="Chậm", link_token=token),
                                         metadata=gateway)
    assert (rating.incident_id, rating.channel, rating.rating) == (inc.id, "link", 2)
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(rating=5, link_token=token),
                                               metadata=gateway)) == grpc.StatusCode.FAILED_PRECONDITION
    forged = link_for(api, inc.id, secret="not-the-deployment-secret-at-all")
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(rating=5, link_token=forged),
                                               metadata=gateway)) == grpc.StatusCode.PERMISSION_DENIED
    expired = link_for(api, inc.id, ttl=timedelta(seconds=-1))
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(rating=5, link_token=expired),
                                               metadata=gateway)) == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.RateIncident(pb.RateIncidentRequest(rating=5, link_token="garbage"), metadata=gateway)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(err.value)] == ["link_token"]
    # The gateway's own token without a link may not rate.
    assert await code_of(api.stub.RateIncident(pb.RateIncidentRequest(id=inc.id, rating=5), metadata=gateway)) == \
        grpc.StatusCode.PERMISSION_DENIED
    # A second delivery's link is a second rater (e.g. SMS and e-mail to two people).
    other = await api.stub.RateIncident(pb.RateIncidentRequest(rating=4, link_token=link_for(api, inc.id)),
                                        metadata=gateway)
    assert other.id != rating.id


async def test_satisfaction_is_reported_per_agency_and_category(api: Api) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    pothole = [await resolved_citizen_report(api, f"c-{i}", category=pb.CATEGORY_FIELD_REPORT,
                                             lat=10.90 + i * 0.01, lon=106.70) for i in range(3)]
    outage = await resolved_citizen_report(api, "c-outage", category=pb.CATEGORY_UTILITY_OUTAGE,
                                           lat=11.10, lon=106.60)
    for inc, score, who in ((pothole[0], 5, "c-0"), (pothole[1], 4, "c-1"), (pothole[2], 1, "c-2"),
                            (outage, 3, "c-outage")):
        await api.stub.RateIncident(pb.RateIncidentRequest(id=inc.id, rating=score), metadata=api.md("citizen", who))
    request = pb.GetSatisfactionReportRequest()
    request.since.FromDatetime(since)
    report = await api.stub.GetSatisfactionReport(request, metadata=api.md("supervisor"))
    rows = {(r.agency, r.category): r for r in report.rows}
    field = rows[(common_pb2.AGENCY_PUBLIC_WORKS, pb.CATEGORY_FIELD_REPORT)]
    assert (field.count, field.average, list(field.distribution)) == (3, 3.33, [1, 0, 0, 1, 1])
    assert field.satisfied_share == pytest.approx(0.667, abs=0.001)
    utility = rows[(common_pb2.AGENCY_UTILITIES, pb.CATEGORY_UTILITY_OUTAGE)]
    assert (utility.count, utility.average) == (1, 3.0)
    assert report.total == 4 and report.average == 3.25

    only = pb.GetSatisfactionReportRequest(agencies=[common_pb2.AGENCY_UTILITIES])
    only.since.FromDatetime(since)
    filtered = await api.stub.GetSatisfactionReport(only, metadata=api.md("operator"))
    assert [(r.agency, r.count) for r in filtered.rows] == [(common_pb2.AGENCY_UTILITIES, 1)]
    assert await code_of(api.stub.GetSatisfactionReport(pb.GetSatisfactionReportRequest(),
                                                        metadata=api.md("citizen", "c-0"))) == \
        grpc.StatusCode.PERMISSION_DENIED
