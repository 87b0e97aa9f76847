"""Rows into the dataclasses that stores return."""

from __future__ import annotations

import dataclasses
import functools
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
    values = {name: row[name] for name in _field_names(cls)  # type: ignore[arg-type]
              if name in columns and name not in converted}
    return cls(**values, **converted)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, read once per class (stores call ``from_row`` for every row)."""
    return tuple(f.name for f in dataclasses.fields(cls))
