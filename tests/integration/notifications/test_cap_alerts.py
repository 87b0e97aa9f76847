"""CAP 1.2 public warnings over the real api: two-person rule, the XML (valid against the OASIS XSD and
the data-dictionary rules), Update/Cancel references, expiry checked at approval, control characters
refused at draft and update, fan-out."""

from __future__ import annotations

import asyncio
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.testing import eventually, status_details
from cityops_notifications.alerts.conformance import conformance_errors

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]
NS = "urn:oasis:names:tc:emergency:cap:1.2"
Q = f"{{{NS}}}"
ALERT_ORDER = ["identifier", "sender", "sent", "status", "msgType", "scope"]
INFO_REQUIRED = ["language", "category", "event", "urgency", "severity", "certainty"]
# Phường Phú Cường, Thủ Dầu Một (a small ring around the river bank).
RING = [(10.975, 106.645), (10.975, 106.660), (10.990, 106.660), (10.990, 106.645)]


def flood_infos(headline_vi: str = "Ngập sâu ven sông Sài Gòn") -> list[pb.CapInfo]:
    area = pb.CapArea(area_desc="Phường Phú Cường, TP Thủ Dầu Một",
                      polygon=common_pb2.Polygon(points=[common_pb2.GeoPoint(lat=a, lon=b) for a, b in RING]))
    common = {"categories": [pb.CAP_CATEGORY_MET, pb.CAP_CATEGORY_SAFETY], "urgency": pb.URGENCY_IMMEDIATE,
                  "severity": pb.SEVERITY_SEVERE, "certainty": pb.CERTAINTY_OBSERVED, "area": area,
                  "response_types": [pb.RESPONSE_TYPE_AVOID]}
    # English first on purpose: the server orders Vietnamese first.
    return [
        pb.CapInfo(language="en-US", event="Flooding", headline="Deep flooding along the Saigon river",
                   instruction="Avoid Yersin street", **common),
        pb.CapInfo(language="vi-VN", event="Ngập lụt", headline=headline_vi,
                   description="Mực nước đo được 80 cm tại cảm biến Phú Cường.",
                   instruction="Không đi qua đường Yersin; di chuyển xe lên chỗ cao.",
                   sender_name="Trung tâm Điều hành Đô thị thông minh Bình Dương", **common),
    ]


async def draft(stack: Any, author: str, **fields: object) -> pb.CapAlert:
    alert = pb.CapAlert(infos=flood_infos(), **fields)
    return await stack.stub.DraftAlert(pb.DraftAlertRequest(alert=alert), metadata=stack.auth("supervisor", author))


async def approve(stack: Any, alert_id: str, approver: str) -> pb.CapAlert:
    return await stack.stub.ApproveAlert(pb.ApproveAlertRequest(alert_id=alert_id),
                                         metadata=stack.auth("supervisor", approver))


def parse(xml: str) -> ET.Element:
    assert conformance_errors(xml) == []  # the OASIS XSD and the CAP 1.2 data-dictionary rules
    root = ET.fromstring(xml.encode())
    assert root.tag == f"{Q}alert"
    return root


async def test_the_author_cannot_approve_their_own_alert_but_a_second_supervisor_can(stack: Any) -> None:
    drafted = await draft(stack, "gs-an")
    assert drafted.state == pb.CAP_ALERT_STATE_DRAFT and drafted.msg_type == pb.MSG_TYPE_ALERT
    assert drafted.xml == "" and drafted.author == "gs-an"
    with pytest.raises(grpc.aio.AioRpcError) as same:
        await approve(stack, drafted.id, "gs-an")
    assert same.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as operator:
        await stack.stub.ApproveAlert(pb.ApproveAlertRequest(alert_id=drafted.id), metadata=stack.auth("operator"))
    assert operator.value.code() == grpc.StatusCode.PERMISSION_DENIED
    published = await approve(stack, drafted.id, "gs-binh")
    assert published.state == pb.CAP_ALERT_STATE_PUBLISHED and published.approver == "gs-binh"
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await approve(stack, drafted.id, "gs-chau")
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_cap_xml_has_every_required_element_and_update_and_cancel_reference_the_chain(stack: Any) -> None:
    original = await approve(stack, (await draft(stack, "gs-an")).id, "gs-binh")
    got = await stack.stub.GetAlert(pb.GetAlertRequest(alert_id=original.id), metadata=stack.auth("operator"))
    root = parse(got.xml)
    assert [child.tag.removeprefix(Q) for child in root][:6] == ALERT_ORDER
    assert root.findtext(f"{Q}identifier") == original.identifier
    assert root.findtext(f"{Q}sender") == "ioc@binhduong.gov.vn"
    sent = root.findtext(f"{Q}sent") or ""
    assert sent.endswith("+07:00") and "." not in sent
    assert (root.findtext(f"{Q}status"), root.findtext(f"{Q}msgType"), root.findtext(f"{Q}scope")) == (
        "Actual", "Alert", "Public")
    assert root.find(f"{Q}references") is None
    infos = root.findall(f"{Q}info")
    assert [i.findtext(f"{Q}language") for i in infos] == ["vi-VN", "en-US"]
    for info in infos:
        for tag in INFO_REQUIRED:
            assert info.findtext(f"{Q}{tag}"), f"info/{tag} missing"
        assert [c.text for c in info.findall(f"{Q}category")] == ["Met", "Safety"]
        assert (info.findtext(f"{Q}urgency"), info.findtext(f"{Q}severity"), info.findtext(f"{Q}certainty")) == (
            "Immediate", "Severe", "Observed")
        polygon = (info.findtext(f"{Q}area/{Q}polygon") or "").split()
        assert len(polygon) == 5 and polygon[0] == polygon[-1] == "10.975,106.645"
    assert infos[0].findtext(f"{Q}event") == "Ngập lụt"
    assert infos[0].findtext(f"{Q}area/{Q}areaDesc") == "Phường Phú Cường, TP Thủ Dầu Một"
    original_ref = f"ioc@binhduong.gov.vn,{original.identifier},{sent}"

    update_draft = await stack.stub.UpdateAlert(
        pb.UpdateAlertRequest(alert_id=original.id, infos=flood_infos("Nước đang lên, ngập 1 m"), note="Cập nhật"),
        metadata=stack.auth("supervisor", "gs-an"))
    assert update_draft.msg_type == pb.MSG_TYPE_UPDATE and update_draft.state == pb.CAP_ALERT_STATE_DRAFT
    update = await approve(stack, update_draft.id, "gs-binh")
    update_root = parse(update.xml)
    assert update_root.findtext(f"{Q}msgType") == "Update"
    assert update_root.findtext(f"{Q}references") == original_ref
    before = await stack.stub.GetAlert(pb.GetAlertRequest(alert_id=original.id), metadata=stack.auth("operator"))
    assert before.state == pb.CAP_ALERT_STATE_SUPERSEDED

    cancel_draft = await stack.stub.CancelAlert(pb.CancelAlertRequest(alert_id=update.id, reason="Nước đã rút"),
                                                metadata=stack.auth("supervisor", "gs-binh"))
    with pytest.raises(grpc.aio.AioRpcError) as own:
        await approve(stack, cancel_draft.id, "gs-binh")
    assert own.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    cancel = await approve(stack, cancel_draft.id, "gs-an")
    cancel_root = parse(cancel.xml)
    update_ref = f"ioc@binhduong.gov.vn,{update.identifier},{update_root.findtext(f'{Q}sent')}"
    assert cancel_root.findtext(f"{Q}msgType") == "Cancel"
    assert cancel_root.findtext(f"{Q}note") == "Nước đã rút"
    assert (cancel_root.findtext(f"{Q}references") or "").split(" ") == [original_ref, update_ref]
    listed = await stack.stub.ListAlerts(pb.ListAlertsRequest(states=[pb.CAP_ALERT_STATE_CANCELLED]),
                                         metadata=stack.auth("operator"))
    assert update.id in {a.id for a in listed.alerts}


async def test_invalid_alert_fields_are_named(stack: Any) -> None:
    bad = pb.CapInfo(language="vi-VN", event="", urgency=99, area=pb.CapArea(area_desc="x"))
    with pytest.raises(grpc.aio.AioRpcError) as enum_error:
        await stack.stub.DraftAlert(pb.DraftAlertRequest(alert=pb.CapAlert(infos=[bad])),
                                    metadata=stack.auth("supervisor"))
    assert enum_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("alert.infos[0].urgency", "giá trị không hợp lệ (unknown enum value)") in status_details(enum_error.value)
    bad.urgency = pb.URGENCY_IMMEDIATE
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stack.stub.DraftAlert(pb.DraftAlertRequest(alert=pb.CapAlert(infos=[bad])),
                                    metadata=stack.auth("supervisor"))
    fields = {f for f, _ in status_details(invalid.value)}
    assert {"alert.infos[0].event", "alert.infos[0].categories", "alert.infos[0].severity",
            "alert.infos[0].certainty", "alert.infos[0].area"} <= fields


async def test_published_alert_fans_out_to_subscribers_of_the_area_only(stack: Any) -> None:
    def circle(lat: float, lon: float, radius_m: float) -> common_pb2.Area:
        return common_pb2.Area(circle=common_pb2.Circle(center=common_pb2.GeoPoint(lat=lat, lon=lon),
                                                        radius_m=radius_m))

    subscribed = []
    for path, area in (("/hook/cap-near", circle(10.98, 106.652, 1500)),
                       ("/hook/cap-far", circle(11.30, 106.60, 3000))):  # Bến Cát, ~35 km north
        subscribed.append(await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(
            subscription=pb.Subscription(
                channel=pb.CHANNEL_WEBHOOK, address=stack.webhooks.url(path), secret="cap-secret-0123456789",
                language="en", filter=pb.SubscriptionFilter(event_types=["CapAlert"], area=area))),
            metadata=stack.auth("integrator", "radio-station")))
    near, far = subscribed
    published = await approve(stack, (await draft(stack, "gs-an", incident_id=str(uuid.uuid4()))).id, "gs-binh")
    received = await eventually(lambda: stack.webhooks.requests.get("/hook/cap-near"), timeout=60)
    payload = json.loads(received[0][1])
    assert payload["event_type"] == "cityops.notifications.v1.CapAlert"
    assert payload["subject"] == "[ALERT] Deep flooding along the Saigon river"
    assert payload["data"]["identifier"] == published.identifier
    assert parse(payload["data"]["xml"]).findtext(f"{Q}identifier") == published.identifier
    listed = await stack.stub.ListDeliveries(pb.ListDeliveriesRequest(subscription_id=far.id),
                                             metadata=stack.auth("supervisor"))
    assert list(listed.deliveries) == [], "deliveries are created with the publication, none for a far area"
    assert near.id in {d.subscription_id for d in (await stack.stub.ListDeliveries(
        pb.ListDeliveriesRequest(event_id=published.id), metadata=stack.auth("supervisor"))).deliveries}


async def test_approving_an_alert_that_expired_meanwhile_is_failed_precondition_in_both_languages(
    stack: Any,
) -> None:
    infos = flood_infos()
    expires = datetime.now(UTC) + timedelta(seconds=2)
    for info in infos:
        info.expires.FromDatetime(expires)
    drafted = await stack.stub.DraftAlert(pb.DraftAlertRequest(alert=pb.CapAlert(infos=infos)),
                                          metadata=stack.auth("supervisor", "gs-an"))
    while datetime.now(UTC) <= expires + timedelta(seconds=1):  # noqa: ASYNC110 - waiting for the clock itself
        await asyncio.sleep(0.2)
    with pytest.raises(grpc.aio.AioRpcError) as expired:
        await approve(stack, drafted.id, "gs-binh")
    assert expired.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "hết hạn" in (expired.value.details() or "") and "expired" in (expired.value.details() or "")
    still = await stack.stub.GetAlert(pb.GetAlertRequest(alert_id=drafted.id), metadata=stack.auth("operator"))
    assert still.state == pb.CAP_ALERT_STATE_DRAFT and not still.xml


async def test_control_characters_are_refused_at_draft_and_update_naming_the_field(stack: Any) -> None:
    infos = flood_infos()
    infos[1].description = "Mực nước\x0b80 cm"
    with pytest.raises(grpc.aio.AioRpcError) as drafted:
        await stack.stub.DraftAlert(pb.DraftAlertRequest(alert=pb.CapAlert(infos=infos)),
                                    metadata=stack.auth("supervisor", "gs-an"))
    assert drafted.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The path names the block as the caller sent it (vi-VN second).
    assert [f for f, _ in status_details(drafted.value)] == ["alert.infos[1].description"]
    ok = await draft(stack, "gs-an")
    bad = flood_infos("Ngập\nsâu")
    with pytest.raises(grpc.aio.AioRpcError) as updated:
        await stack.stub.UpdateAlert(pb.UpdateAlertRequest(alert_id=ok.id, infos=bad, note="x\x01"),
                                     metadata=stack.auth("supervisor", "gs-an"))
    assert updated.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in status_details(updated.value)} == {"infos[1].headline", "note"}
