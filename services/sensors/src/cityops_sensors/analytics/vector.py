"""Vector operations of the columnar path: occurrence ranks and rate of change on the bucket ring."""

from __future__ import annotations

from typing import Any

import numpy as np

from cityops_sensors.analytics.columns import RING, PartitionColumns


def occurrence(slots: Any) -> Any:
    """For each reading, how many earlier readings of the record have the same sensor (None: all
    distinct). Readings with the same rank touch distinct sensors and can be applied together."""
    n = slots.size
    order = np.argsort(slots, kind="stable")
    ordered = slots[order]
    first = np.empty(n, dtype=np.bool_)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    if first.all():
        return None
    pos = np.arange(n)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pos - np.maximum.accumulate(np.where(first, pos, 0))
    return rank


def rate_check(pc: PartitionColumns, s: Any, v: Any, t: Any) -> tuple[Any, ...]:
    """Rate of change as ``_rate`` computes it, before any update: which readings stay below the
    limit (``ok``), and the bucket geometry the update needs. The window's floor/ceiling bound
    settles most readings; only the others look at their buckets."""
    width = pc.roc_width[s]
    start = t - t % width
    k = (start // width) % RING
    exists = pc.ring_start[s, k] == start
    # A new bucket first drops those older than the window (the engine deletes on append).
    horizon = np.where(exists, pc.ring_h[s], t - pc.roc_w[s] - width)
    below, limit = pc.roc_below[s], pc.roc_limit[s]
    ok = np.where(below, pc.roc_ceil[s] - v, v - pc.roc_floor[s]) < limit
    doubt = np.flatnonzero(~ok)
    if doubt.size:
        sd, vd = s[doubt], v[doubt]
        present = pc.ring_start[sd] >= horizon[doubt, None]
        low = np.minimum(np.where(present, pc.ring_min[sd], np.inf).min(axis=1), vd)
        high = np.maximum(np.where(present, pc.ring_max[sd], -np.inf).max(axis=1), vd)
        exact = np.where(below[doubt], high - vd, vd - low) < limit[doubt]
        ok[doubt] = exact
        tight = sd[exact]  # these go on the vector path: their bounds become exact again
        pc.roc_floor[tight], pc.roc_ceil[tight] = low[exact], high[exact]
    return ok, start, k, exists, horizon


def rate_update(pc: PartitionColumns, s: Any, v: Any, t: Any, start: Any, k: Any, exists: Any,
                 horizon: Any) -> None:
    e = np.flatnonzero(exists)
    if e.size:
        se, ke, ve = s[e], k[e], v[e]
        pc.ring_min[se, ke] = np.minimum(pc.ring_min[se, ke], ve)
        pc.ring_max[se, ke] = np.maximum(pc.ring_max[se, ke], ve)
    a = np.flatnonzero(~exists)
    if a.size:
        sa, ka = s[a], k[a]
        pc.ring_start[sa, ka] = start[a]
        pc.ring_min[sa, ka] = pc.ring_max[sa, ka] = v[a]
        pc.ring_h[sa] = horizon[a]
    pc.roc_floor[s] = np.minimum(pc.roc_floor[s], v)
    pc.roc_ceil[s] = np.maximum(pc.roc_ceil[s], v)
