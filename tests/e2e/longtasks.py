"""What the console's long tasks were: reads a Chromium trace (Playwright ``browser.start_tracing``
with TRACE_CATEGORIES) and attributes every main-thread task over 50 ms.

For each long task it takes the timeline events inside it (timers, animation frames, input,
style recalculation, layout, paint, garbage collection) and the V8 CPU profile samples that fall in
it (which JavaScript function was running, by the console's own frame nearest the top of the stack),
and sums their self time. The result says, over all long tasks, where the time went.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

TRACE_CATEGORIES = [
    "toplevel", "devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute",
    "disabled-by-default-v8.cpu_profiler", "blink.user_timing",
]
LONG_US = 50_000

# Timeline events whose self time is reported under their own name (the rest: "other").
_TIMELINE = {
    "UpdateLayoutTree": "style", "RecalculateStyles": "style", "Layout": "layout", "Paint": "paint",
    "PrePaint": "paint", "Layerize": "paint", "UpdateLayer": "paint", "ParseHTML": "parse HTML",
    "MinorGC": "gc", "MajorGC": "gc", "V8.GCScavenger": "gc", "V8.GCFinalizeMC": "gc",
    "BlinkGC.AtomicPhase": "gc", "HitTest": "hit test", "ScheduleStyleRecalculation": "style",
    "InvalidateLayout": "layout", "v8.compile": "compile", "v8.parseOnBackground": "compile",
    "EvaluateScript": "script", "v8.run": "script", "FunctionCall": "script", "TimerFire": "script",
    "FireAnimationFrame": "script", "EventDispatch": "script", "XHRReadyStateChange": "script",
    "V8.Execute": "script",
}


def _main_thread(events: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(pid, tid) of the renderer main thread that ran the most tasks (the console's page)."""
    mains = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
             and e.get("args", {}).get("name") == "CrRendererMain"}
    runs = Counter((e["pid"], e["tid"]) for e in events
                   if e.get("name") == "RunTask" and (e.get("pid"), e.get("tid")) in mains)
    return runs.most_common(1)[0][0] if runs else None


def _origin(event: dict[str, Any]) -> str:
    """What started a task, from its first timeline child."""
    data = event.get("args", {}).get("data", {}) or {}
    if event["name"] == "FunctionCall":
        where = f"{Path(data.get('url') or '').name}:{data.get('lineNumber', '')}"
        return f"call {data.get('functionName') or '(anonymous)'} {where}"
    if event["name"] == "EventDispatch":
        return f"event {data.get('type', '')}"
    return event["name"]


def _profile_samples(events: list[dict[str, Any]], pid: int, tid: int) -> list[tuple[float, list[str]]]:
    """(time µs, stack of 'function file:line' from the leaf up) of every CPU profile sample on the thread."""
    nodes: dict[tuple[str, int], dict[str, Any]] = {}
    samples: list[tuple[float, str, int]] = []
    starts: dict[str, float] = {}
    clock: dict[str, float] = {}
    for e in events:
        if e.get("pid") != pid:
            continue
        if e.get("name") == "Profile" and e.get("tid") == tid:
            starts[e["id"]] = e["args"]["data"]["startTime"]
        elif e.get("name") == "ProfileChunk":
            pid_id = e.get("id")
            if pid_id not in starts:
                continue
            data = e["args"]["data"]
            profile = data.get("cpuProfile", {})
            for node in profile.get("nodes", []):
                nodes[(pid_id, node["id"])] = node
            t = clock.get(pid_id, starts[pid_id])
            for sample, delta in zip(profile.get("samples", []), data.get("timeDeltas", []), strict=False):
                t += delta
                samples.append((t, pid_id, sample))
            clock[pid_id] = t

    def frames(pid_id: str, node_id: int) -> list[str]:
        out = []
        node = nodes.get((pid_id, node_id))
        while node is not None:
            frame = node.get("callFrame", {})
            out.append(f"{frame.get('functionName') or '(anonymous)'} {Path(frame.get('url') or '').name}:"
                       f"{frame.get('lineNumber', -1) + 1}")
            node = nodes.get((pid_id, node["parent"])) if "parent" in node else None
        return out

    parents: dict[tuple[str, int], int] = {}
    for (pid_id, _), node in nodes.items():
        for child in node.get("children", []):
            parents[(pid_id, child)] = node["id"]
    for key, parent in parents.items():
        nodes[key].setdefault("parent", parent)
    cache: dict[tuple[str, int], list[str]] = {}
    return [(t, cache.setdefault((p, s), frames(p, s))) for t, p, s in samples]


def _ours(stack: list[str]) -> str:
    """The console's own frame nearest the leaf (else the leaf: a library's or the engine's)."""
    for frame in stack:
        name = frame.rsplit(" ", 1)[-1]
        if name.split(":")[0].endswith(".js") and not any(lib in name for lib in ("leaflet", "chart", "markercluster")):
            return frame
    return stack[0] if stack else "?"


def attribute(trace: Path, start_us: float | None = None, end_us: float | None = None) -> dict[str, Any]:
    """Long tasks in the trace: count, total, longest (wall time, and by the thread's own CPU time), and
    their time by kind, origin and function."""
    raw = json.loads(trace.read_text())
    events = raw["traceEvents"] if isinstance(raw, dict) else raw
    main = _main_thread(events)
    if main is None:
        return {"long_tasks": 0, "error": "no renderer main thread in the trace"}
    pid, tid = main
    on_main = sorted((e for e in events if e.get("pid") == pid and e.get("tid") == tid and e.get("ph") == "X"
                      and "dur" in e), key=lambda e: (e["ts"], -e["dur"]))
    tasks = [e for e in on_main if e["name"] in ("RunTask", "ThreadControllerImpl::RunTask") and e["dur"] > LONG_US
             and (start_us is None or e["ts"] >= start_us) and (end_us is None or e["ts"] <= end_us)]
    # Nested RunTask entries: keep the outermost.
    outer: list[dict[str, Any]] = []
    for task in tasks:
        if outer and task["ts"] < outer[-1]["ts"] + outer[-1]["dur"]:
            continue
        outer.append(task)
    kinds: Counter[str] = Counter()
    origins: Counter[str] = Counter()
    origin_count: Counter[str] = Counter()
    index = 0
    for task in outer:
        end = task["ts"] + task["dur"]
        while index < len(on_main) and on_main[index]["ts"] < task["ts"]:
            index += 1
        inside = []
        k = index
        while k < len(on_main) and on_main[k]["ts"] < end:
            if on_main[k] is not task and on_main[k]["name"] not in ("RunTask", "ThreadControllerImpl::RunTask"):
                inside.append(on_main[k])
            k += 1
        # Self time of each event: its duration minus its direct children's.
        stack: list[dict[str, Any]] = []
        self_time: dict[int, float] = defaultdict(float)
        first = None
        for e in inside:
            while stack and e["ts"] >= stack[-1]["ts"] + stack[-1]["dur"]:
                stack.pop()
            self_time[id(e)] += e["dur"]
            if stack:
                self_time[id(stack[-1])] -= e["dur"]
            elif first is None and e["name"] in _TIMELINE:
                first = e
            stack.append(e)
        for e in inside:
            kinds[_TIMELINE.get(e["name"], "other")] += max(self_time[id(e)], 0) / 1000
        origin = _origin(first) if first else "?"
        origins[origin] += task["dur"] / 1000
        origin_count[origin] += 1
    functions: Counter[str] = Counter()
    samples = _profile_samples(events, pid, tid)
    spans = [(t["ts"], t["ts"] + t["dur"]) for t in outer]
    j = 0
    previous = None
    for t, stack in sorted(samples, key=lambda s: s[0]):
        while j < len(spans) and spans[j][1] < t:
            j += 1
        if j < len(spans) and spans[j][0] <= t and previous is not None:
            functions[_ours(stack)] += (t - previous) / 1000
        previous = t
    total = sum(t["dur"] for t in outer) / 1000
    # Wall time includes the time the thread waited for a CPU (a shared machine); the thread time
    # (tdur) of each task is what the console itself spent, comparable across machine loads.
    every = [e for e in on_main if e["name"] == "RunTask" and (start_us is None or e["ts"] >= start_us)
             and (end_us is None or e["ts"] <= end_us)]
    cpu = [e.get("tdur", 0) / 1000 for e in every]
    span = (max(e["ts"] for e in every) - min(e["ts"] for e in every)) / 1e6 if every else 0
    return {
        "seconds": round(span, 1),
        "cpu_ms_per_second": round(sum(cpu) / max(span, 1e-6), 1),
        "cpu_long_tasks": sum(1 for c in cpu if c > LONG_US / 1000),
        "cpu_max_ms": round(max(cpu, default=0), 1),
        "long_tasks": len(outer),
        "total_ms": round(total, 1),
        "max_ms": round(max((t["dur"] for t in outer), default=0) / 1000, 1),
        "by_kind_ms": {k: round(v, 1) for k, v in kinds.most_common()},
        "by_origin_ms": {k: [origin_count[k], round(v, 1)] for k, v in origins.most_common(15)},
        "by_function_ms": {k: round(v, 1) for k, v in functions.most_common(25)},
    }


if __name__ == "__main__":  # python tests/e2e/longtasks.py test-artifacts/e2e/surge-trace.json
    import sys

    sys.stdout.write(json.dumps(attribute(Path(sys.argv[1])), indent=2, ensure_ascii=False) + "\n")
