"""Small Kafka helpers shared by the relay, consumers and tools."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from libs.events.topics import DEFAULT_PARTITIONS, dead_letter_topic

__all__ = ["DEFAULT_PARTITIONS", "dead_letter_topic", "ensure_topics", "partition_for"]


# How long the broker may hold a fetch that finds nothing. Apache Kafka answers the moment records
# arrive, whatever the wait; the embedded Tansu broker holds every fetch for the whole wait, so a
# short wait is low latency and a long one a quiet broker. Consumers fetch with the short wait
# while records flow and with the long one once nothing has come for a while: the lag under load
# stays that of the short wait, and a stack at rest asks the broker every 2 s per consumer (under the
# embedded broker, the first event after a quiet spell waits for the held fetch: up to 2 s).
FETCH_MAX_WAIT_MS = 10
IDLE_FETCH_MAX_WAIT_MS = 2000
IDLE_AFTER_SECONDS = 2.0


def partition_for(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner picks, so every client agrees."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


# Domain topics are the system's memory between services: they keep their events forever.
TOPIC_CONFIG = {"retention.ms": "-1"}


async def ensure_topics(bootstrap_servers: str, topics: Iterable[str], partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create the topics that do not exist yet, keeping events forever; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t, partitions, 1, topic_configs=TOPIC_CONFIG) for t in dict.fromkeys(topics) if t not in existing
        ]
        if not missing:
            return
        response = await admin.create_topics(missing)
        for name, code, message in _topic_errors(response):
            if code and code != TopicAlreadyExistsError.errno:
                raise RuntimeError(f"could not create topic {name}: error {code} {message or ''}".strip())
    finally:
        await admin.close()


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    result = []
    for entry in getattr(response, "topic_errors", []):
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        result.append((name, code, message))
    return result
