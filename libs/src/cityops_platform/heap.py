"""The cyclic garbage collector of a long-running service process: tuned once, frozen after start-up,
and measured.

Why (issue 13): a native py-spy profile of the incidents api during the 200 reports/s surge showed
``gc_collect_main`` in 14 % of the main thread's samples, triggered by the allocations of an intake
batch (rows → dicts → ``Incident`` objects). CPython starts a young collection every 700 net container
allocations and, every 100 of those, may walk the whole old generation: the modules, protobuf
descriptors, rules and pools loaded at start-up, which never become garbage. Two standard measures:

- ``freeze_startup_heap()`` once the process has started (server listening, worker's agents running):
  every object alive then moves to the permanent generation, which no collection walks. They are
  still freed by reference counting; only a garbage *cycle* among them would stay (start-up objects
  live as long as the process anyway).
- a larger young-generation threshold (``CITYOPS_GC_YOUNG_THRESHOLD``, default 10,000): fewer
  collections for the same garbage; a young collection's cost grows with what survives it, not with
  the threshold, so the total work falls. Memory held by unreachable cycles between collections
  grows by at most that many container objects (a few MB).

``cityops_gc_seconds_total{generation}`` counts the time spent in collections (Prometheus' own
``python_gc_collections_total`` counts only how many), so the effect is visible on every process.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Counter

GC_SECONDS = Counter(
    "cityops_gc_seconds_total", "Time spent in the cyclic garbage collector, by generation", ["generation"]
)
_started: list[float] = []  # perf_counter at the "start" of the collection in progress
_installed = False


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        GC_SECONDS.labels(generation=str(info.get("generation", ""))).inc(time.perf_counter() - _started.pop())


def tune(young_threshold: int) -> None:
    """At process start: the young generation's threshold (the older two keep CPython's ratios) and
    the time-measuring callback (installed once)."""
    global _installed
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
    if not _installed:
        gc.callbacks.append(_on_collection)
        _installed = True


def freeze_startup_heap() -> int:
    """Once started: collect what start-up left as garbage, then freeze everything alive. Returns how
    many objects were frozen (``gc.get_freeze_count()``)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
