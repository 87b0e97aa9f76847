"""EIDO exchange end to end: a CAD's EIDO → the real incidents api → incident events → dispatch's
view (real worker) → ExportEido, with the fields preserved; re-sending the document changes nothing.
NENA's own sample (with an incident added) imports; an invalid EIDO is INVALID_ARGUMENT with field
violations; ExportEido right after ReportIncident reads through to incidents instead of NOT_FOUND.

The incidents api runs in this process (its real gRPC server on port 0, its own schema in the
same database), and dispatch calls it through ``IncidentsClient`` with a deadline.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.testing import bearer, eventually, status_details
from cityops_dispatch.eido.incidents_client import IncidentsClient
from cityops_dispatch.eido.mapping import export_document
from cityops_dispatch.eido.service import conformance_violations
from cityops_dispatch.eido.standard import load_standard
from cityops_dispatch.eido.vocabulary import load_vocabulary
from cityops_dispatch.incidents_view.models import Note
from cityops_dispatch.settings import DispatchSettings
from cityops_platform import auth
from cityops_platform.db.migrations import migrate
from cityops_platform.runtime import migrations_dir, service_module, service_resources, start_grpc

from .conftest import Api, DispatchEnv, WorkerProcess, start_api, truncate

pytestmark = pytest.mark.integration
FOREIGN = "cad.hcm.example.vn"
OUR_DOMAIN = "ioc.binhduong.gov.vn"


@pytest.fixture
async def incidents_port(dispatch_env: DispatchEnv) -> AsyncIterator[int]:
    await migrate(dispatch_env.database_url, "incidents", migrations_dir("incidents"))
    server = service_module("incidents", "server")
    settings = dispatch_env.settings()
    async with service_resources("incidents", settings) as res:
        running = await start_grpc("incidents", settings, res, build=server.build, policy=server.POLICY, port=0)
        try:
            yield running.port
        finally:
            await running.stop(0)


@pytest.fixture
async def eido_api(dispatch_env: DispatchEnv, incidents_port: int) -> AsyncIterator[Api]:
    await truncate(dispatch_env)
    settings = dispatch_env.settings()
    tokens = auth.TokenCodec(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    client = IncidentsClient(addr=f"127.0.0.1:{incidents_port}", tokens=tokens, timeout_s=5.0)
    try:
        async with start_api(dispatch_env, DispatchSettings(seed_on_start=False, eido_domain=OUR_DOMAIN),
                             client) as running:
            yield running
    finally:
        await client.close()


def _foreign_document(status: int = incidents_pb2.Status.STATUS_NEW, ident: str = "", lat: float = 10.9321
                      ) -> dict[str, Any]:
    """What another centre's CAD sends: built with our exporter for an incident it owns."""
    incident = incidents_pb2.Incident(
        id=ident or f"hcm-{uuid.uuid4().hex[:10]}", number="HCM-000731", category=incidents_pb2.Category.CATEGORY_FIRE,
        subcategory="chay_kho_hang", priority=incidents_pb2.Priority.PRIORITY_P2,
        status=status, description="Cháy kho hàng giáp ranh Thuận An",  # type: ignore[arg-type]
        location=common_pb2.GeoPoint(lat=lat, lon=106.7104, address="Đường Quốc lộ 13, Thuận An"),
    )
    now = datetime.now(UTC)
    incident.updated_at.FromDatetime(now)
    incident.occurred_at.FromDatetime(now - timedelta(minutes=3))
    notes = [Note("n-1", "Có hóa chất dễ cháy trong kho", "cad", now)]
    return export_document(incident, resources=[], notes=notes, domain=FOREIGN, now=now, vocab=load_vocabulary())


async def test_export_right_after_report_reads_through_to_incidents(eido_api: Api, incidents_port: int) -> None:
    """First in the module, before any test starts the module's dispatch worker: the view can only be
    empty, so the export that succeeds is the read-through."""
    settings = eido_api.settings
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{incidents_port}")
    try:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        reply = await stub.ReportIncident(incidents_pb2.ReportIncidentRequest(
            category=incidents_pb2.Category.CATEGORY_FIRE, subcategory="chay_nha_dan",
            description="Cháy nhà dân, khói đen", source=incidents_pb2.Source.SOURCE_HOTLINE_1022,
            location=common_pb2.GeoPoint(lat=10.9804, lon=106.6519, address="Đại lộ Bình Dương"),
            idempotency_key=f"read-through-{uuid.uuid4().hex}"), metadata=bearer(settings, "call_taker"))
        exported = await eido_api.stub.ExportEido(
            dispatch_pb2.ExportEidoRequest(incident_id=reply.incident.id), metadata=eido_api.md("integrator"))
    finally:
        await channel.close()
    assert await eido_api.pool.fetchval("SELECT count(*) FROM incidents_view WHERE id = $1", reply.incident.id) == 0
    doc = json.loads(exported.json)
    assert doc["incidentComponent"]["internalIncidentId"] == reply.incident.number
    assert doc["incidentComponent"]["incidentTypeCommonRegistryText"] == "FSTRU"
    assert conformance_violations(doc, standard=load_standard(), vocab=load_vocabulary()) == []
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await eido_api.stub.ExportEido(dispatch_pb2.ExportEidoRequest(incident_id=str(uuid.uuid4())),
                                       metadata=eido_api.md("integrator"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_eido_round_trip_through_incidents_preserves_fields(eido_api: Api, worker: WorkerProcess) -> None:
    api = eido_api
    document = _foreign_document()
    text = json.dumps(document, ensure_ascii=False)
    # A CAD trusted with priorities (operator rights): the EIDO's priority is carried over.
    cad = bearer(api.settings, ["integrator", "operator"], "cad-hcm")
    ref = await api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=text), metadata=cad)
    assert ref.created and ref.incident_id and ref.eido_id == document["incidentComponent"]["$id"]

    async def exported() -> dispatch_pb2.EidoDocument | None:
        try:
            doc: dispatch_pb2.EidoDocument = await api.stub.ExportEido(
                dispatch_pb2.ExportEidoRequest(incident_id=ref.incident_id), metadata=api.md("integrator"))
        except grpc.aio.AioRpcError:
            return None  # the worker has not seen the incident yet
        notes = json.loads(doc.json)["notesComponent"]
        return doc if len(notes) == 2 else None  # description + the CAD's note (AddNote → NoteAdded)

    ours = await eventually(exported, timeout=90, interval=0.3)
    back = json.loads(ours.json)
    assert conformance_violations(back, standard=load_standard(), vocab=load_vocabulary()) == []
    assert back["incidentComponent"]["$id"] == f"urn:emergency:uid:incidentid:{ref.incident_id}:{OUR_DOMAIN}"
    assert back["eidoVersion"] == "1.0" and back["lastUpdateTimeStamp"]
    theirs_incident, our_incident = document["incidentComponent"], back["incidentComponent"]
    for key in ("incidentTypeCommonRegistryText", "incidentTypeInternalCode", "incidentCommonPriorityNumber",
                "incidentPriorityInternalText"):
        assert our_incident[key] == theirs_incident[key], key
    theirs_loc, our_loc = document["locationComponent"][0], back["locationComponent"][0]
    assert our_loc["locationByValue"].split("<gml:pos>")[1][:24] == theirs_loc["locationByValue"].split(
        "<gml:pos>")[1][:24]
    assert our_loc["locationDescriptionText"] == theirs_loc["locationDescriptionText"]
    assert [n["notesActionComments"] for n in back["notesComponent"]] == [
        n["notesActionComments"] for n in document["notesComponent"]]
    assert back["cityopsExtension"]["occurredAt"] == document["cityopsExtension"]["occurredAt"]
    assert {a["agencyInternalCode"] for a in back["agencyComponent"] if "agencyInternalCode" in a} == {
        "FIRE_RESCUE_114"}

    # The same document again: same incident, nothing created, no repeated note.
    again = await api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=text), metadata=cad)
    assert (again.incident_id, again.created) == (ref.incident_id, False)
    # Our own export coming back is recognised as ours: an update, not a new incident.
    ours_again = await api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=ours.json), metadata=cad)
    assert (ours_again.incident_id, ours_again.created) == (ref.incident_id, False)
    notes = await api.pool.fetchval("SELECT count(*) FROM eido_import_notes")
    assert notes == 1


async def test_import_refused_by_incidents_is_invalid_argument_not_internal(eido_api: Api) -> None:
    document = _foreign_document()
    # Hà Nội: well-formed, but outside the service area the incidents service accepts.
    document["locationComponent"][0]["locationByValue"] = "<presence><gml:pos>21.0285 105.8542</gml:pos></presence>"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(document)),
                                       metadata=eido_api.md("integrator"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _nena_sample_with_incident() -> dict[str, Any]:
    """NENA's sample call transfer plus a structure fire (FSTRU) located only by a civic address."""
    sample = load_standard().folder / "eido" / "021.1b" / "Sample call transfer EIDO.json"
    doc: dict[str, Any] = json.loads(sample.read_text(encoding="utf-8"))
    unique = uuid.uuid4().hex[:10]
    doc["$id"] = f"urn:emergency:uid:incidentid:{unique}:bcf.state.pa.us"
    doc["incidentComponent"] = {
        "$id": doc["$id"], "lastUpdateTimeStamp": "2021-04-30T14:43:49.439-04:00",
        "updatedByAgencyReference": {"$ref": "state.pa.us"}, "incidentTypeCommonRegistryText": "FSTRU",
        "incidentCommonPriorityNumber": 9, "locationReference": [{"$ref": doc["locationComponent"][0]["$id"]}],
    }
    doc["locationComponent"][0]["locationByValue"] = (
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
        'entity="pres:a@b"><tuple id="t"><status><gp:geopriv><gp:location-info>'
        '<civicAddress xmlns="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"><country>VN</country>'
        "<A3>Phường Thuận An</A3><RD>Quốc lộ 13</RD></civicAddress></gp:location-info></gp:geopriv></status>"
        "</tuple></presence>")
    return doc


async def test_nenas_sample_with_a_civic_address_fire_imports_as_an_approximate_fire(eido_api: Api) -> None:
    doc = _nena_sample_with_incident()
    assert load_standard().schema_violations(doc) == []
    ref = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(doc)),
                                         metadata=eido_api.md("integrator"))
    assert ref.created and ref.eido_id == doc["$id"]
    exported = await eido_api.stub.ExportEido(dispatch_pb2.ExportEidoRequest(incident_id=ref.incident_id),
                                              metadata=eido_api.md("integrator"))
    back = json.loads(exported.json)
    assert back["incidentComponent"]["incidentTypeInternalCode"].startswith("FIRE")
    assert back["incidentComponent"]["incidentTypeCommonRegistryText"] == "FSTRU"
    assert back["locationComponent"][0]["locationDescriptionText"] == "Quốc lộ 13, Phường Thuận An"
    assert "<gml:pos>10.9250000 106.7120000</gml:pos>" in back["locationComponent"][0]["locationByValue"]


async def test_nenas_sample_without_an_incident_is_invalid_argument_naming_incident_component(eido_api: Api) -> None:
    sample = load_standard().folder / "eido" / "021.1b" / "Sample call transfer EIDO.json"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=sample.read_text(encoding="utf-8")),
                                       metadata=eido_api.md("integrator"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(refused.value)] == ["json.incidentComponent"]


async def test_schema_invalid_eido_is_invalid_argument_with_field_violations(eido_api: Api) -> None:
    doc = _nena_sample_with_incident()
    doc["eidoVersion"] = "9.9"
    doc["incidentComponent"]["incidentTypeCommonRegistryText"] = "StructureFire"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(doc)),
                                       metadata=eido_api.md("integrator"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {f for f, _ in status_details(refused.value)}
    assert {"json.eidoVersion", "json.incidentComponent.incidentTypeCommonRegistryText"} <= fields


async def test_an_updated_document_moves_the_incident_at_its_current_version(
    eido_api: Api, incidents_port: int
) -> None:
    ident = f"hcm-{uuid.uuid4().hex[:10]}"
    first = _foreign_document(ident=ident, lat=10.9521)  # its own spot: created, not merged into another's
    # A CAD the city lets move statuses: its token carries operator (TransitionIncident).
    cad = eido_api.md(["integrator", "operator"], "svc-cad-hcm")  # type: ignore[arg-type]
    ref = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(first)), metadata=cad)
    update = _foreign_document(status=incidents_pb2.Status.STATUS_ACKNOWLEDGED, ident=ident, lat=10.9521)
    again = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(update)), metadata=cad)
    assert (again.incident_id, again.created) == (ref.incident_id, False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{incidents_port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        inc = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=ref.incident_id),
                                     metadata=eido_api.md("supervisor"))
    # TransitionIncident requires expected_version: the client read it first, so the move applied.
    assert inc.status == incidents_pb2.Status.STATUS_ACKNOWLEDGED


async def test_only_the_cad_that_created_an_incident_updates_it_by_import(
    eido_api: Api, incidents_port: int
) -> None:
    ident = f"hcm-{uuid.uuid4().hex[:10]}"
    creator = bearer(eido_api.settings, ["integrator", "operator"], "svc-cad-hcm", cad_id="cad-hcm")
    stranger = bearer(eido_api.settings, ["integrator", "operator"], "svc-cad-dn", cad_id="cad-dong-nai")
    first = json.dumps(_foreign_document(ident=ident, lat=10.9621))
    ref = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=first), metadata=creator)
    cancel = json.dumps(_foreign_document(status=incidents_pb2.Status.STATUS_CANCELLED, ident=ident, lat=10.9621))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=cancel), metadata=stranger)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with grpc.aio.insecure_channel(f"127.0.0.1:{incidents_port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        seen = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=ref.incident_id),
                                      metadata=eido_api.md("supervisor"))
        assert seen.status == incidents_pb2.Status.STATUS_NEW  # the stranger's cancel changed nothing
        ack = json.dumps(_foreign_document(status=incidents_pb2.Status.STATUS_ACKNOWLEDGED, ident=ident, lat=10.9621))
        again = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=ack), metadata=creator)
        assert again.incident_id == ref.incident_id
        moved = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=ref.incident_id),
                                       metadata=eido_api.md("supervisor"))
        assert moved.status == incidents_pb2.Status.STATUS_ACKNOWLEDGED


async def test_an_imported_priority_follows_the_priority_override_rule(eido_api: Api, incidents_port: int) -> None:
    def doc(lat: float) -> str:
        d = _foreign_document(lat=lat)
        # P4 (EIDO 1): far below what triage gives a warehouse fire.
        d["incidentComponent"].update(incidentCommonPriorityNumber=1, incidentPriorityInternalText="P4")
        return json.dumps(d)

    plain = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=doc(10.9721)),
                                           metadata=bearer(eido_api.settings, "integrator", "cad-plain"))
    trusted = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=doc(10.9821)),
                                             metadata=bearer(eido_api.settings, "supervisor", "sup-1"))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{incidents_port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        md = eido_api.md("supervisor")
        by_integrator = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=plain.incident_id), metadata=md)
        by_supervisor = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=trusted.incident_id), metadata=md)
    assert by_supervisor.priority == incidents_pb2.Priority.PRIORITY_P4  # the override right: carried
    assert by_integrator.priority != incidents_pb2.Priority.PRIORITY_P4  # no override right: triage decides


async def test_a_cad_without_the_right_to_transition_cannot_cancel_its_incident_by_import(
    eido_api: Api, incidents_port: int
) -> None:
    """The import acts with the CAD's own token: incidents refuses TransitionIncident to a plain
    integrator, so its CANCELLED document is PERMISSION_DENIED and the incident stays open; its
    notes are still applied, recorded as the CAD's (not dispatch's)."""
    ident = f"hcm-{uuid.uuid4().hex[:10]}"
    cad = bearer(eido_api.settings, "integrator", "svc-cad-plain", cad_id="cad-plain")
    ref = await eido_api.stub.ImportEido(
        dispatch_pb2.ImportEidoRequest(json=json.dumps(_foreign_document(ident=ident, lat=10.9921))), metadata=cad)
    cancel = _foreign_document(status=incidents_pb2.Status.STATUS_CANCELLED, ident=ident, lat=10.9921)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(cancel)), metadata=cad)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with grpc.aio.insecure_channel(f"127.0.0.1:{incidents_port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        md = eido_api.md("supervisor")
        seen = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=ref.incident_id), metadata=md)
        timeline = await stub.GetTimeline(incidents_pb2.GetTimelineRequest(id=ref.incident_id), metadata=md)
    assert seen.status == incidents_pb2.Status.STATUS_NEW
    actors = {(e.action, e.actor.subject) for e in timeline.entries}
    assert ("IncidentReported", "svc-cad-plain") in actors  # filed with the CAD's token
    assert ("NoteAdded", "svc-cad-plain") in actors  # its note, as itself
    assert not any(subject == "svc-dispatch" for _, subject in actors)  # never with dispatch's token


async def test_a_cad_may_not_note_an_incident_it_did_not_report(eido_api: Api, incidents_port: int) -> None:
    """AddNote by an integration (the path EIDO notes take) is limited to incidents it reported."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{incidents_port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        reply = await stub.ReportIncident(incidents_pb2.ReportIncidentRequest(
            category=incidents_pb2.Category.CATEGORY_FIRE, description="Cháy chợ Thủ Dầu Một",
            source=incidents_pb2.Source.SOURCE_HOTLINE_1022,
            location=common_pb2.GeoPoint(lat=10.9801, lon=106.6521),
            idempotency_key=f"note-{uuid.uuid4().hex}"), metadata=eido_api.md("call_taker"))
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.AddNote(incidents_pb2.AddNoteRequest(id=reply.incident.id, text="ghi chú lạ"),
                               metadata=bearer(eido_api.settings, "integrator", "svc-cad-other"))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
