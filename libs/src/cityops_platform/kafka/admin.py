"""``cityops topics apply``: create or update the catalog's topics on the broker."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.topics import TopicSpec, all_topics
from cityops_platform.settings import Settings

log = logging.getLogger(__name__)


async def apply_topics(
    settings: Settings, *, specs: list[TopicSpec] | None = None, replication_factor: int = 1
) -> list[tuple[str, str]]:
    """Create missing topics, grow partitions and set configs. Returns (topic, action) rows."""
    specs = specs if specs is not None else all_topics()
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    results: list[tuple[str, str]] = []
    try:
        existing = await admin.describe_topics([s.full_name(settings.topic_prefix) for s in specs])
        partitions = {
            t["topic"]: len(t.get("partitions") or [])
            for t in existing
            if t.get("error_code", 0) == 0
        }
        for spec in specs:
            name = spec.full_name(settings.topic_prefix)
            if name not in partitions:
                try:
                    await admin.create_topics(
                        [
                            NewTopic(
                                name,
                                num_partitions=spec.partitions,
                                replication_factor=replication_factor,
                                topic_configs=spec.config(),
                            )
                        ]
                    )
                    results.append((name, "created"))
                except TopicAlreadyExistsError:
                    results.append((name, "exists"))
                continue
            action = "unchanged"
            if partitions[name] < spec.partitions:
                await admin.create_partitions({name: NewPartitions(total_count=spec.partitions)})
                action = f"partitions {partitions[name]}→{spec.partitions}"
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, configs=spec.config())]
            )
            results.append((name, action if action != "unchanged" else "config applied"))
    finally:
        await admin.close()
    return results
