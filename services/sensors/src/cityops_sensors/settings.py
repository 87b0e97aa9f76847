"""Knobs of the sensors service only (``CITYOPS_SENSORS_*``); the shared ones live in ``Settings``."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class SensorsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_SENSORS_", extra="ignore")

    # Ingest (api)
    cache_refresh_seconds: float = 5.0  # registry cache: new/changed sensors show up this fast
    unknown_sensor_ttl_seconds: float = 5.0  # an unknown id is looked up again after this
    max_future_seconds: int = 300  # a reading observed further in the future is rejected
    max_past_seconds: int = 24 * 3600  # ... or further in the past
    max_batch_readings: int = 10_000
    in_flight_batches: int = 8  # batches whose Kafka acks may be pending at once per stream
    max_rejection_details: int = 1000
    # Worker
    rules_refresh_seconds: float = 5.0
    tick_seconds: float = 1.0  # offline checks and window closing run this often
    window_grace_seconds: int = 5  # a 1-minute window closes this long after its end (tick time)
    sink_flush_seconds: float = 0.5  # aggregates, alert history, sensor status → Postgres
    # Routine checkpoints (a sensor's minute closed) per second; alert-related ones are never delayed.
    # ≥ sensors / 60 so the queue drains (default: enough for 100k sensors).
    checkpoint_rate: float = 2000.0
    # Closed 1-minute windows (aggregate row + status refresh) turned into rows per second per worker:
    # every sensor's minute ends at the same instant, so the rows are built a few at a time after it
    # instead of all in the first second of the minute (alerts never wait for them).
    window_close_rate: float = 20000.0
    table_store: str = "memory://"  # or rocksdb:// (needs rocksdict)


@lru_cache(maxsize=1)
def get_sensor_settings() -> SensorsSettings:
    return SensorsSettings()
