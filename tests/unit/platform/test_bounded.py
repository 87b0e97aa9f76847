"""LruMap: the one bounded memo of every long-running process."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops_platform.bounded import LruMap


def test_past_the_bound_the_least_recently_used_goes_and_is_returned() -> None:
    m: LruMap[str, int] = LruMap(2)
    assert m.put("a", 1) == []
    assert m.put("b", 2) == []
    assert m.get("a") == 1  # a is now the newest
    assert m.put("c", 3) == [2]
    assert "b" not in m and list(m) == ["a", "c"]


def test_peek_reads_without_saving_an_entry_from_eviction() -> None:
    m: LruMap[str, int] = LruMap(2)
    m.put("a", 1)
    m.put("b", 2)
    assert m.peek("a") == 1
    assert m.put("c", 3) == [1]


def test_get_and_pop_answer_the_default_for_a_missing_key_and_take_all_empties() -> None:
    m: LruMap[str, int] = LruMap(3)
    assert m.get("x") is None and m.get("x", 7) == 7 and m.pop("x", 8) == 8
    m.put("a", 1)
    m.put("b", 2)
    assert m.pop("a") == 1 and len(m) == 1
    assert m.take_all() == [2] and len(m) == 0


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        LruMap(0)


@given(st.integers(1, 8), st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=200))
def test_it_behaves_like_a_reference_lru(most: int, ops: list[tuple[bool, int]]) -> None:
    m: LruMap[int, int] = LruMap(most)
    order: list[int] = []  # the reference: keys oldest first
    for write, key in ops:
        if write:
            dropped = m.put(key, key * 10)
            if key in order:
                order.remove(key)
            order.append(key)
            expected = order[: max(0, len(order) - most)]
            del order[: len(expected)]
            assert dropped == [k * 10 for k in expected]
        else:
            assert m.get(key) == (key * 10 if key in order else None)
            if key in order:
                order.remove(key)
                order.append(key)
        assert list(m) == order and len(m) <= most
