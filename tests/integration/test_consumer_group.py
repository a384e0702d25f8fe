"""Two replicas of a consumer in one Kafka group: partitions shared, then handed over."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events.consumer import ConsumerRunner
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import Producer, eventually, open_reader, running


async def test_replicas_share_partitions_and_hand_them_over(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    topic = producer.topic
    first = await open_reader(
        await new_database(), broker.bootstrap_servers, topic, name=f"{topic_prefix}.balances", group=True
    )
    second = _SlowToSeek(
        first.pool,
        broker.bootstrap_servers,
        name=f"{topic_prefix}.balances",
        service="reader",
        topics=[topic],
        registry=tally.registry,
        handler=tally.project_delivery,
        group=True,
    )

    async def write(round_: int) -> None:
        await asyncio.gather(
            *(producer.store.append(f"acct-{c}", round_, [tally.deposit("1")], customer_id=f"c{c}") for c in range(12))
        )

    async with running(producer.relay().run, second.run):
        first_stop = asyncio.Event()
        first_task = asyncio.create_task(first.runner.run(first_stop))
        await eventually(lambda: _both_assigned(first.runner, second), within=60, what="partitions shared")
        assert len(first.runner.assigned) + len(second.assigned) == 6
        for round_ in range(5):
            await write(round_)
        await eventually(lambda: _applied(first, 60), within=60)

        first_stop.set()
        await first_task
        await eventually(lambda: _all_to_second(second), within=60, what="partitions handed over")
        for round_ in range(5, 10):
            await write(round_)
        await eventually(lambda: _applied(first, 120), within=60)

    assert await tally.balances(first.pool) == await tally.expected_from_events(producer.pool)
    await first.pool.close()


class _SlowToSeek(ConsumerRunner):
    """A replica whose database answers slowly while it is handed partitions: the fetcher asks
    Kafka for a committed offset (Credo keeps none there) before the stored one is sought."""

    async def _seek_stored(self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        await asyncio.sleep(1.5)
        await super()._seek_stored(consumer, partitions)


async def _both_assigned(a: ConsumerRunner, b: ConsumerRunner) -> bool:
    return bool(a.assigned) and bool(b.assigned) and a.ready.is_set() and b.ready.is_set()


async def _all_to_second(b: ConsumerRunner) -> bool:
    return len(b.assigned) == 6 and b.ready.is_set()


async def _applied(reader, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return int(await reader.pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances")) >= expected
