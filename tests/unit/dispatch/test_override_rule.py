"""A dispatcher choosing another unit than the recommended one must say why (issue 20)."""

from __future__ import annotations

import pytest

from cityops_dispatch.assignments.service import override_check
from cityops_platform.errors import ValidationFailed


def test_taking_the_recommendation_is_no_override() -> None:
    assert override_check("u1", "u1", "") == ("", "")
    assert override_check("u1", "", "") == ("", "")  # no recommendation shown (e.g. a unit picked on the board)


def test_another_unit_needs_a_reason() -> None:
    with pytest.raises(ValidationFailed) as refused:
        override_check("u2", "u1", "   ")
    assert refused.value.violations[0].field == "override_reason"


def test_the_reason_and_the_unit_passed_over_are_kept() -> None:
    assert override_check("u2", " u1 ", " kẹt xe ") == ("kẹt xe", "u1")
