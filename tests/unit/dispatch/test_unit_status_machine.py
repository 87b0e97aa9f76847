"""The unit status machine: what a caller may ask for, and what only an assignment may do."""

from __future__ import annotations

import pytest

from cityops_dispatch.units.models import REQUESTABLE, TRANSITIONS, UnitStatus, check_internal, check_requested
from cityops_platform.errors import IllegalTransition

S = UnitStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DISPATCHED, S.EN_ROUTE),
        (S.EN_ROUTE, S.ON_SCENE),
        (S.ON_SCENE, S.RETURNING),
        (S.ON_SCENE, S.AVAILABLE),
        (S.RETURNING, S.AVAILABLE),
        (S.AVAILABLE, S.OUT_OF_SERVICE),
        (S.OUT_OF_SERVICE, S.AVAILABLE),
        (S.RETURNING, S.OUT_OF_SERVICE),
    ],
)
def test_field_unit_may_make_the_documented_moves(current: UnitStatus, target: UnitStatus) -> None:
    check_requested(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.AVAILABLE, S.DISPATCHED),  # only an assignment dispatches
        (S.AVAILABLE, S.EN_ROUTE),
        (S.AVAILABLE, S.ON_SCENE),
        (S.OUT_OF_SERVICE, S.ON_SCENE),
        (S.EN_ROUTE, S.AVAILABLE),  # leaving an assignment goes through cancel
        (S.DISPATCHED, S.OUT_OF_SERVICE),
        (S.ON_SCENE, S.EN_ROUTE),
    ],
)
def test_illegal_moves_are_refused(current: UnitStatus, target: UnitStatus) -> None:
    with pytest.raises(IllegalTransition):
        check_requested(current, target)


def test_every_requestable_move_is_a_machine_move() -> None:
    for current, targets in REQUESTABLE.items():
        assert targets <= TRANSITIONS[current]


def test_assignment_may_dispatch_an_available_or_returning_unit_only() -> None:
    check_internal(S.AVAILABLE, S.DISPATCHED)
    check_internal(S.RETURNING, S.DISPATCHED)
    with pytest.raises(IllegalTransition):
        check_internal(S.OUT_OF_SERVICE, S.DISPATCHED)
