"""EIDO export and import mapping, without network: ids, components and a lossless round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.assignments.models import Assignment, AssignmentStatus
from cityops_dispatch.eido.mapping import Resource, eido_id, export_document, parse_eido_id
from cityops_dispatch.eido.parse import parse_document
from cityops_dispatch.eido.service import idempotency_key, report_request
from cityops_dispatch.incidents_view.models import Note
from cityops_platform.errors import ValidationFailed

DOMAIN = "ioc.binhduong.gov.vn"
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _incident(status: int = incidents_pb2.Status.STATUS_DISPATCHED) -> incidents_pb2.Incident:
    inc = incidents_pb2.Incident(
        id="6f1c2d3e-0000-4000-8000-000000000001", number="BD-20261126-000042",
        category=incidents_pb2.Category.CATEGORY_FIRE, subcategory="chay_nha_xuong",
        priority=incidents_pb2.Priority.PRIORITY_P1, status=status,  # type: ignore[arg-type]
        description="Cháy nhà xưởng gỗ, khói đen lớn",
        location=common_pb2.GeoPoint(lat=10.9804123, lon=106.6519456, address="Đại lộ Bình Dương, Thủ Dầu Một"),
        agency=common_pb2.Agency.AGENCY_FIRE_RESCUE_114, district="Thủ Dầu Một", eido_priority=10,
    )
    inc.updated_at.FromDatetime(NOW)
    inc.occurred_at.FromDatetime(NOW - timedelta(minutes=5))
    return inc


def _assignment(status: AssignmentStatus, unit: str, capability: str) -> Assignment:
    return Assignment(
        id=f"a-{unit}", incident_id="x", slot_id=None, unit_id=unit, status=status, capability=capability,
        run_card="fire_structure", attempt=1, auto=True, distance_m=1200, eta_seconds=120, reason="hết cháy",
        call_sign=unit.upper(), incident_number="BD-20261126-000042", assigned_by_subject="system:dispatch",
        assigned_by_role="system", replaces_assignment_id=None, assigned_at=NOW, ack_deadline=NOW,
        acknowledged_at=None, en_route_at=None, on_scene_at=None, ended_at=None, updated_at=NOW + timedelta(seconds=30),
    )


def _export(status: int = incidents_pb2.Status.STATUS_DISPATCHED) -> dict[str, object]:
    resources = [
        Resource(_assignment(AssignmentStatus.EN_ROUTE, "bd-114-tdm-01", "FIRE_ENGINE"), 2, ["FIRE_ENGINE"]),
        Resource(_assignment(AssignmentStatus.CLEARED, "bd-115-tdm-01", "ALS"), 3, ["ALS"]),
    ]
    notes = [Note("n1", "Đã phong tỏa đường vào", "op-1", NOW)]
    return export_document(_incident(status), resources=resources, notes=notes, domain=DOMAIN, now=NOW)


def test_export_has_the_nena_components_and_the_urn_id() -> None:
    doc = _export()
    assert doc["$id"] == "urn:emergency:uid:incidentid:6f1c2d3e-0000-4000-8000-000000000001:ioc.binhduong.gov.vn"
    assert doc["eidoVersion"] == "1.0"
    assert doc["lastUpdateTimeStamp"] == "2026-11-26T03:00:30.000Z"  # the newest of incident and units
    for key in ("incidentComponent", "locationComponent", "agencyComponent", "emergencyResourceComponent",
                "notesComponent"):
        assert key in doc
    incident = doc["incidentComponent"]
    assert isinstance(incident, dict)
    assert incident["incidentCommonPriorityNumber"] == 10
    assert incident["incidentTypeCommonRegistryText"] == "Fire"
    resources = doc["emergencyResourceComponent"]
    assert isinstance(resources, list)
    assert [r["emergencyResourceName"] for r in resources] == ["BD-114-TDM-01", "BD-115-TDM-01"]
    assert [r["primaryUnitStatusRegistryText"] for r in resources] == ["Enroute", "Available"]
    assert "dispositionComponent" not in doc  # still open
    json.dumps(doc)  # serialisable as is


def test_ended_incident_gets_a_disposition() -> None:
    doc = _export(incidents_pb2.Status.STATUS_RESOLVED)
    disposition = doc["dispositionComponent"]
    assert isinstance(disposition, list)
    assert disposition[0]["dispositionCommonRegistryCode"] == "Resolved"
    assert disposition[0]["dispositionDescriptionText"] == "hết cháy"


def test_round_trip_preserves_every_incident_field() -> None:
    original = _incident()
    imported = parse_document(json.dumps(_export()))
    assert imported.eido_id == eido_id(original.id, DOMAIN)
    assert (imported.source_incident_id, imported.source_domain) == (original.id, DOMAIN)
    assert imported.category == original.category and imported.subcategory == original.subcategory
    assert imported.priority == original.priority and imported.status == original.status
    assert imported.description == original.description
    assert (round(imported.lat, 7), round(imported.lon, 7)) == (original.location.lat, original.location.lon)
    assert imported.address == original.location.address
    assert imported.occurred_at == original.occurred_at.ToDatetime(tzinfo=UTC)
    assert imported.notes == ["Đã phong tỏa đường vào"]
    request = report_request(imported, now=NOW)
    assert request.source == incidents_pb2.Source.SOURCE_CAD_INTEGRATION
    assert request.idempotency_key == f"eido:{imported.eido_id}"
    assert request.external_ids["eido"] == imported.eido_id
    assert request.priority_override == original.priority


def test_foreign_cad_document_is_understood_from_common_registry_values() -> None:
    doc = {
        "$id": "urn:emergency:uid:incidentid:a56e556d871:psap.example.org",
        "eidoVersion": "1.0",
        "incidentComponent": [{"incidentTypeCommonRegistryText": "Medical", "incidentCommonPriorityNumber": 8}],
        "locationComponent": [{"locationByValue": "<presence><gml:pos>10.95 106.70</gml:pos></presence>",
                               "locationDescriptionText": "Thuận An"}],
        "notesComponent": [{"notesActionComments": "Người bất tỉnh"}, {"notesActionComments": "Đã gọi lại"}],
    }
    imported = parse_document(json.dumps(doc))
    assert imported.category == incidents_pb2.Category.CATEGORY_EMERGENCY_MEDICAL
    assert imported.priority == incidents_pb2.Priority.PRIORITY_P2
    assert (imported.lat, imported.lon) == (10.95, 106.70)
    assert imported.description == "Người bất tỉnh" and imported.notes == ["Đã gọi lại"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "json"),
        ("not json", "json"),
        ("[1, 2]", "json"),
        (json.dumps({"$id": "incident-7", "incidentComponent": {"incidentTypeCommonRegistryText": "Fire"},
                     "locationComponent": [{"locationByValue": "<gml:pos>10 106</gml:pos>"}]}), "json.$id"),
        (json.dumps({"$id": "urn:emergency:uid:incidentid:1:x.org",
                     "incidentComponent": {"incidentTypeCommonRegistryText": "Fire"},
                     "locationComponent": [{"locationByValue": "<gml:pos>95 106</gml:pos>"}]}),
         "json.locationComponent[0].locationByValue"),
        (json.dumps({"$id": "urn:emergency:uid:incidentid:1:x.org",
                     "incidentComponent": {"incidentTypeCommonRegistryText": "Alien"},
                     "locationComponent": [{"locationByValue": "<gml:pos>10 106</gml:pos>"}]}),
         "json.incidentComponent.incidentTypeCommonRegistryText"),
    ],
)
def test_bad_documents_name_the_bad_field(text: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_document(text)
    assert field in [v.field for v in caught.value.violations]


def test_eido_id_parses_and_long_ids_get_a_digest_key() -> None:
    assert parse_eido_id("urn:emergency:uid:incidentid:abc:x.org") == ("abc", "x.org")
    assert parse_eido_id("urn:emergency:uid:callid:abc:x.org") is None
    long_id = "urn:emergency:uid:incidentid:" + "a" * 120 + ":x.org"
    assert len(idempotency_key(long_id)) <= 128 and idempotency_key(long_id).startswith("eido-sha256:")
