"""The incidents rules, as the api sees them: report, read, transition, annotate, search.

No gRPC or Faust here; dependencies are keyword-only so tests can build the service directly.
Every change commits together with its timeline entry and its IncidentEvent (outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents import geo
from cityops_incidents.incidents import lifecycle, report_store, request_keys, sla, store, unit_assignments
from cityops_incidents.incidents.batch import IntakeBatcher
from cityops_incidents.incidents.changes import record_only, write_change
from cityops_incidents.incidents.convert import status_label
from cityops_incidents.incidents.models import (
    TERMINAL_STATUSES,
    Actor,
    Incident,
    ListQuery,
    ReopenIn,
    ReportIn,
    ReportOutcome,
    SplitIn,
    StoredReport,
    TimelineEntry,
    TransitionIn,
)
from cityops_incidents.incidents.reopen import reopen_in_tx, validate_reopen
from cityops_incidents.incidents.split import split_in_tx, validate_split
from cityops_incidents.incidents.transitions import apply_transition, utcnow
from cityops_incidents.incidents.validation import (
    check_location,
    invalid,
    validate_id,
    validate_note,
    validate_report,
    validate_transition,
)
from cityops_incidents.rules import Rules
from cityops_incidents.settings import LOCAL_PHONE_HASH_KEY
from cityops_incidents.text import national_phone, phone_hash, phone_key_id, search_terms
from cityops_platform import codecs
from cityops_platform.db.request_keys import scoped_key
from cityops_platform.errors import (
    FieldViolation,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StaleVersion,
    require,
)
from cityops_platform.geo.admin_units import admin_units

# Who may attach a report to an incident of their choice (ReportIncident.attach_to_incident_id).
ATTACH_ROLES = frozenset({"call_taker", "operator", "supervisor", "admin"})
# Who may set priority_override (it skips triage).
OVERRIDE_ROLES = frozenset({"operator", "supervisor", "admin"})
# A citizen reports for themself, through the app or Open311, never as a sensor or another centre.
CITIZEN_SOURCES = frozenset({"CITIZEN_APP", "OPEN311"})
SENSOR_SOURCE_ROLES = frozenset({"integrator", "admin"})
MAX_PAGE_SIZE = 500


class IncidentService:
    def __init__(self, *, pool: asyncpg.Pool, rules: Rules, now: Callable[[], datetime] = utcnow,
                 phone_key: bytes = LOCAL_PHONE_HASH_KEY.encode(), previous_phone_key: bytes | None = None) -> None:
        self._pool = pool
        self._phone_key = phone_key
        self._previous_phone_key = previous_phone_key
        self.rules = rules
        self._now = now
        self._intake = IntakeBatcher(pool=pool, rules=rules)

    async def report(self, r: ReportIn, *, actor: Actor, roles: frozenset[str]) -> ReportOutcome:
        """Create an incident or merge into a nearby open one. Idempotent on ``idempotency_key``,
        also under concurrent retries; simultaneous reports from one spot give one incident.
        Reports arriving together are filed in one transaction (``batch.IntakeBatcher``)."""
        now = self._now()
        validate_report(self.rules, r, now=now)
        if r.priority_override and roles.isdisjoint(OVERRIDE_ROLES):
            raise PermissionDenied("Chỉ điều hành viên/giám sát được chỉ định mức ưu tiên "
                                   "(only operators and supervisors may override the priority)")
        if roles and roles <= {"citizen"} and r.source not in CITIZEN_SOURCES:
            raise PermissionDenied("Người dân chỉ gửi qua CITIZEN_APP hoặc OPEN311 "
                                   "(citizens report through CITIZEN_APP or OPEN311)")
        if r.source == "SENSOR" and roles.isdisjoint(SENSOR_SOURCE_ROLES):
            raise PermissionDenied("Nguồn SENSOR chỉ dành cho hệ thống tích hợp (SENSOR is for integrations)")
        if r.attach_to:
            if roles.isdisjoint(ATTACH_ROLES):
                raise PermissionDenied("Chỉ nhân viên trung tâm được gộp cuộc gọi vào sự cố "
                                       "(only center staff may attach a report to an incident)")
            validate_id(r.attach_to, "attach_to_incident_id")
        if "citizen" in roles:
            r.reporter_subject = actor.subject
        # Idempotency keys are the caller's own: the same key from another subject is another report,
        # never a way to read someone else's (docs/security.md, object-level authorization).
        r.idempotency_key = scoped_key(actor.subject, r.idempotency_key)
        # Only the keyed hash and the masked form of the phone are stored (report_store).
        r.reporter_phone_hash = phone_hash(self._phone_key, r.reporter_phone)
        r.reporter_phone_key_id = phone_key_id(self._phone_key) if r.reporter_phone_hash else ""
        return await self._intake.file(r, actor=actor, now=now)

    async def get(self, incident_id: str = "", number: str = "") -> Incident:
        """One incident by id, or by its human-readable number when the id is empty."""
        if not incident_id and number:
            async with self._pool.acquire() as conn:
                found = await store.get_by_number(conn, number)
            if found is None:
                raise NotFound("incident", number)
            return found
        validate_id(incident_id)
        async with self._pool.acquire() as conn:
            found = await store.get(conn, incident_id)
        if found is None:
            raise NotFound("incident", incident_id)
        return found

    async def transition(self, t: TransitionIn, *, actor: Actor) -> Incident:
        """Move an incident along the lifecycle. ``expected_version`` is required (ValidationFailed
        without it); a stale one raises StaleVersion; an illegal move raises IllegalTransition; both
        leave the incident untouched. With ``idempotency_key`` a replay of an applied transition
        answers with the incident as it is now (no stale-version error, nothing applied twice)."""
        validate_transition(self.rules, t)
        now = self._now()
        key = scoped_key(actor.subject, t.idempotency_key) if t.idempotency_key else ""
        async with self._pool.acquire() as conn, conn.transaction():
            inc = await store.get(conn, t.incident_id, for_update=True)
            if inc is None:
                raise NotFound("incident", t.incident_id)
            if key and await request_keys.seen(conn, key, method="TransitionIncident", incident_id=inc.id):
                return inc
            if t.expected_version != inc.version:
                raise StaleVersion(t.expected_version, inc.version)
            lifecycle.check(inc.status, t.to_status)
            sla.check_pause_transition(self.rules, inc, t.to_status)
            if t.to_status == "DUPLICATE":
                survivor = await store.get(conn, t.duplicate_of)
                if survivor is None:
                    raise NotFound("incident", t.duplicate_of)
                if survivor.status in TERMINAL_STATUSES:
                    raise PreconditionFailed(f"Sự cố {survivor.number} đã đóng ({survivor.status}); không thể "
                                             f"đánh dấu trùng vào nó (the surviving incident is closed)")
            before = inc.status
            await apply_transition(conn, rules=self.rules, inc=inc, t=t, actor=actor, now=now)
            audit = sla.pause_audit(self.rules, inc, before_status=before, now=now)
            if audit is not None:
                await record_only(conn, inc=inc, actor=actor, action=audit[0], now=now, detail=audit[1],
                                  before=status_label(before), after=status_label(inc.status))
            if key:
                await request_keys.remember(conn, key, method="TransitionIncident", incident_id=inc.id,
                                            version=inc.version, at=now)
            return inc

    async def add_note(self, incident_id: str, text: str, *, actor: Actor, unit_id: str | None = None,
                       filer_only: bool = False, idempotency_key: str = "") -> Incident:
        """Append a note (stored, on the timeline and as a NoteAdded event). With ``idempotency_key``
        a replay of an added note answers with the incident and adds nothing.

        Object rules (docs/security.md): with ``unit_id`` (a field unit's bound unit) only an incident
        that unit is actively assigned to; with ``filer_only`` (an external CAD) only an incident
        the caller filed a report on. PERMISSION_DENIED otherwise, and nothing is written."""
        validate_note(self.rules, incident_id, text, idempotency_key)
        now = self._now()
        key = scoped_key(actor.subject, idempotency_key) if idempotency_key else ""
        async with self._pool.acquire() as conn, conn.transaction():
            inc = await store.get(conn, incident_id, for_update=True)
            if inc is None:
                raise NotFound("incident", incident_id)
            if key and await request_keys.seen(conn, key, method="AddNote", incident_id=inc.id):
                return inc
            if unit_id is not None and not await unit_assignments.is_assigned(conn, inc.id, unit_id):
                raise PermissionDenied(f"Đơn vị {unit_id} không được phân công cho sự cố {inc.number} "
                                       f"(unit {unit_id} is not assigned to this incident)")
            if filer_only and not await report_store.filed_by(conn, inc.id, actor.subject):
                raise PermissionDenied(f"Chỉ ghi chú được vào sự cố do chính hệ thống này báo tin: {inc.number} "
                                       f"(an integration notes only incidents it reported)")
            note_id = str(uuid.uuid4())
            await store.insert_note(conn, note_id=note_id, incident_id=inc.id, text=text, actor=actor, at=now)
            await write_change(conn, rules=self.rules, inc=inc, actor=actor, now=now, detail=text,
                                body=pb.NoteAdded(note_id=note_id, text=text))
            if key:
                await request_keys.remember(conn, key, method="AddNote", incident_id=inc.id, version=inc.version,
                                            at=now)
            return inc

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        """Every change of the incident, oldest first."""
        validate_id(incident_id)
        async with self._pool.acquire() as conn:
            if await store.get(conn, incident_id) is None:
                raise NotFound("incident", incident_id)
            return await store.timeline(conn, incident_id)

    async def list_incidents(self, q: ListQuery) -> tuple[list[Incident], str]:
        """Incidents newest first, filtered; text ignores case and diacritics. Keyset paging."""
        if q.page_size < 0:
            raise invalid("page_size", "phải >= 0 (must be >= 0)")
        if len(q.text) > self.rules.limit("search_text"):
            raise invalid("text", f"dài quá {self.rules.limit('search_text')} ký tự (too long)")
        size = min(q.page_size or 50, MAX_PAGE_SIZE)
        where: list[str] = []
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        for column, values in (("status", q.statuses), ("category", q.categories), ("agency", q.agencies)):
            if values:
                where.append(f"{column} = ANY({arg(list(values))}::text[])")
        if q.priorities:
            where.append(f"priority = ANY({arg(list(q.priorities))}::smallint[])")
        wards = list(q.ward_codes)
        if q.district:  # the deprecated filter: a ward code or name, or a former district (its units)
            wards += admin_units().filter_codes(q.district) or ["-"]
        if wards:
            where.append(f"ward_code = ANY({arg(wards)}::text[])")
        if q.created_after:
            where.append(f"created_at >= {arg(q.created_after)}")
        if q.created_before:
            where.append(f"created_at < {arg(q.created_before)}")
        for term in search_terms(q.text):
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(f"search_text LIKE {arg(f'%{escaped}%')}")
        if q.page_token:
            at, last_id = decode_page_token(q.page_token)
            where.append(f"(created_at, id) < ({arg(at)}, {arg(last_id)}::uuid)")
        async with self._pool.acquire() as conn:
            rows = await store.search(conn, where=where, args=args, limit=size + 1)
        page, more = rows[:size], len(rows) > size
        return page, encode_page_token(page[-1]) if more and page else ""

    async def nearby(
        self, *, lat: float, lon: float, has_location: bool, radius_m: float, categories: list[str], limit: int
    ) -> list[tuple[Incident, float]]:
        """Open incidents within ``radius_m`` (default: the category's fusion radius, else 500 m), nearest first."""
        out: list[FieldViolation] = []
        if not has_location:
            out.append(FieldViolation("location", "bắt buộc (required)"))
        else:
            check_location(out, self.rules, "location", lat, lon)
        max_radius = self.rules.limit("max_nearby_radius_m")
        if radius_m < 0 or radius_m > max_radius:
            out.append(FieldViolation("radius_m", f"phải trong [0, {max_radius}] (out of range)"))
        if limit < 0:
            out.append(FieldViolation("limit", "phải >= 0 (must be >= 0)"))
        require(out)
        if not radius_m:
            rule_radius = self.rules.fusion_rule(categories[0]).radius_m if len(categories) == 1 else 0
            radius_m = rule_radius or 500.0
        limit = min(limit or 10, 100)
        async with self._pool.acquire() as conn:
            rows = await store.open_in_box(conn, box=geo.bounding_box(lat, lon, radius_m), categories=categories)
        hits = [(inc, geo.distance_m(lat, lon, inc.lat, inc.lon)) for inc in rows]
        hits = sorted((h for h in hits if h[1] <= radius_m), key=lambda h: h[1])
        return hits[:limit]

    async def split(self, s: SplitIn, *, actor: Actor) -> tuple[Incident, Incident]:
        """Move one fused report out into a new incident of its own (own number, triage, SLA clock).
        Requires ``expected_version`` of the source; audited and published on both incidents."""
        validate_split(self.rules, s)
        now = self._now()
        async with self._pool.acquire() as conn, conn.transaction():
            return await split_in_tx(conn, rules=self.rules, s=s, actor=actor, now=now)

    async def reopen(self, o: ReopenIn, *, actor: Actor, roles: frozenset[str]) -> Incident:
        """RESOLVED → ACKNOWLEDGED within the reopen window, by a reporter or an operator, with one
        priority step of escalation. Requires ``expected_version``."""
        validate_reopen(self.rules, o)
        now = self._now()
        async with self._pool.acquire() as conn, conn.transaction():
            return await reopen_in_tx(conn, rules=self.rules, o=o, actor=actor, roles=roles, now=now)

    async def caller_reports(self, phone: str, limit: int) -> list[report_store.CallerReport]:
        """A caller's earlier reports (newest first), found by the keyed hash of the phone in national
        form (any of "+84 912 345 678", "0912.345.678", "84912345678"); the phone itself is neither
        stored nor logged, and the reports carry it masked. After a key rotation the hash under the
        previous key is looked up too, and this caller's rows found under it are re-hashed with the
        current key in the same transaction (the lookup is what re-keys them: the number is not kept)."""
        out: list[FieldViolation] = []
        if len(national_phone(phone)) < 9:
            out.append(FieldViolation("phone", "số điện thoại quá ngắn hoặc trống (phone too short or empty)"))
        if limit < 0:
            out.append(FieldViolation("limit", "phải >= 0 (must be >= 0)"))
        require(out)
        current = phone_hash(self._phone_key, phone)
        hashes = [current]
        if self._previous_phone_key is not None:
            hashes.append(phone_hash(self._previous_phone_key, phone))
        async with self._pool.acquire() as conn, conn.transaction():
            found = await report_store.by_phone_hash(conn, hashes, min(limit or 10, 50))
            if len(hashes) > 1:
                await report_store.rehash_phone(conn, old_hash=hashes[1], new_hash=current,
                                                new_key_id=phone_key_id(self._phone_key))
            return found

    async def reports(self, incident_id: str) -> list[StoredReport]:
        """The reports fused into an incident, oldest first (the caller masks the phone)."""
        validate_id(incident_id, "incident_id")
        async with self._pool.acquire() as conn:
            if await store.get(conn, incident_id) is None:
                raise NotFound("incident", incident_id)
            return await report_store.list_for(conn, incident_id)


def encode_page_token(last: Incident) -> str:
    return codecs.encode_page_token(last.created_at.isoformat(), last.id)


def decode_page_token(token: str) -> tuple[datetime, str]:
    created_at, incident_id = codecs.decode_page_token(token, 2)
    try:
        return datetime.fromisoformat(created_at), str(uuid.UUID(incident_id))
    except ValueError as exc:
        raise invalid("page_token", codecs.INVALID_PAGE_TOKEN) from exc
