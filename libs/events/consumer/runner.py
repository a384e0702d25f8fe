"""The consumer runner: applies topic messages to a read model exactly once.

A session assigns the partitions (statically, or through a Kafka group), seeks to the offsets
stored in the service's own database (``tracking``), proves the broker still holds that log
(``lost_log``), and applies what each fetch brings in one transaction with the offsets. A batch
whose handler fails is applied message by message, so only the poison is set aside
(``dead_lettering``); later messages of its customer wait behind it while others flow on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError

from libs.events import metrics
from libs.events.consumer import dead_lettering, in_step, tracking
from libs.events.consumer.lost_log import LogWatch
from libs.events.consumer.messages import BatchHandler, Delivery, Handler, Message, headers_from_json, parse
from libs.events.contracts import EventRegistry
from libs.events.database import Connection
from libs.events.failpoints import failpoint
from libs.events.kafka import FETCH_MAX_WAIT_MS, IDLE_AFTER_SECONDS, IDLE_FETCH_MAX_WAIT_MS
from libs.events.outbox import new_producer
from libs.events.topics import dead_letter_topic

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


class HandlerFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


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
        read_in_step: bool = False,
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
        # Topics not ordered with one another read in step by send time (see in_step).
        self.read_in_step = read_in_step
        self.assigned: set[TopicPartition] = set()
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._log = LogWatch(self._reset)
        self._blocked: set[str] = set()
        self._last_housekeeping = 0.0
        self._last_records = time.monotonic()
        self._idle = False  # housekeeping, too, runs less often while nothing arrives
        self._behind: dict[TopicPartition, int] = {}  # records left on each partition after the last fetch
        self._last_sent: dict[TopicPartition, int] = {}  # the send time (ms) of each partition's last record
        self._held: set[TopicPartition] = set()  # partitions paused while the others catch up

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
        self._behind.clear()
        self._last_sent.clear()
        self._held.clear()  # a new assignment starts unpaused
        if not partitions:
            self.ready.set()
            return
        self._log.clear()
        await self._seek_stored(consumer, partitions)
        self._blocked = await dead_lettering.blocked_customers(self.pool, self.name)
        self.ready.set()
        log.info("consumer.assigned", consumer=self.name, partitions=len(partitions), blocked=len(self._blocked))

    async def _seek_stored(self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        rows = await self.pool.fetch(
            "SELECT topic, partition, next_offset, last_event_id FROM consumer_positions WHERE consumer = $1",
            self.name,
        )
        stored = {TopicPartition(r["topic"], r["partition"]): r for r in rows}
        begins = await consumer.beginning_offsets(list(partitions))
        for tp in partitions:
            row = stored.get(tp)
            if row is None or row["next_offset"] <= begins[tp]:
                consumer.seek(tp, begins[tp])
            else:
                # Re-read the last message applied: finding it proves the broker still holds
                # the log the stored offset refers to.
                consumer.seek(tp, row["next_offset"] - 1)
                self._log.expect(tp, row["next_offset"] - 1, row["last_event_id"])

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
        self._log.forget(tp)

    @property
    def catching_up(self) -> bool:
        """Whether more than a batch waited on the broker after the last fetch: a load is running."""
        return sum(self._behind.values()) > self.batch_size

    # -- the loop --------------------------------------------------------------------

    async def _at_end(self, consumer: AIOKafkaConsumer) -> bool:
        for tp in self.assigned:
            highwater = consumer.highwater(tp)
            if highwater is not None and await consumer.position(tp) < highwater:
                return False
        return self._log.settled

    async def _poll_once(self, consumer: AIOKafkaConsumer) -> int:
        """One fetch and what follows from it; returns how many records arrived."""
        try:
            wait = IDLE_FETCH_MAX_WAIT_MS if self._idle else 200  # records end the wait at once: it bounds wakeups
            batches = await consumer.getmany(timeout_ms=wait, max_records=self.batch_size)
        except OffsetOutOfRangeError as exc:
            positions: dict[TopicPartition, int] = exc.args[0] if exc.args else {}
            begins = await consumer.beginning_offsets(list(positions))
            for tp, offset in positions.items():
                await self._reset(tp, f"offset {offset} is out of range", begins[tp])
            return 0
        except NoOffsetForPartitionError as exc:
            # The fetcher looked for a committed offset (Credo keeps none in Kafka) while the
            # rebalance listener was still reading the stored one: seek again and go on, since a
            # new session would only start another rebalance with the same race.
            tp = exc.args[0]
            if tp not in self.assigned:
                return 0
            self._log.forget(tp)
            await self._seek_stored(consumer, [tp])
            return 0
        self._pace(consumer, bool(batches))
        await self._log.check_unverified(consumer, batches)
        messages: list[Message] = []
        for tp, records in batches.items():
            messages += [
                parse(self.registry, r.topic, r.partition, r.offset, r.key, r.value, r.headers)
                for r in await self._log.verified_or_reset(consumer, tp, records)
            ]
        if messages:
            await self._process(messages)
        if not batches:
            self._behind.clear()
        for tp, records in batches.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self._behind[tp] = max(0, highwater - records[-1].offset - 1)
                metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(self._behind[tp])
        if self.read_in_step:
            self._keep_in_step(consumer, batches)
        if time.monotonic() - self._last_housekeeping >= self.housekeeping_interval * (5 if self._idle else 1):
            self._last_housekeeping = time.monotonic()
            await self._redrive_requested()
            await self._publish_dead_letters()
            if not batches:
                await self._log.check_positions(consumer, self.assigned)
        return sum(len(records) for records in batches.values())

    def _keep_in_step(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> None:
        for tp, records in batches.items():
            self._last_sent[tp] = records[-1].timestamp
        held = in_step.held_back(self._last_sent, self._behind, self._held) & self.assigned
        if released := self._held - held:
            consumer.resume(*released)
        if paused := held - self._held:
            consumer.pause(*paused)
        self._held = held

    def _pace(self, consumer: AIOKafkaConsumer, got: bool) -> None:
        """The short fetch wait while records flow, the long one once the topics are quiet
        (see libs.events.kafka); aiokafka reads the wait from its fetcher for every request."""
        now = time.monotonic()
        if got:
            self._last_records = now
        self._idle = now - self._last_records >= IDLE_AFTER_SECONDS
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None:
            fetcher._fetch_max_wait_ms = IDLE_FETCH_MAX_WAIT_MS if self._idle else FETCH_MAX_WAIT_MS

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
                batch = await tracking.begin(conn, self.name, messages)
                await self._apply(conn, messages, batch)
                await tracking.finish(conn, self.name, tracking.last_of_each_partition(messages), batch)
            self._committed(batch)

    async def _apply_alone(self, message: Message) -> None:
        """The slow path: one message per transaction, bounded retries, then dead-letter."""
        failure: HandlerFailed | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                async with self.pool.acquire() as conn:
                    async with conn.transaction():
                        batch = await tracking.begin(conn, self.name, [message])
                        await self._apply(conn, [message], batch)
                        await tracking.finish(conn, self.name, [message], batch)
                    self._committed(batch)
                return
            except HandlerFailed as failed:
                failure = failed
                await asyncio.sleep(self.retry_backoff * attempt)
        assert failure is not None
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                batch = await tracking.begin(conn, self.name, [message])
                await self._dead_letter(conn, message, batch, str(failure), type(failure.cause).__name__)
                await tracking.finish(conn, self.name, [message], batch)
            self._committed(batch)

    async def _apply(
        self, conn: Connection, messages: Sequence[Message], batch: tracking.Batch, *, redrive: bool = False
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

    async def _admit(
        self, conn: Connection, message: Message, batch: tracking.Batch, *, redrive: bool
    ) -> Delivery | None:
        """The delivery if it is new and may be applied now; else record why not."""
        customer = message.customer_id
        if message.delivery is None:
            await self._dead_letter(
                conn, message, batch, message.error or "unparseable", message.error_type or "EnvelopeError"
            )
            return None
        if not redrive and customer is not None and (customer in self._blocked or customer in batch.blocked):
            await dead_lettering.park(conn, self.name, message)
            batch.outcomes["parked"] += 1
            if self.revisions_supersede and await dead_lettering.supersede(conn, self.name, message):
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

    def _committed(self, batch: tracking.Batch) -> None:
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
        self, conn: Connection, message: Message, batch: tracking.Batch, reason: str, error_type: str
    ) -> None:
        attempts = self.attempts if message.delivery else 1
        await dead_lettering.record(conn, self.name, message, reason, error_type, attempts)
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

    def _publish_soon(self) -> None:
        self._last_housekeeping = 0.0

    async def _publish_dead_letters(self) -> None:
        if self._producer is not None:
            await dead_lettering.publish(self.pool, self._producer, self.name, self.dead_letters_to)

    async def _redrive_requested(self) -> None:
        # Customers with nothing open flow again; those whose dead letter went meanwhile are re-driven.
        await dead_lettering.mark_unblocked_waiting(self.pool, self.name)
        if self._blocked:
            self._blocked &= await dead_lettering.blocked_customers(self.pool, self.name, sorted(self._blocked))
        rows = await dead_lettering.marked_for_redrive(self.pool, self.name)
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
        letters = await dead_lettering.letters_to_redrive(self.pool, self.name, customer_id, first_id)
        for letter in letters:
            message = parse(
                self.registry,
                letter["topic"],
                letter["partition"],
                letter["offset"],
                letter["key"],
                letter["value"],
                headers_from_json(letter["headers"]),
            )
            error: tuple[str, str] | None = None
            if message.delivery is None:
                error = (message.error or "unparseable", message.error_type or "EnvelopeError")
            else:
                for attempt in range(1, self.attempts + 1):
                    try:
                        async with self.pool.acquire() as conn, conn.transaction():
                            batch = await tracking.begin(conn, self.name, [message])
                            await self._apply(conn, [message], batch, redrive=True)
                            await tracking.finish(conn, self.name, [], batch)
                            await dead_lettering.resolved(conn, letter["id"])
                        error = None
                        break
                    except HandlerFailed as failed:
                        error = (str(failed), type(failed.cause).__name__)
                        await asyncio.sleep(self.retry_backoff * attempt)
            if error is not None:
                await dead_lettering.failed_again(self.pool, self.name, letter["id"], customer_id, error, self.attempts)
                log.error("consumer.redrive_failed", consumer=self.name, dead_letter=letter["id"], reason=error[0])
                return False
        if customer_id is not None:
            self._blocked.discard(customer_id)
        log.info("consumer.redriven", consumer=self.name, customer_id=customer_id, messages=len(letters))
        return True


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.runner.ready.clear()
        self.runner.assigned = set()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.runner.on_assigned(list(assigned))
