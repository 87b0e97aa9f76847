"""``from_row``: a row into a store's dataclass, column by field name."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cityops_platform.db.rows import from_row


@dataclass(frozen=True)
class Thing:
    id: str
    count: int
    tags: tuple[str, ...] = ()
    note: str = "none"
    extra: dict[str, str] = field(default_factory=dict)


def test_fields_take_their_columns_and_converted_values_win() -> None:
    row = {"id": 7, "count": 3, "tags": ["a", "b"], "note": "n", "unused": "x"}
    thing = from_row(Thing, row, id=str(row["id"]), tags=tuple(row["tags"]))
    assert thing == Thing(id="7", count=3, tags=("a", "b"), note="n")


def test_a_field_without_a_column_keeps_its_default() -> None:
    assert from_row(Thing, {"id": "t", "count": 1}) == Thing(id="t", count=1, note="none", extra={})


def test_a_required_field_without_a_column_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        from_row(Thing, {"id": "t"})
