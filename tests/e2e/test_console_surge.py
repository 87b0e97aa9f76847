"""A flood night: the console in real Chromium with 10,000 open incidents and reports still arriving.

The incidents are filed through the real incidents service (ReportIncident, many in flight, so its
group commit files them in batches); while the console opens and is used, the live stream is fed by
the real stack from two sides: a thread keeps reporting new incidents and another adds notes to open
ones (AddNote: each one an IncidentEvent on the same topic, as operators working a flood would), for
at least 200 events a second together. An SSE client of its own counts what the gateway actually
delivers to a screen while the clicks are measured.

The test measures, in the page, how long the console takes to paint the queue and the map, and how
long each of CLICKS clicks on a queue row takes to show the incident (median, p95 and the slowest).
It writes the numbers and the machine's load to test-artifacts/e2e/surge.json (and, with
CITYOPS_WRITE_DOCS=1, into docs/console.md).

Thresholds: the targets (p95 click ≤ 200 ms, ≥ 200 events/s delivered, paint ≤ 3 s) are asserted when
the machine is not overloaded (1-minute load average per core ≤ MAX_LOAD_PER_CORE over the
measurement, as on a dedicated CI runner) or when CITYOPS_SURGE_STRICT=1. On a machine shared beyond
that, wall-clock time measures the queue for the CPU more than the console, so only generous sanity
bounds are asserted and the load is recorded next to the numbers. p95 of ≥ 20 clicks rather than the
maximum: one click delayed by the scheduler must not fail the build; the maximum is still reported.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import statistics
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.testing import bearer, load_by_path

longtasks = load_by_path("cityops_test_longtasks", Path(__file__).with_name("longtasks.py"))

SURGE = int(os.environ.get("CITYOPS_SURGE_INCIDENTS", "10000"))
ARRIVALS_PER_SECOND = 200  # the target of events reaching the screen
REPORTS_PER_SECOND = 150  # new incidents (about what the incidents service files on a 2-core machine)
NOTES_PER_SECOND = 100  # changes to open incidents on top, so the stream is not capped by the intake
ARRIVAL_SECONDS = 75  # the stream keeps going while the console opens, loads and is clicked
CLICKS = 24
CLICK_TARGET_MS = 200.0
MAX_LOAD_PER_CORE = 1.0
IN_FLIGHT = 64
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console.md"
pytestmark = pytest.mark.timeout(1500)


def _request(n: int, tag: str) -> incidents_pb2.ReportIncidentRequest:
    # A 100 × 100 grid around Thủ Dầu Một, ~250 m apart; administrative cases never fuse.
    row, col = divmod(n % 10000, 100)
    return incidents_pb2.ReportIncidentRequest(
        category=incidents_pb2.CATEGORY_ADMINISTRATIVE_PROCEDURE,
        description=f"Hồ sơ đề nghị hỗ trợ sau ngập số {n}",
        location=common_pb2.GeoPoint(lat=10.96 + row * 0.0025, lon=106.55 + col * 0.0025,
                                     address=f"Khu phố {row + 1}, tổ {col + 1}"),
        source=incidents_pb2.SOURCE_HOTLINE_1022,
        idempotency_key=f"surge-{tag}-{n}",
    )


def _paced_calls(city: Any, method: str, requests: Iterable[Any], *, role: str, subject: str,
                 per_second: float | None = None, stop: threading.Event | None = None,
                 on_reply: Callable[[Any], None] | None = None) -> int:
    """Sends ``requests`` to IncidentService.``method`` with IN_FLIGHT calls outstanding, at most
    ``per_second`` (None: as fast as it answers), until ``stop``; returns how many were answered."""
    metadata = bearer(city.settings, role, subject)
    done = 0
    started = time.monotonic()
    with grpc.insecure_channel(city.addr("incidents")) as channel:
        call = getattr(incidents_pb2_grpc.IncidentServiceStub(channel), method)
        pending: list[Any] = []

        def settle(future: Any) -> None:
            nonlocal done
            reply = future.result()
            done += 1
            if on_reply is not None:
                on_reply(reply)

        for k, request in enumerate(requests):
            if stop is not None and stop.is_set():
                break
            if per_second:
                ahead = started + k / per_second - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            pending.append(call.future(request, timeout=60, metadata=metadata))
            if len(pending) >= IN_FLIGHT:
                settle(pending.pop(0))
        for future in pending:
            settle(future)
    return done


def _report_many(city: Any, numbers: range, tag: str, per_second: float | None = None,
                 stop: threading.Event | None = None, ids: list[str] | None = None) -> int:
    """Files reports; returns how many were filed (their incident ids appended to ``ids``)."""
    return _paced_calls(city, "ReportIncident", (_request(n, tag) for n in numbers), role="call_taker",
                        subject="surge-ct", per_second=per_second, stop=stop,
                        on_reply=None if ids is None else (lambda reply: ids.append(reply.incident.id)))


def _note_many(city: Any, incident_ids: list[str], per_second: float, stop: threading.Event) -> int:
    """Adds a note to the open incidents in turn at ``per_second`` until ``stop``; returns how many."""
    notes = (incidents_pb2.AddNoteRequest(id=incident_ids[k % len(incident_ids)],
                                          text=f"Đã gọi lại, đội đang đến ({k})") for k in itertools.count())
    return _paced_calls(city, "AddNote", notes, role="operator", subject="surge-op", per_second=per_second, stop=stop)


class StreamCounter:
    """A screen of its own on /api/events: counts the incident events the gateway delivers, so the
    rate reported is what reached a screen, not what was sent."""

    def __init__(self, city: Any) -> None:
        token = dict(bearer(city.settings, "supervisor", "surge-counter"))["authorization"]
        self._request = urllib.request.Request(city.gateway_url + "/api/events", headers={"Authorization": token})
        self.times: list[float] = []
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self._response = urllib.request.urlopen(self._request, timeout=300)
            for line in self._response:
                if line.startswith(b"event: incident"):
                    self.times.append(time.monotonic())

    def rate(self, start: float, end: float) -> float:
        return sum(1 for t in self.times if start <= t <= end) / max(end - start, 1e-6)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._response.close()


@pytest.fixture(scope="module")
def surge(city: Any) -> dict[str, Any]:
    started = time.monotonic()
    ids: list[str] = []
    filed = _report_many(city, range(SURGE), uuid.uuid4().hex[:8], ids=ids)
    return {"seeded": filed, "seed_seconds": round(time.monotonic() - started, 1), "ids": ids}


def _load_per_core() -> float:
    return os.getloadavg()[0] / (os.cpu_count() or 1)


PAINT_PROBE = """() => new Promise((resolve) => {
  const t0 = performance.now();
  const done = () => {
    const rows = document.querySelectorAll('#queue li[data-incident-id]').length;
    const map = document.querySelectorAll('.incident-cluster, path.incident-marker').length;
    if (rows && map) requestAnimationFrame(() => resolve({ waited: performance.now() - t0 }));
    else setTimeout(done, 20);
  };
  done();
})"""

CLICK_PROBE = """async (index) => {
  const rows = document.querySelectorAll('#queue li[data-incident-id]');
  const row = rows[Math.min(index, rows.length - 1)];
  const id = row.dataset.incidentId;
  document.getElementById('detail').hidden = true;
  const t0 = performance.now();
  row.click();
  // Shown = the drawer holds this incident and the browser has painted the frame after the click.
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const shown = !document.getElementById('detail').hidden
    && document.getElementById('detail-title').textContent.length > 0;
  return { ms: performance.now() - t0, shown, id };
}"""


# What kept the main thread busy: every task over 50 ms (the browser's own 'longtask' entries).
LONGTASK_PROBE = """window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
}).observe({ type: 'longtask', buffered: true });"""

LONGTASKS_BETWEEN = """([from, to]) => {
  const tasks = window.__longTasks.filter(([start]) => start >= from && start <= to).map(([, d]) => d);
  return { count: tasks.length, total_ms: tasks.reduce((a, b) => a + b, 0), max_ms: Math.max(0, ...tasks),
           seconds: (to - from) / 1000 };
}"""


def test_console_paints_and_answers_with_ten_thousand_open_incidents(
    browser: Any, city: Any, surge: dict[str, Any], artifacts: Path
) -> None:
    assert surge["seeded"] >= SURGE, surge
    stop = threading.Event()
    arrivals: dict[str, float] = {}

    def arrive() -> None:
        t0 = time.monotonic()
        count = REPORTS_PER_SECOND * ARRIVAL_SECONDS
        arrivals["filed"] = _report_many(city, range(SURGE, SURGE + count), "live-" + uuid.uuid4().hex[:6],
                                         per_second=REPORTS_PER_SECOND, stop=stop)
        arrivals["seconds"] = time.monotonic() - t0

    def note() -> None:
        arrivals["notes"] = _note_many(city, surge["ids"], NOTES_PER_SECOND, stop)

    counter = StreamCounter(city)
    counter.start()
    feeders = [threading.Thread(target=arrive, daemon=True), threading.Thread(target=note, daemon=True)]
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="vi-VN",
                                  timezone_id="Asia/Ho_Chi_Minh")
    context.add_init_script(LONGTASK_PROBE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.set_default_timeout(120000)
        page.goto(city.gateway_url + "/")
        page.wait_for_selector("#login:not([hidden])")
        for feeder in feeders:  # the flood goes on while the console signs in, loads and is used
            feeder.start()
        page.fill("#login-username", "supervisor")
        page.fill("#login-password", "supervisor-dev")
        t_login = time.monotonic()
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login", state="hidden")
        page.evaluate(PAINT_PROBE)
        first_paint = time.monotonic() - t_login
        page.wait_for_function(
            f"() => Number(document.getElementById('queue-count').dataset.count) >= {SURGE}"
            " && !document.getElementById('queue-overflow').textContent.includes('đang tải')",
            timeout=180000, polling=250)
        all_loaded = time.monotonic() - t_login
        nodes = page.evaluate("() => document.getElementsByTagName('*').length")
        overflow = page.inner_text("#queue-overflow")
        count = int(page.get_attribute("#queue-count", "data-count") or 0)
        clicks = []
        load_before = _load_per_core()
        clicks_started = time.monotonic()
        page_started = page.evaluate("() => performance.now()")
        tracing = os.environ.get("CITYOPS_SURGE_TRACE") == "1"  # what the long tasks were (longtasks.py)
        if tracing:
            browser.start_tracing(page=page, path=str(artifacts / "surge-trace.json"),
                                  categories=longtasks.TRACE_CATEGORIES)
        for k in range(CLICKS):
            clicks.append(page.evaluate(CLICK_PROBE, k % 8))
            page.wait_for_timeout(1500)  # an operator's pace: the map follows each click before the next
        clicks_ended = time.monotonic()
        if tracing:
            browser.stop_tracing()
        long_tasks = page.evaluate(LONGTASKS_BETWEEN, [page_started, page.evaluate("() => performance.now()")])
        load_after = _load_per_core()
        delivered = counter.rate(clicks_started, clicks_ended)
        page.mouse.move(5, 1075)
        page.screenshot(path=artifacts / "surge-10000.png")
        # Scrolling far down paints the rows there (virtualised, never capped).
        page.eval_on_selector("#queue-viewport", "el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_function(
            "() => Number(document.querySelector('#queue li:last-child')?.dataset.index) >= "
            f"{SURGE - 20}", timeout=10000)
        scroll_nodes = page.evaluate("() => document.querySelectorAll('#queue li').length")
    finally:
        stop.set()
        for feeder in feeders:
            feeder.join(timeout=120)
        counter.stop()
        context.close()

    assert not errors, errors
    assert all(c["shown"] for c in clicks), clicks
    assert count >= SURGE
    assert re.search(r"↓ [\d.]+", overflow), overflow  # the overflow below the fold is counted
    assert scroll_nodes < 60, scroll_nodes  # a window of rows, never 10,000
    rate = arrivals.get("filed", 0) / max(arrivals.get("seconds", 1.0), 1e-6)
    click_ms = sorted(c["ms"] for c in clicks)
    p95 = statistics.quantiles(click_ms, n=20, method="inclusive")[18]
    load = round(max(load_before, load_after), 2)
    strict = os.environ.get("CITYOPS_SURGE_STRICT") == "1" or load <= MAX_LOAD_PER_CORE
    result = {
        "open_incidents": count,
        "seed_seconds": surge["seed_seconds"],
        "first_paint_seconds": round(first_paint, 2),
        "all_loaded_seconds": round(all_loaded, 2),
        "clicks": len(click_ms),
        "click_ms_median": round(statistics.median(click_ms), 1),
        "click_ms_p95": round(p95, 1),
        "click_ms_max": round(click_ms[-1], 1),
        "dom_nodes": nodes,
        "long_tasks_while_clicking": long_tasks["count"],
        "long_task_ms_per_second": round(long_tasks["total_ms"] / max(long_tasks["seconds"], 1e-6), 1),
        "long_task_ms_max": round(long_tasks["max_ms"], 1),
        "reports_per_second": round(rate, 1),
        "events_delivered_per_second": round(delivered, 1),
        "events_target_per_second": ARRIVALS_PER_SECOND,
        "load_per_core": load,
        "cores": os.cpu_count(),
        "strict": strict,
    }
    if tracing:
        result["long_tasks_traced"] = longtasks.attribute(artifacts / "surge-trace.json")
    (artifacts / "surge.json").write_text(json.dumps(result, indent=2))
    if os.environ.get("CITYOPS_WRITE_DOCS") == "1":
        _write_docs(result)
    assert nodes < 3000, result
    if strict:  # the targets of the issue, on a machine that is not queueing for its CPU
        assert first_paint <= 3.0, result
        assert p95 <= CLICK_TARGET_MS, result
        assert delivered >= ARRIVALS_PER_SECOND, result
    else:  # a shared, overloaded machine: sanity bounds only, the numbers and the load are recorded
        assert first_paint < 30, result
        assert p95 < 2000, result
        assert delivered > 0, result


def _write_docs(result: dict[str, Any]) -> None:
    start, end = "<!-- surge:start -->", "<!-- surge:end -->"
    text = DOCS.read_text()
    table = "\n".join([
        start,
        "| Đo (measure) | Kết quả (result) |", "|---|---|",
        f"| Sự cố đang mở (open incidents) | {result['open_incidents']:,} |",
        f"| Sự kiện đến màn hình trong lúc đo (events delivered while measuring) | "
        f"{result['events_delivered_per_second']}/s (mục tiêu {result['events_target_per_second']}/s; "
        f"báo cáo mới {result['reports_per_second']}/s, phần còn lại là ghi chú) |",
        "| Đăng nhập → hàng đợi và bản đồ vẽ xong (login → queue and map painted) | "
        f"{result['first_paint_seconds']} s |",
        f"| Đăng nhập → đủ {result['open_incidents']:,} sự cố (all loaded) | {result['all_loaded_seconds']} s |",
        f"| Bấm một dòng → chi tiết hiện, {result['clicks']} lần (click → detail shown), trung vị / p95 / lớn nhất | "
        f"{result['click_ms_median']} ms / {result['click_ms_p95']} ms / {result['click_ms_max']} ms |",
        f"| Tải máy lúc đo (load average per core, {result['cores']} cores) | {result['load_per_core']} "
        f"({'kiểm tra ngưỡng / thresholds checked' if result['strict'] else 'quá tải: chỉ ghi số / recorded only'}) |",
        f"| Số nút DOM (DOM nodes) | {result['dom_nodes']:,} |",
        f"| Tác vụ dài > 50 ms trong lúc bấm (long tasks while clicking): số / ms mỗi giây / dài nhất | "
        f"{result['long_tasks_while_clicking']} / {result['long_task_ms_per_second']} ms/s / "
        f"{result['long_task_ms_max']} ms |",
        end,
    ])
    if start in text:
        text = text[: text.index(start)] + table + text[text.index(end) + len(end):]
    else:
        text += "\n" + table + "\n"
    DOCS.write_text(text)
