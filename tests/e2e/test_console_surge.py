"""A flood night: the console in real Chromium with 10,000 open incidents and reports still arriving.

The incidents are filed through the real incidents service (ReportIncident, many in flight, so its
group commit files them in batches); while the console opens and is used, a thread keeps reporting
at up to 200 a second. The test measures, in the page, how long the console takes to paint the queue
and the map, and how long a click on a queue row takes to show the incident; it writes the numbers
to test-artifacts/e2e/surge.json (and, with CITYOPS_WRITE_DOCS=1, into docs/console.md). The bounds
asserted are generous sanity bounds for a loaded CI machine; the recorded numbers are the result.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.testing import bearer

SURGE = int(os.environ.get("CITYOPS_SURGE_INCIDENTS", "10000"))
ARRIVALS_PER_SECOND = 200
ARRIVAL_SECONDS = 30  # reports keep arriving while the console opens, loads and is clicked
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


def _report_many(city: Any, numbers: range, tag: str, per_second: float | None = None,
                 stop: threading.Event | None = None) -> int:
    """Files reports with IN_FLIGHT calls outstanding; returns how many were filed."""
    metadata = bearer(city.settings, "call_taker", "surge-ct")
    filed = 0
    started = time.monotonic()
    with grpc.insecure_channel(city.addr("incidents")) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        pending: list[Any] = []
        for k, n in enumerate(numbers):
            if stop is not None and stop.is_set():
                break
            if per_second:
                ahead = started + k / per_second - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            pending.append(stub.ReportIncident.future(_request(n, tag), timeout=60, metadata=metadata))
            if len(pending) >= IN_FLIGHT:
                pending.pop(0).result()
                filed += 1
        for future in pending:
            future.result()
            filed += 1
    return filed


@pytest.fixture(scope="module")
def surge(city: Any) -> dict[str, float]:
    started = time.monotonic()
    filed = _report_many(city, range(SURGE), uuid.uuid4().hex[:8])
    return {"seeded": filed, "seed_seconds": round(time.monotonic() - started, 1)}


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


def test_console_paints_and_answers_with_ten_thousand_open_incidents(
    browser: Any, city: Any, surge: dict[str, float], artifacts: Path
) -> None:
    assert surge["seeded"] >= SURGE, surge
    stop = threading.Event()
    arrivals: dict[str, float] = {}

    def arrive() -> None:
        t0 = time.monotonic()
        count = ARRIVALS_PER_SECOND * ARRIVAL_SECONDS
        arrivals["filed"] = _report_many(city, range(SURGE, SURGE + count), "live-" + uuid.uuid4().hex[:6],
                                         per_second=ARRIVALS_PER_SECOND, stop=stop)
        arrivals["seconds"] = time.monotonic() - t0

    feeder = threading.Thread(target=arrive, daemon=True)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="vi-VN",
                                  timezone_id="Asia/Ho_Chi_Minh")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.set_default_timeout(120000)
        page.goto(city.gateway_url + "/")
        page.wait_for_selector("#login:not([hidden])")
        feeder.start()  # the flood goes on while the console signs in, loads and is used
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
        for k in range(10):
            clicks.append(page.evaluate(CLICK_PROBE, k % 8))
            page.wait_for_timeout(1500)  # an operator's pace: the map follows each click before the next
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
        if feeder.is_alive():
            feeder.join(timeout=120)
        context.close()

    assert not errors, errors
    assert all(c["shown"] for c in clicks), clicks
    assert count >= SURGE
    assert re.search(r"↓ [\d.]+", overflow), overflow  # the overflow below the fold is counted
    assert scroll_nodes < 60, scroll_nodes  # a window of rows, never 10,000
    rate = arrivals.get("filed", 0) / max(arrivals.get("seconds", 1.0), 1e-6)
    click_ms = sorted(c["ms"] for c in clicks)
    result = {
        "open_incidents": count,
        "seed_seconds": surge["seed_seconds"],
        "first_paint_seconds": round(first_paint, 2),
        "all_loaded_seconds": round(all_loaded, 2),
        "click_ms_median": round(statistics.median(click_ms), 1),
        "click_ms_max": round(click_ms[-1], 1),
        "dom_nodes": nodes,
        "arrivals_per_second": round(rate, 1),
        "arrivals_target_per_second": ARRIVALS_PER_SECOND,
    }
    (artifacts / "surge.json").write_text(json.dumps(result, indent=2))
    if os.environ.get("CITYOPS_WRITE_DOCS") == "1":
        _write_docs(result)
    # Generous sanity bounds (a shared, loaded CI machine): the goal is 3 s / 200 ms, the record is above.
    assert first_paint < 30, result
    assert click_ms[-1] < 2000, result
    assert nodes < 3000, result


def _write_docs(result: dict[str, Any]) -> None:
    start, end = "<!-- surge:start -->", "<!-- surge:end -->"
    text = DOCS.read_text()
    table = "\n".join([
        start,
        "| Đo (measure) | Kết quả (result) |", "|---|---|",
        f"| Sự cố đang mở (open incidents) | {result['open_incidents']:,} |",
        f"| Báo cáo đến trong lúc đo (arrivals while measuring) | {result['arrivals_per_second']}/s"
        f" (mục tiêu {result['arrivals_target_per_second']}/s) |",
        "| Đăng nhập → hàng đợi và bản đồ vẽ xong (login → queue and map painted) | "
        f"{result['first_paint_seconds']} s |",
        f"| Đăng nhập → đủ {result['open_incidents']:,} sự cố (all loaded) | {result['all_loaded_seconds']} s |",
        f"| Bấm một dòng → chi tiết hiện (click → detail shown), trung vị / lớn nhất | "
        f"{result['click_ms_median']} ms / {result['click_ms_max']} ms |",
        f"| Số nút DOM (DOM nodes) | {result['dom_nodes']:,} |",
        end,
    ])
    if start in text:
        text = text[: text.index(start)] + table + text[text.index(end) + len(end):]
    else:
        text += "\n" + table + "\n"
    DOCS.write_text(text)
