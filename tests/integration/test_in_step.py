"""Topics not ordered with one another, read in step by the time their records were sent (the ERP's
invoices, payments and credit notes): a topic whose records were all sent later waits while the
earlier one is read, and every record is applied once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from libs.events.consumer import ConsumerRunner, Delivery
from libs.events.database import Connection, create_pool, prepare_service_database
from libs.events.envelope import Envelope, to_kafka
from libs.events.kafka import ensure_topics
from libs.events.topics import dead_letter_topic
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally

RECORDS = 600  # per topic, over its partitions
MEMO = "x" * 40_000  # so that each partition takes several fetches (aiokafka takes 1 MB of one a fetch)


async def _send(bootstrap: str, topic: str, first_ms: int) -> set[str]:
    """Deposits sent 10 ms apart from ``first_ms`` on: their stream ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        sent = []
        for n in range(RECORDS):
            record = to_kafka(
                Envelope(
                    id=uuid.uuid4(),
                    source="tally",
                    type="tally.Deposited",
                    time=datetime.now(UTC),
                    subject=f"{topic}-{n}",
                    stream_version=1,
                    schema_version=2,
                    customer_id=f"c{n % 11}",
                    data={"amount": {"amount": "1.00", "currency": "CNY"}, "memo": MEMO},
                )
            )
            sent.append(
                await producer.send(
                    topic, record.value, key=record.key, headers=record.headers, timestamp_ms=first_ms + n * 10
                )
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return {f"{topic}-{n}" for n in range(RECORDS)}


def _every_partition_read(batches: list[list[Delivery]], partitions: set[tuple[str, int]]) -> int:
    """The first batch by which every partition has been read from."""
    seen: set[tuple[str, int]] = set()
    for i, batch in enumerate(batches):
        seen.update((d.topic, d.partition) for d in batch)
        if seen == partitions:
            return i
    raise AssertionError(f"partitions never read: {partitions - seen}")


async def test_a_topic_sent_later_waits_while_the_earlier_one_is_read(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str
) -> None:
    early, late = f"{topic_prefix}.early", f"{topic_prefix}.late"
    pool = await create_pool(await new_database())
    async with pool.acquire() as conn:
        await prepare_service_database(conn, tally.READ_MODEL)
    await ensure_topics(broker.bootstrap_servers, [early, late, dead_letter_topic("reader")])
    now = int(time.time() * 1000)
    # The later topic is on the broker first: read as it comes, much of it would go first.
    sent = await _send(broker.bootstrap_servers, late, now + 600_000)
    sent |= await _send(broker.bootstrap_servers, early, now)

    batches: list[list[Delivery]] = []

    async def keep(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        batches.append(list(deliveries))

    runner = ConsumerRunner(
        pool,
        broker.bootstrap_servers,
        name=f"{topic_prefix}.in-step",
        service="reader",
        topics=[early, late],
        registry=tally.registry,
        batch_handler=keep,
        batch_size=100,
        read_in_step=True,
    )
    await runner.catch_up()
    await pool.close()

    applied = [d.stream_id for batch in batches for d in batch]
    assert len(applied) == len(sent)
    assert set(applied) == sent
    # Once every partition has been read from (before that their send times are not known), a
    # partition of the later topic waits until the earlier topic has been read to its end.
    partitions = {(d.topic, d.partition) for batch in batches for d in batch}
    all_seen = _every_partition_read(batches, partitions)
    last_early = max(i for i, batch in enumerate(batches) for d in batch if d.topic == early)
    assert last_early - all_seen >= 3, (all_seen, last_early)  # much of the earlier topic was still to read
    between = [i for i in range(all_seen + 1, last_early + 1) if any(d.topic == late for d in batches[i])]
    assert between == []
