"""GroupWriter: callers arriving during a write go together in the next one; failures reach the whole group."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cityops_platform.db.groupwrite import GroupInterrupted, GroupWriter


class Sink:
    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail_on = ""

    async def flush(self, items: Sequence[str]) -> None:
        await self.gate.wait()
        if self.fail_on in items:
            raise ValueError("poison")
        self.groups.append(list(items))


async def _started(writer: GroupWriter[str], *items: str) -> list[asyncio.Task[None]]:
    tasks = []
    for item in items:
        tasks.append(asyncio.create_task(writer.write([item])))
        await asyncio.sleep(0)  # in this order
    return tasks


async def test_callers_waiting_for_a_write_go_together_in_the_next_one() -> None:
    sink = Sink()
    writer = GroupWriter(sink.flush)
    tasks = await _started(writer, "a", "b", "c", "d")
    sink.gate.set()
    await asyncio.gather(*tasks)
    assert sink.groups == [["a"], ["b", "c", "d"]]
    assert writer.flushes == 2


async def test_a_failed_group_fails_every_caller_in_it_and_only_them() -> None:
    sink = Sink()
    sink.fail_on = "c"
    writer = GroupWriter(sink.flush)
    tasks = await _started(writer, "a", "b", "c")
    sink.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], ValueError) and isinstance(results[2], ValueError)
    assert sink.groups == [["a"]]


async def test_a_cancelled_write_tells_its_group_to_retry_and_the_next_caller_writes_the_rest() -> None:
    sink = Sink()
    writer = GroupWriter(sink.flush, max_items=2)
    tasks = await _started(writer, "a", "b", "c", "d")
    tasks[0].cancel()  # "a" is being written: its group ("a") is interrupted
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    sink.gate.set()
    results = await asyncio.gather(*tasks[1:], return_exceptions=True)
    assert results == [None, None, None]
    assert sink.groups == [["b", "c"], ["d"]], "max_items bounds a group"


async def test_a_member_of_an_interrupted_group_sees_a_transient_error() -> None:
    sink = Sink()
    writer = GroupWriter(sink.flush)
    tasks = await _started(writer, "a", "b", "c")  # "a" alone, then "b" leads the group ("b", "c")
    tasks[0].cancel()  # "a"'s own group fails; "b" takes the lock and writes ("b", "c") at the gate
    await asyncio.sleep(0.01)
    assert not tasks[1].done()
    tasks[1].cancel()
    results = await asyncio.gather(*tasks[1:], return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert isinstance(results[1], GroupInterrupted) and isinstance(results[1], ConnectionError), results
    assert sink.groups == []
