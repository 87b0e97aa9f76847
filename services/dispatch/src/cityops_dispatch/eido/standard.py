"""NENA-STA-021.1b as published: the bundled JSON Schema and the registry values (§3), read from the
standards folder (``CITYOPS_STANDARDS_DIR``), checked against every EIDO we send or receive.

``schema_violations`` is the normative schema (jsonschema, draft-07); ``registry_violations`` adds
what the schema leaves to prose: registry values, agencyType without the IANA URN prefix,
non-empty required lists, and ``$id`` unique across data components.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from cityops_platform.errors import FieldViolation
from cityops_platform.standards import ENV, standards_dir

SCHEMA_FILE = "eido/eido-021.1b.schema.json"
REGISTRIES_FILE = "eido/registries-021.1b.json"
CONTEXT = "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"
RESPONDER_URN = "urn:emergency:service:responder"

INCIDENT_TYPES = "Incident Type – Common Registry"
INCIDENT_STATUSES = "Incident Status – Common Registry"
AGENCY_ROLES = "Agency Role Registry"
DISPOSITIONS = "Common Disposition Codes Registry"
LOCATION_TYPES = "Location Type Registry"
PRIMARY_UNIT_STATUSES = "Primary Unit Status-Common Registry"
SECONDARY_UNIT_STATUSES = "Secondary Unit Status-Common Registry"
RESOURCE_TYPES = "Emergency Resource Type-Common Registry"
RESOURCE_ATTRIBUTES = "Resource Attribute Registry"
PERSON_ROLES = "Person Role Registry"
_COMPONENTS = (
    "mergeComponent", "linkComponent", "callComponent", "callbackComponent", "dispatchComponent",
    "alarmsSensorsComponent", "agencyComponent", "agentComponent", "notesComponent", "additionalDataComponent",
    "locationComponent", "personComponent", "vehicleComponent", "emergencyResourceComponent",
)
# W3C date-time (NENA-STA-010): an offset or Z is required.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def json_path(parts: Iterable[Any]) -> str:
    """``json.incidentComponent.dispositionComponent[0].dispositionCommonRegistryCode``."""
    out = "json"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class EidoStandard:
    """The schema validator and the registry values of one standards folder."""

    validator: Draft7Validator
    registries: dict[str, frozenset[str]]
    folder: Path

    def values(self, registry: str) -> frozenset[str]:
        return self.registries[registry]

    def schema_violations(self, doc: Any) -> list[FieldViolation]:
        """Every place the document breaks NENA's JSON Schema, deepest error first per place."""
        errors: list[ValidationError] = sorted(self.validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        out: dict[str, str] = {}
        for error in errors:
            for leaf in _leaves(error):
                path = json_path(leaf.absolute_path)
                out.setdefault(path, f"không đúng lược đồ NENA (violates NENA's schema): {leaf.message[:300]}")
        out.update(self._timestamps(doc))
        return [FieldViolation(p, d) for p, d in out.items()]

    def _timestamps(self, doc: Any) -> dict[str, str]:
        bad: dict[str, str] = {}
        for path, value in _walk(doc, ()):
            if path and path[-1] in ("lastUpdateTimeStamp", "eta") and isinstance(value, str):
                ok = bool(_DATETIME.match(value))
                if ok:
                    try:
                        datetime.fromisoformat(value.replace("Z", "+00:00"))
                    except ValueError:
                        ok = False
                if not ok:
                    bad[json_path(path)] = "cần thời điểm W3C có múi giờ (W3C date-time with an offset)"
        return bad

    def registry_violations(self, doc: dict[str, Any], *, responder_types: frozenset[str]) -> list[FieldViolation]:
        """Registry values, agencyType form, non-empty lists the standard makes 1..*, unique ``$id``s."""
        v: list[FieldViolation] = []

        def check(path: tuple[Any, ...], value: Any, registry: str) -> None:
            if not isinstance(value, str) or value not in self.registries[registry]:
                v.append(FieldViolation(json_path(path), f"không có trong sổ đăng ký (not in the {registry}): "
                                                         f"{str(value)[:80]!r}"))

        def check_list(path: tuple[Any, ...], values: Any, registry: str, *, required: bool) -> None:
            if required and not _items(values):
                v.append(FieldViolation(json_path(path), "cần ít nhất một giá trị (at least one value)"))
            for i, value in enumerate(_items(values)):
                check((*path, i), value, registry)

        incident = doc.get("incidentComponent")
        if isinstance(incident, dict):
            base: tuple[Any, ...] = ("incidentComponent",)
            check((*base, "incidentTypeCommonRegistryText"), incident.get("incidentTypeCommonRegistryText"),
                  INCIDENT_TYPES)
            check_list((*base, "incidentStatusCommonRegistryText"), incident.get("incidentStatusCommonRegistryText"),
                       INCIDENT_STATUSES, required=False)
            for i, item in enumerate(_items(incident.get("dispositionComponent"))):
                if isinstance(item, dict):
                    check((*base, "dispositionComponent", i, "dispositionCommonRegistryCode"),
                          item.get("dispositionCommonRegistryCode"), DISPOSITIONS)
        for i, agency in enumerate(_items(doc.get("agencyComponent"))):
            if not isinstance(agency, dict):
                continue
            base = ("agencyComponent", i)
            check_list((*base, "agencyRoleDescriptionRegistryText"), agency.get("agencyRoleDescriptionRegistryText"),
                       AGENCY_ROLES, required=True)
            types = _items(agency.get("agencyType"))
            if not types:
                v.append(FieldViolation(json_path((*base, "agencyType")), "cần ít nhất một giá trị (at least one)"))
            for j, value in enumerate(types):
                text = str(value)
                if text.startswith("urn:") or text.split(".")[0] not in responder_types:
                    v.append(FieldViolation(json_path((*base, "agencyType", j)),
                                            f"giá trị của {RESPONDER_URN}, không tiền tố URN "
                                            f"(a responder registry value without the URN prefix): {text[:80]!r}"))
        for i, location in enumerate(_items(doc.get("locationComponent"))):
            if isinstance(location, dict):
                check(("locationComponent", i, "locationTypeDescriptionRegistryText"),
                      location.get("locationTypeDescriptionRegistryText"), LOCATION_TYPES)
        for i, person in enumerate(_items(doc.get("personComponent"))):
            if isinstance(person, dict) and "personIncidentRoleRegistryText" in person:
                check_list(("personComponent", i, "personIncidentRoleRegistryText"),
                           person.get("personIncidentRoleRegistryText"), PERSON_ROLES, required=False)
        for i, resource in enumerate(_items(doc.get("emergencyResourceComponent"))):
            if not isinstance(resource, dict):
                continue
            base = ("emergencyResourceComponent", i)
            check((*base, "emergencyResourceTypeCommonRegistryText"),
                  resource.get("emergencyResourceTypeCommonRegistryText"), RESOURCE_TYPES)
            check((*base, "primaryUnitStatusRegistryText"), resource.get("primaryUnitStatusRegistryText"),
                  PRIMARY_UNIT_STATUSES)
            check_list((*base, "secondaryUnitStatusRegistryText"), resource.get("secondaryUnitStatusRegistryText"),
                       SECONDARY_UNIT_STATUSES, required=True)
            check_list((*base, "resourceAttributeRegistryText"), resource.get("resourceAttributeRegistryText"),
                       RESOURCE_ATTRIBUTES, required=False)
            if not _items(resource.get("agentReference")):
                v.append(FieldViolation(json_path((*base, "agentReference")), "bắt buộc (required)"))
        v.extend(self.duplicate_ids(doc))
        return v

    @staticmethod
    def duplicate_ids(doc: dict[str, Any], *, header_may_be_incident: bool = False) -> list[FieldViolation]:
        """Each data component's ``$id`` is unique in the EIDO (STA-021.1b §2, Identifier).
        ``header_may_be_incident`` tolerates the one pairing NENA's own sample suggests: the EIDO's
        ``$id`` equal to the Incident Tracking Identifier its incident component carries."""
        seen: dict[str, str] = {}
        v: list[FieldViolation] = []
        for path, ident in component_ids(doc):
            where = json_path(path)
            if header_may_be_incident and path == ("incidentComponent", "$id") and seen.get(ident) == "json.$id":
                continue
            if ident in seen:
                v.append(FieldViolation(where, f"$id trùng với (duplicates the $id of) {seen[ident]}"))
            else:
                seen[ident] = where
        return v


def component_ids(doc: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path of the ``$id``, value) of the EIDO, its incident, its dispositions and every component."""
    if isinstance(doc.get("$id"), str):
        yield ("$id",), doc["$id"]
    incident = doc.get("incidentComponent")
    if isinstance(incident, dict):
        if isinstance(incident.get("$id"), str):
            yield ("incidentComponent", "$id"), incident["$id"]
        for i, item in enumerate(_items(incident.get("dispositionComponent"))):
            if isinstance(item, dict) and isinstance(item.get("$id"), str):
                yield ("incidentComponent", "dispositionComponent", i, "$id"), item["$id"]
    for name in _COMPONENTS:
        for i, item in enumerate(_items(doc.get(name))):
            if isinstance(item, dict) and isinstance(item.get("$id"), str):
                yield (name, i, "$id"), item["$id"]


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The most specific errors under an ``allOf``/``anyOf`` (the one a person can act on)."""
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _walk(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*path, i))


@lru_cache(maxsize=4)
def load_standard(folder: str = "") -> EidoStandard:
    """The schema and registries of ``folder`` (default: the standards folder setting); cached."""
    root = Path(folder) if folder else standards_dir()
    if not (root / SCHEMA_FILE).is_file():
        raise FileNotFoundError(f"NENA EIDO schema not found at {root / SCHEMA_FILE}: set {ENV} to the folder")
    schema = json.loads((root / SCHEMA_FILE).read_text(encoding="utf-8"))
    raw = json.loads((root / REGISTRIES_FILE).read_text(encoding="utf-8"))
    registries = {name: frozenset(str(item["value"]) for item in items) for name, items in raw.items()}
    return EidoStandard(Draft7Validator(schema), registries, root)
