"""Satisfaction ratings through the real gateway process and the real incidents service: the page a
resolution SMS links to, its form, and the Open311 rating endpoint (link token or reporter JWT)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops.incidents.v1 import incidents_pb2_grpc
from cityops_devtools.testing import bearer
from cityops_platform import ratinglinks

pytestmark = pytest.mark.integration


def resolved_citizen_incident(stack: Any, subject: str, lat: float) -> pb.Incident:
    with grpc.insecure_channel(stack.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        filed = stub.ReportIncident(pb.ReportIncidentRequest(
            category=pb.CATEGORY_FIELD_REPORT, source=pb.SOURCE_CITIZEN_APP, description="Ổ gà sâu trước trường học",
            location=common_pb2.GeoPoint(lat=lat, lon=106.6519, address="Đường Yersin"),
            idempotency_key=str(uuid.uuid4())), timeout=10, metadata=bearer(stack.settings, "citizen", subject))
        inc = filed.incident
        for to in (pb.STATUS_ACKNOWLEDGED, pb.STATUS_RESOLVED):
            inc = stub.TransitionIncident(pb.TransitionIncidentRequest(id=inc.id, to_status=to,
                                                                       expected_version=inc.version),
                                          timeout=10, metadata=bearer(stack.settings, "operator"))
        return inc


def timeline_actions(stack: Any, incident_id: str) -> list[tuple[str, str]]:
    with grpc.insecure_channel(stack.addr("incidents")) as channel:
        t = incidents_pb2_grpc.IncidentServiceStub(channel).GetTimeline(
            pb.GetTimelineRequest(id=incident_id), timeout=10, metadata=bearer(stack.settings, "operator"))
    return [(e.action, e.after) for e in t.entries]


def link(stack: Any, incident_id: str) -> str:
    return ratinglinks.issue(ratinglinks.link_key(stack.settings.jwt_secret), incident_id=incident_id,
                             nonce=str(uuid.uuid4()), expires_at=datetime.now(UTC) + timedelta(days=1))


def test_the_linked_page_takes_one_rating_and_refuses_a_second(gateway_stack: Any) -> None:
    inc = resolved_citizen_incident(gateway_stack, "cit-page", 10.9810)
    token = link(gateway_stack, inc.id)
    page = httpx.get(f"{gateway_stack.gateway_url}/ratings/{token}", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert inc.number in page.text and "Rất hài lòng" in page.text and f'action="/ratings/{token}"' in page.text

    sent = httpx.post(f"{gateway_stack.gateway_url}/ratings/{token}", data={"rating": "4", "comment": "Sửa tốt"},
                      timeout=10)
    assert sent.status_code == 201, sent.text
    assert "Cảm ơn bạn đã đánh giá" in sent.text and inc.number in sent.text
    assert ("IncidentRated", "4/5") in timeline_actions(gateway_stack, inc.id)

    again = httpx.post(f"{gateway_stack.gateway_url}/ratings/{token}", data={"rating": "1"}, timeout=10)
    assert again.status_code == 409 and "không thành công" in again.text
    assert timeline_actions(gateway_stack, inc.id).count(("IncidentRated", "4/5")) == 1


def test_bad_links_and_bad_ratings_get_clear_pages(gateway_stack: Any) -> None:
    inc = resolved_citizen_incident(gateway_stack, "cit-bad", 10.9830)
    assert httpx.get(f"{gateway_stack.gateway_url}/ratings/not-a-token", timeout=10).status_code == 400
    forged = ratinglinks.issue(ratinglinks.link_key("someone-elses-secret-0123456789abcdef"), incident_id=inc.id,
                               nonce=str(uuid.uuid4()), expires_at=datetime.now(UTC) + timedelta(days=1))
    refused = httpx.post(f"{gateway_stack.gateway_url}/ratings/{forged}", data={"rating": "5"}, timeout=10)
    assert refused.status_code == 403
    token = link(gateway_stack, inc.id)
    bad = httpx.post(f"{gateway_stack.gateway_url}/ratings/{token}", json={"rating": 9}, timeout=10)
    assert bad.status_code == 400 and "rating" in bad.json()["error"]["message"]
    good = httpx.post(f"{gateway_stack.gateway_url}/ratings/{token}", json={"rating": 3}, timeout=10)
    assert good.status_code == 201 and good.json()["incident_number"] == inc.number


def test_open311_clients_rate_with_the_link_token_or_the_reporters_token(gateway_stack: Any) -> None:
    by_link = resolved_citizen_incident(gateway_stack, "cit-o311-a", 10.9850)
    url = f"{gateway_stack.gateway_url}/open311/v2/requests/{by_link.number}/rating.json"
    created = httpx.post(url, json={"rating": 5, "comment": "Nhanh", "token": link(gateway_stack, by_link.id)},
                         timeout=10)
    assert created.status_code == 201, created.text
    [body] = created.json()
    assert body["service_request_id"] == by_link.number and body["rating"] == 5 and body["rating_id"]

    by_reporter = resolved_citizen_incident(gateway_stack, "cit-o311-b", 10.9870)
    url_b = f"{gateway_stack.gateway_url}/open311/v2/requests/{by_reporter.number}/rating.json"
    headers = dict(bearer(gateway_stack.settings, "citizen", "cit-o311-b"))
    assert httpx.post(url_b, data={"rating": "2"}, headers=headers, timeout=10).status_code == 201
    other = dict(bearer(gateway_stack.settings, "citizen", "cit-not-the-reporter"))
    assert httpx.post(url_b, data={"rating": "5"}, headers=other, timeout=10).status_code == 403
    anonymous = httpx.post(url_b, data={"rating": "5"}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()[0]["code"] == 401
    missing = httpx.post(f"{gateway_stack.gateway_url}/open311/v2/requests/BD-19990101-999999/rating.json",
                         json={"rating": 5, "token": link(gateway_stack, by_link.id)}, timeout=10)
    assert missing.status_code == 404
    assert ("IncidentRated", "2/5") in timeline_actions(gateway_stack, by_reporter.id)


def test_the_console_splits_reopens_and_reads_satisfaction(gateway_stack: Any) -> None:
    base, headers = gateway_stack.gateway_url, dict(bearer(gateway_stack.settings, "operator", "op-console"))
    # The stack is shared by the folder's modules: a spot of this test's own (field reports fuse
    # within 500 m), so the first report opens a new incident instead of joining another test's.
    spot = random.Random(uuid.uuid4().int)
    lat, lon = round(spot.uniform(11.20, 11.30), 4), round(spot.uniform(106.40, 106.50), 4)
    with grpc.insecure_channel(gateway_stack.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        md = bearer(gateway_stack.settings, "call_taker")
        first = stub.ReportIncident(pb.ReportIncidentRequest(
            category=pb.CATEGORY_FIELD_REPORT, source=pb.SOURCE_HOTLINE_1022, description="Cây đổ chắn đường",
            location=common_pb2.GeoPoint(lat=lat, lon=lon), idempotency_key=str(uuid.uuid4())),
            timeout=10, metadata=md)
        second = stub.ReportIncident(pb.ReportIncidentRequest(
            category=pb.CATEGORY_FIELD_REPORT, source=pb.SOURCE_HOTLINE_1022, description="Mất nắp cống",
            location=common_pb2.GeoPoint(lat=lat + 0.0003, lon=lon), idempotency_key=str(uuid.uuid4())),
            timeout=10, metadata=md)
    assert not first.merged, "the first report must open its own incident"
    assert second.merged
    inc_id = first.incident.id
    reports = httpx.get(f"{base}/api/incidents/{inc_id}/reports", headers=headers, timeout=10)
    assert reports.status_code == 200 and len(reports.json()["reports"]) == 2
    version = httpx.get(f"{base}/api/incidents/{inc_id}", headers=headers, timeout=10).json()["version"]

    no_version = httpx.post(f"{base}/api/incidents/{inc_id}/split", headers=headers, timeout=10,
                            json={"report_id": second.report_id, "reason": "khác sự việc"})
    assert no_version.status_code == 400
    assert [f["field"] for f in no_version.json()["error"]["fields"]] == ["expected_version"]
    split = httpx.post(f"{base}/api/incidents/{inc_id}/split", headers=headers, timeout=10,
                       json={"report_id": second.report_id, "reason": "khác sự việc", "expected_version": version})
    assert split.status_code == 200, split.text
    assert split.json()["source"]["report_count"] == 1 and split.json()["split"]["split_from"] == inc_id

    # The console's transition also needs the version now.
    stale = httpx.post(f"{base}/api/incidents/{inc_id}/transition", headers=headers, timeout=10,
                       json={"to_status": "ACKNOWLEDGED"})
    assert stale.status_code == 400
    current = split.json()["source"]["version"]
    for to in ("ACKNOWLEDGED", "RESOLVED"):
        moved = httpx.post(f"{base}/api/incidents/{inc_id}/transition", headers=headers, timeout=10,
                           json={"to_status": to, "expected_version": current})
        assert moved.status_code == 200, moved.text
        current = moved.json()["version"]
    reopened = httpx.post(f"{base}/api/incidents/{inc_id}/reopen", headers=headers, timeout=10,
                          json={"reason": "Chưa xử lý xong", "expected_version": current})
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "STATUS_ACKNOWLEDGED" and reopened.json()["reopen_count"] == 1

    rated = resolved_citizen_incident(gateway_stack, "cit-console", 10.9950)
    token = link(gateway_stack, rated.id)
    assert httpx.post(f"{base}/ratings/{token}", json={"rating": 4}, timeout=10).status_code == 201
    report = httpx.get(f"{base}/api/satisfaction", headers=headers, timeout=10,
                       params={"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()})
    assert report.status_code == 200, report.text
    rows = report.json()["rows"]
    assert report.json()["total"] == sum(r["count"] for r in rows) >= 1
    assert {(r["agency"], r["category"]) for r in rows} == {("AGENCY_PUBLIC_WORKS", "CATEGORY_FIELD_REPORT")}
    bad = httpx.get(f"{base}/api/satisfaction", headers=headers, params={"since": "hôm qua"}, timeout=10)
    assert bad.status_code == 400
