"""EIDO export and import, without network: NENA-STA-021.1b's schema and registries (read from the
standards folder), the city's vocabulary (config/eido.yaml), ids, components and a lossless round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.assignments.models import Assignment, AssignmentStatus
from cityops_dispatch.eido import parse
from cityops_dispatch.eido.mapping import CONTEXT, ImportedIncident, Resource, eido_id, export_document, parse_eido_id
from cityops_dispatch.eido.service import conformance_violations, idempotency_key, report_request
from cityops_dispatch.eido.standard import load_standard
from cityops_dispatch.eido.vocabulary import load_vocabulary, vocabulary_from_dict
from cityops_dispatch.incidents_view.models import Note
from cityops_platform.errors import ValidationFailed

DOMAIN = "ioc.binhduong.gov.vn"
STANDARD = load_standard()
VOCAB = load_vocabulary()
SAMPLE = STANDARD.folder / "eido" / "021.1b" / "Sample call transfer EIDO.json"


def parse_document(text: str) -> ImportedIncident:
    return parse.parse_document(text, standard=STANDARD, vocab=VOCAB)


def violations(doc: dict[str, object]) -> dict[str, str]:
    return {v.field: v.description for v in conformance_violations(doc, standard=STANDARD, vocab=VOCAB)}
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
        Resource(_assignment(AssignmentStatus.EN_ROUTE, "bd-114-tdm-01", "FIRE_ENGINE"), "FIRE_RESCUE_114",
                 ["FIRE_ENGINE"]),
        Resource(_assignment(AssignmentStatus.CLEARED, "bd-115-tdm-01", "ALS"), "MEDICAL_115", ["ALS"]),
    ]
    notes = [Note("n1", "Đã phong tỏa đường vào", "op-1", NOW)]
    return export_document(_incident(status), resources=resources, notes=notes, domain=DOMAIN, now=NOW,
                           vocab=VOCAB)


def test_open_and_ended_exports_validate_against_nenas_schema_and_registries() -> None:
    for status in (incidents_pb2.Status.STATUS_NEW, incidents_pb2.Status.STATUS_DISPATCHED,
                   incidents_pb2.Status.STATUS_RESOLVED, incidents_pb2.Status.STATUS_CANCELLED,
                   incidents_pb2.Status.STATUS_DUPLICATE):
        assert violations(_export(status)) == {}, status


def test_export_components_ids_and_registry_values() -> None:
    doc = _export()
    assert doc["@context"] == {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"} == CONTEXT
    incident = doc["incidentComponent"]
    assert isinstance(incident, dict)
    # The incident component carries the Incident Tracking Identifier; the EIDO has its own $id.
    assert incident["$id"] == "urn:emergency:uid:incidentid:6f1c2d3e-0000-4000-8000-000000000001:ioc.binhduong.gov.vn"
    assert doc["$id"] != incident["$id"] and str(doc["$id"]).startswith("urn:emergency:uid:eidodatacomponent:")
    assert doc["lastUpdateTimeStamp"] == "2026-11-26T03:00:30.000Z"  # the newest of incident and units
    assert incident["incidentTypeCommonRegistryText"] == "FSTRU"  # chay_nha_xuong → structure fire
    assert incident["incidentStatusCommonRegistryText"] == ["Active", "ResourcesAssigned"]
    assert incident["incidentCommonPriorityNumber"] == 10
    agencies = doc["agencyComponent"]
    assert isinstance(agencies, list)
    assert [a["agencyType"] for a in agencies] == [["psap"], ["fire"], ["ems"]]
    assert agencies[0]["agencyRoleDescriptionRegistryText"] == ["CallReceiving", "Dispatching"]
    resources, agents = doc["emergencyResourceComponent"], doc["agentComponent"]
    assert isinstance(resources, list) and isinstance(agents, list)
    assert [r["emergencyResourceTypeCommonRegistryText"] for r in resources] == [
        "StructureFireEngineType1", "GroundALSAmbulance"]
    assert [r["primaryUnitStatusRegistryText"] for r in resources] == ["NotAvailable", "Available"]
    assert [r["secondaryUnitStatusRegistryText"] for r in resources] == [["EnRoute"], ["Cleared"]]
    assert {r["agentReference"][0]["$ref"] for r in resources} == {a["$id"] for a in agents}
    assert "dispositionComponent" not in doc and "dispositionComponent" not in incident  # still open
    json.dumps(doc)  # serialisable as is


def test_ended_incident_gets_a_registry_disposition_inside_the_incident() -> None:
    doc = _export(incidents_pb2.Status.STATUS_RESOLVED)
    assert "dispositionComponent" not in doc
    incident = doc["incidentComponent"]
    assert isinstance(incident, dict)
    disposition = incident["dispositionComponent"]
    assert disposition[0]["dispositionCommonRegistryCode"] == "18"
    assert disposition[0]["dispositionDescriptionText"] == "hết cháy"
    cancelled = _export(incidents_pb2.Status.STATUS_DUPLICATE)["incidentComponent"]
    assert isinstance(cancelled, dict) and cancelled["dispositionComponent"][0]["dispositionCommonRegistryCode"] == "22"


@pytest.mark.parametrize(
    ("defect", "field"),
    [
        (lambda d: d["@context"].update({"@vocab": "http://nena.org/EIDO#"}), "json.@context.@vocab"),
        (lambda d: d["emergencyResourceComponent"][0].pop("agentReference"), "json.emergencyResourceComponent[0]"),
        (lambda d: d.update({"$id": d["incidentComponent"]["$id"]}), "json.incidentComponent.$id"),
        (lambda d: d["agencyComponent"][1].update({"agencyType": ["urn:emergency:service:responder.fire"]}),
         "json.agencyComponent[1].agencyType[0]"),
        (lambda d: d["emergencyResourceComponent"][0].update({"secondaryUnitStatusRegistryText": []}),
         "json.emergencyResourceComponent[0].secondaryUnitStatusRegistryText"),
        (lambda d: d["incidentComponent"].update({"incidentTypeCommonRegistryText": "Fire"}),
         "json.incidentComponent.incidentTypeCommonRegistryText"),
        (lambda d: d["incidentComponent"].update({"incidentStatusCommonRegistryText": ["Dispatched"]}),
         "json.incidentComponent.incidentStatusCommonRegistryText[0]"),
        (lambda d: d["agencyComponent"][0].update({"agencyRoleDescriptionRegistryText": ["Dispatch"]}),
         "json.agencyComponent[0].agencyRoleDescriptionRegistryText[0]"),
        (lambda d: d["emergencyResourceComponent"][0].update({"primaryUnitStatusRegistryText": "Enroute"}),
         "json.emergencyResourceComponent[0].primaryUnitStatusRegistryText"),
        (lambda d: d["emergencyResourceComponent"][0].update({"emergencyResourceTypeCommonRegistryText": "Engine"}),
         "json.emergencyResourceComponent[0].emergencyResourceTypeCommonRegistryText"),
        (lambda d: d["incidentComponent"]["dispositionComponent"][0].update(
            {"dispositionCommonRegistryCode": "Resolved"}),
         "json.incidentComponent.dispositionComponent[0].dispositionCommonRegistryCode"),
        (lambda d: d.update({"lastUpdateTimeStamp": "2026-11-26 03:00"}), "json.lastUpdateTimeStamp"),
    ],
)
def test_each_defect_of_the_old_exporter_is_caught_by_the_conformance_checks(defect: object, field: str) -> None:
    doc = json.loads(json.dumps(_export(incidents_pb2.Status.STATUS_RESOLVED)))
    defect(doc)  # type: ignore[operator]
    found = violations(doc)
    assert field in found, found


def test_vocabulary_refuses_a_value_outside_the_registries() -> None:
    import yaml

    from cityops_dispatch.eido.vocabulary import CONFIG_FILE

    data = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    data["incident_types"]["FIRE"]["type"] = "Fire"
    with pytest.raises(ValueError, match="Fire"):
        vocabulary_from_dict(data, STANDARD)
    data = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    data["agency_types"]["POLICE_113"] = "urn:emergency:service:responder.police"
    with pytest.raises(ValueError, match="URN"):
        vocabulary_from_dict(data, STANDARD)


def test_round_trip_preserves_every_incident_field() -> None:
    original = _incident()
    imported = parse_document(json.dumps(_export()))
    assert imported.eido_id == eido_id(original.id, DOMAIN)
    assert (imported.source_incident_id, imported.source_domain) == (original.id, DOMAIN)
    assert original.category == incidents_pb2.Category.CATEGORY_FIRE  # an old producer's enum only
    assert imported.category == "FIRE" and imported.subcategory == original.subcategory
    assert imported.priority == original.priority and imported.status == original.status
    assert imported.description == original.description
    assert (round(imported.lat, 7), round(imported.lon, 7)) == (original.location.lat, original.location.lon)
    assert imported.address == original.location.address and imported.location_quality == ""
    assert imported.occurred_at == original.occurred_at.ToDatetime(tzinfo=UTC)
    assert imported.notes == ["Đã phong tỏa đường vào"]
    request = report_request(imported, now=NOW)
    assert request.source == incidents_pb2.Source.SOURCE_CAD_INTEGRATION
    assert request.idempotency_key == f"eido:{imported.eido_id}"
    assert request.external_ids["eido"] == imported.eido_id and "eido_location" not in request.external_ids
    assert request.priority_override == original.priority


def _sample() -> dict[str, object]:
    return dict(json.loads(SAMPLE.read_text(encoding="utf-8")))


def _foreign(incident: dict[str, object], civic: str | None = None) -> dict[str, object]:
    """NENA's sample call transfer with an incident added (and its routing location's civic address)."""
    doc = _sample()
    doc["incidentComponent"] = {
        "$id": "urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us",
        "lastUpdateTimeStamp": "2021-04-30T14:43:49.439-04:00", "updatedByAgencyReference": {"$ref": "state.pa.us"},
        "locationReference": [{"$ref": "123e4567-dead-12d3-a456-426614174000"}], **incident,
    }
    if civic is not None:
        locations = doc["locationComponent"]
        assert isinstance(locations, list)
        locations[0]["locationByValue"] = (
            '<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" entity="pres:x@y"><tuple id="t"><status><gp:geopriv>'
            f'<gp:location-info><civicAddress xmlns="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">{civic}'
            "</civicAddress></gp:location-info></gp:geopriv></status></tuple></presence>")
    return doc


def test_nenas_sample_is_schema_valid_but_without_an_incident_it_is_refused_on_incident_component() -> None:
    assert STANDARD.schema_violations(_sample()) == []
    with pytest.raises(ValidationFailed) as caught:
        parse_document(SAMPLE.read_text(encoding="utf-8"))
    assert [v.field for v in caught.value.violations] == ["json.incidentComponent"]


def test_structure_fire_typed_fstru_with_a_civic_address_only_is_imported_approximately() -> None:
    doc = _foreign({"incidentTypeCommonRegistryText": "FSTRU", "incidentCommonPriorityNumber": 9},
                   civic="<country>VN</country><A1>Thành phố Hồ Chí Minh</A1><A3>Phường Dĩ An</A3>"
                         "<RD>Đường số 9</RD><HNO>12</HNO>")
    assert STANDARD.schema_violations(doc) == []
    imported = parse_document(json.dumps(doc))
    assert imported.category == "FIRE"
    assert imported.subcategory == "chay_nha_xuong"  # the first city subcategory exporting as FSTRU
    assert imported.priority == incidents_pb2.Priority.PRIORITY_P1
    assert (imported.lat, imported.lon) == (10.905, 106.770)  # Dĩ An's centre
    assert imported.location_quality == "approximate"
    assert imported.address == "12, Đường số 9, Phường Dĩ An, Thành phố Hồ Chí Minh"
    assert "Dĩ An" in imported.location_note and imported.location_note in imported.notes
    assert imported.eido_id == "urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us"
    assert report_request(imported, now=NOW).external_ids["eido_location"] == "approximate"


def test_civic_address_matches_with_diacritics_only() -> None:
    # "Di An" without its diacritics is not "Dĩ An": placed at the fallback, flagged unresolved.
    doc = _foreign({"incidentTypeCommonRegistryText": "MVA"}, civic="<A3>Di An</A3>")
    imported = parse_document(json.dumps(doc))
    assert imported.category == "TRAFFIC_ACCIDENT"
    assert imported.location_quality == "unresolved"
    assert (imported.lat, imported.lon) == (VOCAB.fallback_place.lat, VOCAB.fallback_place.lon)


def test_registry_type_the_city_does_not_map_imports_as_other_and_statuses_map_back() -> None:
    doc = _foreign({"incidentTypeCommonRegistryText": "PARKING",
                    "incidentStatusCommonRegistryText": ["Active", "ResourcesOnscene"]}, civic="<A3>Thuận An</A3>")
    imported = parse_document(json.dumps(doc))
    assert imported.category == "OTHER"
    assert imported.status == incidents_pb2.Status.STATUS_ON_SCENE
    assert (imported.lat, imported.lon) == (10.925, 106.712)


def test_point_location_from_a_foreign_cad_is_exact() -> None:
    doc = _foreign({"incidentTypeCommonRegistryText": "SICK", "incidentCommonPriorityNumber": 8})
    locations = doc["locationComponent"]
    assert isinstance(locations, list)
    locations[0]["locationByValue"] = "<presence><gml:pos>10.95 106.70</gml:pos></presence>"
    doc["notesComponent"] = [
        {"$id": "n1", "lastUpdateTimeStamp": "2021-04-30T14:43:49-04:00", "updatedByAgencyReference": {"$ref": "s"},
         "notesActionComments": "Người bất tỉnh"},
        {"$id": "n2", "lastUpdateTimeStamp": "2021-04-30T14:43:49-04:00", "updatedByAgencyReference": {"$ref": "s"},
         "notesActionComments": "Đã gọi lại"}]
    imported = parse_document(json.dumps(doc))
    assert imported.category == "EMERGENCY_MEDICAL"
    assert imported.priority == incidents_pb2.Priority.PRIORITY_P2
    assert (imported.lat, imported.lon, imported.location_quality) == (10.95, 106.70, "")
    assert imported.description == "Người bất tỉnh" and imported.notes == ["Đã gọi lại"]


def _valid_minimal(**incident: object) -> dict[str, object]:
    return _foreign({"incidentTypeCommonRegistryText": "FSTRU", **incident}, civic="<A3>Dĩ An</A3>")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "json"),
        ("not json", "json"),
        ("[1, 2]", "json"),
        (json.dumps({k: v for k, v in _valid_minimal().items() if k != "agencyComponent"}), "json"),
        (json.dumps({**_valid_minimal(), "eidoVersion": "2.0"}), "json.eidoVersion"),
        (json.dumps(_valid_minimal(incidentTypeCommonRegistryText="Alien")),
         "json.incidentComponent.incidentTypeCommonRegistryText"),
        (json.dumps(_valid_minimal(incidentCommonPriorityNumber="high")),
         "json.incidentComponent.incidentCommonPriorityNumber"),
        (json.dumps({**_valid_minimal(), "locationComponent": [{"locationByValue": "<gml:pos>10 106</gml:pos>"}]}),
         "json.locationComponent[0]"),
    ],
)
def test_bad_documents_name_the_bad_field(text: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_document(text)
    assert field in [v.field for v in caught.value.violations], caught.value.violations


def test_eido_id_parses_and_long_ids_get_a_digest_key() -> None:
    assert parse_eido_id("urn:emergency:uid:incidentid:abc:x.org") == ("abc", "x.org")
    assert parse_eido_id("urn:emergency:uid:callid:abc:x.org") is None
    long_id = "urn:emergency:uid:incidentid:" + "a" * 120 + ":x.org"
    assert len(idempotency_key(long_id)) <= 128 and idempotency_key(long_id).startswith("eido-sha256:")


def test_incident_without_a_urn_id_is_keyed_by_its_id_and_the_issuing_element() -> None:
    doc = _foreign({"incidentTypeCommonRegistryText": "ROBBERY"}, civic="<A3>Lái Thiêu</A3>")
    doc["$id"] = "eido-7781"
    incident = doc["incidentComponent"]
    assert isinstance(incident, dict)
    incident["$id"] = "incident-7781"
    imported = parse_document(json.dumps(doc))
    assert imported.eido_id == "incident-7781" and imported.source_domain == "idx.state.pa.us"
    assert imported.category == "SECURITY"
    assert imported.subcategory == "cuop" and (imported.lat, imported.lon) == (10.925, 106.712)


def test_description_only_location_and_no_location_at_all_are_accepted_and_flagged() -> None:
    doc = _foreign({"incidentTypeCommonRegistryText": "FSTRU"})
    locations = doc["locationComponent"]
    assert isinstance(locations, list)
    locations[0].pop("locationByValue")
    locations[0]["locationDescriptionText"] = "Khu phố 3, Phường Tân Đông Hiệp"
    doc["locationComponent"] = [locations[0]]
    described = parse_document(json.dumps(doc))
    assert (described.lat, described.lon, described.location_quality) == (10.905, 106.770, "approximate")
    assert described.address == "Khu phố 3, Phường Tân Đông Hiệp"
    doc.pop("locationComponent")
    nowhere = parse_document(json.dumps(doc))
    assert nowhere.location_quality == "unresolved" and "không có vị trí" in nowhere.location_note
    assert (nowhere.lat, nowhere.lon) == (VOCAB.fallback_place.lat, VOCAB.fallback_place.lon)
