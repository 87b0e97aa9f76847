"""Prometheus metrics of the sensors service (the api's and the worker's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

READINGS_INGESTED = Counter("cityops_sensor_readings_ingested_total", "Readings through IngestReadings", ["outcome"])
READINGS_PROCESSED = Counter("cityops_sensor_readings_processed_total", "Readings applied by the worker")
RECORDS_PROCESSED = Counter("cityops_sensor_records_processed_total", "ReadingRecords applied by the worker")
ALERTS_EMITTED = Counter("cityops_sensor_alerts_emitted_total", "Alert transitions sent", ["state"])
INGEST_TO_PROCESSED = Histogram(
    "cityops_sensor_ingest_to_processed_seconds", "Api acceptance → worker applied, per record",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WORKER_SECONDS = Counter(
    "cityops_sensor_worker_seconds_total", "Wall time the readings agent spent per stage (apply = CPU, "
    "publish = waiting for alert acks, checkpoint = changelog writes)", ["stage"],
)
