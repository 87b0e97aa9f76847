"""Ingest rules, without I/O: validate each reading alone and group the good ones by partition.

Guarantees: a bad reading is rejected alone with its reason and never affects the rest of its
batch; accepted readings keep their order within a partition (hence per sensor).
"""

from __future__ import annotations

from collections.abc import Mapping

from cityops_sensors.ingest.models import (
    MISSING_TIMESTAMP,
    NOT_A_NUMBER,
    OUT_OF_RANGE,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_TOO_OLD,
    UNKNOWN_SENSOR,
    CacheEntry,
    IngestLedger,
)

Columns = tuple[list[str], list[float], list[int]]


def _detail(reason: int, sid: str, v: float, t: int, entry: CacheEntry | None, now_ms: int) -> str:
    if reason == UNKNOWN_SENSOR:
        return f"cảm biến chưa đăng ký '{sid[:64]}' (unknown sensor)"
    if reason == NOT_A_NUMBER:
        return f"giá trị không phải số hữu hạn: {v} (not a finite number)"
    if reason == OUT_OF_RANGE and entry is not None:
        return f"giá trị {v} ngoài khoảng vật lý [{entry[0]}, {entry[1]}] (outside the physical range)"
    if reason == MISSING_TIMESTAMP:
        return "thiếu observed_at (missing timestamp)"
    if reason == TIMESTAMP_IN_FUTURE:
        return f"observed_at sớm hơn hiện tại {(t - now_ms) // 1000} s (in the future)"
    return f"observed_at quá cũ: {(now_ms - t) // 1000} s trước (too old)"


def split_by_partition(
    ids: list[str],
    values: list[float],
    times_ms: list[int],
    entries: Mapping[str, CacheEntry],
    *,
    now_ms: int,
    max_future_ms: int,
    max_past_ms: int,
    ledger: IngestLedger,
    batch_index: int,
) -> dict[int, Columns]:
    """Valid readings grouped by partition as parallel lists; rejections go to ``ledger``.

    This loop is the ingest hot path: plain lists and one dict lookup per reading, no objects.
    """
    groups: dict[int, Columns] = {}
    latest = now_ms + max_future_ms
    earliest = now_ms - max_past_ms
    get = entries.get
    first = ledger.next_index
    for i, sid in enumerate(ids):
        entry = get(sid)
        v = values[i]
        t = times_ms[i]
        if entry is None:
            reason = UNKNOWN_SENSOR
        elif v - v != 0.0:  # NaN and ±Inf, without a function call
            reason = NOT_A_NUMBER
        elif v < entry[0] or v > entry[1]:
            reason = OUT_OF_RANGE
        elif t <= 0:
            reason = MISSING_TIMESTAMP
        elif t > latest:
            reason = TIMESTAMP_IN_FUTURE
        elif t < earliest:
            reason = TIMESTAMP_TOO_OLD
        else:
            group = groups.get(entry[2])
            if group is None:
                group = groups[entry[2]] = ([], [], [])
            group[0].append(sid)
            group[1].append(v)
            group[2].append(t)
            continue
        detail = _detail(reason, sid, v, t, entry, now_ms) if len(ledger.rejections) < ledger.max_details else ""
        ledger.reject(sid, reason, first + i, detail, batch_index)
    ledger.next_index = first + len(ids)
    return groups
