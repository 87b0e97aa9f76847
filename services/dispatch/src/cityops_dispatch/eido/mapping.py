"""NENA EIDO (NENA-STA-021.1b) JSON ⇄ CityOps incidents. Pure functions: no I/O.

The document follows NENA's schema (../shared/standards/eido): the incident component's ``$id`` is
the Incident Tracking Identifier ``urn:emergency:uid:incidentid:<id>:<domain>``; every other
component has its own stable ``urn:emergency:uid:eidodatacomponent:<unique>:<domain>``; the
disposition sits inside the incident component; registry values come from ``Vocabulary``
(config/eido.yaml). What has no EIDO home travels in ``cityopsExtension``. See docs/dispatch.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.assignments.models import Assignment, AssignmentStatus
from cityops_dispatch.codes import incident_agency, incident_category
from cityops_dispatch.eido.vocabulary import Vocabulary
from cityops_dispatch.incidents_view.models import Note

EIDO_VERSION = "1.0"
URN_PREFIX = "urn:emergency:uid:incidentid:"
COMPONENT_PREFIX = "urn:emergency:uid:eidodatacomponent:"
_URN_RE = re.compile(r"^urn:emergency:uid:incidentid:([^:\s]{1,128}):([^:\s]{1,253})$", re.IGNORECASE)
_POS_RE = re.compile(r"<(?:[A-Za-z0-9_]+:)?pos>\s*([-+0-9.eE]+)[\s,]+([-+0-9.eE]+)")
DESCRIPTION_NOTE = "description"
CONTEXT = {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"}
RESPONDER_ROLE = "Responder"


def eido_id(incident_id: str, domain: str) -> str:
    """The Incident Tracking Identifier of one of our incidents."""
    return f"{URN_PREFIX}{incident_id}:{domain}"


def component_id(incident_id: str, kind: str, key: str, domain: str) -> str:
    """A stable data-component identifier: the same in every EIDO of the incident, unique within one."""
    return f"{COMPONENT_PREFIX}{incident_id}-{kind}-{key}:{domain}"


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
    agency: str  # the city's agency code
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
    vocab: Vocabulary,
) -> dict[str, object]:
    """The EIDO JSON object for one incident (assigned units, notes, disposition when ended)."""
    ident = eido_id(incident.id, domain)
    updated = incident.updated_at.ToDatetime(tzinfo=UTC) if incident.HasField("updated_at") else now
    for r in resources:
        updated = max(updated, r.assignment.updated_at)
    stamp = iso(updated)
    category = incident_category(incident)
    status = _enum_name(incidents_pb2.Status, incident.status, "STATUS_")
    priority = _enum_name(incidents_pb2.Priority, incident.priority, "PRIORITY_")
    agency = incident_agency(incident)
    prologue = {"lastUpdateTimeStamp": stamp, "updatedByAgencyReference": {"$ref": domain}}
    location_id = component_id(incident.id, "location", "0", domain)
    note_items = []
    if incident.description:
        note_items.append({"$id": component_id(incident.id, "note", DESCRIPTION_NOTE, domain), **prologue,
                           "notesActionComments": incident.description})
    for n in notes:
        note_items.append({"$id": component_id(incident.id, "note", n.note_id, domain),
                           "lastUpdateTimeStamp": iso(n.added_at), "updatedByAgencyReference": {"$ref": domain},
                           "notesActionComments": n.text})
    agencies: list[dict[str, object]] = [
        {"$id": domain, **prologue, "agencyRoleDescriptionRegistryText": list(vocab.owner_roles),
         "agencyType": [vocab.owner_agency_type], "incidentOwningAgencyIndicator": True},
    ]
    agency_ids = {domain}
    for code in [agency] + [r.agency for r in resources]:
        if code and agency_ref(code, domain) not in agency_ids:
            agency_ids.add(agency_ref(code, domain))
            agencies.append({"$id": agency_ref(code, domain), **prologue,
                             "agencyRoleDescriptionRegistryText": list(vocab.responding_roles),
                             "agencyType": [vocab.agency_types.get(code, "other")],
                             "agencyInternalCode": code})
    incident_component: dict[str, object] = {
        "$id": ident,
        **prologue,
        "internalIncidentId": incident.number,
        "incidentTypeCommonRegistryText": vocab.incident_type(category, incident.subcategory),
        "incidentTypeInternalCode": f"{category}/{incident.subcategory}" if incident.subcategory else category,
        "incidentStatusCommonRegistryText": list(vocab.statuses.get(status, ("Active",))),
        "incidentStatusInternalText": [status],
        "incidentCommonPriorityNumber": incident.eido_priority or eido_priority(incident.priority),
        "incidentPriorityInternalText": priority,
        "locationReference": [{"$ref": location_id}],
        "notesReference": [{"$ref": n["$id"]} for n in note_items],
    }
    if status in vocab.dispositions:
        cleared = [r.assignment.reason for r in resources if r.assignment.status == AssignmentStatus.CLEARED]
        incident_component["dispositionComponent"] = [{
            "$id": component_id(incident.id, "disposition", "0", domain), **prologue,
            "dispositionCommonRegistryCode": vocab.dispositions[status], "dispositionPrimaryIndicator": True,
            "dispositionDescriptionText": "; ".join(x for x in cleared if x) or status,
        }]
    location: dict[str, object] = {
        "$id": location_id, **prologue, "locationTypeDescriptionRegistryText": "CurrentIncident",
        "locationByValue": pidf_lo(incident.location.lat, incident.location.lon, ident),
    }
    if incident.location.address:
        location["locationDescriptionText"] = incident.location.address
    doc: dict[str, object] = {
        "$id": component_id(incident.id, "eido", "0", domain),
        "lastUpdateTimeStamp": stamp,
        "updatedByAgencyReference": {"$ref": domain},
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": domain,
        "incidentComponent": incident_component,
        "locationComponent": [location],
        "agencyComponent": agencies,
        "notesComponent": note_items,
        "cityopsExtension": {
            "occurredAt": iso(incident.occurred_at.ToDatetime(tzinfo=UTC)) if incident.HasField("occurred_at") else "",
            "district": incident.district,
            "reportCount": incident.report_count,
        },
        "@context": dict(CONTEXT),
    }
    if resources:
        doc["emergencyResourceComponent"] = [_resource(r, incident.id, domain, vocab) for r in resources]
        doc["agentComponent"] = [_crew(r, domain) for r in resources]
    return doc


def agency_ref(code: str, domain: str) -> str:
    """The Agency Identifier of one of the city's agencies (e.g. ``fire_rescue_114.<domain>``)."""
    return f"{code.lower()}.{domain}"


def crew_id(unit_id: str, domain: str) -> str:
    """The Agent Identifier of a unit's crew (i3 style ``<name>@<domain>``)."""
    return f"crew.{unit_id}@{domain}"


def _crew(r: Resource, domain: str) -> dict[str, object]:
    code = r.agency
    agency = agency_ref(code, domain) if code else domain
    return {"$id": crew_id(r.assignment.unit_id, domain), "lastUpdateTimeStamp": iso(r.assignment.updated_at),
            "updatedByAgencyReference": {"$ref": agency}, "agentRoleRegistryText": [RESPONDER_ROLE],
            "agencyReference": {"$ref": agency}}


def _resource(r: Resource, incident_id: str, domain: str, vocab: Vocabulary) -> dict[str, object]:
    a = r.assignment
    code = r.agency
    codes = vocab.unit_statuses[a.status.name]
    attributes = list(dict.fromkeys(x for c in r.capabilities for x in vocab.resource_attributes.get(c, ())))
    item: dict[str, object] = {
        "$id": component_id(incident_id, "unit", a.unit_id, domain),
        "lastUpdateTimeStamp": iso(a.updated_at),
        "updatedByAgencyReference": {"$ref": agency_ref(code, domain) if code else domain},
        "emergencyResourceName": a.call_sign,
        "emergencyResourceTypeCommonRegistryText": vocab.resource_types.get(a.capability,
                                                                            vocab.default_resource_type),
        "emergencyResourceTypeInternalText": a.capability,
        "primaryUnitStatusRegistryText": codes.primary,
        "secondaryUnitStatusRegistryText": list(codes.secondary),
        "resourceAttributeRegistryText": attributes,
        "unitStatusInternal": [a.status.name],
        "agentReference": [{"$ref": crew_id(a.unit_id, domain)}],
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
    category: str  # the city's category code
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
    # "" = a point from the EIDO; "approximate" = a known place's centre from a civic address;
    # "unresolved" = no usable location, placed at the city's fallback point for a person to check.
    location_quality: str = ""
    location_note: str = ""
