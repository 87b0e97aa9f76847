"""Idempotency keys of TransitionIncident and AddNote on the real api and Postgres: the console's
offline outbox may send a change twice (a lost answer, a reconnect that replays), and the change is
applied once; keys are scoped to the caller."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from cityops.incidents.v1 import incidents_pb2 as pb

from .conftest import Api, report_request

pytestmark = pytest.mark.integration


def _actions(timeline: pb.Timeline) -> list[str]:
    return [e.action for e in timeline.entries]


async def test_a_replayed_note_and_transition_apply_once(api: Api) -> None:
    md = api.md("operator", "op-keys")
    inc = (await api.stub.ReportIncident(report_request(lat=11.01, lon=106.66), metadata=api.md())).incident
    note = pb.AddNoteRequest(id=inc.id, text="Gọi lại cho người báo", idempotency_key="note-7f1")
    # The first send and four replays at once (a reconnect that flushes twice, two tabs...).
    replies = await asyncio.gather(*(api.stub.AddNote(note, metadata=md) for _ in range(5)))
    assert {r.version for r in replies} == {inc.version + 1}

    ack = pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                       expected_version=inc.version + 1, idempotency_key="ack-7f1")
    first = await api.stub.TransitionIncident(ack, metadata=md)
    again = await api.stub.TransitionIncident(ack, metadata=md)  # stale version, but already applied
    assert first.status == again.status == pb.STATUS_ACKNOWLEDGED and again.version == first.version

    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=md)
    assert _actions(timeline).count("NoteAdded") == 1
    assert _actions(timeline).count("IncidentTransitioned") == 1

    # Without a key the same stale transition is refused, as before.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.TransitionIncident(
            pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                         expected_version=inc.version + 1), metadata=md)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_keys_are_the_callers_own_and_mean_one_request(api: Api) -> None:
    inc = (await api.stub.ReportIncident(report_request(lat=11.02, lon=106.67), metadata=api.md())).incident
    note = pb.AddNoteRequest(id=inc.id, text="Đã liên hệ", idempotency_key="shared-key")
    await api.stub.AddNote(note, metadata=api.md("operator", "op-a"))
    await api.stub.AddNote(note, metadata=api.md("operator", "op-b"))  # another caller: another note
    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=api.md())
    assert _actions(timeline).count("NoteAdded") == 2

    current = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc.id), metadata=api.md())
    with pytest.raises(grpc.aio.AioRpcError) as err:  # op-a's note key cannot stand for a transition
        await api.stub.TransitionIncident(
            pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                         expected_version=current.version, idempotency_key="shared-key"),
            metadata=api.md("operator", "op-a"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text="x", idempotency_key="k" * 129),
                               metadata=api.md("operator", "op-a"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
