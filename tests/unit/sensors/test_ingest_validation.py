"""The ingest hot path's rules: each bad reading rejected alone, good ones grouped by partition."""

from __future__ import annotations

import asyncio
import math

from cityops_sensors.ingest import models as r
from cityops_sensors.ingest.cache import SensorCache
from cityops_sensors.ingest.models import IngestLedger, partition_for
from cityops_sensors.ingest.service import split_by_partition

NOW = 1_700_000_000_000
ENTRIES = {"wl-1": (-100.0, 1000.0, partition_for("wl-1", 12)), "wl-2": (-100.0, 1000.0, partition_for("wl-2", 12))}


def split(ids: list[str], values: list[float], times: list[int], ledger: IngestLedger | None = None):
    ledger = ledger or IngestLedger()
    groups = split_by_partition(ids, values, times, ENTRIES, now_ms=NOW, max_future_ms=300_000,
                                max_past_ms=86_400_000, ledger=ledger, batch_index=0)
    return groups, ledger


def test_each_bad_reading_is_rejected_with_its_reason_and_the_rest_of_the_batch_is_kept() -> None:
    ids = ["wl-1", "nope", "wl-1", "wl-1", "wl-1", "wl-1", "wl-1", "wl-2", "wl-1"]
    values = [10.0, 1.0, 5000.0, math.nan, math.inf, 3.0, 4.0, 7.0, 8.0]
    times = [NOW, NOW, NOW, NOW, NOW, NOW + 3_600_000, NOW - 2 * 86_400_000, NOW, 0]
    groups, ledger = split(ids, values, times)
    assert [(x.index, x.reason) for x in ledger.rejections] == [
        (1, r.UNKNOWN_SENSOR), (2, r.OUT_OF_RANGE), (3, r.NOT_A_NUMBER), (4, r.NOT_A_NUMBER),
        (5, r.TIMESTAMP_IN_FUTURE), (6, r.TIMESTAMP_TOO_OLD), (8, r.MISSING_TIMESTAMP),
    ]
    kept = sorted(v for cols in groups.values() for v in cols[1])
    assert kept == [7.0, 10.0]
    assert ledger.rejected == 7 and ledger.next_index == 9


def test_a_sensor_always_lands_in_the_same_partition_in_order() -> None:
    ids = ["wl-1", "wl-2"] * 50
    groups, _ = split(ids, [float(i) for i in range(100)], [NOW - 100 + i for i in range(100)])
    p1 = partition_for("wl-1", 12)
    assert groups[p1][0].count("wl-1") == 50
    series = [v for sid, v in zip(groups[p1][0], groups[p1][1], strict=True) if sid == "wl-1"]
    assert series == sorted(series)


def test_partition_hash_is_stable_across_processes() -> None:
    # CRC-32 of the id: the same in every process and release, unlike hash() (salted per process).
    assert partition_for("wl-thuanan-001", 12) == 2
    assert partition_for("wl-thuanan-001", 6) == 2


def test_stream_indexes_continue_across_batches() -> None:
    ledger = IngestLedger()
    split(["wl-1"], [1.0], [NOW], ledger)
    split(["nope"], [1.0], [NOW], ledger)
    assert ledger.rejections[0].index == 1


def test_the_registry_cache_asks_once_for_ids_it_does_not_hold_and_remembers_the_unknown_ones() -> None:
    """``SensorCache.resolve``: cached ids cost no query; missing ones are asked in one query per batch;
    an id the registry does not know is not asked again within its TTL (a flood of bad ids)."""
    class Registry:  # the two lookups SensorCache makes of SensorStore
        def __init__(self) -> None:
            self.asked: list[list[str]] = []

        async def kinds_of(self, ids: list[str]) -> dict[str, tuple[str, str]]:
            self.asked.append(sorted(ids))
            return {i: ("WATER_LEVEL", "gw-1") for i in ids if i.startswith("wl-")}

    registry = Registry()
    cache = SensorCache(registry, partitions=12, refresh_seconds=5, unknown_ttl=60)  # type: ignore[arg-type]
    cache.put("wl-1", "WATER_LEVEL")

    async def go() -> None:
        await cache.resolve(["wl-1", "wl-1"])
        await cache.resolve(["wl-1", "wl-2", "nope", "wl-2", "nope"])
        await cache.resolve(["wl-2", "nope", "wl-1"])

    asyncio.run(go())
    assert registry.asked == [["nope", "wl-2"]]
    assert cache.entries["wl-2"][2] == partition_for("wl-2", 12) and cache.owners["wl-2"] == "gw-1"
    assert "nope" not in cache.entries
