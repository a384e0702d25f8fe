"""Benchmark of the event backbone against its raw parts, measured side by side in one run.

    make bench            (or: python -m bench.backbone [--events N] [--seconds S])

Prints, on this machine: the raw limits (aiokafka produce and consume of the same payloads,
asyncpg batched inserts of the same rows, and the rows of an append written by hand, one
transaction an append), appends from 8 concurrent writers, the backbone
end to end (append -> outbox -> relay -> Kafka -> consumer -> projection), its lag at a
steady 1,000 events/s, and each figure's ratio to the raw limit. Servers come by the same
paths as the tests; the embedded PostgreSQL runs with its durable defaults (fsync on).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events.database import create_pool
from libs.events.envelope import Envelope, to_kafka
from libs.events.kafka import FETCH_MAX_WAIT_MS, ensure_topics, partition_for
from libs.events.outbox import new_producer
from libs.infra.provision import kafka_broker, postgres_server
from libs.service.logging import configure_logging
from tests.support import tally
from tests.support.backbone import Producer, eventually, open_producer, open_reader, running
from tests.support.processes import spawn

WRITERS = 8


@dataclass
class Figure:
    name: str
    rate: float  # per second
    unit: str
    note: str = ""


def _payload(n: int) -> Envelope:
    return Envelope(
        id=uuid.uuid4(),
        source="tally",
        type="tally.Deposited",
        time=datetime.now(UTC),
        subject=f"acct-{n % 1000}",
        stream_version=n // 1000 + 1,
        schema_version=2,
        customer_id=f"cust-{n % 1000}",
        data={"amount": {"amount": "12.34", "currency": "CNY"}, "memo": "benchmark"},
    )


async def raw_kafka(bootstrap: str, topic: str, count: int) -> tuple[Figure, Figure]:
    await ensure_topics(bootstrap, [topic])
    records = [to_kafka(_payload(n)) for n in range(count)]
    producer = new_producer(bootstrap)
    await producer.start()
    partitions = len(await producer.partitions_for(topic))
    started = time.perf_counter()
    by_partition: dict[int, list[int]] = {}
    for i, record in enumerate(records):
        by_partition.setdefault(partition_for(record.key, partitions), []).append(i)
    deliveries = []
    for partition, indexes in by_partition.items():
        batch = producer.create_batch()
        for i in indexes:
            r = records[i]
            while batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:
                deliveries.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
        deliveries.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*deliveries)
    produced = count / (time.perf_counter() - started)
    await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=FETCH_MAX_WAIT_MS, max_poll_records=500
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    started, seen = time.perf_counter(), 0
    while seen < count:
        for batch_records in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
            seen += len(batch_records)
    consumed = count / (time.perf_counter() - started)
    await consumer.stop()
    return Figure("raw: aiokafka produce (batch API)", produced, "msg/s"), Figure(
        "raw: aiokafka consume", consumed, "msg/s"
    )


async def raw_postgres(dsn: str, count: int) -> Figure:
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "CREATE TABLE raw_rows (stream_id text, version int, event_id uuid, data jsonb,"
        " PRIMARY KEY (stream_id, version))"
    )
    rows = [(f"acct-{n % 1000}", n // 1000 + 1, uuid.uuid4(), '{"amount": {"amount": "12.34"}}') for n in range(count)]
    started = time.perf_counter()
    for i in range(0, count, 500):
        chunk = rows[i : i + 500]
        await conn.execute(
            "INSERT INTO raw_rows SELECT * FROM unnest($1::text[], $2::int[], $3::uuid[], $4::jsonb[])",
            [r[0] for r in chunk],
            [r[1] for r in chunk],
            [r[2] for r in chunk],
            [r[3] for r in chunk],
        )
    rate = count / (time.perf_counter() - started)
    await conn.close()
    return Figure("raw: asyncpg batched inserts (500 rows/statement)", rate, "rows/s")


async def raw_appends(dsn: str, count: int) -> Figure:
    """What an append stores, written by hand: ``WRITERS`` writers, each append one transaction of
    the event row, its projection's row and its outbox row (no validation, no batching of writers)."""
    pool = await asyncpg.create_pool(dsn, min_size=WRITERS, max_size=WRITERS)
    await pool.execute(
        "CREATE TABLE raw_events (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text,"
        " version int, event_id uuid, event_type text, payload jsonb, UNIQUE (stream_id, version));"
        "CREATE TABLE raw_balances (stream_id text PRIMARY KEY, balance numeric NOT NULL, applied int NOT NULL);"
        "CREATE TABLE raw_outbox (position bigint PRIMARY KEY)"
    )
    payload = '{"amount": {"amount": "1.00", "currency": "CNY"}, "memo": ""}'
    per_writer = count // WRITERS

    async def writer(w: int) -> None:
        for n in range(per_writer):
            stream = f"r{w}-acct-{n % 50}"
            async with pool.acquire() as conn, conn.transaction():
                position = await conn.fetchval(
                    "INSERT INTO raw_events (stream_id, version, event_id, event_type, payload)"
                    " VALUES ($1, $2, $3, 'tally.Deposited', $4) RETURNING position",
                    stream,
                    n // 50 + 1,
                    uuid.uuid4(),
                    payload,
                )
                await conn.execute(
                    "INSERT INTO raw_balances VALUES ($1, 1.00, 1) ON CONFLICT (stream_id)"
                    " DO UPDATE SET balance = raw_balances.balance + 1.00, applied = raw_balances.applied + 1",
                    stream,
                )
                await conn.execute("INSERT INTO raw_outbox VALUES ($1)", position)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    rate = per_writer * WRITERS / (time.perf_counter() - started)
    await pool.close()
    return Figure(f"raw: the same rows by hand, one transaction an append, {WRITERS} writers", rate, "appends/s")


async def appends(producer: Producer, count: int, tag: str = "w") -> Figure:
    per_writer = count // WRITERS

    async def writer(w: int) -> None:
        for n in range(per_writer):
            await producer.store.append(
                f"{tag}{w}-acct-{n % 50}", n // 50, [tally.deposit("1.00")], customer_id=f"{tag}{w}-cust-{n % 50}"
            )

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    return Figure(
        f"appends, {WRITERS} concurrent writers (event + projection + outbox)",
        per_writer * WRITERS / (time.perf_counter() - started),
        "appends/s",
    )


async def _until_applied(pool: asyncpg.Pool, count: int) -> None:
    async def enough() -> bool:
        return int(await pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances")) >= count

    await eventually(enough, within=600, what=f"{count} events projected")


@contextlib.asynccontextmanager
async def consumer_process(reader_dsn: str, bootstrap: str, topic: str) -> AsyncIterator[None]:
    """The consuming service runs as its own process, as it does in production."""
    process = spawn("timed-consumer", reader_dsn, bootstrap, topic)
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)


async def end_to_end(producer: Producer, reader_pool: asyncpg.Pool, count: int) -> Figure:
    """Writers append as fast as they can while the relay publishes and the consumer projects."""
    already = int(await reader_pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances"))
    per_writer = count // WRITERS
    started = time.perf_counter()

    async def writer(w: int) -> None:
        for n in range(per_writer):
            await producer.store.append(
                f"e{w}-acct-{n % 50}", n // 50, [tally.deposit("1.00")], customer_id=f"e{w}-cust-{n % 50}"
            )

    async with running(producer.relay().run):
        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        await _until_applied(reader_pool, already + per_writer * WRITERS)
    return Figure(
        "backbone end to end (append -> relay -> Kafka -> consumer -> projection)",
        per_writer * WRITERS / (time.perf_counter() - started),
        "events/s",
    )


async def drain(producer: Producer, reader_pool: asyncpg.Pool, count: int) -> Figure:
    """The pipeline alone: a backlog already appended, through relay, Kafka and consumer."""
    already = int(await reader_pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances"))
    for start in range(0, count, 1000):
        await asyncio.gather(
            *(
                producer.store.append(f"d-acct-{n}", 0, [tally.deposit("1.00")], customer_id=f"d-cust-{n % 997}")
                for n in range(start, min(start + 1000, count))
            )
        )
    started = time.perf_counter()
    async with running(producer.relay().run):
        await _until_applied(reader_pool, already + count)
    return Figure(
        "pipeline: outbox backlog -> relay -> Kafka -> consumer -> projection",
        count / (time.perf_counter() - started),
        "events/s",
    )


async def lag_at_steady_rate(
    producer: Producer, reader_pool: asyncpg.Pool, rate: int, seconds: float
) -> tuple[float, float, int]:
    total = int(rate * seconds)
    pending: list[asyncio.Future[object]] = []
    already = int(await reader_pool.fetchval("SELECT count(*) FROM projected_at"))
    async with running(producer.relay().run):
        await asyncio.sleep(1.0)  # both idle and waiting
        started = time.perf_counter()
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(
                asyncio.ensure_future(
                    producer.store.append(f"s-acct-{n}", 0, [tally.deposit("1.00")], customer_id=f"s-cust-{n % 500}")
                )
            )
        await asyncio.gather(*pending)

        async def all_timed() -> bool:
            return int(await reader_pool.fetchval("SELECT count(*) FROM projected_at")) >= already + total

        await eventually(all_timed, within=120)
    lags = sorted(
        r["ms"]
        for r in await reader_pool.fetch(
            "SELECT extract(epoch FROM projected_at - occurred_at) * 1000 AS ms FROM projected_at"
            " ORDER BY projected_at DESC LIMIT $1",
            total,
        )
    )
    return float(statistics.median(lags)), float(lags[int(len(lags) * 0.99) - 1]), total


@contextlib.contextmanager
def _infra() -> Iterator[tuple[str, str]]:
    with (
        tempfile.TemporaryDirectory(prefix="credo-bench-") as tmp,
        postgres_server(Path(tmp), durable=True) as pg,
        kafka_broker(Path(tmp)) as broker,
    ):
        yield pg.url, broker.bootstrap_servers


async def _database(server: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return server.rsplit("/", 1)[0] + f"/{name}"


@dataclass(frozen=True)
class Backbone:
    producer: Producer  # its event store, outbox and relay
    reader_pool: asyncpg.Pool  # the consuming service's database
    reader_dsn: str
    bootstrap: str
    topic: str


@contextlib.asynccontextmanager
async def backbone(server: str, bootstrap: str) -> AsyncIterator[Backbone]:
    """A writing service's store and relay, and the database of a service consuming what it publishes."""
    topic = f"bench-{uuid.uuid4().hex[:6]}.tally"
    producer = await open_producer(await _database(server), bootstrap, topic)
    reader_dsn = await _database(server)
    reader = await open_reader(reader_dsn, bootstrap, topic)  # prepares its database
    await reader.pool.close()
    reader_pool = await create_pool(reader_dsn)
    try:
        yield Backbone(producer, reader_pool, reader_dsn, bootstrap, topic)
    finally:
        await producer.pool.close()
        await reader_pool.close()


async def appends_then_end_to_end(parts: Backbone, events: int) -> tuple[Figure, Figure]:
    """Appends alone (their outbox then drained), then the backbone end to end with writers."""
    append = await appends(parts.producer, events)
    async with consumer_process(parts.reader_dsn, parts.bootstrap, parts.topic):
        async with running(parts.producer.relay().run):  # drain what the appends queued
            await _until_applied(parts.reader_pool, events // WRITERS * WRITERS)
        return append, await end_to_end(parts.producer, parts.reader_pool, events)


async def main(events: int, seconds: float) -> None:
    with _infra() as (server, bootstrap):
        print(f"PostgreSQL {server.split('@')[-1]}, broker {bootstrap}; {events} events per run\n", flush=True)
        produce, consume = await raw_kafka(bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}", events)
        insert = await raw_postgres(await _database(server), events)
        by_hand = await raw_appends(await _database(server), events)
        async with backbone(server, bootstrap) as parts:
            append, e2e = await appends_then_end_to_end(parts, events)
            async with consumer_process(parts.reader_dsn, bootstrap, parts.topic):
                pipeline = await drain(parts.producer, parts.reader_pool, events)
                p50, p99, steady = await lag_at_steady_rate(parts.producer, parts.reader_pool, 1000, seconds)

        raw_pipeline = min(by_hand.rate, produce.rate, consume.rate)
        rows = [
            (produce, None),
            (consume, None),
            (insert, None),
            (by_hand, None),
            (append, by_hand.rate),
            (e2e, raw_pipeline),
            (pipeline, raw_pipeline),
        ]
        width = max(len(f.name) for f, _ in rows)
        print(f"{'figure':<{width}}  {'rate':>12}  unit       ratio to raw limit")
        for figure, limit in rows:
            ratio = f"{figure.rate / limit:6.1%} of {limit:,.0f}" if limit else ""
            print(f"{figure.name:<{width}}  {figure.rate:>12,.0f}  {figure.unit:<9}  {ratio}")
        print(
            f"\nappend -> projected lag at a steady 1,000 events/s over {steady} events:"
            f" p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        print(
            "(raw limit of appends: the same rows by hand, one transaction an append; of the backbone:"
            " the slowest of that, raw produce and raw consume)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the steady-rate lag run")
    args = parser.parse_args()
    configure_logging("warning")
    uvloop.run(main(args.events, args.seconds))
