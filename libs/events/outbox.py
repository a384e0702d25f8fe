"""The outbox relay: publishes what the event store committed, in order, then forgets it.

One relay per service publishes, chosen by a Postgres advisory lock held on a dedicated
connection; the others stand by. It is woken by LISTEN/NOTIFY and polls as a fallback.
It reads whatever outbox rows exist, oldest first, rather than tailing a sequence, so a
row that commits late is published late but never skipped. Rows are deleted only after
the broker acknowledged them: a crash in between publishes them again, and consumers drop
the duplicates by stream version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from libs.events import metrics
from libs.events.database import advisory_key
from libs.events.envelope import Envelope, KafkaRecord, to_kafka
from libs.events.failpoints import failpoint
from libs.events.kafka import partition_for
from libs.events.store import OUTBOX_CHANNEL
from libs.events.waiting import rest

log = structlog.get_logger(__name__)

_PENDING = """
SELECT o.id, e.stream_id, e.version, e.event_id, e.event_type, e.schema_version, e.customer_id,
       e.topic, e.data::text AS data, e.occurred_at, e.correlation_id, e.causation_id, e.traceparent, e.actor
  FROM outbox o JOIN events e ON e.position = o.position
 ORDER BY o.id
 LIMIT $1
"""


def record_from_row(row: asyncpg.Record, source: str) -> KafkaRecord:
    envelope = Envelope(
        id=row["event_id"],
        source=source,
        type=row["event_type"],
        time=row["occurred_at"],
        subject=row["stream_id"],
        stream_version=row["version"],
        schema_version=row["schema_version"],
        customer_id=row["customer_id"],
        data={},
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        traceparent=row["traceparent"],
        actor=row["actor"],
    )
    return to_kafka(envelope, data_json=row["data"].encode())


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # Idempotent and transactional producers are not used: the embedded broker has neither,
    # and per-partition order holds because aiokafka keeps one request in flight per broker.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=2,
        max_batch_size=1 << 20,
        max_request_size=4 << 20,
        request_timeout_ms=30_000,
    )


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        bootstrap_servers: str,
        *,
        source: str,
        batch_size: int = 2000,
        poll_interval: float = 5.0,
        standby_interval: float = 2.0,
        vacuum_every: int = 10_000,
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.source = source
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        self.is_leader = False
        self.published = 0
        self.vacuum_every = vacuum_every
        self._deleted_since_vacuum = 0
        self._wake = asyncio.Event()
        self._partitions: dict[str, int] = {}
        self._producer: AIOKafkaProducer | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publish until ``stop`` is set; survive database and broker outages."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                async with self._leadership(stop) as leader:
                    if leader is None:
                        continue
                    async with self._producing():
                        while not stop.is_set() and not leader.is_closed():
                            await self.publish_pending()
                            await self._sleep(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("relay.database_unavailable", error=str(exc))
                await _wait(stop, self.standby_interval)
            except Exception as exc:  # noqa: BLE001 - broker errors come in many types
                log.warning("relay.publish_failed", error=repr(exc))
                await _wait(stop, self.standby_interval)

    @contextlib.asynccontextmanager
    async def _leadership(self, stop: asyncio.Event) -> AsyncIterator[asyncpg.Connection | None]:
        conn = await asyncpg.connect(self.dsn)
        try:
            key = advisory_key(f"relay:{self.source}")
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                await _wait(stop, self.standby_interval)
                yield None
                return
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
            self.is_leader = True
            metrics.RELAY_LEADER.set(1)
            log.info("relay.leading", source=self.source)
            yield conn
        finally:
            self.is_leader = False
            metrics.RELAY_LEADER.set(0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    @contextlib.asynccontextmanager
    async def _producing(self) -> AsyncIterator[AIOKafkaProducer]:
        producer = new_producer(self.bootstrap_servers)
        await producer.start()
        self._producer = producer
        try:
            yield producer
        finally:
            self._producer = None
            await producer.stop()

    async def _sleep(self, stop: asyncio.Event) -> None:
        await rest(self._wake, stop, self.poll_interval)  # the flag is cleared before each read of the outbox

    async def publish_pending(self) -> int:
        """Publish every row queued now, batch by batch; return how many were published."""
        if self._producer is None:
            async with self._producing():
                return await self.publish_pending()
        total = 0
        while True:
            self._wake.clear()
            rows = await self.pool.fetch(_PENDING, self.batch_size)
            metrics.RELAY_BACKLOG.set(len(rows))
            if not rows:
                return total
            await self._publish(rows)
            failpoint("relay.after_publish")
            await self.pool.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
            total += len(rows)
            self.published += len(rows)
            self._deleted_since_vacuum += len(rows)
            if self._deleted_since_vacuum >= self.vacuum_every:
                # The outbox churns: left to autovacuum, the dead rows slow every read of it.
                await self.pool.execute("VACUUM outbox")
                self._deleted_since_vacuum = 0
            if len(rows) < self.batch_size:
                metrics.RELAY_BACKLOG.set(0)
                return total

    async def _publish(self, rows: Sequence[asyncpg.Record]) -> None:
        assert self._producer is not None
        producer = self._producer
        by_partition: dict[tuple[str, int], list[KafkaRecord]] = defaultdict(list)
        for row in rows:
            record = record_from_row(row, self.source)
            topic = row["topic"]
            partitions = self._partitions.get(topic)
            if partitions is None:
                partitions = len(await producer.partitions_for(topic))
                self._partitions[topic] = partitions
            by_partition[(topic, partition_for(record.key, partitions))].append(record)
        deliveries = []
        for (topic, partition), records in by_partition.items():
            batch = producer.create_batch()
            for record in records:
                while batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers) is None:
                    deliveries.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*deliveries)
        for (topic, _), records in by_partition.items():
            metrics.RELAY_PUBLISHED.labels(topic).inc(len(records))


async def republish_history(pool: asyncpg.Pool) -> int:
    """Queue every stored event for publishing again, in position order.

    Used when the broker has lost its log. Consumers skip what they already applied.
    """
    async with pool.acquire() as conn:
        status = await conn.execute("INSERT INTO outbox (position) SELECT position FROM events ORDER BY position")
    return int(status.split()[-1])


async def _republish(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        queued = await republish_history(pool)
    finally:
        await pool.close()
    print(f"{queued} events queued for publishing again; the service's relay sends them")


def main(argv: list[str] | None = None) -> int:
    """python -m libs.events.outbox republish --database-url URL"""
    parser = argparse.ArgumentParser(
        prog="python -m libs.events.outbox",
        description="Re-publish a service's whole history after the broker lost it.",
    )
    parser.add_argument("command", choices=["republish"])
    parser.add_argument("--database-url", required=True, help="the service's database")
    args = parser.parse_args(argv)
    asyncio.run(_republish(args.database_url))
    return 0


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


if __name__ == "__main__":
    raise SystemExit(main())
