"""The api's in-memory registry cache: validation never queries Postgres per reading.

Refreshed incrementally every few seconds (rows updated since the last refresh, with an overlap
for transactions that committed late); ids missing from it are looked up once per batch and
remembered as unknown for a short time, so a flood of bad ids costs one query per TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from cityops_platform import loops
from cityops_sensors.ingest.models import CacheEntry, partition_for
from cityops_sensors.registry.models import kind_specs
from cityops_sensors.registry.store import SensorStore

log = logging.getLogger("cityops.sensors.cache")
_OVERLAP = timedelta(seconds=10)
_MAX_NEGATIVE = 100_000


class SensorCache:
    def __init__(self, store: SensorStore, *, partitions: int, refresh_seconds: float, unknown_ttl: float) -> None:
        self._store = store
        self.partitions = partitions
        self._refresh_s = refresh_seconds
        self._unknown_ttl = unknown_ttl
        self.entries: dict[str, CacheEntry] = {}
        self.owners: dict[str, str] = {}  # sensor id → owning gateway id (absent: no gateway owns it)
        self._unknown: dict[str, float] = {}
        self._since: datetime | None = None

    def entry_for(self, kind: str, sensor_id: str) -> CacheEntry:
        spec = kind_specs()[kind]
        return (spec.min, spec.max, partition_for(sensor_id, self.partitions))

    def put(self, sensor_id: str, kind: str, gateway_id: str = "") -> None:
        self.entries[sensor_id] = self.entry_for(kind, sensor_id)
        if gateway_id:
            self.owners[sensor_id] = gateway_id
        else:
            self.owners.pop(sensor_id, None)
        self._unknown.pop(sensor_id, None)

    async def refresh(self) -> int:
        rows = await self._store.changed_since(self._since - _OVERLAP if self._since else None)
        for row in rows:
            self.put(row["id"], row["kind"], row["gateway_id"])
            if self._since is None or row["updated_at"] > self._since:
                self._since = row["updated_at"]
        return len(rows)

    async def resolve(self, ids: Iterable[str]) -> None:
        """Make sure every id of a batch is either cached or known to be unknown (one query)."""
        now = time.monotonic()
        entries, unknown = self.entries, self._unknown
        # No set of the whole batch: building it was most of this line's cost (~8 % of the api's CPU in the
        # 100,000-sensor profile; a batch's ids are fresh strings); only the few missing ids are deduplicated.
        missing = [i for i in dict.fromkeys([i for i in ids if i not in entries]) if unknown.get(i, 0.0) < now]
        if not missing:
            return
        found = await self._store.kinds_of(missing)
        for sensor_id, (kind, gateway_id) in found.items():
            self.put(sensor_id, kind, gateway_id)
        if len(unknown) > _MAX_NEGATIVE:
            unknown.clear()
        for sensor_id in missing:
            if sensor_id not in found:
                unknown[sensor_id] = now + self._unknown_ttl

    async def run(self) -> None:
        """Refresh forever; a failed refresh is logged and retried, the cache keeps serving."""
        await loops.every(self._refresh_s, self.refresh, on_error=lambda _exc: log.exception(
            "registry cache refresh failed; serving the last snapshot"))
