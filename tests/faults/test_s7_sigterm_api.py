"""Scenario 7: SIGTERM to the incidents api (a real `cityops serve incidents`) under load.

To have RPCs truly in flight at the signal, the test holds the row lock of the incident-number
sequence, so every ReportIncident waits inside its transaction; it releases the lock only after
the SIGTERM. Expected: health turns NOT_SERVING first (seen on a Watch stream), the RPCs in flight
finish OK, later RPCs are refused with UNAVAILABLE, nothing answers INTERNAL/UNKNOWN, the process
exits 0, and every acknowledged report exists exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops.incidents.v1 import incidents_pb2_grpc
from cityops_platform.settings import Settings
from cityops_platform.testing import bearer, eventually

from ._checker import Ledger, forbidden
from ._load import report_request
from ._stack import Proc, health_status, prepare
from .conftest import Figures

HELD = 16  # RPCs held in flight at the signal
DRAIN_S = 10.0


@pytest.mark.timeout(240)
async def test_sigterm_under_load_turns_not_serving_first_and_finishes_in_flight_rpcs(
    session_settings: Settings, tmp_path: Path, figures: Figures
) -> None:
    s = session_settings
    await prepare(s, "incidents")
    api = Proc("serve", "incidents", s, tmp_path, env={"CITYOPS_GRPC_DRAIN_SECONDS": str(DRAIN_S), "CITYOPS_LOG_LEVEL": "INFO"}).start()
    ledger = Ledger("ReportIncident → reports")
    md = bearer(s, "call_taker")
    run = f"term-{time.time_ns()}"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{api.grpc_port}")
    stub = incidents_pb2_grpc.IncidentServiceStub(channel)
    timeline: list[tuple[float, str]] = []  # (monotonic time, what happened)
    db = await asyncpg.connect(s.database_url)
    try:
        await eventually(lambda: _serving(channel), timeout=60, interval=0.3)

        async def report(key: str, n: int) -> str:
            ledger.attempt(key)
            try:
                await stub.ReportIncident(report_request(key, n, 1000), metadata=md, timeout=30)
            except grpc.aio.AioRpcError as exc:
                ledger.fail(exc.code())
                timeline.append((time.monotonic(), f"rpc {exc.code().name}: {exc.details()}"[:160]))
                return exc.code().name
            ledger.ack(key)
            return "OK"

        for n in range(20):  # warm up; creates today's number-sequence row
            assert await report(f"{run}-warm-{n}", n) == "OK"

        async def watch() -> None:
            call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            try:
                async for reply in call:
                    timeline.append((time.monotonic(), f"health {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"))
            except grpc.aio.AioRpcError as exc:
                timeline.append((time.monotonic(), f"watch ended {exc.code().name}"))

        watcher = asyncio.create_task(watch())
        background_stop = asyncio.Event()

        async def background(c: int) -> None:
            for n in range(10_000):
                if background_stop.is_set():
                    return
                if await report(f"{run}-bg{c}-{n}", 100 + n) != "OK":
                    return  # the server is gone; a real client would fail over to another replica

        bg = [asyncio.create_task(background(c)) for c in range(4)]
        await asyncio.sleep(1.0)
        lock = db.transaction()
        await lock.start()
        await db.execute("SELECT * FROM incidents.number_sequences FOR UPDATE")
        held = [asyncio.create_task(report(f"{run}-held-{n}", 500 + n)) for n in range(HELD)]
        await eventually(lambda: _waiting_on_locks(db), timeout=10, interval=0.05)
        sigterm_at = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        timeline.append((sigterm_at, "SIGTERM"))
        await asyncio.sleep(0.5)
        late_started = time.monotonic()
        late = asyncio.create_task(report(f"{run}-late", 999))  # a new call during the drain
        status_during_drain = await health_status(channel)
        await asyncio.sleep(0.5)
        await lock.rollback()  # release: the held RPCs may now finish
        released_at = time.monotonic() - sigterm_at
        held_codes = await asyncio.gather(*held)
        held_done_at = time.monotonic() - sigterm_at
        after_signal = await late
        late_s = time.monotonic() - late_started
        background_stop.set()
        await asyncio.gather(*bg)
        exit_code = await asyncio.to_thread(api.proc.wait, DRAIN_S + 20)  # type: ignore[union-attr]
        exited_after = time.monotonic() - sigterm_at
        await asyncio.wait_for(watcher, 5)
        found = [r[0] for r in await db.fetch("SELECT idempotency_key FROM incidents.reports")]
    finally:
        await channel.close()
        api.terminate()
        await db.close()

    verdict = ledger.check(found)
    events = [what for _, what in sorted(timeline)]
    first_not_serving = next(i for i, e in enumerate(events) if e == "health NOT_SERVING")
    first_refusal = next((i for i, e in enumerate(events) if e.startswith("rpc ")), len(events))
    print([(round(t - sigterm_at, 2), e[:40]) for t, e in sorted(timeline)])
    figures.load = f"4 looping ReportIncident clients + {HELD} RPCs held in flight (row lock) at the signal"
    figures.faults = f"SIGTERM to `cityops serve incidents` (drain {DRAIN_S:.0f} s); exit {exit_code} after {exited_after:.1f} s"
    figures.inputs = sum(ledger.codes.values())
    figures.acknowledged = len(ledger.acked)
    figures.lost, figures.duplicated, figures.unexpected = (len(verdict.lost), len(verdict.duplicated),
                                                            len(verdict.unexpected))
    figures.codes = dict(ledger.codes)
    figures.notes = (f"lock released {released_at:.1f} s after SIGTERM, held RPCs done at {held_done_at:.1f} s: "
                     f"{held_codes.count('OK')}/{HELD} OK; new call during drain: {after_signal} in {late_s:.1f} s; "
                     f"health during drain: {status_during_drain}; order: {events[:1] + events[first_not_serving:first_not_serving + 3]}")
    assert not forbidden(ledger), ledger.codes
    assert held_codes == ["OK"] * HELD, held_codes
    assert after_signal == "UNAVAILABLE", after_signal
    assert first_not_serving < first_refusal, events
    assert exit_code == 0, api.tail()
    verdict.assert_clean()


async def _serving(channel: grpc.aio.Channel) -> bool:
    return await health_status(channel) == "SERVING"


async def _waiting_on_locks(db: asyncpg.Connection) -> bool:
    waiting = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
    return int(waiting) >= 1
