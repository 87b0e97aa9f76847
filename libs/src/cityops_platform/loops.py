"""Background loops that outlive any one failure (the database down, a bug in one round).

``drain`` runs a batch step until asked to stop, at once again while there is work and otherwise
after a wake-up or the poll interval; ``every`` runs a step every so many seconds, forever. A failed
round goes to ``on_error`` (which counts and logs it) and the loop carries on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

OnError = Callable[[Exception], None]


async def drain(
    step: Callable[[], Awaitable[int]], *, stopping: asyncio.Event, wakeup: asyncio.Event, poll_s: float,
    on_error: OnError,
) -> None:
    """Run ``step`` (returns how much it handled) until ``stopping`` is set.

    ``wakeup`` is cleared before each step, never after: a wake-up during the step is not lost. After a
    step that handled nothing (or failed) wait for ``stopping``, ``wakeup`` or ``poll_s`` seconds.
    """
    while not stopping.is_set():
        wakeup.clear()
        try:
            handled = await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the loop must outlive any one failure
            on_error(exc)
            handled = 0
        if not handled:
            waits = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(wakeup.wait())]
            await asyncio.wait(waits, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()


async def every(seconds: float, step: Callable[[], Awaitable[object]], *, on_error: OnError) -> None:
    """Sleep ``seconds``, run ``step``, forever (until cancelled). ``on_error`` is called inside the
    ``except`` block, so ``log.exception`` there keeps the traceback."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            on_error(exc)
