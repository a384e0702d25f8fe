"""The consumer runner: applies topic messages to a read model exactly once.

- Offsets live in the consumer's own database, written in the same transaction as the
  projection's writes; on assignment the consumer seeks to them (Kafka commits are only
  informational). New consumers start from the earliest offset.
- Duplicates (a relay re-publishing after a crash) are dropped by per-stream version; a
  version gap is logged and counted, never hidden.
- A message that cannot be parsed, or whose handler still fails after bounded retries, is
  dead-lettered: recorded in the database and copied to ``<service>.dlq`` with the reason
  in its headers. Later messages of the same customer wait behind it, parked in the
  database, while other customers flow on; a re-drive applies them in their order.
- When the broker has lost or replaced its log (a stored offset beyond the end of a
  partition, or a different event at the stored position), the consumer says so loudly
  and re-reads the partition from its start, skipping what it already applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from libs.events import metrics
from libs.events.contracts import DomainEvent, EventDecodeError, EventRegistry, UnknownEventType
from libs.events.database import Connection
from libs.events.envelope import Envelope, EnvelopeError, from_kafka
from libs.events.failpoints import failpoint
from libs.events.kafka import FETCH_MAX_WAIT_MS, dead_letter_topic
from libs.events.outbox import new_producer

log = structlog.get_logger(__name__)


# Failures of the infrastructure, not of the message: never dead-letter for these.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    KafkaError,
)


@dataclass(frozen=True)
class Delivery:
    """One event as a consumer receives it."""

    topic: str
    partition: int
    offset: int
    envelope: Envelope
    event: DomainEvent

    @property
    def customer_id(self) -> str:
        return self.envelope.customer_id

    @property
    def stream_id(self) -> str:
        return self.envelope.subject

    @property
    def version(self) -> int:
        return self.envelope.stream_version


Handler = Callable[[Connection, Delivery], Awaitable[None]]
# A handler that takes a batch in order, so a projection can write it in few round trips.
BatchHandler = Callable[[Connection, Sequence[Delivery]], Awaitable[None]]


@dataclass(frozen=True)
class Message:
    """A raw record and what parsing it gave: a delivery, or the reason it is unusable."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    delivery: Delivery | None
    error: str | None
    error_type: str | None

    @property
    def customer_id(self) -> str | None:
        if self.delivery is not None:
            return self.delivery.customer_id
        return self.key.decode("utf-8", errors="replace") if self.key else None

    @property
    def event_id(self) -> str | None:
        return str(self.delivery.envelope.id) if self.delivery else _header(self.headers, "ce_id")


def parse(
    registry: EventRegistry,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
) -> Message:
    headers = tuple(headers or ())
    try:
        envelope = from_kafka(key, value, headers)
        event = registry.decode(envelope.type, envelope.schema_version, envelope.data)
    except (EnvelopeError, EventDecodeError, UnknownEventType) as exc:
        return Message(topic, partition, offset, key, value, headers, None, str(exc), type(exc).__name__)
    delivery = Delivery(topic, partition, offset, envelope, event)
    return Message(topic, partition, offset, key, value, headers, delivery, None, None)


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for n, v in headers:
        if n == name and v is not None:
            return v.decode("utf-8", errors="replace")
    return None


class HandlerFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass
class _Batch:
    """What one transaction changed, applied to memory only after it commits."""

    versions: dict[str, int]
    changed: set[str]
    blocked: set[str]
    outcomes: Tally[str]
    dead_letters: int = 0


class ConsumerRunner:
    """Runs one named consumer (a read model or a reaction) over some topics."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        *,
        name: str,
        service: str,
        topics: Sequence[str],
        registry: EventRegistry,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        group: bool = False,
        batch_size: int = 500,
        attempts: int = 3,
        retry_backoff: float = 0.05,
        housekeeping_interval: float = 1.0,
        dead_letters_to: str | None = None,
        revisions_supersede: bool = False,
    ) -> None:
        self.pool = pool
        self.bootstrap_servers = bootstrap_servers
        self.name = name
        self.service = service
        self.dead_letters_to = dead_letters_to or dead_letter_topic(service)
        self.topics = list(topics)
        self.registry = registry
        if (handler is None) == (batch_handler is None):
            raise ValueError("give a consumer exactly one of handler and batch_handler")
        self.handler = handler
        self.batch_handler = batch_handler
        self.group = group
        self.batch_size = batch_size
        self.attempts = attempts
        self.retry_backoff = retry_backoff
        self.housekeeping_interval = housekeeping_interval
        # Each stream is a document and each version a whole revision of it (the ERP's topics): a
        # later revision of a dead-lettered document supersedes the dead letter.
        self.revisions_supersede = revisions_supersede
        self.assigned: set[TopicPartition] = set()
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._verify: dict[TopicPartition, tuple[int, str | None]] = {}
        self._blocked: set[str] = set()
        self._last_housekeeping = 0.0

    # -- lifecycle -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set; after an outage, resume from the stored offsets."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self._session(stop)
            except INFRASTRUCTURE_ERRORS as exc:
                log.warning("consumer.outage", consumer=self.name, error=repr(exc))
            except Exception:
                # Never die quietly: the stored offsets make a fresh session safe.
                log.exception("consumer.crashed", consumer=self.name, action="restarting from the stored offsets")
            else:
                continue
            self.ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def catch_up(self) -> None:
        """Apply everything the broker holds now, then return (for rebuilds and tools)."""
        await self._session(asyncio.Event(), until_caught_up=True)

    async def _session(self, stop: asyncio.Event, *, until_caught_up: bool = False) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.name if self.group else None,
            enable_auto_commit=False,
            auto_offset_reset="none",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            max_poll_records=self.batch_size,
        )
        producer = new_producer(self.bootstrap_servers)
        await consumer.start()
        await producer.start()
        self._consumer, self._producer = consumer, producer
        try:
            if self.group:
                consumer.subscribe(self.topics, listener=_Rebalance(self))
            else:
                await self._assign_statically(consumer)
            await self._publish_dead_letters()
            quiet_polls = 0
            while not stop.is_set():
                got = await self._poll_once(consumer)
                if until_caught_up:
                    quiet_polls = 0 if got else quiet_polls + 1
                    if quiet_polls >= 2 and await self._at_end(consumer):
                        await self._publish_dead_letters()
                        return
        finally:
            self.ready.clear()
            self._consumer = self._producer = None
            await consumer.stop()
            await producer.stop()

    async def _assign_statically(self, consumer: AIOKafkaConsumer) -> None:
        await consumer.topics()  # loads metadata for every topic
        partitions = []
        for topic in self.topics:
            found = consumer.partitions_for_topic(topic)
            if not found:
                raise KafkaError(f"topic {topic} does not exist")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        await self.on_assigned(partitions)

    async def on_assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Seek to the stored offsets, checking that the broker still holds that log."""
        consumer = self._consumer
        assert consumer is not None
        self.assigned = set(partitions)
        if not partitions:
            self.ready.set()
            return
        rows = await self.pool.fetch(
            "SELECT topic, partition, next_offset, last_event_id FROM consumer_positions WHERE consumer = $1",
            self.name,
        )
        stored = {TopicPartition(r["topic"], r["partition"]): r for r in rows}
        begins = await consumer.beginning_offsets(list(partitions))
        self._verify.clear()
        for tp in partitions:
            row = stored.get(tp)
            if row is None or row["next_offset"] <= begins[tp]:
                consumer.seek(tp, begins[tp])
            else:
                # Re-read the last message applied: finding it proves the broker still holds
                # the log the stored offset refers to (see _verified and _check_log).
                consumer.seek(tp, row["next_offset"] - 1)
                self._verify[tp] = (row["next_offset"] - 1, row["last_event_id"])
        self._blocked = {
            r["customer_id"]
            for r in await self.pool.fetch(
                "SELECT DISTINCT customer_id FROM dead_letters"
                " WHERE consumer = $1 AND status IN ('dead', 'waiting', 'redrive') AND customer_id IS NOT NULL",
                self.name,
            )
        }
        self.ready.set()
        log.info("consumer.assigned", consumer=self.name, partitions=len(partitions), blocked=len(self._blocked))

    async def _reset(self, tp: TopicPartition, why: str, begin: int) -> None:
        log.error(
            "consumer.broker_log_lost",
            consumer=self.name,
            topic=tp.topic,
            partition=tp.partition,
            reason=why,
            action="re-reading the partition from its start; events already applied are skipped",
        )
        metrics.LOG_RESETS.labels(self.name, tp.topic).inc()
        assert self._consumer is not None
        self._consumer.seek(tp, begin)
        self._verify.pop(tp, None)

    # -- the loop --------------------------------------------------------------------

    async def _at_end(self, consumer: AIOKafkaConsumer) -> bool:
        for tp in self.assigned:
            highwater = consumer.highwater(tp)
            if highwater is not None and await consumer.position(tp) < highwater:
                return False
        return not self._verify

    async def _poll_once(self, consumer: AIOKafkaConsumer) -> int:
        """One fetch and what follows from it; returns how many records arrived."""
        try:
            batches = await consumer.getmany(timeout_ms=200, max_records=self.batch_size)
        except OffsetOutOfRangeError as exc:
            positions: dict[TopicPartition, int] = exc.args[0] if exc.args else {}
            begins = await consumer.beginning_offsets(list(positions))
            for tp, offset in positions.items():
                await self._reset(tp, f"offset {offset} is out of range", begins[tp])
            return 0
        await self._check_unverified(consumer, batches)
        messages: list[Message] = []
        for tp, records in batches.items():
            messages += [
                parse(self.registry, r.topic, r.partition, r.offset, r.key, r.value, r.headers)
                for r in await self._verified_or_reset(tp, records)
            ]
        if messages:
            await self._process(messages)
        for tp, records in batches.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                    max(0, highwater - records[-1].offset - 1)
                )
        if time.monotonic() - self._last_housekeeping >= self.housekeeping_interval:
            self._last_housekeeping = time.monotonic()
            await self._redrive_requested()
            await self._publish_dead_letters()
            if not batches:
                await self._check_log(consumer)
        return sum(len(records) for records in batches.values())

    # The high watermark of the last fetch is the end of the log; ListOffsets is not relied
    # on, since the embedded broker answers it with the start of its last batch.

    async def _check_unverified(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, Any]) -> None:
        for tp, (offset, _) in list(self._verify.items()):
            highwater = consumer.highwater(tp)
            if tp not in batches and highwater is not None and highwater <= offset:
                begins = await consumer.beginning_offsets([tp])
                await self._reset(tp, f"stored offset {offset + 1} is beyond the end {highwater}", begins[tp])

    async def _check_log(self, consumer: AIOKafkaConsumer) -> None:
        """A broker that restarted empty answers fetches beyond its end with nothing: notice it."""
        for tp in list(self.assigned):
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position > highwater:
                begins = await consumer.beginning_offsets([tp])
                await self._reset(tp, f"position {position} is beyond the end {highwater}", begins[tp])

    def _verified(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]) -> list[ConsumerRecord[Any, Any]]:
        expected = self._verify.pop(tp, None)
        if expected is None or not records:
            return records
        offset, event_id = expected
        first = records[0]
        if first.offset == offset and _header(first.headers, "ce_id") == event_id:
            return records[1:]  # the last message applied: the broker holds the log we read
        raise _LogReplaced(tp, f"offset {offset} holds {_header(first.headers, 'ce_id')}, not {event_id}")

    async def _verified_or_reset(
        self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]
    ) -> list[ConsumerRecord[Any, Any]]:
        try:
            return self._verified(tp, records)
        except _LogReplaced as replaced:
            assert self._consumer is not None
            begins = await self._consumer.beginning_offsets([tp])
            await self._reset(tp, replaced.reason, begins[tp])
            return []

    async def _process(self, messages: Sequence[Message]) -> None:
        """Everything one fetch brought, from all partitions, in one transaction; if the
        handler fails, message by message so that only the poison is set aside."""
        try:
            await self._apply_together(messages)
        except HandlerFailed as failed:
            log.info("consumer.batch_failed", consumer=self.name, first_offset=messages[0].offset, error=str(failed))
            for message in messages:
                await self._apply_alone(message)

    async def _apply_together(self, messages: Sequence[Message]) -> None:
        """The fast path: the whole batch and its offsets in one transaction."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                batch = await self._begin(conn, messages)
                await self._apply(conn, messages, batch)
                await self._finish(conn, _last_of_each_partition(messages), batch)
            self._committed(batch)

    async def _apply_alone(self, message: Message) -> None:
        """The slow path: one message per transaction, bounded retries, then dead-letter."""
        failure: HandlerFailed | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                async with self.pool.acquire() as conn:
                    async with conn.transaction():
                        batch = await self._begin(conn, [message])
                        await self._apply(conn, [message], batch)
                        await self._finish(conn, [message], batch)
                    self._committed(batch)
                return
            except HandlerFailed as failed:
                failure = failed
                await asyncio.sleep(self.retry_backoff * attempt)
        assert failure is not None
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                batch = await self._begin(conn, [message])
                await self._dead_letter(conn, message, batch, str(failure), type(failure.cause).__name__)
                await self._finish(conn, [message], batch)
            self._committed(batch)

    async def _begin(self, conn: Connection, messages: Sequence[Message]) -> _Batch:
        streams = list({m.delivery.stream_id for m in messages if m.delivery is not None})
        rows = await conn.fetch(
            "SELECT stream_id, last_version FROM stream_positions WHERE consumer = $1 AND stream_id = ANY($2::text[])",
            self.name,
            streams,
        )
        return _Batch({r["stream_id"]: r["last_version"] for r in rows}, set(), set(), Tally())

    async def _apply(
        self, conn: Connection, messages: Sequence[Message], batch: _Batch, *, redrive: bool = False
    ) -> None:
        """Sort the messages into dead letters, parked, duplicates and new events, then
        hand the new events to the handler. Raises ``HandlerFailed`` if the handler fails."""
        fresh: list[Delivery] = []
        for message in messages:
            delivery = await self._admit(conn, message, batch, redrive=redrive)
            if delivery is not None:
                fresh.append(delivery)
        if not fresh:
            return
        try:
            if self.batch_handler is not None:
                await self.batch_handler(conn, fresh)
                for delivery in fresh:
                    self._log_applied(delivery)
            else:
                assert self.handler is not None
                for delivery in fresh:
                    with structlog.contextvars.bound_contextvars(
                        correlation_id=delivery.envelope.correlation_id,
                        causation_id=str(delivery.envelope.id),
                        traceparent=delivery.envelope.traceparent,
                        actor=delivery.envelope.actor or delivery.envelope.source,
                    ):
                        await self.handler(conn, delivery)
                    self._log_applied(delivery)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            raise HandlerFailed(exc) from exc
        batch.changed.update(d.stream_id for d in fresh)
        batch.outcomes["applied"] += len(fresh)

    def _log_applied(self, delivery: Delivery) -> None:
        # One line per event, so a request can be followed into every service it reached.
        log.info(
            "consumer.applied",
            consumer=self.name,
            event_type=delivery.envelope.type,
            stream_id=delivery.stream_id,
            version=delivery.version,
            correlation_id=delivery.envelope.correlation_id,
            causation_id=str(delivery.envelope.id),
        )

    async def _admit(self, conn: Connection, message: Message, batch: _Batch, *, redrive: bool) -> Delivery | None:
        """The delivery if it is new and may be applied now; else record why not."""
        customer = message.customer_id
        if message.delivery is None:
            await self._dead_letter(
                conn, message, batch, message.error or "unparseable", message.error_type or "EnvelopeError"
            )
            return None
        if not redrive and customer is not None and (customer in self._blocked or customer in batch.blocked):
            await self._park(conn, message)
            batch.outcomes["parked"] += 1
            if self.revisions_supersede and await supersede(conn, self.name, message):
                self._publish_soon()  # the waiting ones, this revision among them, are re-driven next
            return None
        delivery = message.delivery
        last = batch.versions.get(delivery.stream_id, 0)
        if delivery.version <= last:
            batch.outcomes["duplicate"] += 1
            return None
        if delivery.version > last + 1:
            batch.outcomes["gap"] += 1
            log.warning(
                "consumer.version_gap",
                consumer=self.name,
                stream_id=delivery.stream_id,
                expected=last + 1,
                received=delivery.version,
                topic=message.topic,
                offset=message.offset,
            )
        batch.versions[delivery.stream_id] = delivery.version
        return delivery

    async def _finish(self, conn: Connection, lasts: Sequence[Message], batch: _Batch) -> None:
        """Record what the transaction applied: stream versions, the offset reached, counters."""
        if batch.changed:
            streams = sorted(batch.changed)
            await conn.execute(
                "INSERT INTO stream_positions (consumer, stream_id, last_version)"
                " SELECT $1, s, v FROM unnest($2::text[], $3::int[]) AS t(s, v)"
                " ON CONFLICT (consumer, stream_id) DO UPDATE SET last_version = excluded.last_version",
                self.name,
                streams,
                [batch.versions[s] for s in streams],
            )
        if lasts:
            await conn.execute(
                "INSERT INTO consumer_positions (consumer, topic, partition, next_offset, last_event_id)"
                " SELECT $1, t, p, o, e FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[]) AS x(t, p, o, e)"
                " ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = excluded.next_offset,"
                " last_event_id = excluded.last_event_id, updated_at = now()",
                self.name,
                [m.topic for m in lasts],
                [m.partition for m in lasts],
                [m.offset + 1 for m in lasts],
                [m.event_id for m in lasts],
            )
        counted = {k: v for k, v in batch.outcomes.items() if k in ("gap", "duplicate") and v}
        if counted:
            await conn.execute(
                "INSERT INTO tracking_counters (consumer, counter, value)"
                " SELECT $1, c, v FROM unnest($2::text[], $3::bigint[]) AS t(c, v)"
                " ON CONFLICT (consumer, counter) DO UPDATE SET value = tracking_counters.value + excluded.value",
                self.name,
                list(counted),
                list(counted.values()),
            )

    def _committed(self, batch: _Batch) -> None:
        failpoint("consumer.after_db_commit")
        self._blocked |= batch.blocked
        for outcome, count in batch.outcomes.items():
            metrics.CONSUMED.labels(self.name, outcome).inc(count)
        if batch.outcomes["gap"]:
            metrics.VERSION_GAPS.labels(self.name).inc(batch.outcomes["gap"])
        if batch.dead_letters:
            metrics.DEAD_LETTERS.labels(self.name).inc(batch.dead_letters)
            self._publish_soon()

    # -- dead letters ------------------------------------------------------------------

    async def _dead_letter(
        self, conn: Connection, message: Message, batch: _Batch, reason: str, error_type: str
    ) -> None:
        delivery = message.delivery
        await conn.execute(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", customer_id, event_id, event_type,'
            " stream_id, stream_version, key, value, headers, status, reason, error_type, attempts)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12::jsonb,'dead',$13,$14,$15)"
            ' ON CONFLICT (consumer, topic, partition, "offset") DO UPDATE'
            " SET status = 'dead', reason = excluded.reason, error_type = excluded.error_type,"
            "     attempts = dead_letters.attempts + excluded.attempts, published = false, updated_at = now()",
            self.name,
            message.topic,
            message.partition,
            message.offset,
            message.customer_id,
            message.event_id,
            delivery.envelope.type if delivery else _header(message.headers, "ce_type"),
            delivery.stream_id if delivery else _header(message.headers, "ce_subject"),
            delivery.version if delivery else None,
            message.key,
            message.value,
            _headers_json(message.headers),
            reason,
            error_type,
            self.attempts if delivery else 1,
        )
        if message.customer_id is not None:
            batch.blocked.add(message.customer_id)
        batch.dead_letters += 1
        batch.outcomes["dead_lettered"] += 1
        log.error(
            "consumer.dead_lettered",
            consumer=self.name,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            customer_id=message.customer_id,
            reason=reason,
        )

    async def _park(self, conn: Connection, message: Message) -> None:
        await conn.execute(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", customer_id, event_id, event_type,'
            " stream_id, stream_version, key, value, headers, status, reason, error_type, published)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12::jsonb,'waiting',"
            " 'waiting behind an earlier dead letter of the same customer','Waiting', true)"
            ' ON CONFLICT (consumer, topic, partition, "offset") DO NOTHING',
            self.name,
            message.topic,
            message.partition,
            message.offset,
            message.customer_id,
            message.event_id,
            message.delivery.envelope.type if message.delivery else None,
            message.delivery.stream_id if message.delivery else None,
            message.delivery.version if message.delivery else None,
            message.key,
            message.value,
            _headers_json(message.headers),
        )

    def _publish_soon(self) -> None:
        self._last_housekeeping = 0.0

    async def _publish_dead_letters(self) -> None:
        """Copy dead letters to the ``<service>.dlq`` topic, once each, with the reason in headers."""
        if self._producer is None:
            return
        rows = await self.pool.fetch(
            "SELECT * FROM dead_letters WHERE consumer = $1 AND status = 'dead' AND NOT published ORDER BY id",
            self.name,
        )
        if not rows:
            return
        topic = self.dead_letters_to
        for row in rows:
            headers = [
                *_headers_from_json(row["headers"]),
                ("dlq_reason", row["reason"].encode()),
                ("dlq_error_type", row["error_type"].encode()),
                ("dlq_consumer", self.name.encode()),
                ("dlq_topic", row["topic"].encode()),
                ("dlq_partition", str(row["partition"]).encode()),
                ("dlq_offset", str(row["offset"]).encode()),
                ("dlq_id", str(row["id"]).encode()),
            ]
            await self._producer.send_and_wait(topic, row["value"], key=row["key"], headers=headers)
        await self.pool.execute(
            "UPDATE dead_letters SET published = true WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )

    async def _redrive_requested(self) -> None:
        # Messages left waiting with nothing ahead of them (the dead letter was discarded or
        # superseded meanwhile) are re-driven; customers with nothing open flow again.
        await self.pool.execute(
            "UPDATE dead_letters SET status = 'redrive', updated_at = now() WHERE id IN ("
            " SELECT min(w.id) FROM dead_letters w WHERE w.consumer = $1 AND w.status = 'waiting'"
            " AND NOT EXISTS (SELECT FROM dead_letters d WHERE d.consumer = $1 AND d.customer_id = w.customer_id"
            "                 AND d.status IN ('dead', 'redrive')) GROUP BY w.customer_id)",
            self.name,
        )
        if self._blocked:
            still = await self.pool.fetch(
                "SELECT DISTINCT customer_id FROM dead_letters WHERE consumer = $1 AND customer_id = ANY($2::text[])"
                " AND status IN ('dead', 'waiting', 'redrive')",
                self.name,
                sorted(self._blocked),
            )
            self._blocked &= {r["customer_id"] for r in still}
        rows = await self.pool.fetch(
            "SELECT id, customer_id FROM dead_letters WHERE consumer = $1 AND status = 'redrive' ORDER BY id",
            self.name,
        )
        customers_done: set[str] = set()
        for row in rows:
            customer = row["customer_id"]
            if customer not in customers_done:
                await self.redrive(customer, row["id"])
            if customer is not None:
                customers_done.add(customer)

    async def redrive(self, customer_id: str | None, first_id: int) -> bool:
        """Apply a customer's dead letter and the messages waiting behind it, in order.

        Stops at the first that fails again (it becomes the dead letter, with the new
        reason); returns whether the customer's stream is flowing again.
        """
        if customer_id is None:
            letters = await self.pool.fetch("SELECT * FROM dead_letters WHERE id = $1", first_id)
        else:
            letters = await self.pool.fetch(
                "SELECT * FROM dead_letters WHERE consumer = $1 AND customer_id = $2"
                " AND status IN ('dead', 'waiting', 'redrive')"
                " ORDER BY id",
                self.name,
                customer_id,
            )
        for letter in letters:
            message = parse(
                self.registry,
                letter["topic"],
                letter["partition"],
                letter["offset"],
                letter["key"],
                letter["value"],
                _headers_from_json(letter["headers"]),
            )
            error: tuple[str, str] | None = None
            if message.delivery is None:
                error = (message.error or "unparseable", message.error_type or "EnvelopeError")
            else:
                for attempt in range(1, self.attempts + 1):
                    try:
                        async with self.pool.acquire() as conn, conn.transaction():
                            batch = await self._begin(conn, [message])
                            await self._apply(conn, [message], batch, redrive=True)
                            await self._finish(conn, [], batch)
                            await conn.execute(
                                "UPDATE dead_letters SET status = 'resolved', updated_at = now() WHERE id = $1",
                                letter["id"],
                            )
                        error = None
                        break
                    except HandlerFailed as failed:
                        error = (str(failed), type(failed.cause).__name__)
                        await asyncio.sleep(self.retry_backoff * attempt)
            if error is not None:
                await self.pool.execute(
                    "UPDATE dead_letters SET status = 'dead', reason = $2, error_type = $3,"
                    " attempts = attempts + $4, published = false, updated_at = now() WHERE id = $1",
                    letter["id"],
                    error[0],
                    error[1],
                    self.attempts,
                )
                await self.pool.execute(
                    "UPDATE dead_letters SET status = 'waiting', updated_at = now()"
                    " WHERE consumer = $1 AND customer_id = $2 AND status IN ('redrive', 'dead') AND id <> $3",
                    self.name,
                    customer_id,
                    letter["id"],
                )
                log.error("consumer.redrive_failed", consumer=self.name, dead_letter=letter["id"], reason=error[0])
                return False
        if customer_id is not None:
            self._blocked.discard(customer_id)
        log.info("consumer.redriven", consumer=self.name, customer_id=customer_id, messages=len(letters))
        return True


async def supersede(conn: Connection, consumer: str, message: Message) -> bool:
    """A later revision of a dead-lettered document sets the dead letter aside: the ERP corrected
    it. When that was the customer's only dead letter, its waiting messages (the new revision
    among them) are marked for re-drive. Returns whether any dead letter was superseded."""
    delivery = message.delivery
    if delivery is None or message.customer_id is None:
        return False
    superseded = await conn.fetch(
        "UPDATE dead_letters SET status = 'superseded', updated_at = now(), resolution = $5"
        " WHERE consumer = $1 AND customer_id = $2 AND stream_id = $3 AND stream_version < $4 AND status = 'dead'"
        " RETURNING stream_version",
        consumer,
        message.customer_id,
        delivery.stream_id,
        delivery.version,
        f"superseded by revision {delivery.version} ({message.topic} offset {message.offset})",
    )
    if not superseded:
        return False
    await set_aside(conn, consumer, message.customer_id, delivery.stream_id, max(r[0] for r in superseded))
    return True


async def set_aside(
    conn: Connection, consumer: str, customer_id: str, stream_id: str | None, version: int | None
) -> None:
    """After a dead letter is superseded or discarded: its version counts as seen (a later one is no
    gap), and if the customer has no other dead letter, what waited behind it is re-driven."""
    if stream_id is not None and version is not None:
        await conn.execute(
            "INSERT INTO stream_positions (consumer, stream_id, last_version) VALUES ($1, $2, $3)"
            " ON CONFLICT (consumer, stream_id) DO UPDATE"
            " SET last_version = greatest(stream_positions.last_version, excluded.last_version)",
            consumer,
            stream_id,
            version,
        )
    still_dead = await conn.fetchval(
        "SELECT count(*) FROM dead_letters WHERE consumer = $1 AND customer_id = $2 AND status IN ('dead', 'redrive')",
        consumer,
        customer_id,
    )
    if not still_dead:
        await conn.execute(
            "UPDATE dead_letters SET status = 'redrive', updated_at = now() WHERE id = ("
            " SELECT min(id) FROM dead_letters WHERE consumer = $1 AND customer_id = $2 AND status = 'waiting')",
            consumer,
            customer_id,
        )


def _last_of_each_partition(messages: Sequence[Message]) -> list[Message]:
    last: dict[tuple[str, int], Message] = {}
    for message in messages:
        last[(message.topic, message.partition)] = message
    return list(last.values())


class _LogReplaced(Exception):
    def __init__(self, tp: TopicPartition, reason: str) -> None:
        super().__init__(reason)
        self.tp = tp
        self.reason = reason


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.runner.ready.clear()
        self.runner.assigned = set()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.runner.on_assigned(list(assigned))


def _headers_json(headers: Sequence[tuple[str, bytes]]) -> str:
    return json.dumps([[n, v.decode("utf-8", errors="replace") if v is not None else None] for n, v in headers])


def _headers_from_json(raw: str | list[Any]) -> list[tuple[str, bytes]]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [(n, v.encode() if v is not None else b"") for n, v in items]
