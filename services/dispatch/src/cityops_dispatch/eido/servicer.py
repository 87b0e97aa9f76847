"""The EIDO RPCs: proto ⇄ models only; export and import are in eido/service.py (EidoImporter)."""

from __future__ import annotations

from typing import Any

from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch.convert import required, ts
from cityops_dispatch.eido.service import EidoImporter
from cityops_platform.errors import require


class EidoRpc:
    """ExportEido, ImportEido (a part of DispatchServicer)."""

    _importer: EidoImporter

    async def ExportEido(self, request: dispatch_pb2.ExportEidoRequest, context: Any) -> dispatch_pb2.EidoDocument:  # noqa: N802
        require(required(request.incident_id, "incident_id"))
        exported = await self._importer.export(request.incident_id)
        return dispatch_pb2.EidoDocument(
            json=exported.json, incident_id=exported.incident_id, eido_id=exported.eido_id,
            last_update=ts(exported.last_update),
        )

    async def ImportEido(self, request: dispatch_pb2.ImportEidoRequest, context: Any) -> dispatch_pb2.IncidentRef:  # noqa: N802
        ref = await self._importer.import_document(request.json)
        return dispatch_pb2.IncidentRef(
            incident_id=ref.incident_id, number=ref.number, created=ref.created, eido_id=ref.eido_id
        )
