"""The bare Faust pass-through agent: raw bytes in, the same bytes out, nothing else.

Run by the bench as ``python -m loadtests.bench.bare_faust worker``; it uses the same Faust
settings as our workers (``cityops_platform.faust_app.create_app``: at-least-once, commit every
500 records or 1 s, raw topics), so the difference to our agent is the work our agent does.
"""

from __future__ import annotations

import os
from typing import Any

import faust

from cityops_platform import faust_app
from cityops_platform.settings import Settings

# The prefix only names the consumer group (and its state dir): one fresh group per run.
settings = Settings(topic_prefix=os.environ.get("BENCH_GROUP", "bench.") + ".")
app = faust_app.create_app(
    "bench-bare", settings, consumer_max_fetch_size=16 * 1024 * 1024, broker_max_poll_records=1000,
)
source = faust_app.raw_topic(app, os.environ.get("BENCH_SOURCE", "bench.source"))
sink = faust_app.raw_topic(app, os.environ.get("BENCH_SINK", "bench.sink"))


@app.agent(source)
async def passthrough(stream: faust.StreamT[Any]) -> None:
    async for event in stream.events():
        await sink.send(key=event.key, value=event.value)


if __name__ == "__main__":
    app.main()
