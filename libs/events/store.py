"""The Postgres event store of one service.

Appending checks the expected stream version: the primary key (stream_id, version) is the
optimistic-concurrency check, and a guard refuses an expected version that is not the
stream's current one. Events, their outbox rows and the service's own read-model updates
are written in one transaction, so the service's API reads its own writes and nothing is
published that was not stored.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncIterator
from uuid import UUID, uuid4

import asyncpg

from libs.events.clock import BusinessClock, SystemClock
from libs.events.contracts import DomainEvent, EventRegistry
from libs.events.envelope import Envelope

Connection = asyncpg.Connection
InlineProjection = Callable[[Connection, Sequence["RecordedEvent"]], Awaitable[None]]

OUTBOX_CHANNEL = "credo_outbox"


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream first. Retry the command on fresh state."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(f"stream {stream_id} expected at version {expected_version}, found at {actual}")


@dataclass(frozen=True)
class EventContext:
    """Why events are being appended: who asked, and which request or event caused it."""

    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None

    @staticmethod
    def caused_by(envelope: Envelope) -> EventContext:
        return EventContext(
            correlation_id=envelope.correlation_id or str(envelope.id),
            causation_id=str(envelope.id),
            traceparent=envelope.traceparent,
        )


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    stream_id: str
    version: int
    event_id: UUID
    event_type: str
    schema_version: int
    customer_id: str
    topic: str
    occurred_at: datetime
    event: DomainEvent
    data: dict[str, Any] = field(repr=False)
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None

    def envelope(self, source: str) -> Envelope:
        return Envelope(
            id=self.event_id,
            source=source,
            type=self.event_type,
            time=self.occurred_at,
            subject=self.stream_id,
            stream_version=self.version,
            schema_version=self.schema_version,
            customer_id=self.customer_id,
            data=self.data,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            traceparent=self.traceparent,
        )


_APPEND = """
WITH guard AS (
    SELECT coalesce(max(version), 0) AS current FROM events WHERE stream_id = $1
), appended AS (
    INSERT INTO events (stream_id, version, event_id, event_type, schema_version,
                        customer_id, topic, data, occurred_at,
                        correlation_id, causation_id, traceparent)
    SELECT $1, $2 + e.ord, e.event_id, e.event_type, e.schema_version,
           $3, $4, e.data::jsonb, $5, $6, $7, $8
      FROM unnest($9::uuid[], $10::text[], $11::int[], $12::text[])
           WITH ORDINALITY AS e(event_id, event_type, schema_version, data, ord)
     WHERE (SELECT current FROM guard) = $2
     ORDER BY e.ord
    RETURNING position, version
), queued AS (
    INSERT INTO outbox (position) SELECT position FROM appended ORDER BY position
)
SELECT position, version FROM appended ORDER BY version
"""

_COLUMNS = """position, stream_id, version, event_id, event_type, schema_version, customer_id,
              topic, data, occurred_at, correlation_id, causation_id, traceparent"""


class EventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        source: str,
        topic: str,
        registry: EventRegistry,
        clock: BusinessClock | None = None,
        projection: InlineProjection | None = None,
    ) -> None:
        self.pool = pool
        self.source = source
        self.topic = topic
        self.registry = registry
        self.clock = clock or SystemClock()
        self.projection = projection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        *,
        customer_id: str,
        context: EventContext = EventContext(),
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Append events after ``expected_version`` (0 for a new stream).

        Runs in ``conn``'s transaction when given, else in a transaction of its own.
        Raises ``ConcurrencyConflict`` when the stream is not at ``expected_version``.
        """
        if not events:
            return []
        if conn is None:
            async with self.transaction() as own:
                return await self._append(own, stream_id, expected_version, events, customer_id, context)
        return await self._append(conn, stream_id, expected_version, events, customer_id, context)

    async def _append(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        customer_id: str,
        context: EventContext,
    ) -> list[RecordedEvent]:
        for event in events:
            if not self.registry.knows(event.event_type):
                raise ValueError(f"{event.event_type} is not in this store's event registry")
        payloads = [event.payload() for event in events]
        ids = [uuid4() for _ in events]
        occurred_at = self.clock.now()
        try:
            async with conn.transaction():  # a savepoint inside the caller's transaction
                rows = await conn.fetch(
                    _APPEND,
                    stream_id, expected_version, customer_id, self.topic, occurred_at,
                    context.correlation_id, context.causation_id, context.traceparent,
                    ids, [e.event_type for e in events], [e.schema_version for e in events],
                    [json.dumps(p, separators=(",", ":"), ensure_ascii=False) for p in payloads],
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_version_key":
                raise ConcurrencyConflict(stream_id, expected_version, None) from exc
            raise
        if not rows:
            raise ConcurrencyConflict(stream_id, expected_version, await self.current_version(stream_id, conn))
        recorded = [
            RecordedEvent(
                position=row["position"], stream_id=stream_id, version=row["version"], event_id=event_id,
                event_type=event.event_type, schema_version=event.schema_version, customer_id=customer_id,
                topic=self.topic, occurred_at=occurred_at, event=event, data=payload,
                correlation_id=context.correlation_id, causation_id=context.causation_id,
                traceparent=context.traceparent,
            )
            for row, event_id, event, payload in zip(rows, ids, events, payloads, strict=True)
        ]
        if self.projection is not None:
            await self.projection(conn, recorded)
        return recorded

    async def current_version(self, stream_id: str, conn: Connection | None = None) -> int:
        query = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1"
        if conn is not None:
            return int(await conn.fetchval(query, stream_id))
        return int(await self.pool.fetchval(query, stream_id))

    async def load(self, stream_id: str, conn: Connection | None = None) -> list[RecordedEvent]:
        query = f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version"
        rows = await (conn.fetch(query, stream_id) if conn is not None else self.pool.fetch(query, stream_id))
        return [self.decode_row(row) for row in rows]

    async def read_all(self, after_position: int = 0, limit: int = 1000, conn: Connection | None = None) -> list[RecordedEvent]:
        """Stored events in position order, for rebuilds and audits (never for live tailing)."""
        query = f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        executor = conn if conn is not None else self.pool
        return [self.decode_row(row) for row in await executor.fetch(query, after_position, limit)]

    def decode_row(self, row: asyncpg.Record) -> RecordedEvent:
        data = json.loads(row["data"])
        return RecordedEvent(
            position=row["position"], stream_id=row["stream_id"], version=row["version"],
            event_id=row["event_id"], event_type=row["event_type"], schema_version=row["schema_version"],
            customer_id=row["customer_id"], topic=row["topic"], occurred_at=row["occurred_at"],
            event=self.registry.decode(row["event_type"], row["schema_version"], data), data=data,
            correlation_id=row["correlation_id"], causation_id=row["causation_id"],
            traceparent=row["traceparent"],
        )


Decide = Callable[[Any], Sequence[DomainEvent]]


async def execute(
    store: EventStore,
    stream_id: str,
    *,
    customer_id: str,
    initial: Any,
    evolve: Callable[[Any, DomainEvent], Any],
    decide: Decide,
    context: EventContext = EventContext(),
    attempts: int = 5,
) -> list[RecordedEvent]:
    """Load a stream, fold it, decide, append; on a conflict, do it again on fresh state.

    A conflict that persists after ``attempts`` tries is raised, never swallowed.
    """
    for attempt in range(1, attempts + 1):
        history = await store.load(stream_id)
        state = initial
        for recorded in history:
            state = evolve(state, recorded.event)
        new_events = decide(state)
        try:
            version = history[-1].version if history else 0
            return await store.append(stream_id, version, new_events, customer_id=customer_id, context=context)
        except ConcurrencyConflict:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
