"""A standalone outbox relay, run as a child process so a test can kill -9 it mid-way."""

from __future__ import annotations

import asyncio
import os
import sys

from cityops_platform.db.outbox import OutboxRelay
from cityops_platform.db.pool import create_pool
from cityops_platform.kafka.producer import EventProducer
from cityops_platform.settings import Settings


async def main(schema: str, batch: int) -> None:
    settings = Settings()
    pool = await create_pool(settings.database_url, schema, max_size=3)
    producer = EventProducer(settings)
    await producer.start()
    relay = OutboxRelay(pool, producer, schema=schema, batch_size=batch, poll_interval_s=0.2)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    os._exit(0)
