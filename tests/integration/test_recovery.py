"""Crashes at the worst moments, and a broker that comes back empty."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from libs.events.kafka import ensure_topics
from libs.events.outbox import republish_history
from libs.infra.embedded import TansuBroker
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import Producer, Reader, eventually, open_producer, open_reader, running
from tests.support.processes import CONSUMER_NAME, spawn


async def _append_many(producer: Producer, customers: int, per_customer: int) -> None:
    for round_ in range(per_customer):
        await asyncio.gather(
            *(
                producer.store.append(
                    f"acct-{c}", round_, [tally.deposit(f"{c}.{round_:02d}")], customer_id=f"cust-{c}"
                )
                for c in range(customers)
            )
        )


async def _wait_exit(process: subprocess.Popen[bytes], within: float = 60) -> int:
    deadline = asyncio.get_running_loop().time() + within
    while process.poll() is None:
        if asyncio.get_running_loop().time() > deadline:
            process.kill()
            raise AssertionError("the process did not reach its failpoint")
        await asyncio.sleep(0.05)
    return process.returncode


async def _counter(pool, name: str) -> int:  # type: ignore[no-untyped-def]
    value = await pool.fetchval(
        "SELECT value FROM tracking_counters WHERE consumer = $1 AND counter = $2", CONSUMER_NAME, name
    )
    return int(value or 0)


async def test_relay_killed_between_publishing_and_forgetting(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer, reader: Reader
) -> None:
    await _append_many(producer, customers=20, per_customer=50)

    crashed = spawn("relay", producer.dsn, broker.bootstrap_servers, env={"CREDO_FAILPOINTS": "relay.after_publish"})
    assert await _wait_exit(crashed) == -signal.SIGKILL
    assert await producer.pool.fetchval("SELECT count(*) FROM outbox") == 1000, "the crash forgot published rows"

    async with running(producer.relay().run, reader.runner.run):
        await eventually(lambda: _all_applied(reader.pool, 1000), what="every event projected")
        await eventually(lambda: _outbox_empty(producer))

    assert await tally.balances(reader.pool) == await tally.expected_from_events(producer.pool)
    assert await _counter(reader.pool, "duplicate") == 250, "the re-published batch was not recognised"


async def test_consumer_killed_right_after_its_database_commit(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    topic = producer.topic
    reader = await open_reader(await new_database(), broker.bootstrap_servers, topic, batch_size=100)
    await _append_many(producer, customers=10, per_customer=30)
    async with running(producer.relay().run):
        await eventually(lambda: _outbox_empty(producer))

    crashed = spawn(
        "consumer", reader.dsn, broker.bootstrap_servers, topic, env={"CREDO_FAILPOINTS": "consumer.after_db_commit"}
    )
    assert await _wait_exit(crashed) == -signal.SIGKILL
    committed = int(await reader.pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances"))
    assert 0 < committed < 300, "the consumer should have died after exactly one committed batch"

    async with running(reader.runner.run):
        await eventually(lambda: _all_applied(reader.pool, 300), what="every event projected")
    assert await tally.balances(reader.pool) == await tally.expected_from_events(producer.pool)
    assert await _counter(reader.pool, "duplicate") == 0  # resumed from the stored offset, nothing re-read
    await reader.pool.close()


async def test_relay_killed_at_random_moments_while_writers_append(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer, reader: Reader
) -> None:
    writing = asyncio.create_task(_append_many(producer, customers=10, per_customer=60))
    async with running(reader.runner.run):
        for delay in (0.3, 0.5, 0.2, 0.4):
            relay = spawn("relay", producer.dsn, broker.bootstrap_servers)
            await asyncio.sleep(delay)
            relay.send_signal(signal.SIGKILL)
            relay.wait()
        await writing
        async with running(producer.relay().run):
            await eventually(lambda: _all_applied(reader.pool, 600), what="every event projected")
    assert await tally.balances(reader.pool) == await tally.expected_from_events(producer.pool)


async def test_broker_restarted_empty_while_the_consumer_runs(new_database: NewDatabase, topic_prefix: str) -> None:
    own = TansuBroker()
    own.start()
    try:
        topic = f"{topic_prefix}.tally"
        producer = await open_producer(await new_database(), own.bootstrap_servers, topic)
        reader = await open_reader(await new_database(), own.bootstrap_servers, topic)
        await _append_many(producer, customers=8, per_customer=25)
        with structlog.testing.capture_logs() as logs:
            async with running(reader.runner.run):
                async with running(producer.relay().run):
                    await eventually(lambda: _all_applied(reader.pool, 200))
                before = await tally.balances(reader.pool)

                own.stop()
                own.start()  # same port, empty log
                await ensure_topics(own.bootstrap_servers, [topic])
                await eventually(lambda: _saying(logs, "consumer.broker_log_lost"), what="the loss noticed")
                assert await republish_history(producer.pool) == 200
                await _append_many_more(producer)
                async with running(producer.relay().run):
                    await eventually(lambda: _all_applied(reader.pool, 208), what="history re-published")
        after = await tally.balances(reader.pool)
        assert after == await tally.expected_from_events(producer.pool)
        assert {k: v for k, v in after.items() if k in before} != before  # the new deposits landed
        assert all(after[k][1] == before[k][1] + 1 for k in before)  # and nothing was applied twice
        await producer.pool.close()
        await reader.pool.close()
    finally:
        own.stop()


async def test_broker_restarted_empty_while_everything_was_down(new_database: NewDatabase, topic_prefix: str) -> None:
    own = TansuBroker()
    own.start()
    try:
        topic = f"{topic_prefix}.tally"
        producer = await open_producer(await new_database(), own.bootstrap_servers, topic)
        reader = await open_reader(await new_database(), own.bootstrap_servers, topic)
        await _append_many(producer, customers=8, per_customer=25)
        async with running(producer.relay().run, reader.runner.run):
            await eventually(lambda: _all_applied(reader.pool, 200))
        before = await tally.balances(reader.pool)

        own.stop()
        own.start()
        await ensure_topics(own.bootstrap_servers, [topic])
        # New events reach the new log first, then the whole history follows them: the
        # stored offsets now point into a different log of about the same length.
        await _append_many_more(producer)
        async with running(producer.relay().run):
            await eventually(lambda: _outbox_empty(producer))
            await republish_history(producer.pool)
            await eventually(lambda: _outbox_empty(producer))
        with structlog.testing.capture_logs() as logs:
            async with running(reader.runner.run):
                await eventually(lambda: _all_applied(reader.pool, 208), what="read model caught up")
        assert _said(logs, "consumer.broker_log_lost")
        after = await tally.balances(reader.pool)
        assert after == await tally.expected_from_events(producer.pool)
        assert all(after[k][1] == before[k][1] + 1 for k in before)
        await producer.pool.close()
        await reader.pool.close()
    finally:
        own.stop()


async def _append_many_more(producer: Producer) -> None:
    for c in range(8):
        version = await producer.store.current_version(f"acct-{c}")
        await producer.store.append(f"acct-{c}", version, [tally.deposit("1000")], customer_id=f"cust-{c}")


def _said(logs: Sequence[Mapping[str, Any]], event: str) -> bool:
    return any(entry.get("event") == event for entry in logs)


async def _saying(logs: Sequence[Mapping[str, Any]], event: str) -> bool:
    return _said(logs, event)


async def _all_applied(pool, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return int(await pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances")) >= expected


async def _outbox_empty(producer: Producer) -> bool:
    return int(await producer.pool.fetchval("SELECT count(*) FROM outbox")) == 0
