"""Wiring of the tally aggregate onto the real backbone, for integration tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from libs.events.consumer import ConsumerRunner, Delivery, Handler
from libs.events.database import Connection, create_pool, prepare_service_database
from libs.events.kafka import dead_letter_topic, ensure_topics
from libs.events.outbox import Relay
from libs.events.store import EventStore
from tests.support import tally


@dataclass
class Producer:
    """The service that owns the tally streams: its store, relay and topic."""

    dsn: str
    pool: asyncpg.Pool
    store: EventStore
    topic: str
    bootstrap: str

    def relay(self, **kwargs: Any) -> Relay:
        return Relay(self.pool, self.dsn, self.bootstrap, source=tally.SOURCE, poll_interval=0.2, **kwargs)


@dataclass
class Reader:
    """Another service that projects the tally topic into its own database."""

    dsn: str
    pool: asyncpg.Pool
    runner: ConsumerRunner
    seen: list[Delivery] = field(default_factory=list)


async def open_producer(dsn: str, bootstrap: str, topic: str) -> Producer:
    pool = await create_pool(dsn, max_size=12)
    async with pool.acquire() as conn:
        await prepare_service_database(conn, tally.READ_MODEL)
    await ensure_topics(bootstrap, [topic, dead_letter_topic(tally.SOURCE)])
    store = EventStore(pool, source=tally.SOURCE, topic=topic, registry=tally.registry, projection=tally.own_projection)
    return Producer(dsn, pool, store, topic, bootstrap)


async def open_reader(
    dsn: str,
    bootstrap: str,
    topic: str,
    *,
    service: str = "reader",
    name: str = "reader.balances",
    handler: Handler | None = None,
    **kwargs: Any,
) -> Reader:
    pool = await create_pool(dsn)
    async with pool.acquire() as conn:
        await prepare_service_database(conn, tally.READ_MODEL)
    await ensure_topics(bootstrap, [topic, dead_letter_topic(service)])
    seen: list[Delivery] = []

    async def record_and_project(conn: Connection, delivery: Delivery) -> None:
        await (handler or tally.project_delivery)(conn, delivery)
        seen.append(delivery)

    wrapped: Handler = record_and_project
    runner = ConsumerRunner(
        pool, bootstrap, name=name, service=service, topics=[topic], registry=tally.registry, handler=wrapped, **kwargs
    )
    return Reader(dsn, pool, runner, seen)


@contextlib.asynccontextmanager
async def running(*jobs: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> AsyncIterator[asyncio.Event]:
    """Run relays and consumers in the background for the duration of a block."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(job(stop)) for job in jobs]
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(0.05)


async def records_of(bootstrap: str, topic: str, rounds: int = 5) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the start of each partition, read outside any consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        found: list[ConsumerRecord[bytes, bytes]] = []
        for _ in range(rounds):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found += records
        return found
    finally:
        await consumer.stop()
