"""Poison messages: dead-lettered with the reason, the customer's later events held back,
everyone else flowing on, and a re-drive after the fix completing the customer's stream."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import asyncpg
from aiokafka import AIOKafkaProducer

from libs.events.consumer import Delivery
from libs.events.database import Connection
from libs.events.dead_letters import list_dead_letters, request_redrive
from libs.events.dead_letters import main as dead_letters_cli
from libs.events.envelope import header_map
from libs.events.kafka import dead_letter_topic
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import eventually, open_producer, open_reader, records_of, running


async def _dead_letter_topic(bootstrap: str, service: str) -> list[dict[str, str]]:
    return [
        header_map(r.headers) | {"key": (r.key or b"").decode()}
        for r in await records_of(bootstrap, dead_letter_topic(service))
    ]


async def test_poison_message_waits_for_a_fix_and_a_redrive(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.tally"
    service = f"{topic_prefix}reader"
    producer = await open_producer(await new_database(), broker.bootstrap_servers, topic)
    bug_fixed = False

    async def handler(conn: Connection, delivery: Delivery) -> None:
        if getattr(delivery.event, "memo", "") == "poison" and not bug_fixed:
            raise ValueError("memo 'poison' is not understood by this projection")
        await tally.project_delivery(conn, delivery)

    reader = await open_reader(
        await new_database(), broker.bootstrap_servers, topic, service=service, handler=handler, retry_backoff=0.01
    )
    store = producer.store
    await store.append("acct-a", 0, [tally.deposit("1")], customer_id="alice")
    await store.append("acct-a", 1, [tally.deposit("2", "poison")], customer_id="alice")
    await store.append("acct-a2", 0, [tally.deposit("4")], customer_id="alice")  # another stream, same customer
    await store.append("acct-a", 2, [tally.deposit("8")], customer_id="alice")
    for n in range(20):
        await store.append("acct-b", n, [tally.deposit("1")], customer_id="bob")

    async with running(producer.relay().run, reader.runner.run):
        await eventually(lambda: _balance(reader.pool, "acct-b", 20), what="bob's events applied")
        await eventually(lambda: _set_aside(reader.pool, 3), what="alice's dead letter and the two behind it")

        letters = await list_dead_letters(reader.pool)
        assert [(d.status, d.stream_id, d.stream_version) for d in letters] == [
            ("dead", "acct-a", 2),
            ("waiting", "acct-a2", 1),
            ("waiting", "acct-a", 3),
        ]
        assert "memo 'poison' is not understood" in letters[0].reason
        assert letters[0].attempts == 3
        assert await tally.balances(reader.pool) == {"acct-a": (Decimal(1), 1), "acct-b": (Decimal(20), 20)}, (
            "alice's later events overtook her dead letter"
        )

        await eventually(lambda: _dlq_has(broker.bootstrap_servers, service), what="the dlq topic entry")
        [entry] = await _dead_letter_topic(broker.bootstrap_servers, service)
        assert entry["key"] == "alice"
        assert (entry["ce_subject"], entry["ce_streamversion"]) == ("acct-a", "2")
        assert "memo 'poison' is not understood" in entry["dlq_reason"]
        assert entry["dlq_error_type"] == "ValueError"

        # Bob keeps flowing while alice waits.
        await store.append("acct-b", 20, [tally.deposit("1")], customer_id="bob")
        await eventually(lambda: _balance(reader.pool, "acct-b", 21))

        bug_fixed = True
        assert await request_redrive(reader.pool, customer_id="alice") == 1
        await eventually(lambda: _balance(reader.pool, "acct-a", 3), what="alice's stream completed")
        assert (await tally.balances(reader.pool))["acct-a2"] == (Decimal(4), 1)

        await store.append("acct-a", 3, [tally.deposit("16")], customer_id="alice")
        await eventually(lambda: _balance(reader.pool, "acct-a", 4), what="alice flows again")

    assert await tally.balances(reader.pool) == await tally.expected_from_events(producer.pool)
    assert await list_dead_letters(reader.pool) == []
    await producer.pool.close()
    await reader.pool.close()


async def test_unparseable_message_is_dead_lettered_with_its_reason(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.tally"
    service = f"{topic_prefix}reader"
    producer = await open_producer(await new_database(), broker.bootstrap_servers, topic)
    reader = await open_reader(await new_database(), broker.bootstrap_servers, topic, service=service)
    raw = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await raw.start()
    await raw.send_and_wait(
        topic,
        b"{not json",
        key=b"carol",
        headers=[("ce_id", str(uuid.uuid4()).encode()), ("ce_type", b"tally.Deposited")],
    )
    await raw.stop()
    await producer.store.append("acct-c", 0, [tally.deposit("5")], customer_id="carol")
    await producer.store.append("acct-d", 0, [tally.deposit("7")], customer_id="dave")

    async with running(producer.relay().run, reader.runner.run):
        await eventually(lambda: _balance(reader.pool, "acct-d", 1))
        await eventually(lambda: _set_aside(reader.pool, 2), what="carol's dead letter and the one behind it")
        await eventually(lambda: _dlq_has(broker.bootstrap_servers, service))
    [dead, waiting] = await list_dead_letters(reader.pool)
    assert (dead.status, dead.customer_id) == ("dead", "carol")
    assert "missing header ce_specversion" in dead.reason
    assert "missing header ce_subject" in dead.reason
    assert (waiting.status, waiting.stream_id) == ("waiting", "acct-c")
    [entry] = await _dead_letter_topic(broker.bootstrap_servers, service)
    assert "missing header ce_specversion" in entry["dlq_reason"]
    assert entry["dlq_error_type"] == "EnvelopeError"

    # The operator's command: listing works, and re-driving a message that is still broken
    # leaves it dead with its reason and the later one still waiting.
    assert await asyncio.to_thread(dead_letters_cli, ["list", "--database-url", reader.dsn]) == 0
    assert (
        await asyncio.to_thread(dead_letters_cli, ["redrive", "--database-url", reader.dsn, "--customer", "carol"]) == 0
    )
    async with running(reader.runner.run):
        await eventually(lambda: _status_is(reader.pool, dead.id, "dead"))
    assert [d.status for d in await list_dead_letters(reader.pool)] == ["dead", "waiting"]
    await producer.pool.close()
    await reader.pool.close()


async def _balance(pool: asyncpg.Pool, stream: str, applied: int) -> bool:
    return bool(await pool.fetchval("SELECT applied FROM balances WHERE stream_id = $1", stream) == applied)


async def _set_aside(pool: asyncpg.Pool, count: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM dead_letters WHERE status <> 'resolved'") == count)


async def _dlq_has(bootstrap: str, service: str) -> bool:
    return bool(await _dead_letter_topic(bootstrap, service))


async def _status_is(pool: asyncpg.Pool, dead_letter_id: int, status: str) -> bool:
    return bool(await pool.fetchval("SELECT status FROM dead_letters WHERE id = $1", dead_letter_id) == status)
