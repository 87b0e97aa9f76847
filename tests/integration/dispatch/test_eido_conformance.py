"""EIDO conformance run on live exports: a real dispatch api and worker and a real incidents api (real
Kafka and Postgres) produce EIDOs for incidents in several states (new, auto-dispatched with units,
resolved, cancelled, a duplicate); each export is checked against NENA-STA-021.1b's artefacts read
straight from the standards folder -- the bundled JSON Schema with ``jsonschema`` and the registry
values -- not through the exporter's own checker. Every check is counted and named; the run prints
"EIDO conformance: N/N" (also a JUnit property) and fails listing every failed check.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from jsonschema import Draft7Validator

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.testing import bearer, eventually
from cityops_dispatch.eido.incidents_client import IncidentsClient
from cityops_dispatch.settings import DispatchSettings
from cityops_platform import auth
from cityops_platform.db.migrations import migrate
from cityops_platform.runtime import migrations_dir, service_module, service_resources, start_grpc
from cityops_platform.standards import standards_dir

from .conftest import Api, DispatchEnv, WorkerProcess, start_api, truncate

pytestmark = pytest.mark.integration
DOMAIN = "ioc.binhduong.gov.vn"
CONTEXT = "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"
W3C_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# IANA urn:emergency:service:responder top-level values (RFC 7163 / NENA), used without the prefix.
RESPONDER = {"police", "fire", "ems", "psap", "poison_control", "mountain_rescue", "sea_rescue", "coast_guard",
             "other"}
COMPONENTS = ("agencyComponent", "agentComponent", "notesComponent", "locationComponent", "personComponent",
              "emergencyResourceComponent", "callComponent", "additionalDataComponent", "vehicleComponent")


class Checks:
    """Named pass/fail checks, counted."""

    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []

    def check(self, name: str, passed: bool, detail: object = "") -> None:
        self.results.append((name, bool(passed), str(detail)[:300]))

    @property
    def failures(self) -> list[tuple[str, bool, str]]:
        return [r for r in self.results if not r[1]]


def registries() -> dict[str, set[str]]:
    raw = json.loads((standards_dir() / "eido" / "registries-021.1b.json").read_text(encoding="utf-8"))
    return {name: {str(i["value"]) for i in items} for name, items in raw.items()}


def check_document(label: str, doc: dict[str, Any], checks: Checks, validator: Draft7Validator,
                   reg: dict[str, set[str]], *, ended: str = "") -> None:
    c: Callable[[str, bool, object], None] = lambda name, ok, detail="": checks.check(f"{label}: {name}", ok, detail)  # noqa: E731
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    c("validates against eido-021.1b.schema.json", not errors, errors[:3])
    c("@context.@vocab is the standard's context", doc.get("@context", {}).get("@vocab") == CONTEXT,
      doc.get("@context"))
    incident = doc.get("incidentComponent") or {}
    c("incidentComponent present (one object)", isinstance(incident, dict) and bool(incident))
    c("incidentComponent.$id is the Incident Tracking Identifier",
      re.match(rf"^urn:emergency:uid:incidentid:[^:]+:{re.escape(DOMAIN)}$", str(incident.get("$id"))),
      incident.get("$id"))
    ids = [doc.get("$id"), incident.get("$id")] + [d.get("$id") for d in incident.get("dispositionComponent", [])]
    ids += [item.get("$id") for name in COMPONENTS for item in doc.get(name, [])]
    c("every data component's $id is unique", len(ids) == len(set(ids)), ids)
    c("incident type from the Incident Type registry",
      incident.get("incidentTypeCommonRegistryText") in reg["Incident Type – Common Registry"],
      incident.get("incidentTypeCommonRegistryText"))
    statuses = incident.get("incidentStatusCommonRegistryText", [])
    c("incident statuses from the Incident Status registry",
      bool(statuses) and set(statuses) <= reg["Incident Status – Common Registry"], statuses)
    agencies = doc.get("agencyComponent", [])
    agency_ids = {a.get("$id") for a in agencies}
    roles = [r for a in agencies for r in a.get("agencyRoleDescriptionRegistryText", [])]
    c("agency roles from the Agency Role registry", bool(roles) and set(roles) <= reg["Agency Role Registry"], roles)
    types = [t for a in agencies for t in a.get("agencyType", [])]
    c("agencyType without the urn:emergency:service:responder. prefix",
      bool(types) and all(not t.startswith("urn:") for t in types), types)
    c("agencyType values from the IANA responder registry", all(t.split(".")[0] in RESPONDER for t in types), types)
    c("exactly one owning agency", sum(1 for a in agencies if a.get("incidentOwningAgencyIndicator")) == 1)
    refs = [d.get("updatedByAgencyReference", {}).get("$ref") for name in ("incidentComponent",)
            for d in [incident]] + [item.get("updatedByAgencyReference", {}).get("$ref")
                                    for name in COMPONENTS for item in doc.get(name, [])]
    c("every updatedByAgencyReference resolves to an agency", set(refs) <= agency_ids, set(refs) - agency_ids)
    locations = {loc.get("$id"): loc for loc in doc.get("locationComponent", [])}
    c("location types from the Location Type registry",
      all(loc.get("locationTypeDescriptionRegistryText") in reg["Location Type Registry"]
          for loc in locations.values()))
    c("incident locationReference resolves",
      bool(incident.get("locationReference")) and all(r["$ref"] in locations
                                                      for r in incident.get("locationReference", [])))
    notes = {n.get("$id") for n in doc.get("notesComponent", [])}
    c("incident notesReference resolves", all(r["$ref"] in notes for r in incident.get("notesReference", [])))
    stamps = [doc.get("lastUpdateTimeStamp"), incident.get("lastUpdateTimeStamp")] + [
        item.get("lastUpdateTimeStamp") for name in COMPONENTS for item in doc.get(name, [])]
    c("every lastUpdateTimeStamp is a W3C date-time with a zone", all(W3C_TIME.match(str(s)) for s in stamps), stamps)
    c("no dispositionComponent at the top level", "dispositionComponent" not in doc)
    if ended:
        dispositions = incident.get("dispositionComponent", [])
        codes = [d.get("dispositionCommonRegistryCode") for d in dispositions]
        c(f"{ended} incident has a disposition inside incidentComponent", bool(dispositions))
        c("disposition codes from the Common Disposition Codes registry",
          bool(codes) and set(codes) <= reg["Common Disposition Codes Registry"], codes)
    agents = {a.get("$id"): a for a in doc.get("agentComponent", [])}
    for i, unit in enumerate(doc.get("emergencyResourceComponent", [])):
        u = f"emergencyResourceComponent[{i}]"
        c(f"{u} has agentReference resolving to an agent",
          bool(unit.get("agentReference")) and all(r["$ref"] in agents for r in unit["agentReference"]))
        c(f"{u} resource type from the Emergency Resource Type registry",
          unit.get("emergencyResourceTypeCommonRegistryText") in reg["Emergency Resource Type-Common Registry"],
          unit.get("emergencyResourceTypeCommonRegistryText"))
        c(f"{u} primary unit status from its registry",
          unit.get("primaryUnitStatusRegistryText") in reg["Primary Unit Status-Common Registry"],
          unit.get("primaryUnitStatusRegistryText"))
        secondary = unit.get("secondaryUnitStatusRegistryText", [])
        c(f"{u} secondary unit statuses non-empty and from their registry",
          bool(secondary) and set(secondary) <= reg["Secondary Unit Status-Common Registry"], secondary)
        c(f"{u} resource attributes from the Resource Attribute registry",
          set(unit.get("resourceAttributeRegistryText", [])) <= reg["Resource Attribute Registry"])
    for agent_id, agent in agents.items():
        c(f"agent {agent_id} agencyReference resolves", agent.get("agencyReference", {}).get("$ref") in agency_ids)


@pytest.fixture
async def stack(dispatch_env: DispatchEnv) -> AsyncIterator[tuple[Api, incidents_pb2_grpc.IncidentServiceStub]]:
    await migrate(dispatch_env.database_url, "incidents", migrations_dir("incidents"))
    await truncate(dispatch_env)
    server = service_module("incidents", "server")
    settings = dispatch_env.settings()
    async with service_resources("incidents", settings) as res:
        running = await start_grpc("incidents", settings, res, build=server.build, policy=server.POLICY, port=0)
        tokens = auth.TokenCodec(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        client = IncidentsClient(addr=f"127.0.0.1:{running.port}", tokens=tokens, timeout_s=5.0)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            async with start_api(dispatch_env, DispatchSettings(seed_on_start=False, eido_domain=DOMAIN),
                                 client) as api:
                yield api, incidents_pb2_grpc.IncidentServiceStub(channel)
        finally:
            await channel.close()
            await client.close()
            await running.stop(0)


async def test_live_exports_pass_every_counted_schema_and_registry_check(
    stack: tuple[Api, incidents_pb2_grpc.IncidentServiceStub], worker: WorkerProcess, request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
) -> None:
    api, incidents = stack
    md = bearer(api.settings, "supervisor")
    await api.register("c-114-1", ["FIRE_ENGINE"], 10.981, 106.652, unit_type="FIRE_ENGINE",
                       agency=common_pb2.Agency.AGENCY_FIRE_RESCUE_114)
    await api.register("c-114-2", ["FIRE_ENGINE"], 10.982, 106.653, unit_type="FIRE_ENGINE",
                       agency=common_pb2.Agency.AGENCY_FIRE_RESCUE_114)
    await api.register("c-115-1", ["ALS"], 10.979, 106.651)

    async def report(category: int, subcategory: str, text: str, lat: float, lon: float) -> incidents_pb2.Incident:
        reply = await incidents.ReportIncident(incidents_pb2.ReportIncidentRequest(
            category=category, subcategory=subcategory, description=text,  # type: ignore[arg-type]
            source=incidents_pb2.Source.SOURCE_HOTLINE_1022, idempotency_key=f"conf-{uuid.uuid4().hex}",
            location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Bình Dương")), metadata=md)
        return reply.incident

    fire = await report(incidents_pb2.Category.CATEGORY_FIRE, "chay_nha_xuong", "Cháy nhà xưởng, khói đen",
                        10.9805, 106.6520)
    flood = await report(incidents_pb2.Category.CATEGORY_FLOOD, "ngap_duong", "Đường ngập 30 cm", 10.905, 106.77)
    resolved = await report(incidents_pb2.Category.CATEGORY_FIELD_REPORT, "o_ga_mat_duong", "Ổ gà lớn", 11.06, 106.79)
    cancelled = await report(incidents_pb2.Category.CATEGORY_SECURITY, "", "Gây rối trật tự", 10.925, 106.712)
    for incident_id, steps in ((resolved.id, [incidents_pb2.Status.STATUS_ACKNOWLEDGED,
                                              incidents_pb2.Status.STATUS_RESOLVED]),
                               (cancelled.id, [incidents_pb2.Status.STATUS_CANCELLED])):
        for status in steps:
            current = await incidents.GetIncident(incidents_pb2.GetIncidentRequest(id=incident_id), metadata=md)
            await incidents.TransitionIncident(incidents_pb2.TransitionIncidentRequest(
                id=incident_id, to_status=status, reason="kiểm tra", expected_version=current.version),
                metadata=md)  # type: ignore[arg-type]

    async def export(incident_id: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def once() -> dict[str, Any] | None:
            reply = await api.stub.ExportEido(dispatch_pb2.ExportEidoRequest(incident_id=incident_id),
                                              metadata=api.md("integrator"))
            doc: dict[str, Any] = json.loads(reply.json)
            return doc if ready(doc) else None

        return await eventually(once, timeout=90, interval=0.3)

    def status(doc: dict[str, Any]) -> list[str]:
        return list(doc["incidentComponent"]["incidentStatusInternalText"])

    documents = [
        ("fire, auto-dispatched", await export(fire.id, lambda d: len(d.get("emergencyResourceComponent", [])) == 3),
         ""),
        ("flood, new", await export(flood.id, lambda d: True), ""),
        ("field report, resolved", await export(resolved.id, lambda d: status(d) == ["RESOLVED"]), "resolved"),
        ("security, cancelled", await export(cancelled.id, lambda d: status(d) == ["CANCELLED"]), "cancelled"),
    ]
    assert worker.alive(), worker.tail()
    schema = json.loads((standards_dir() / "eido" / "eido-021.1b.schema.json").read_text(encoding="utf-8"))
    validator, reg = Draft7Validator(schema), registries()
    checks = Checks()
    for label, doc, ended in documents:
        check_document(label, doc, checks, validator, reg, ended=ended)
    passed = len(checks.results) - len(checks.failures)
    summary = f"EIDO conformance: {passed}/{len(checks.results)} checks passed on {len(documents)} live exports"
    record_property("eido_conformance", summary)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\n{summary}")
    assert not checks.failures, "\n".join(f"{n}: {d}" for n, _, d in checks.failures)
    assert len(checks.results) >= 80  # the run really checked: 4 documents × ~20 checks, 3 units
