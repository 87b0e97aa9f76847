"""Open-loop load at a fixed rate, measured from the *scheduled* send time.

A closed loop (send, wait for the reply, send again) slows down exactly when the system does, so
its latency histogram never sees the queue that a real surge builds: coordinated omission. Here
request ``i`` is due at ``t0 + i / rate`` whatever happened to the previous ones, every request is
its own task, and its latency is taken from when it was due, so a stall of the generator or of the
server shows up as latency of every request that should have been sent meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class OpenLoopStats:
    scheduled: int = 0
    completed: int = 0
    failed: int = 0
    late_starts: int = 0  # requests that left more than 10 ms after they were due
    max_start_lag_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


async def run_open_loop(
    rate: float,
    duration: float,
    send: Callable[[int, float], Awaitable[None]],
    *,
    stats: OpenLoopStats | None = None,
    max_in_flight: int = 10_000,
    drain_timeout: float = 30.0,
) -> OpenLoopStats:
    """Call ``send(i, due_wall_time)`` for i in 0..rate*duration-1, each at its due time.

    ``send`` records its own latency from ``due_wall_time`` (``time.time()`` clock, shared with
    Kafka timestamps and other processes). Exceptions count as failures, by type name.
    """
    stats = stats or OpenLoopStats()
    total = int(rate * duration)
    interval = 1.0 / rate
    in_flight: set[asyncio.Task[None]] = set()
    start_mono = time.monotonic() + 0.05
    start_wall = time.time() + 0.05

    async def one(i: int, due_wall: float) -> None:
        try:
            await send(i, due_wall)
            stats.completed += 1
        except Exception as exc:  # every failure is counted by its type; the load goes on
            stats.failed += 1
            key = type(exc).__name__
            code = getattr(exc, "code", None)
            if callable(code):
                key = f"{key}:{code()}"
            stats.errors[key] = stats.errors.get(key, 0) + 1

    for i in range(total):
        due_mono = start_mono + i * interval
        delay = due_mono - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = time.monotonic() - due_mono
        if lag > 0.010:
            stats.late_starts += 1
        stats.max_start_lag_s = max(stats.max_start_lag_s, lag)
        if len(in_flight) >= max_in_flight:
            # A bounded generator is still open loop: the wait counts as latency of the next ones.
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        stats.scheduled += 1
        task = asyncio.create_task(one(i, start_wall + i * interval))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=drain_timeout)
    return stats
