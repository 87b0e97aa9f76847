"""EIDO exchange end to end: a CAD's EIDO → the real incidents api → incident events → dispatch's
view (real worker) → ExportEido, with the fields preserved; re-sending the document changes nothing.

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
from cityops_dispatch.config import DispatchSettings
from cityops_dispatch.eido.client import IncidentsClient
from cityops_dispatch.eido.mapping import export_document
from cityops_dispatch.incidents_view.models import Note
from cityops_platform import auth
from cityops_platform.db.migrations import migrate
from cityops_platform.runtime import migrations_dir, service_module, service_resources, start_grpc
from cityops_platform.testing import eventually

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


def _foreign_document(status: int = incidents_pb2.Status.STATUS_NEW, ident: str = "") -> dict[str, Any]:
    """What another centre's CAD sends: built with our exporter for an incident it owns."""
    incident = incidents_pb2.Incident(
        id=ident or f"hcm-{uuid.uuid4().hex[:10]}", number="HCM-000731", category=incidents_pb2.Category.CATEGORY_FIRE,
        subcategory="chay_kho_hang", priority=incidents_pb2.Priority.PRIORITY_P2,
        status=status, description="Cháy kho hàng giáp ranh Thuận An",  # type: ignore[arg-type]
        location=common_pb2.GeoPoint(lat=10.9321, lon=106.7104, address="Đường Quốc lộ 13, Thuận An"),
    )
    now = datetime.now(UTC)
    incident.updated_at.FromDatetime(now)
    incident.occurred_at.FromDatetime(now - timedelta(minutes=3))
    notes = [Note("n-1", "Có hóa chất dễ cháy trong kho", "cad", now)]
    return export_document(incident, resources=[], notes=notes, domain=FOREIGN, now=now)


async def test_eido_round_trip_through_incidents_preserves_fields(eido_api: Api, worker: WorkerProcess) -> None:
    api = eido_api
    document = _foreign_document()
    text = json.dumps(document, ensure_ascii=False)
    ref = await api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=text), metadata=api.md("integrator"))
    assert ref.created and ref.incident_id and ref.eido_id == document["$id"]

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
    assert back["$id"] == f"urn:emergency:uid:incidentid:{ref.incident_id}:{OUR_DOMAIN}"
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
    again = await api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=text), metadata=api.md("integrator"))
    assert (again.incident_id, again.created) == (ref.incident_id, False)
    # Our own export coming back is recognised as ours: an update, not a new incident.
    ours_again = await api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=ours.json),
                                           metadata=api.md("integrator"))
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


async def test_an_updated_document_moves_the_incident_at_its_current_version(
    eido_api: Api, incidents_port: int
) -> None:
    ident = f"hcm-{uuid.uuid4().hex[:10]}"
    first = _foreign_document(ident=ident)
    ref = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(first)),
                                         metadata=eido_api.md("integrator"))
    update = _foreign_document(status=incidents_pb2.Status.STATUS_ACKNOWLEDGED, ident=ident)
    again = await eido_api.stub.ImportEido(dispatch_pb2.ImportEidoRequest(json=json.dumps(update)),
                                           metadata=eido_api.md("integrator"))
    assert (again.incident_id, again.created) == (ref.incident_id, False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{incidents_port}") as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        inc = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id=ref.incident_id),
                                     metadata=eido_api.md("supervisor"))
    # TransitionIncident requires expected_version: the client read it first, so the move applied.
    assert inc.status == incidents_pb2.Status.STATUS_ACKNOWLEDGED
