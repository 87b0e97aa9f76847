"""``cityops phone-keys status`` (arguments in cityops_platform.cli): which key the callers' phone
hashes were made with, as a table, to decide when the previous key may be retired.

    cityops phone-keys status [--database-url URL]

The keys come from the service's settings (CITYOPS_INCIDENTS_PHONE_HASH_KEY and ``_PREVIOUS``),
the counts from the incidents schema (CITYOPS_DATABASE_URL, or --database-url). Read-only: the
numbers are not stored, so nothing can be re-hashed from here; a caller's rows move to the current
key when a call-taker looks that caller up (docs/security.md "Xoay khóa băm số điện thoại").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from cityops_incidents.incidents import report_store
from cityops_incidents.settings import IncidentsSettings, phone_hash_key, previous_phone_hash_key
from cityops_incidents.text import phone_key_id
from cityops_platform.db.pool import create_pool
from cityops_platform.settings import ConfigurationError


def render(counts: dict[str, int], *, current: str, previous: str | None) -> str:
    """The counts as a plain-text table (Vietnamese first), with what retiring the previous key loses."""
    raw = counts.get(report_store.RAW, 0)
    hashed = {k: v for k, v in counts.items() if k != report_store.RAW}
    other = sum(v for k, v in hashed.items() if k not in {current, previous, ""})
    rows = [
        (f"khóa hiện tại (current key) {current}", hashed.get(current, 0)),
        (f"khóa trước (previous key) {previous}" if previous else "khóa trước (previous key): không đặt / not set",
         hashed.get(previous, 0) if previous else 0),
        ("khóa không rõ: băm trước migration 180 (unknown key: hashed before migration 180)", hashed.get("", 0)),
        ("khóa khác: không tìm được theo số (another key: not findable by phone)", other),
        ("số chưa băm: trước migration 175, api băm khi khởi động (raw numbers, hashed by the api at start)", raw),
    ]
    w = max(len(label) for label, _ in rows)
    lines = ["Báo cáo có số điện thoại theo khóa băm (reports with a phone, by hash key)", ""]
    lines += [f"{label:<{w}} {n:>10}" for label, n in rows]
    lines.append(f"{'tổng (total)':<{w}} {sum(n for _, n in rows):>10}")
    if previous:
        at_risk = hashed.get(previous, 0)
        lines += ["", f"bỏ khóa trước: {at_risk} báo cáo (cộng các báo cáo khóa không rõ nếu chúng được băm bằng "
                      f"khóa trước) không còn tìm được theo số / retiring the previous key makes {at_risk} reports "
                      "(and the unknown-key ones if the previous key made them) unfindable by phone"]
    return "\n".join(lines)


async def _counts(dsn: str) -> dict[str, int]:
    pool = await create_pool(dsn, "incidents", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await report_store.phone_key_counts(conn)
    finally:
        await pool.close()


def run(args: argparse.Namespace, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print the table; exit code 0, or 2 when the keys are not configured."""
    from cityops_platform.settings import get_settings

    settings = get_settings()
    own = IncidentsSettings()
    try:
        current = phone_key_id(phone_hash_key(own, is_local=settings.is_local))
        previous_key = previous_phone_hash_key(own, is_local=settings.is_local)
    except ConfigurationError as exc:
        print(exc, file=err)
        return 2
    previous = phone_key_id(previous_key) if previous_key is not None else None
    counts = asyncio.run(_counts(args.database_url or settings.database_url))
    print(render(counts, current=current, previous=previous), file=out)
    return 0
