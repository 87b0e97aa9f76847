"""Rows into the dataclasses that stores return."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")


def from_row(cls: type[T], row: asyncpg.Record | Mapping[str, Any], **converted: Any) -> T:
    """A ``cls`` (a dataclass) from a row whose columns bear its fields' names.

    Each field takes the value of its column, except those given in ``converted`` (a value the
    store has already turned into the field's type: an enum, a tuple, a masked address…). A field
    the row has no column for keeps its default; one without a default is a TypeError, as a
    missing argument would be.
    """
    columns = set(row.keys())
    values = {
        f.name: row[f.name]
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in columns and f.name not in converted
    }
    return cls(**values, **converted)
