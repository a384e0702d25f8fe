"""The event store against a real PostgreSQL, and the pipeline to a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from libs.events.database import (
    READ_MODEL_SCHEMA,
    Connection,
    event_store_migrations,
    migrate,
    read_model_tracking,
)
from libs.events.store import ConcurrencyConflict, EventContext
from libs.infra.provision import BrokerHandle
from services.receivables.app import spec
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import Producer, Reader, eventually, running


async def test_append_and_load_with_own_projection_in_the_same_transaction(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    recorded = await producer.store.append(
        "tally-1",
        0,
        [tally.deposit("10.50", "first"), tally.deposit("0.25")],
        customer_id="c1",
        context=EventContext(correlation_id="req-1"),
    )
    assert [r.version for r in recorded] == [1, 2]
    loaded = await producer.store.load("tally-1")
    assert [r.event for r in loaded] == [r.event for r in recorded]
    assert loaded[0].correlation_id == "req-1"
    assert await tally.balances(producer.pool) == {"tally-1": (Decimal("10.75"), 2)}
    assert await producer.pool.fetchval("SELECT count(*) FROM outbox") == 2


async def test_a_failing_projection_stores_nothing(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:

    async def broken(conn, events):  # type: ignore[no-untyped-def]
        raise RuntimeError("projection bug")

    producer.store.projection = broken
    with pytest.raises(RuntimeError, match="projection bug"):
        await producer.store.append("tally-1", 0, [tally.deposit("1")], customer_id="c1")
    assert await producer.pool.fetchval("SELECT count(*) FROM events") == 0
    assert await producer.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_wrong_expected_version_is_a_typed_conflict(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    store = producer.store
    await store.append("s", 0, [tally.deposit("1")], customer_id="c")
    with pytest.raises(ConcurrencyConflict) as stale:
        await store.append("s", 0, [tally.deposit("2")], customer_id="c")
    assert stale.value.stream_id == "s"
    with pytest.raises(ConcurrencyConflict) as ahead:
        await store.append("s", 5, [tally.deposit("2")], customer_id="c")
    assert ahead.value.actual_version == 1
    assert [r.version for r in await store.load("s")] == [1]


async def test_an_event_stored_at_version_1_is_read_as_version_2(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    await producer.pool.execute(
        "INSERT INTO events (stream_id, version, event_id, event_type, schema_version, customer_id, topic, data,"
        " occurred_at) VALUES ('old', 1, $1, 'tally.Deposited', 1, 'c', $2, $3::jsonb, now())",
        uuid.uuid4(),
        producer.topic,
        json.dumps({"amount": "12.30"}),
    )
    [old] = await producer.store.load("old")
    assert isinstance(old.event, tally.Deposited)
    assert old.event.amount.amount == Decimal("12.30")
    assert old.event.amount.currency == "CNY"
    assert old.schema_version == 1  # stored as it was; read through the upcaster


async def test_eight_concurrent_writers_on_overlapping_streams(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer, reader: Reader
) -> None:
    streams = [f"acct-{i}" for i in range(5)]
    appended: dict[str, int] = defaultdict(int)
    conflicts = 0

    async def writer(seed: int) -> None:
        nonlocal conflicts
        rng = random.Random(seed)
        for _ in range(40):
            stream = rng.choice(streams)
            while True:
                version = await producer.store.current_version(stream)
                await asyncio.sleep(rng.random() / 1000)  # widen the race window
                try:
                    await producer.store.append(stream, version, [tally.deposit("1.01")], customer_id=f"cust-{stream}")
                    appended[stream] += 1
                    break
                except ConcurrencyConflict:
                    conflicts += 1

    async with running(producer.relay().run, reader.runner.run):
        await asyncio.gather(*(writer(seed) for seed in range(8)))
        await eventually(lambda: _count(reader.pool, 320), what="all events projected")

    assert sum(appended.values()) == 320
    assert conflicts > 0, "the writers never raced; the test proves nothing"
    for stream in streams:
        versions = [r.version for r in await producer.store.load(stream)]
        assert versions == list(range(1, appended[stream] + 1))
        delivered = [d.version for d in reader.seen if d.stream_id == stream]
        assert delivered == versions, f"{stream} reached the consumer out of order"
    assert await tally.balances(reader.pool) == await tally.expected_from_events(producer.pool)


async def _count(pool, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return int(await pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances")) >= expected


async def test_a_commit_group_keeps_each_appends_own_outcome(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    store = producer.store
    store.writers = 1
    await store.append("taken", 0, [tally.deposit("1")], customer_id="c")

    async def picky(conn, events):  # type: ignore[no-untyped-def]
        if any(getattr(e.event, "memo", "") == "refused" for e in events):
            raise RuntimeError("the projection refuses this memo")
        await tally.own_projection(conn, events)

    store.projection = picky
    outcomes = await asyncio.gather(
        store.append("a", 0, [tally.deposit("1"), tally.deposit("2")], customer_id="c"),
        store.append("taken", 0, [tally.deposit("3")], customer_id="c"),
        store.append("b", 0, [tally.deposit("4", "refused")], customer_id="c"),
        store.append("d", 0, [tally.deposit("5")], customer_id="c"),
        store.append("a", 2, [tally.deposit("6")], customer_id="c"),  # same stream: waits for the next group
        return_exceptions=True,
    )
    assert [r.version for r in outcomes[0]] == [1, 2]  # type: ignore[union-attr]
    assert isinstance(outcomes[1], ConcurrencyConflict)
    assert outcomes[1].actual_version == 1
    assert isinstance(outcomes[2], RuntimeError)
    assert [r.version for r in outcomes[3]] == [1]  # type: ignore[union-attr]
    assert [r.version for r in outcomes[4]] == [3]  # type: ignore[union-attr]
    assert await tally.balances(producer.pool) == {"taken": (Decimal(1), 1), "a": (Decimal(9), 3), "d": (Decimal(5), 1)}
    assert await producer.pool.fetchval("SELECT count(*) FROM events WHERE stream_id = 'b'") == 0


async def test_an_append_returns_only_once_committed(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    store = producer.store
    opened = store.transaction

    @contextlib.asynccontextmanager
    async def slow_to_commit() -> AsyncIterator[Connection]:
        async with opened() as conn:
            yield conn
            await asyncio.sleep(0.3)  # between the writes and the COMMIT

    store.transaction = slow_to_commit  # type: ignore[method-assign]
    for version in range(3):
        await store.append("s", version, [tally.deposit("1")], customer_id="c")
        seen = await producer.pool.fetchval("SELECT max(version) FROM events WHERE stream_id = 's'")
        assert seen == version + 1, "the append returned before its transaction committed"


async def test_replicas_starting_at_once_migrate_once(new_database: NewDatabase) -> None:
    dsn = await new_database()

    async def start() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            applied = await migrate(conn, "public", event_store_migrations())
            return applied + await migrate(conn, READ_MODEL_SCHEMA, [read_model_tracking(), *spec.read_model])
        finally:
            await conn.close()

    results = await asyncio.gather(*(start() for _ in range(4)))
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(set(applied))  # each migration once, by one of them
    assert len(applied) == len(event_store_migrations()) + 1 + len(spec.read_model)
