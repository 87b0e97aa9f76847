"""Scenario 7: SIGTERM to the incidents api (a real `cityops serve incidents`) under load.

To have RPCs truly in flight at the signal, the test holds the row lock of the incident-number
sequence, so every ReportIncident waits inside its transaction; it releases the lock only after
the SIGTERM. Expected: health turns NOT_SERVING first (seen on a Watch stream), calls during the
1 s linger are still served, later ones are refused with UNAVAILABLE, the RPCs in flight finish
OK, nothing answers INTERNAL/UNKNOWN/CANCELLED, the process exits 0, and every acknowledged
report exists exactly once.
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
from cityops_devtools.testing import bearer, eventually
from cityops_platform.settings import Settings

from ._checker import Ledger, client_key, forbidden
from ._load import report_request
from ._stack import Proc, health_status
from .conftest import Figures

SERVICES = ("incidents",)  # the `prepared` fixture applies their topics and schemas
HELD = 16  # RPCs held in flight at the signal
DRAIN_S = 5.0
LINGER_S = 1.0  # serve_until_stopped's default: NOT_SERVING, still serving, then refuse


@pytest.mark.timeout(240)
async def test_sigterm_under_load_turns_not_serving_first_and_finishes_in_flight_rpcs(
    prepared: Settings, tmp_path: Path, figures: Figures
) -> None:
    s = prepared
    api = Proc("serve", "incidents", s, tmp_path, env={"CITYOPS_GRPC_DRAIN_SECONDS": str(DRAIN_S)}).start()
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
                    name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                    timeline.append((time.monotonic(), f"health {name}"))
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
        await eventually(lambda: _waiting_on_locks(db), timeout=10, interval=0.02)
        sigterm_at = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]  # calls still arriving
        timeline.append((sigterm_at, "SIGTERM"))
        await asyncio.sleep(LINGER_S / 3)
        during_linger = asyncio.create_task(report(f"{run}-linger", 998))  # NOT_SERVING, still served
        status_in_linger = await health_status(channel)
        await asyncio.sleep(LINGER_S)
        after_linger = await report(f"{run}-late", 999)  # the server now refuses new calls
        await lock.rollback()  # release: everything in flight may now finish
        released_at = time.monotonic() - sigterm_at
        held_codes = await asyncio.gather(*held)
        linger_code = await during_linger
        background_stop.set()
        await asyncio.gather(*bg)
        exit_code = await asyncio.to_thread(api.proc.wait, DRAIN_S + 20)  # type: ignore[union-attr]
        exited_after = time.monotonic() - sigterm_at
        await asyncio.wait_for(watcher, 5)
        found = [client_key(r[0]) for r in await db.fetch("SELECT idempotency_key FROM incidents.reports")]
    finally:
        await channel.close()
        api.terminate()
        await db.close()

    verdict = ledger.check(found)
    events = [what for _, what in sorted(timeline)]
    first_not_serving = next(i for i, e in enumerate(events) if e == "health NOT_SERVING")
    first_refusal = next((i for i, e in enumerate(events) if e.startswith("rpc ")), len(events))
    figures.load = f"4 looping ReportIncident clients + {HELD} RPCs held in flight (row lock) at the signal"
    figures.faults = (f"SIGTERM to `cityops serve incidents` (drain {DRAIN_S:.0f} s); "
                      f"exit {exit_code} after {exited_after:.1f} s")
    figures.inputs = sum(ledger.codes.values())
    figures.acknowledged = len(ledger.acked)
    figures.lost, figures.duplicated, figures.unexpected = (len(verdict.lost), len(verdict.duplicated),
                                                            len(verdict.unexpected))
    figures.codes = dict(ledger.codes)
    figures.notes = (f"held in flight: {held_codes.count('OK')}/{HELD} OK after the lock was released "
                     f"{released_at:.1f} s after SIGTERM; health {status_in_linger} and a new call {linger_code} "
                     f"during the linger; a call after it: {after_linger}; "
                     f"order: {events[first_not_serving - 1:first_not_serving + 2]}")
    assert not forbidden(ledger), ledger.codes
    assert held_codes == ["OK"] * HELD, held_codes
    assert linger_code == "OK" and status_in_linger == "NOT_SERVING", (linger_code, status_in_linger)
    assert after_linger == "UNAVAILABLE", after_linger
    assert first_not_serving < first_refusal, events
    assert exit_code == 0, api.tail()
    verdict.assert_clean()


async def _serving(channel: grpc.aio.Channel) -> bool:
    return await health_status(channel) == "SERVING"


async def _waiting_on_locks(db: asyncpg.Connection) -> bool:
    waiting = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
    return int(waiting) >= 1
