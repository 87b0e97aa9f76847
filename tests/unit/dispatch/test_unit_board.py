"""The worker's unit board answers "is any unit with these capabilities available?" from counts kept
with every record of the compacted topic: the same answer as a scan of every unit, without the scan."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch.units.board import AVAILABLE, UnitBoard

CAPABILITIES = ("fire_engine", "ambulance", "police_patrol", "rescue")


def record(status: int, capabilities: list[str]) -> bytes:
    update = dispatch_pb2.UnitStatusUpdate()
    update.unit.status = status
    update.unit.capabilities.extend(capabilities)
    return update.SerializeToString()


def scan(board: UnitBoard, wanted: set[str]) -> bool:
    return any(e.status == AVAILABLE and e.capabilities & wanted for e in board.units.values())


# A stream of (unit, status or tombstone, capabilities) records, replayed onto a board.
_RECORDS = st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3", "u4"]), st.one_of(st.none(), st.integers(1, 4)),
                              st.lists(st.sampled_from(CAPABILITIES), max_size=3, unique=True)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(records=_RECORDS, wanted=st.lists(st.sampled_from(CAPABILITIES), max_size=3))
def test_the_counts_give_what_a_scan_of_every_unit_gives(records: list, wanted: list[str]) -> None:  # type: ignore[type-arg]
    board = UnitBoard()
    for unit, status, caps in records:
        board.apply(unit.encode(), None if status is None else record(status, caps))
        assert board.any_available(wanted) == scan(board, set(wanted))


def test_a_unit_leaving_available_or_removed_no_longer_counts() -> None:
    board = UnitBoard()
    board.apply(b"u1", record(AVAILABLE, ["ambulance", "rescue"]))
    assert board.any_available(["ambulance"]) and board.any_available(["rescue", "fire_engine"])
    board.apply(b"u1", record(AVAILABLE + 1, ["ambulance", "rescue"]))  # dispatched
    assert not board.any_available(["ambulance"])
    board.apply(b"u1", record(AVAILABLE, ["ambulance"]))
    assert board.any_available(["ambulance"]) and not board.any_available(["rescue"])
    board.apply(b"u1", None)  # tombstone
    assert not board.any_available(["ambulance"])
    assert not board.any_available([])
