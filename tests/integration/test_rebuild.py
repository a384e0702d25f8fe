"""Read models rebuilt from the events equal the ones projected live."""

from __future__ import annotations

import asyncpg

from libs.events.database import create_pool
from libs.events.rebuild import TopicProjection, rebuild_read_model, swap_read_model
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import Producer, Reader, eventually, open_reader, running


async def _rows(pool: asyncpg.Pool, schema: str) -> list[tuple[object, ...]]:
    rows = await pool.fetch(f"SELECT stream_id, customer_id, balance, applied FROM {schema}.balances ORDER BY 1")
    return [tuple(r) for r in rows]


async def test_rebuild_beside_the_live_read_model_and_swap(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer, reader: Reader
) -> None:
    topic = producer.topic
    for n in range(30):
        await producer.store.append(f"acct-{n % 7}", n // 7, [tally.deposit(f"{n}.5")], customer_id=f"c{n % 7}")
    async with running(producer.relay().run, reader.runner.run):
        await eventually(lambda: _applied(reader.pool, 30))

    # The producer's own read model, from its event store.
    own = await rebuild_read_model(
        producer.dsn,
        schema="read_model_next",
        migrations=tally.READ_MODEL,
        registry=tally.registry,
        source=tally.SOURCE,
        own_projection=tally.own_projection,
    )
    assert own.own_events == 30
    assert await _rows(producer.pool, "read_model_next") == await _rows(producer.pool, "read_model")

    # The reader's read model, from the topic.
    progress: list[str] = []
    await rebuild_read_model(
        reader.dsn,
        schema="read_model_next",
        migrations=tally.READ_MODEL,
        registry=tally.registry,
        source="reader",
        bootstrap_servers=broker.bootstrap_servers,
        service="reader",
        topic_projections=[TopicProjection(reader.runner.name, [topic], tally.project_delivery)],
        progress=lambda what, n: progress.append(what),
    )
    assert progress == [reader.runner.name]
    assert await _rows(reader.pool, "read_model_next") == await _rows(reader.pool, "read_model")

    await swap_read_model(reader.dsn, live="read_model", rebuilt="read_model_next")
    swapped = await create_pool(reader.dsn)
    assert (
        await swapped.fetchval("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'read_model%'")
        == 1
    )

    # The live consumer resumes from the rebuilt offsets: new events apply once, old ones never again.
    await producer.store.append("acct-0", 5, [tally.deposit("100")], customer_id="c0")
    resumed = await open_reader(reader.dsn, broker.bootstrap_servers, topic)
    async with running(producer.relay().run, resumed.runner.run):
        await eventually(lambda: _applied(swapped, 31))
    assert await tally.balances(swapped) == await tally.expected_from_events(producer.pool)
    for pool in (swapped, resumed.pool, producer.pool):
        await pool.close()


async def _applied(pool: asyncpg.Pool, expected: int) -> bool:
    return int(await pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances")) >= expected
