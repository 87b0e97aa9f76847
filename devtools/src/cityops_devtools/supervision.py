"""Restarting the local city's children: exponential backoff and a limit (``cityops up``).

A child that exits is started again after ``initial`` seconds, then twice as long each time it
exits again, up to ``max_delay``. A child that stayed up for ``reset_after`` seconds is considered
healthy again and its count starts over. After ``max_restarts`` restarts in a row it is given up
on: :class:`ChildGaveUp` carries its name, exit code and the last lines of its log, and the city
stops (a crash loop would otherwise hide the cause behind a screen of restarts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass

from cityops_devtools.city import Component
from cityops_devtools.devstack._process import tail

Child = Component  # what the supervisor calls the city's components


@dataclass(frozen=True)
class RestartPolicy:
    initial: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    max_restarts: int = 5
    reset_after: float = 60.0

    def delay(self, restarts_so_far: int) -> float:
        """Seconds to wait before restart number restarts_so_far + 1."""
        return float(min(self.max_delay, self.initial * self.factor**restarts_so_far))


class ChildGaveUp(Exception):
    """A child kept exiting; the message names it and quotes its log."""

    def __init__(self, child: Child, returncode: int | None, log_tail: str) -> None:
        self.child = child
        self.returncode = returncode
        self.log_tail = log_tail
        super().__init__(
            f"{child.name} đã dừng {child.restarts + 1} lần liên tiếp (exit {returncode}); dừng thành phố. "
            f"/ {child.name} exited {child.restarts + 1} times in a row (exit {returncode}); stopping the city.\n"
            f"  Nhật ký (log) {child.log_file}, những dòng cuối (last lines):\n"
            + "\n".join(f"    {line}" for line in log_tail.splitlines())
        )


@dataclass
class Supervisor:
    """Starts children and restarts those that exit, as RestartPolicy says."""

    children: list[Child]
    _: KW_ONLY
    env: Mapping[str, str] | Callable[[Child], Mapping[str, str]]  # the same for all, or each child's
    policy: RestartPolicy
    say: Callable[[str], None]  # where the bilingual restart notices go
    clock: Callable[[], float] = time.monotonic

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)

    def _start(self, child: Child) -> None:
        child.start(self.env(child) if callable(self.env) else self.env)
        child.started_at = self.clock()
        child.restart_at = None

    def running(self, child: Child) -> bool:
        return child.proc is not None and child.proc.poll() is None

    def check(self) -> None:
        """One supervision pass: schedule restarts for exited children, start those that are due.

        Raises ChildGaveUp when a child exceeded the restart limit.
        """
        now = self.clock()
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                continue
            if child.restart_at is None:
                self._schedule(child, now)
            elif now >= child.restart_at:
                child.restarts += 1
                self._start(child)

    def _schedule(self, child: Child, now: float) -> None:
        assert child.proc is not None
        code = child.proc.returncode
        if now - child.started_at >= self.policy.reset_after:
            child.restarts = 0  # it ran long enough: a fresh failure, not a crash loop
        if child.restarts >= self.policy.max_restarts:
            raise ChildGaveUp(child, code, tail(child.log_file, 15))
        delay = self.policy.delay(child.restarts)
        child.delays.append(delay)
        child.restart_at = now + delay
        self.say(
            f"⚠ {child.name} đã dừng (exit {code}); khởi động lại sau {delay:g} s, lần {child.restarts + 1}/"
            f"{self.policy.max_restarts} (restarting in {delay:g} s); log: {child.log_file}"
        )
