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
        # Describe only topics that exist: a Metadata request naming a missing topic auto-creates
        # it (with the broker's default partition count) when auto.create.topics.enable is on.
        present = set(await admin.list_topics())
        wanted = [s.full_name(settings.topic_prefix) for s in specs]
        existing = await admin.describe_topics([n for n in wanted if n in present]) if present & set(wanted) else []
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
                    results.append((name, await _grow(admin, name, spec.partitions) or "created"))
                except TopicAlreadyExistsError:
                    # describe_topics (a Metadata request) may have auto-created it with the broker's
                    # default partition count a moment ago: grow it like any existing topic.
                    results.append((name, await _grow(admin, name, spec.partitions) or "exists"))
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


async def _grow(admin: AIOKafkaAdminClient, name: str, wanted: int) -> str | None:
    """Raise ``name`` to ``wanted`` partitions if it has fewer; returns the action, if any."""
    for topic in await admin.describe_topics([name]):
        have = len(topic.get("partitions") or [])
        if topic.get("error_code", 0) == 0 and 0 < have < wanted:
            await admin.create_partitions({name: NewPartitions(total_count=wanted)})
            return f"partitions {have}→{wanted}"
    return None
