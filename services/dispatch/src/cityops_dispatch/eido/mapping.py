"""NENA EIDO (NENA-STA-021.1a) JSON ⇄ CityOps incidents. Pure functions: no I/O.

Field names follow the NENA samples (``$id``, ``lastUpdateTimeStamp``, ``eidoVersion``,
``incidentComponent``, ``locationComponent`` with a PIDF-LO ``locationByValue``, ``agencyComponent``,
``emergencyResourceComponent``, ``notesComponent`` with ``notesActionComments``,
``dispositionComponent`` with ``dispositionCommonRegistryCode``). What has no EIDO home travels in
``cityopsExtension``. The full mapping is in docs/dispatch.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.assignments.models import Assignment, AssignmentStatus
from cityops_dispatch.incidents_view.models import Note

EIDO_VERSION = "1.0"
URN_PREFIX = "urn:emergency:uid:incidentid:"
_URN_RE = re.compile(r"^urn:emergency:uid:incidentid:([^:\s]{1,128}):([^:\s]{1,253})$")
_POS_RE = re.compile(r"<(?:[A-Za-z0-9_]+:)?pos>\s*([-+0-9.eE]+)[\s,]+([-+0-9.eE]+)")
DESCRIPTION_NOTE = "description"

CATEGORY_TYPES = {
    "EMERGENCY_MEDICAL": "Medical",
    "FIRE": "Fire",
    "TRAFFIC_ACCIDENT": "Traffic",
    "SECURITY": "LawEnforcement",
    "FLOOD": "Flood",
    "ENVIRONMENT": "Hazmat",
    "UTILITY_OUTAGE": "Utility",
    "FIELD_REPORT": "PublicWorks",
    "ADMINISTRATIVE_PROCEDURE": "Administrative",
    "OTHER": "Other",
}
STATUS_TEXT = {
    "NEW": "New",
    "ACKNOWLEDGED": "Acknowledged",
    "DISPATCHED": "Dispatched",
    "ON_SCENE": "OnScene",
    "RESOLVED": "Resolved",
    "CLOSED": "Closed",
    "CANCELLED": "Cancelled",
    "DUPLICATE": "Merged",
}
DISPOSITION = {"RESOLVED": "Resolved", "CLOSED": "Resolved", "CANCELLED": "Cancelled", "DUPLICATE": "Duplicate"}
AGENCY_TYPES = {
    "POLICE_113": "urn:emergency:service:responder.police",
    "FIRE_RESCUE_114": "urn:emergency:service:responder.fire",
    "MEDICAL_115": "urn:emergency:service:responder.ems",
}
UNIT_STATUS = {
    AssignmentStatus.ASSIGNED: "Dispatched",
    AssignmentStatus.ACKNOWLEDGED: "Dispatched",
    AssignmentStatus.EN_ROUTE: "Enroute",
    AssignmentStatus.ON_SCENE: "OnScene",
    AssignmentStatus.CLEARED: "Available",
    AssignmentStatus.DECLINED: "Available",
    AssignmentStatus.TIMED_OUT: "Available",
    AssignmentStatus.CANCELLED: "Available",
}
RESOURCE_TYPES = {
    "ALS": "Ambulance",
    "BLS": "Ambulance",
    "FIRE_ENGINE": "Engine",
    "LADDER": "Ladder",
    "RESCUE_BOAT": "Boat",
    "POLICE_PATROL": "Patrol",
    "TRAFFIC_POLICE": "Patrol",
}


def eido_id(incident_id: str, domain: str) -> str:
    return f"{URN_PREFIX}{incident_id}:{domain}"


def parse_eido_id(value: str) -> tuple[str, str] | None:
    """(incident id, domain) of an ``urn:emergency:uid:incidentid:<id>:<domain>``, or None."""
    match = _URN_RE.match(value or "")
    return (match.group(1), match.group(2)) if match else None


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def eido_priority(priority: int) -> int:
    """P1 → 10, P2 → 7, P3 → 4, P4 → 1 (EIDO's 0–10, 10 = most urgent); 0 when unknown."""
    return {1: 10, 2: 7, 3: 4, 4: 1}.get(priority, 0)


def priority_from_eido(number: int) -> int:
    if number >= 9:
        return 1
    if number >= 6:
        return 2
    if number >= 3:
        return 3
    return 4 if number >= 0 else 0


def pidf_lo(lat: float, lon: float, entity: str) -> str:
    """A minimal PIDF-LO document holding a WGS84 point (EPSG::4326: latitude first)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
        f'xmlns:gml="http://www.opengis.net/gml" entity="pres:{entity}">'
        '<tuple id="incident-location"><status><gp:geopriv><gp:location-info>'
        f'<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{lat:.7f} {lon:.7f}</gml:pos></gml:Point>'
        "</gp:location-info><gp:usage-rules/><gp:method>Manual</gp:method></gp:geopriv></status></tuple></presence>"
    )


def point_from_pidf(xml: str) -> tuple[float, float] | None:
    match = _POS_RE.search(xml or "")
    if not match:
        return None
    try:
        return float(match.group(1)), float(match.group(2))
    except ValueError:
        return None


@dataclass
class Resource:
    """An assigned unit as EIDO shows it."""

    assignment: Assignment
    agency: int
    capabilities: list[str]


def _enum_name(enum: object, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix)  # type: ignore[attr-defined]
    except ValueError:
        return ""


def export_document(
    incident: incidents_pb2.Incident,
    *,
    resources: list[Resource],
    notes: list[Note],
    domain: str,
    now: datetime,
) -> dict[str, object]:
    """The EIDO JSON object for one incident (assigned units, notes, disposition when ended)."""
    ident = eido_id(incident.id, domain)
    updated = incident.updated_at.ToDatetime(tzinfo=UTC) if incident.HasField("updated_at") else now
    for r in resources:
        updated = max(updated, r.assignment.updated_at)
    stamp = iso(updated)
    category = _enum_name(incidents_pb2.Category, incident.category, "CATEGORY_")
    status = _enum_name(incidents_pb2.Status, incident.status, "STATUS_")
    priority = _enum_name(incidents_pb2.Priority, incident.priority, "PRIORITY_")
    agency = _enum_name(common_pb2.Agency, incident.agency, "AGENCY_")
    prologue = {"lastUpdateTimeStamp": stamp, "updatedByAgencyReference": {"$ref": domain}}
    location_id = f"{ident}:location:0"
    note_items = []
    if incident.description:
        note_items.append(
            {"$id": f"{ident}:note:{DESCRIPTION_NOTE}", **prologue, "notesActionComments": incident.description}
        )
    for n in notes:
        note_items.append({"$id": f"{ident}:note:{n.note_id}", "lastUpdateTimeStamp": iso(n.added_at),
                           "updatedByAgencyReference": {"$ref": domain}, "notesActionComments": n.text})
    agencies: list[dict[str, object]] = [
        {"$id": domain, **prologue, "agencyRoleDescriptionRegistryText": ["CallReceiving", "Dispatch"],
         "agencyType": ["psap"], "incidentOwningAgencyIndicator": True},
    ]
    agency_ids = {domain}
    for code in [agency] + [_enum_name(common_pb2.Agency, r.agency, "AGENCY_") for r in resources]:
        if code and f"{code.lower()}.{domain}" not in agency_ids:
            agency_ids.add(f"{code.lower()}.{domain}")
            agencies.append({"$id": f"{code.lower()}.{domain}", **prologue,
                             "agencyRoleDescriptionRegistryText": ["Responding"],
                             "agencyType": [AGENCY_TYPES.get(code, "urn:emergency:service:responder")],
                             "agencyInternalCode": code})
    doc: dict[str, object] = {
        "$id": ident,
        "lastUpdateTimeStamp": stamp,
        "updatedByAgencyReference": {"$ref": domain},
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": domain,
        "incidentComponent": {
            "$id": ident,
            **prologue,
            "incidentTrackingIdentifier": ident,
            "internalIncidentId": incident.number,
            "incidentTypeCommonRegistryText": CATEGORY_TYPES.get(category, "Other"),
            "incidentTypeInternalCode": f"{category}/{incident.subcategory}" if incident.subcategory else category,
            "incidentStatusCommonRegistryText": [STATUS_TEXT.get(status, "New")],
            "incidentStatusInternalText": [status],
            "incidentCommonPriorityNumber": incident.eido_priority or eido_priority(incident.priority),
            "incidentPriorityInternalText": priority,
            "locationReference": [{"$ref": location_id}],
            "notesReference": [{"$ref": n["$id"]} for n in note_items],
        },
        "locationComponent": [{
            "$id": location_id, **prologue, "locationTypeDescriptionRegistryText": "CurrentIncident",
            "locationByValue": pidf_lo(incident.location.lat, incident.location.lon, ident),
            "locationDescriptionText": incident.location.address,
        }],
        "agencyComponent": agencies,
        "emergencyResourceComponent": [_resource(r, domain) for r in resources],
        "notesComponent": note_items,
        "cityopsExtension": {
            "occurredAt": iso(incident.occurred_at.ToDatetime(tzinfo=UTC)) if incident.HasField("occurred_at") else "",
            "district": incident.district,
            "reportCount": incident.report_count,
        },
        "@context": {"@vocab": "http://nena.org/EIDO#"},
    }
    if status in DISPOSITION:
        cleared = [r.assignment.reason for r in resources if r.assignment.status == AssignmentStatus.CLEARED]
        doc["dispositionComponent"] = [{
            "$id": f"{ident}:disposition:0", **prologue, "dispositionCommonRegistryCode": DISPOSITION[status],
            "dispositionPrimaryIndicator": True,
            "dispositionDescriptionText": "; ".join(x for x in cleared if x) or STATUS_TEXT[status],
        }]
    return doc


def _resource(r: Resource, domain: str) -> dict[str, object]:
    a = r.assignment
    code = _enum_name(common_pb2.Agency, r.agency, "AGENCY_")
    item: dict[str, object] = {
        "$id": f"urn:emergency:uid:unitid:{a.unit_id}:{domain}",
        "lastUpdateTimeStamp": iso(a.updated_at),
        "updatedByAgencyReference": {"$ref": f"{code.lower()}.{domain}" if code else domain},
        "emergencyResourceName": a.call_sign,
        "emergencyResourceTypeCommonRegistryText": RESOURCE_TYPES.get(a.capability, "Other"),
        "emergencyResourceTypeInternalText": a.capability,
        "primaryUnitStatusRegistryText": UNIT_STATUS[a.status],
        "secondaryUnitStatusRegistryText": [],
        "resourceAttributeRegistryText": list(r.capabilities),
        "unitStatusInternal": [a.status.name],
    }
    if a.status in (AssignmentStatus.ASSIGNED, AssignmentStatus.ACKNOWLEDGED, AssignmentStatus.EN_ROUTE):
        item["eta"] = iso(a.assigned_at + timedelta(seconds=a.eta_seconds))
    return item


@dataclass
class ImportedIncident:
    """What an EIDO document says about one incident, in CityOps terms."""

    eido_id: str
    source_incident_id: str
    source_domain: str
    category: int
    subcategory: str
    priority: int
    status: int
    description: str
    lat: float
    lon: float
    address: str
    occurred_at: datetime | None
    number: str = ""
    notes: list[str] = field(default_factory=list)
