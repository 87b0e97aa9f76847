"""Who goes: assignment, acknowledgement, decline and timeout, run cards and waiting incidents.

Every method runs inside the caller's transaction and writes its events to the outbox there, so a
change and its events commit together. Locks are taken in one order — slot, then unit, then
assignment — and ``db.in_transaction`` retries the rare deadlock victim.

The invariant "a unit is never on two active assignments" is held twice: the unit row is locked
and re-checked before assigning, and the partial unique index ``assignments_one_active_per_unit``
refuses a second active row whatever the code does.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch import access, db, events
from cityops_dispatch.assignments import request_keys, store
from cityops_dispatch.assignments.models import (
    SYSTEM_ACTOR,
    Actor,
    Assignment,
    AssignmentExpired,
    AssignmentStatus,
    Slot,
)
from cityops_dispatch.codes import agency_enum
from cityops_dispatch.convert import ts
from cityops_dispatch.geo import haversine_m
from cityops_dispatch.incidents_view import store as view_store
from cityops_dispatch.incidents_view.models import IncidentView
from cityops_dispatch.recommend.service import Candidate, eta_seconds, find_candidates, matched_capability
from cityops_dispatch.rules import Rules
from cityops_dispatch.units import store as units_store
from cityops_dispatch.units.models import ASSIGNABLE, Unit, UnitStatus, UnitUnavailable
from cityops_platform import auth
from cityops_platform.db.request_keys import key_reused, scoped_key
from cityops_platform.errors import FieldViolation, IllegalTransition, NotFound, PreconditionFailed, ValidationFailed

log = logging.getLogger("cityops.dispatch.assignments")
A = AssignmentStatus
TIMEOUT_REASON = "hết thời gian xác nhận (acknowledgement timeout)"
CANCEL_ON_CLOSE = frozenset({A.ASSIGNED, A.ACKNOWLEDGED, A.EN_ROUTE})
CANDIDATES_PER_TRY = 5
SEARCH_ROUNDS = 4


def override_check(unit_id: str, recommended_unit_id: str, override_reason: str) -> tuple[str, str]:
    """(reason, recommended unit) of a dispatcher's override, ("", "") when the recommendation is
    taken. Choosing another unit than the recommended one needs a reason (INVALID_ARGUMENT)."""
    recommended, why = recommended_unit_id.strip(), override_reason.strip()
    if not recommended or recommended == unit_id:
        return "", ""
    if not why:
        raise ValidationFailed([FieldViolation(
            "override_reason",
            f"chọn đơn vị khác đề xuất ({recommended}) cần lý do (choosing another unit than the recommended one "
            "needs a reason)")])
    return why[:1000], recommended


async def follow_unit_status(
    conn: asyncpg.Connection,
    assignment: Assignment,
    unit: Unit,
    target: UnitStatus,
    *,
    reason: str,
    actor: Actor,
    rules: Rules,
    now: datetime,
) -> None:
    """Move a unit's active assignment along with the unit's new status, inside the caller's
    transaction: EN_ROUTE and ON_SCENE (an implicit acknowledgement first when still ASSIGNED) and the
    clear (RETURNING or AVAILABLE: CLEARED, its slot DONE); publishes UnitEnRoute / UnitArrived /
    UnitCleared. The one place besides the engine that advances the assignment state machine."""
    point = common_pb2.GeoPoint(lat=unit.lat, lon=unit.lon, address=unit.address)
    common: dict[str, Any] = {
        "incident_id": assignment.incident_id, "incident_number": assignment.incident_number, "actor": actor
    }
    current = assignment
    if target in (UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE) and current.status == A.ASSIGNED:
        # Moving is an implicit acceptance.
        current = await store.update_assignment(conn, current.id, A.ACKNOWLEDGED, acknowledged_at=now)
        await events.enqueue(conn, events.dispatch_event_record(
            body_name="assignment_acknowledged",
            body=dispatch_pb2.AssignmentAcknowledged(ack_latency_seconds=(now - current.assigned_at).total_seconds()),
            assignment=current, **common,
        ))
    if target == UnitStatus.EN_ROUTE:
        current = await store.update_assignment(conn, current.id, A.EN_ROUTE, en_route_at=now)
        view = await view_store.get(conn, current.incident_id)
        eta = 0.0
        if view is not None:
            eta = eta_seconds(haversine_m(unit.lat, unit.lon, view.lat, view.lon), unit.unit_type, rules)
        await events.enqueue(conn, events.dispatch_event_record(
            body_name="unit_en_route", body=dispatch_pb2.UnitEnRoute(location=point, eta_seconds=eta),
            assignment=current, unit=unit, **common,
        ))
    elif target == UnitStatus.ON_SCENE:
        current = await store.update_assignment(conn, current.id, A.ON_SCENE, on_scene_at=now)
        await events.enqueue(conn, events.dispatch_event_record(
            body_name="unit_arrived", body=dispatch_pb2.UnitArrived(location=point),
            assignment=current, unit=unit, **common,
        ))
    elif target in (UnitStatus.RETURNING, UnitStatus.AVAILABLE):
        text = reason.strip() or "hoàn thành (cleared)"
        current = await store.update_assignment(conn, current.id, A.CLEARED, reason=text, ended_at=now)
        if current.slot_id:
            await store.update_slot(conn, current.slot_id, status="DONE", assignment_id=current.id)
        await events.enqueue(conn, events.dispatch_event_record(
            body_name="unit_cleared", body=dispatch_pb2.UnitCleared(reason=text),
            assignment=current, unit=unit, **common,
        ))


class AssignmentEngine:
    """The assignment rules and the auto-assignment engine (not the human dispatcher role).
    Dependencies are keyword-only; no gRPC or Faust in here."""

    def __init__(self, *, rules: Rules, ack_timeout_s: float, max_radius_m: float) -> None:
        self.rules = rules
        self.ack_timeout = timedelta(seconds=ack_timeout_s)
        self.max_radius_m = max_radius_m

    # ---- dispatcher and field-unit actions ---------------------------------------------------

    async def assign(
        self,
        conn: asyncpg.Connection,
        *,
        incident_id: str,
        unit_id: str,
        capability: str,
        reason: str,
        actor: Actor,
        recommended_unit_id: str = "",
        override_reason: str = "",
    ) -> Assignment:
        """A dispatcher sends a unit. Raises UnitUnavailable unless the unit is AVAILABLE or RETURNING
        and on no active assignment; exactly one of many concurrent calls for a unit succeeds.

        Choosing another unit than ``recommended_unit_id`` (the top recommendation shown) is an
        override: it needs ``override_reason``, which the assignment and its UnitAssigned event keep."""
        override = override_check(unit_id, recommended_unit_id, override_reason)
        view = await view_store.get(conn, incident_id)
        if view is None:
            raise NotFound("sự cố (incident)", incident_id)
        if not view.open:
            raise PreconditionFailed(f"Sự cố '{incident_id}' đã kết thúc (incident is closed)")
        unit = await units_store.get(conn, unit_id, for_update=True)
        if unit is None:
            raise NotFound("đơn vị (unit)", unit_id)
        if unit.status not in ASSIGNABLE or unit.active_assignment_id:
            raise UnitUnavailable(unit_id, unit.status)
        card = self.rules.run_card_for(view.category, view.priority)
        if capability:
            if matched_capability(unit, [capability], self.rules) is None:
                raise ValidationFailed(
                    [FieldViolation("capability", f"đơn vị không có năng lực {capability} (unit lacks capability)")]
                )
        else:
            # The card's slot this unit fills, a substitute counted (an ALS ambulance fills a BLS slot:
            # the assignment says BLS, so the run card shows the slot filled, not an extra unit).
            wanted = card.capabilities if card else []
            capability = matched_capability(unit, wanted, self.rules) or unit.best_capability(wanted)
        slot = await store.insert_slot(
            conn, Slot(str(uuid.uuid4()), incident_id, capability, "", "OPEN", None, 0, False, None)
        )
        distance = haversine_m(view.lat, view.lon, unit.lat, unit.lon)
        candidate = Candidate(unit, distance, eta_seconds(distance, unit.unit_type, self.rules), capability)
        assignment = await self._assign(conn, view, slot, candidate, actor=actor, auto=False, reason=reason,
                                        override=override)
        if assignment is None:
            raise UnitUnavailable(unit_id, "ACTIVE_ASSIGNMENT")
        return assignment

    async def acknowledge(
        self, conn: asyncpg.Connection, *, assignment_id: str, accept: bool, reason: str, actor: Actor, now: datetime
    ) -> Assignment:
        """The unit accepts (ASSIGNED → ACKNOWLEDGED) or declines; a decline goes to the next candidate.
        After the deadline the answer is refused (AssignmentExpired): the timer moves it on."""
        if not accept and not reason.strip():
            raise ValidationFailed([FieldViolation("reason", "cần lý do khi từ chối (reason required to decline)")])
        current = await store.get_assignment(conn, assignment_id)
        if current is None:
            raise NotFound("phân công (assignment)", assignment_id)
        if current.status != A.ASSIGNED:
            target = "ACKNOWLEDGED" if accept else "DECLINED"
            raise IllegalTransition("phân công (assignment)", current.status.name, target)
        if now > current.ack_deadline:
            raise AssignmentExpired(assignment_id)
        if accept:
            locked = await store.get_assignment(conn, assignment_id, for_update=True)
            if locked is None or locked.status != A.ASSIGNED:
                raise IllegalTransition("phân công (assignment)", locked.status.name if locked else "?", "ACKNOWLEDGED")
            updated = await store.update_assignment(conn, assignment_id, A.ACKNOWLEDGED, acknowledged_at=now)
            latency = (now - updated.assigned_at).total_seconds()
            await events.enqueue(conn, events.dispatch_event_record(
                body_name="assignment_acknowledged",
                body=dispatch_pb2.AssignmentAcknowledged(ack_latency_seconds=latency),
                incident_id=updated.incident_id, incident_number=updated.incident_number, actor=actor,
                assignment=updated,
            ))
            return updated
        ended = await self._end_and_replace(conn, assignment_id, A.DECLINED, reason.strip(), actor, now=now)
        if ended is None:
            raise IllegalTransition("phân công (assignment)", "?", "DECLINED")
        return ended

    async def cancel(
        self, conn: asyncpg.Connection, *, assignment_id: str, reason: str, actor: Actor, now: datetime
    ) -> Assignment:
        """Withdraw an active assignment; its slot is closed (no replacement) and the unit freed."""
        current = await store.get_assignment(conn, assignment_id)
        if current is None:
            raise NotFound("phân công (assignment)", assignment_id)
        if not current.active:
            raise IllegalTransition("phân công (assignment)", current.status.name, "CANCELLED")
        if current.slot_id:
            await store.get_slot(conn, current.slot_id, lock="FOR UPDATE")
        cancelled = await self._cancel_locked(conn, current, reason or "huỷ bởi điều phối viên (cancelled)", actor, now)
        if cancelled is None:
            raise IllegalTransition("phân công (assignment)", "?", "CANCELLED")
        return cancelled

    # ---- the worker: incidents, timers, retries ----------------------------------------------

    async def on_incident(self, conn: asyncpg.Connection, view: IncidentView) -> list[Assignment]:
        """React to an incident change: plan its run card once when its priority is automatic, or wind
        down when it ended. Idempotent: a replayed event finds the incident planned already."""
        if not view.open:
            await self.close_incident(conn, view)
            return []
        if view.planned or not self.rules.is_auto(view.priority):
            return []
        card = self.rules.run_card_for(view.category, view.priority)
        existing, tried = await store.plan_incident(conn, view.id)
        if card is None:
            return []
        # A dispatcher may have sent units already (e.g. before an escalation to P1): count them.
        have = Counter(s.capability for s in existing if s.status != "CANCELLED")
        wanted: list[Slot] = []
        for spec in card.units:
            wanted += [Slot(str(uuid.uuid4()), view.id, spec.capability, card.name, "OPEN", None, 0, True, None)
                       for _ in range(max(0, spec.count - have[spec.capability]))]
            have[spec.capability] = max(0, have[spec.capability] - spec.count)
        slots = [*existing, *await store.insert_slots(conn, wanted)]
        return await self._fill_slots(conn, view, slots, tried)

    async def fill_open(self, conn: asyncpg.Connection, view: IncidentView, *, lock: str) -> list[Assignment]:
        """Try to fill every OPEN slot of the incident; emits IncidentAwaitingUnits when a slot starts waiting."""
        slots = await store.slots_of(conn, view.id, lock=lock)
        if not any(slot.status == "OPEN" for slot in slots):
            return []
        return await self._fill_slots(conn, view, slots, await store.units_tried(conn, view.id))

    async def _fill_slots(
        self, conn: asyncpg.Connection, view: IncidentView, slots: list[Slot], tried: list[str]
    ) -> list[Assignment]:
        """Fill the OPEN ones of ``slots`` (locked by the caller); ``tried``: units never proposed again."""
        made: list[Assignment] = []
        newly_waiting = False
        exclude = list(tried)
        for slot in slots:
            if slot.status != "OPEN":
                continue
            assignment = await self._fill(conn, view, slot, replaces=None, exclude=exclude)
            if assignment is not None:
                made.append(assignment)
                exclude.append(assignment.unit_id)
            elif slot.waiting_since is None:
                newly_waiting = True
                await store.update_slot(conn, slot.id, status="OPEN", assignment_id=None, waiting=True)
        if newly_waiting:
            await self._awaiting(conn, view)
        return made

    async def close_incident(self, conn: asyncpg.Connection, view: IncidentView) -> None:
        """The incident ended: waiting slots close and units not yet on scene are released."""
        now = datetime.now(UTC)
        for slot in await store.slots_of(conn, view.id, lock="FOR UPDATE"):
            if slot.status == "OPEN":
                await store.update_slot(conn, slot.id, status="CANCELLED", assignment_id=None, waiting=False)
        for a in await store.list_assignments(conn, incident_id=view.id, unit_id="", active_only=True):
            if a.status in CANCEL_ON_CLOSE:
                await self._cancel_locked(conn, a, "sự cố đã kết thúc (incident ended)", SYSTEM_ACTOR, now)

    async def expire(self, conn: asyncpg.Connection, assignment_id: str, *, now: datetime) -> Assignment | None:
        """Time out one unacknowledged assignment past its deadline and send the next candidate.
        None when another worker or an acknowledgement got there first."""
        current = await store.get_assignment(conn, assignment_id)
        if current is None or current.status != A.ASSIGNED or current.ack_deadline > now:
            return None
        return await self._end_and_replace(
            conn, assignment_id, A.TIMED_OUT, TIMEOUT_REASON, SYSTEM_ACTOR, now=now, skip_locked=True
        )

    async def retry_incident(self, conn: asyncpg.Connection, incident_id: str) -> list[Assignment]:
        """Try the waiting slots of one incident again (rows another worker holds are skipped)."""
        view = await view_store.get(conn, incident_id)
        if view is None:
            return []
        if not view.open:
            await self.close_incident(conn, view)
            return []
        return await self.fill_open(conn, view, lock="FOR UPDATE SKIP LOCKED")

    # ---- internals ---------------------------------------------------------------------------

    async def _fill(
        self, conn: asyncpg.Connection, view: IncidentView, slot: Slot, *, replaces: Assignment | None,
        exclude: list[str] | None = None,
    ) -> Assignment | None:
        """The best candidate for ``slot``; ``exclude``: the units tried on the incident (read when None)."""
        exclude = list(exclude) if exclude is not None else await store.units_tried(conn, view.id)
        # In a surge other transactions take candidates between our read and our lock; search again
        # past them a few times before declaring that nobody is available.
        for _ in range(SEARCH_ROUNDS):
            candidates = await find_candidates(
                conn, lat=view.lat, lon=view.lon, wanted=[slot.capability], limit=CANDIDATES_PER_TRY,
                rules=self.rules, max_radius_m=self.max_radius_m, exclude=exclude,
            )
            if not candidates:
                return None
            for candidate in candidates:
                unit = await units_store.get(conn, candidate.unit.id, for_update=True)
                # Postgres is the authority: the candidate list was read without locks.
                if unit is None or unit.status != UnitStatus.AVAILABLE or unit.active_assignment_id:
                    exclude.append(candidate.unit.id)
                    continue
                fresh = Candidate(unit, candidate.distance_m, candidate.eta_seconds, candidate.matched_capability)
                assignment = await self._assign(
                    conn, view, slot, fresh, actor=SYSTEM_ACTOR, auto=slot.auto,
                    reason=f"run card {slot.run_card}" if slot.run_card else "tự động (automatic)",
                    replaces=replaces,
                )
                if assignment is not None:
                    return assignment
                exclude.append(unit.id)
                log.info("unit taken concurrently; trying the next candidate", extra={"unit_id": unit.id})
        return None

    async def _assign(
        self,
        conn: asyncpg.Connection,
        view: IncidentView,
        slot: Slot,
        candidate: Candidate,
        *,
        actor: Actor,
        auto: bool,
        reason: str,
        replaces: Assignment | None = None,
        override: tuple[str, str] = ("", ""),
    ) -> Assignment | None:
        """Send the candidate's unit (row-locked by the caller) to fill ``slot``: two statements, the
        change and its events. None (and nothing changed) when the unit is on another active assignment."""
        now = datetime.now(UTC)
        unit = candidate.unit
        attempt = slot.attempts + 1
        assignment = Assignment(
            id=str(uuid.uuid4()), incident_id=view.id, slot_id=slot.id, unit_id=unit.id, status=A.ASSIGNED,
            capability=slot.capability, run_card=slot.run_card, attempt=attempt, auto=auto,
            distance_m=candidate.distance_m, eta_seconds=candidate.eta_seconds, reason=reason,
            call_sign=unit.call_sign, incident_number=view.number, assigned_by_subject=actor.subject,
            assigned_by_role=actor.role, replaces_assignment_id=replaces.id if replaces else None,
            assigned_at=now, ack_deadline=now + self.ack_timeout, acknowledged_at=None, en_route_at=None,
            on_scene_at=None, ended_at=None, updated_at=now, override_reason=override[0],
            recommended_unit_id=override[1],
        )
        version = await store.assign_unit(conn, assignment, unit_version=unit.version)
        if version is None:
            return None
        updated_unit = replace(unit, status=UnitStatus.DISPATCHED, active_assignment_id=assignment.id,
                               active_incident_id=view.id, version=version, updated_at=now)
        body = dispatch_pb2.UnitAssigned(
            call_sign=unit.call_sign, agency=agency_enum(unit.agency), agency_code=unit.agency, auto=auto,  # type: ignore[arg-type]
            distance_m=candidate.distance_m, eta_seconds=candidate.eta_seconds,
            ack_deadline=ts(assignment.ack_deadline),
            capability=slot.capability, run_card=slot.run_card, attempt=attempt,
            replaces_assignment_id=replaces.id if replaces else "",
            override_reason=override[0], recommended_unit_id=override[1],
        )
        await events.enqueue(
            conn,
            events.dispatch_event_record(
                body_name="unit_assigned", body=body, incident_id=view.id, incident_number=view.number,
                actor=actor, assignment=assignment, unit=updated_unit,
            ),
            events.unit_status_record(updated_unit),
        )
        return assignment

    async def _release_unit(self, conn: asyncpg.Connection, unit_id: str, assignment_id: str) -> Unit | None:
        """Free the unit if this assignment is the one it is on."""
        unit = await units_store.get(conn, unit_id, for_update=True)
        if unit is None or unit.active_assignment_id != assignment_id:
            return unit
        freed = await units_store.set_status(conn, unit_id, UnitStatus.AVAILABLE, assignment_id=None, incident_id=None)
        await events.unit_status(conn, freed)
        return freed

    async def _end_and_replace(
        self,
        conn: asyncpg.Connection,
        assignment_id: str,
        status: AssignmentStatus,
        reason: str,
        actor: Actor,
        *,
        now: datetime,
        skip_locked: bool = False,
    ) -> Assignment | None:
        """Decline or time out: end the assignment, free the unit, reopen its slot for the next candidate."""
        current = await store.get_assignment(conn, assignment_id)
        if current is None:
            return None
        slot = None
        if current.slot_id:
            lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
            slot = await store.get_slot(conn, current.slot_id, lock=lock)
            if slot is None:
                return None  # another worker holds it
        await units_store.get(conn, current.unit_id, for_update=True)
        locked = await store.get_assignment(conn, assignment_id, for_update=True)
        if locked is None or locked.status != A.ASSIGNED:
            return None
        ended = await store.update_assignment(conn, assignment_id, status, reason=reason, ended_at=now)
        unit = await self._release_unit(conn, ended.unit_id, ended.id)
        body: dispatch_pb2.AssignmentDeclined | dispatch_pb2.AssignmentTimedOut
        if status == A.DECLINED:
            body_name, body = "assignment_declined", dispatch_pb2.AssignmentDeclined(reason=reason)
        else:
            body_name = "assignment_timed_out"
            body = dispatch_pb2.AssignmentTimedOut(ack_deadline=ts(ended.ack_deadline))
        await events.enqueue(conn, events.dispatch_event_record(
            body_name=body_name, body=body, incident_id=ended.incident_id,
            incident_number=ended.incident_number, actor=actor, assignment=ended, unit=unit,
        ))
        view = await view_store.get(conn, ended.incident_id)
        if slot is None or view is None or not view.open:
            return ended
        await store.update_slot(conn, slot.id, status="OPEN", assignment_id=None)
        slot.status, slot.assignment_id = "OPEN", None
        if await self._fill(conn, view, slot, replaces=ended) is None:
            await store.update_slot(conn, slot.id, status="OPEN", assignment_id=None, waiting=True)
            await self._awaiting(conn, view)
        return ended

    async def _cancel_locked(
        self, conn: asyncpg.Connection, current: Assignment, reason: str, actor: Actor, now: datetime
    ) -> Assignment | None:
        await units_store.get(conn, current.unit_id, for_update=True)
        locked = await store.get_assignment(conn, current.id, for_update=True)
        if locked is None or not locked.active:
            return None
        ended = await store.update_assignment(conn, current.id, A.CANCELLED, reason=reason, ended_at=now)
        if ended.slot_id:
            await store.update_slot(conn, ended.slot_id, status="CANCELLED", assignment_id=ended.id, waiting=False)
        unit = await self._release_unit(conn, ended.unit_id, ended.id)
        await events.enqueue(conn, events.dispatch_event_record(
            body_name="assignment_cancelled", body=dispatch_pb2.AssignmentCancelled(reason=reason),
            incident_id=ended.incident_id, incident_number=ended.incident_number, actor=actor, assignment=ended,
            unit=unit,
        ))
        return ended

    async def _awaiting(self, conn: asyncpg.Connection, view: IncidentView) -> None:
        waiting = [s for s in await store.slots_of(conn, view.id) if s.status == "OPEN"]
        if not waiting:
            return
        body = dispatch_pb2.IncidentAwaitingUnits(
            required_capabilities=sorted({s.capability for s in waiting}),
            reason="không còn đơn vị phù hợp sẵn sàng (no capable unit available)",
            missing_units=len(waiting),
        )
        await events.enqueue(conn, events.dispatch_event_record(
            body_name="incident_awaiting_units", body=body, incident_id=view.id,
            incident_number=view.number, actor=SYSTEM_ACTOR,
        ))


# ---- the api's entry points: each owns its transaction ---------------------------------------


async def assign_unit(
    *, pool: asyncpg.Pool, engine: AssignmentEngine, incident_id: str, unit_id: str, capability: str, reason: str,
    actor: Actor, recommended_unit_id: str = "", override_reason: str = "", idempotency_key: str = "",
) -> Assignment:
    """A dispatcher's assignment (``AssignmentEngine.assign``) in one transaction, retried on a deadlock.
    With ``idempotency_key`` (scoped to the caller) a replay answers with the assignment the first call
    made, as it is now, and assigns nothing (request_keys.py)."""
    key = scoped_key(actor.subject, idempotency_key) if idempotency_key else ""

    async def work(conn: asyncpg.Connection) -> Assignment:
        if key and (earlier := await request_keys.claim(conn, key)) is not None:
            replayed = await store.get_assignment(conn, earlier)
            if replayed is None or replayed.incident_id != incident_id or replayed.unit_id != unit_id:
                raise key_reused()
            return replayed
        made = await engine.assign(
            conn, incident_id=incident_id, unit_id=unit_id, capability=capability, reason=reason, actor=actor,
            recommended_unit_id=recommended_unit_id, override_reason=override_reason,
        )
        if key:
            await request_keys.remember(conn, key, made.id)
        return made

    return await db.in_transaction(pool, work)


async def acknowledge_assignment(
    *, pool: asyncpg.Pool, engine: AssignmentEngine, principal: auth.Principal, assignment_id: str,
    accept: bool, reason: str, actor: Actor,
) -> Assignment:
    """The unit's answer (``AssignmentEngine.acknowledge``) in one transaction. A caller bound to a
    unit answers only its own unit's assignments (PERMISSION_DENIED otherwise)."""
    if access.bound_unit(principal) is not None:
        async with pool.acquire() as conn:
            current = await store.get_assignment(conn, assignment_id)
        if current is None:
            raise NotFound("phân công (assignment)", assignment_id)
        access.check_unit(principal, current.unit_id)
    return await db.in_transaction(
        pool,
        lambda conn: engine.acknowledge(
            conn, assignment_id=assignment_id, accept=accept, reason=reason, actor=actor, now=datetime.now(UTC),
        ),
    )


async def cancel_assignment(
    *, pool: asyncpg.Pool, engine: AssignmentEngine, assignment_id: str, reason: str, actor: Actor
) -> Assignment:
    """A dispatcher's withdrawal (``AssignmentEngine.cancel``) in one transaction."""
    return await db.in_transaction(
        pool,
        lambda conn: engine.cancel(
            conn, assignment_id=assignment_id, reason=reason, actor=actor, now=datetime.now(UTC)
        ),
    )


async def list_assignments(
    *, pool: asyncpg.Pool, incident_id: str, unit_id: str, active_only: bool
) -> list[Assignment]:
    """Assignments of an incident and/or a unit, optionally only the active ones."""
    async with pool.acquire() as conn:
        return await store.list_assignments(conn, incident_id=incident_id, unit_id=unit_id, active_only=active_only)
