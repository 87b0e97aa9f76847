"""The worker's board of every unit: latest status, capabilities and position, read from the
compacted ``cityops.dispatch.unit-status.v1`` topic.

It plays the part of a Faust GlobalTable: every worker reads *all* partitions (no consumer group)
from the beginning, so each one sees every unit whatever partitions it owns. It is a fast,
possibly slightly stale hint (used to skip retries that cannot succeed); Postgres stays the
authority for every assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from cityops.dispatch.v1 import dispatch_pb2
from cityops_platform import metrics
from cityops_platform.failures import count_and_log
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.topics import UNIT_STATUS
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.dispatch.board")
AVAILABLE = 1


@dataclass(frozen=True)
class BoardEntry:
    status: int
    capabilities: frozenset[str]
    lat: float
    lon: float


class UnitBoard:
    def __init__(self) -> None:
        self.units: dict[str, BoardEntry] = {}
        # AVAILABLE units per capability, kept with every record: the sweeper asks once per waiting
        # incident, and scanning every unit each time blocked the worker's loop after a surge (hundreds
        # of waiting incidents × thousands of units per retry round).
        self._available: Counter[str] = Counter()
        self.ready = asyncio.Event()  # set once the topic was read up to its end at start

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the compacted topic: an update, or a tombstone (value None) removing the unit."""
        if key is None:
            return
        unit_id = key.decode(errors="replace")
        if value is None:
            self._count(self.units.pop(unit_id, None), -1)
            return
        update = dispatch_pb2.UnitStatusUpdate()
        update.ParseFromString(value)
        u = update.unit
        entry = BoardEntry(int(u.status), frozenset(u.capabilities), u.location.lat, u.location.lon)
        self._count(self.units.get(unit_id), -1)
        self.units[unit_id] = entry
        self._count(entry, +1)

    def _count(self, entry: BoardEntry | None, step: int) -> None:
        if entry is not None and entry.status == AVAILABLE:
            for capability in entry.capabilities:
                self._available[capability] += step

    def any_available(self, capabilities: Iterable[str]) -> bool:
        """Some AVAILABLE unit has one of ``capabilities`` (per-capability counts, no scan)."""
        return any(self._available[c] > 0 for c in capabilities)

    async def run(self, settings: Settings) -> None:
        """Follow the topic until cancelled; a broker outage is retried, never fatal."""
        topic = f"{settings.topic_prefix}{UNIT_STATUS.name}"
        while True:
            consumer = AIOKafkaConsumer(
                topic, **client_kwargs(settings), group_id=None, auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            try:
                await consumer.start()
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                    for records in batch.values():
                        for record in records:
                            try:
                                self.apply(record.key, record.value)
                            except Exception as exc:  # a malformed record must not stop the board
                                metrics.ERRORS_SWALLOWED.labels("unit_board_record").inc()
                                log.warning("bad unit-status record", extra={"error": repr(exc)[:200]})
                    if not batch:
                        self.ready.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                count_and_log("unit_board", log, "unit board consumer failed; restarting", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
