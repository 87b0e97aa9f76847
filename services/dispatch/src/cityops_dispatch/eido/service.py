"""EIDO exchange with external CADs: export one incident, import (create or update) one incident."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch import access
from cityops_dispatch.assignments import store as assignments_store
from cityops_dispatch.eido import store
from cityops_dispatch.eido.incidents_client import Incidents
from cityops_dispatch.eido.mapping import ImportedIncident, Resource, eido_id, export_document
from cityops_dispatch.eido.parse import parse_document
from cityops_dispatch.eido.standard import EidoStandard
from cityops_dispatch.eido.vocabulary import Vocabulary
from cityops_dispatch.incidents_view import store as view_store
from cityops_dispatch.units import store as units_store
from cityops_platform import auth, metrics
from cityops_platform.errors import FieldViolation, NotFound, PreconditionFailed

log = logging.getLogger("cityops.dispatch.eido")
IMPORT_REASON = "cập nhật từ EIDO của CAD ngoài (update from an external CAD's EIDO)"


@dataclass
class ExportedEido:
    json: str
    incident_id: str
    eido_id: str
    last_update: datetime


@dataclass
class ImportedRef:
    incident_id: str
    number: str
    created: bool
    eido_id: str


def idempotency_key(ident: str) -> str:
    """``eido:<$id>``, or a digest when that would pass the 128-character limit of ReportIncident."""
    key = f"eido:{ident}"
    return key if len(key) <= 128 else f"eido-sha256:{hashlib.sha256(ident.encode()).hexdigest()}"


async def export_incident(
    conn: asyncpg.Connection,
    incident_id: str,
    *,
    domain: str,
    vocab: Vocabulary,
    standard: EidoStandard | None,
    incidents: Incidents | None = None,
) -> ExportedEido:
    """The EIDO of one incident, with its assigned units and notes, checked against NENA's schema and
    registries. When dispatch's view has not seen the incident yet (it was reported a moment ago),
    the incident is read through from the incidents service instead of answering NOT_FOUND."""
    view = await view_store.get(conn, incident_id)
    if view is not None:
        snapshot = view.snapshot
    elif incidents is not None:
        snapshot = await incidents.get(incident_id)  # NotFound when incidents has none either
    else:
        raise NotFound("sự cố (incident)", incident_id)
    resources = []
    for a in await assignments_store.list_assignments(conn, incident_id=incident_id, unit_id="", active_only=False):
        if a.status.name in ("DECLINED", "TIMED_OUT"):
            continue  # never went
        unit = await units_store.get(conn, a.unit_id)
        resources.append(Resource(a, unit.agency if unit else "", unit.capabilities if unit else [a.capability]))
    notes = await view_store.notes(conn, incident_id)
    doc = export_document(snapshot, resources=resources, notes=notes, domain=domain, now=datetime.now(UTC),
                          vocab=vocab)
    problems = conformance_violations(doc, standard=standard, vocab=vocab)
    if problems:  # a bug of ours, never the caller's: say so loudly, still answer
        metrics.ERRORS_SWALLOWED.labels("eido_export_nonconformant").inc()
        log.error("exported EIDO violates STA-021.1b", extra={
            "incident_id": incident_id, "violations": [f"{p.field}: {p.description}" for p in problems[:10]]})
    last = datetime.fromisoformat(str(doc["lastUpdateTimeStamp"]).replace("Z", "+00:00"))
    incident_component = doc["incidentComponent"]
    assert isinstance(incident_component, dict)
    return ExportedEido(json.dumps(doc, ensure_ascii=False, indent=2), incident_id, str(incident_component["$id"]),
                        last)


def conformance_violations(doc: dict[str, object], *, standard: EidoStandard | None, vocab: Vocabulary
                           ) -> list[FieldViolation]:
    """Schema and registry problems of an EIDO (empty for a conformant one, or when the standard's
    artefacts are not installed: the mapping is then trusted as CI checked it)."""
    if standard is None:
        return []
    return [*standard.schema_violations(doc),
            *standard.registry_violations(doc, responder_types=vocab.responder_types)]


def report_request(imported: ImportedIncident, *, now: datetime) -> incidents_pb2.ReportIncidentRequest:
    """The ReportIncident call that creates the incident an EIDO describes (source CAD_INTEGRATION)."""
    request = incidents_pb2.ReportIncidentRequest(
        category_code=imported.category,
        subcategory=imported.subcategory,
        description=imported.description,
        location=common_pb2.GeoPoint(lat=imported.lat, lon=imported.lon, address=imported.address),
        source=incidents_pb2.Source.SOURCE_CAD_INTEGRATION,
        idempotency_key=idempotency_key(imported.eido_id),
        external_ids={"eido": imported.eido_id, **(
            {"eido_location": imported.location_quality} if imported.location_quality else {})},
        priority_override=imported.priority,  # type: ignore[arg-type]
    )
    if imported.occurred_at is not None and imported.occurred_at <= now:
        request.occurred_at.FromDatetime(imported.occurred_at)
    return request


@dataclass(frozen=True, kw_only=True)
class EidoImporter:
    """Creates or updates incidents from EIDO documents through the incidents gRPC API (and exports
    them); holds what the EIDO RPCs need and owns their transactions."""

    pool: asyncpg.Pool
    incidents: Incidents
    domain: str  # the city's domain (DispatchSettings.eido_domain), part of every EIDO id we make
    vocab: Vocabulary
    standard: EidoStandard | None

    async def export(self, incident_id: str) -> ExportedEido:
        """``export_incident`` over the pool, reading through to incidents when the view lags."""
        async with self.pool.acquire() as conn:
            return await export_incident(conn, incident_id, domain=self.domain, vocab=self.vocab,
                                         standard=self.standard, incidents=self.incidents)

    async def import_document(self, text: str, *, caller: auth.Principal | None = None) -> ImportedRef:
        """Idempotent on the EIDO ``$id``: the first import creates the incident (ReportIncident with
        the idempotency key ``eido:<$id>``), later ones add new notes and move the status.

        Object rule (``caller``, default the RPC's principal): only the CAD that created an incident
        by import updates it (supervisors and admins any). Every change is made **with the caller's
        own token** (on behalf of it, never with dispatch's), so incidents authorizes it against the
        CAD's roles: a CAD that may not TransitionIncident gets PERMISSION_DENIED for a status change
        (its notes still apply first), and an EIDO's priority is carried only for callers the
        incidents service lets override priorities (operator, supervisor, admin); for others triage
        decides."""
        caller = caller or auth.current_principal()
        imported = parse_document(text, standard=self.standard, vocab=self.vocab)
        existing = await self._existing(imported)
        if existing is not None:
            incident_id, number = existing
            access.check_eido_update(caller, await self._creator(incident_id))
            await self._update(incident_id, imported, caller)
            return ImportedRef(incident_id, number, False, imported.eido_id)
        request = report_request(imported, now=datetime.now(UTC))
        if not caller.has_any(access.PRIORITY_ROLES):
            # Incidents would refuse the whole report (PERMISSION_DENIED) for a priority the caller
            # may not set; the EIDO's priority is advisory, so triage decides instead.
            request.ClearField("priority_override")
        response = await self.incidents.report(request, on_behalf_of=caller)
        incident = response.incident
        async with self.pool.acquire() as conn:
            inserted = await store.record_import(
                conn, eido_id=imported.eido_id, incident_id=incident.id, incident_number=incident.number,
                cad="" if response.merged else access.cad_identity(caller),  # merged into another's: not its creator
            )
        await self._add_notes(incident.id, imported, caller)
        return ImportedRef(incident.id, incident.number, inserted and not response.merged, imported.eido_id)

    async def _creator(self, incident_id: str) -> str | None:
        """The CAD whose import created the incident; None when no import did."""
        async with self.pool.acquire() as conn:
            return await store.creator(conn, incident_id)

    async def _existing(self, imported: ImportedIncident) -> tuple[str, str] | None:
        async with self.pool.acquire() as conn:
            found = await store.find_import(conn, imported.eido_id)
            if found is not None or imported.source_domain != self.domain:
                return found
            view = await view_store.get(conn, imported.source_incident_id)  # one of ours coming back
        if view is not None and eido_id(view.id, self.domain) == imported.eido_id:
            return view.id, view.number
        return None

    async def _update(self, incident_id: str, imported: ImportedIncident, caller: auth.Principal) -> None:
        await self._add_notes(incident_id, imported, caller)
        async with self.pool.acquire() as conn:
            view = await view_store.get(conn, incident_id)
        if imported.status and imported.status != incidents_pb2.Status.STATUS_NEW and (
            view is None or view.status != imported.status
        ):
            try:
                # PermissionDenied (the CAD's roles may not transition) reaches the caller.
                await self.incidents.transition(incident_id, imported.status, IMPORT_REASON, on_behalf_of=caller)
            except PreconditionFailed as exc:
                # The CAD's status may be one our lifecycle cannot jump to; the rest still applies.
                metrics.ERRORS_SWALLOWED.labels("eido_transition").inc()
                log.warning("EIDO status not applied", extra={"incident_id": incident_id, "error": exc.message})

    async def _add_notes(self, incident_id: str, imported: ImportedIncident, caller: auth.Principal) -> None:
        async with self.pool.acquire() as conn:
            known = {n.text for n in await view_store.notes(conn, incident_id)}
        for text in imported.notes:
            if text in known:
                continue
            digest = hashlib.sha256(text.encode()).hexdigest()
            async with self.pool.acquire() as conn, conn.transaction():
                if await store.mark_note(conn, eido_id=imported.eido_id, note_hash=digest):
                    # the mark commits only if incidents took the note
                    await self.incidents.add_note(incident_id, text, on_behalf_of=caller)
