"""Group writes: concurrent callers' items written together, one statement for all of them.

Several agent actors (Faust ``concurrency``) each handle a few events at a time; at a few hundred
events per second each actor rarely has more than one in hand, so batching per actor alone still
costs one statement per event. ``GroupWriter`` is a group commit: the first caller writes what is
pending; callers arriving while that write is in flight queue up and go together in the next one,
written by the first of them.
No timer, so an idle writer adds no latency; under load a batch is what arrived during one write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupInterrupted(ConnectionError):
    """The write carrying a caller's items was cancelled before it finished: retry (transient)."""


class GroupWriter(Generic[T]):
    """``await write(items)`` returns once ``items`` were written by ``flush`` (all or nothing, with
    whatever else was pending); it raises what that ``flush`` raised. ``flush`` must be
    all-or-nothing (one statement or one transaction), so a failed group wrote nothing and each
    caller may retry its own items or handle them one by one."""

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[None]], *, max_items: int = 2000) -> None:
        self._flush = flush
        self._max = max_items
        self._pending: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()  # one write in flight; FIFO, so every caller gets its turn
        self.flushes = 0  # group writes done (for tests and metrics)

    async def write(self, items: Sequence[T]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # a caller cancelled meanwhile must not log "never retrieved"
        self._pending.append((items, future))
        async with self._lock:
            # Written by an earlier caller's group while this one waited: nothing to do. Otherwise
            # write what is pending (this caller's items first in line or earlier ones with them);
            # a caller never writes past its own items, so no caller serves the others forever.
            while not future.done():
                await self._write_next()
        await future

    async def _write_next(self) -> None:
        group: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        count = 0
        while self._pending and (not group or count + len(self._pending[0][0]) <= self._max):
            entry = self._pending.pop(0)
            group.append(entry)
            count += len(entry[0])
        try:
            await self._flush([item for items, _ in group for item in items])
        except BaseException as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else GroupInterrupted(repr(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        self.flushes += 1
        for _, future in group:
            if not future.done():
                future.set_result(None)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
