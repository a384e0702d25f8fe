"""The Postgres event store of one service.

Appending checks the expected stream version: the primary key (stream_id, version) is the
optimistic-concurrency check, and a guard refuses an expected version that is not the
stream's current one. Events, their outbox rows and the service's own read-model updates
are written in one transaction, so the service's API reads its own writes and nothing is
published that was not stored.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

import asyncpg
import structlog

from libs.events import metrics
from libs.events.batching import Batcher
from libs.events.clock import BusinessClock, SystemClock
from libs.events.contracts import DomainEvent, EventRegistry
from libs.events.database import Connection
from libs.events.envelope import Envelope

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
    actor: str | None = None  # who: a person, a machine client, or the service whose event caused it

    @staticmethod
    def current() -> EventContext:
        """The context bound for the work in hand: the HTTP request's or the event's."""
        bound = structlog.contextvars.get_contextvars()
        return EventContext(
            correlation_id=bound.get("correlation_id"),
            causation_id=bound.get("causation_id"),
            traceparent=bound.get("traceparent"),
            actor=bound.get("actor"),
        )

    @staticmethod
    def caused_by(envelope: Envelope) -> EventContext:
        return EventContext(
            correlation_id=envelope.correlation_id or str(envelope.id),
            causation_id=str(envelope.id),
            traceparent=envelope.traceparent,
            actor=envelope.actor or envelope.source,
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
    actor: str | None = None

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
            actor=self.actor,
        )


class Store(Protocol):
    """What use cases need of an event store; ``EventStore`` keeps events in PostgreSQL,
    ``libs.events.memory.MemoryEventStore`` in memory, and both pass the same contract tests.

    ``conn`` is the store's own transaction handle (from ``transaction()``): appends and reads
    given one see each other and commit or roll back together.
    """

    clock: BusinessClock

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        *,
        customer_id: str,
        context: EventContext | None = None,
        conn: Any = None,
        savepoint: bool = True,
    ) -> list[RecordedEvent]: ...

    async def append_all(
        self, conn: Any, appends: Sequence[Append], *, savepoint: bool = True
    ) -> list[list[RecordedEvent]]: ...

    async def load(self, stream_id: str, conn: Any = None, *, after: int = 0) -> list[RecordedEvent]: ...

    async def heads(self, stream_ids: Sequence[str], conn: Any = None) -> dict[str, tuple[int, UUID]]: ...

    async def event_id_at(self, stream_id: str, version: int, conn: Any = None) -> UUID | None: ...

    async def current_version(self, stream_id: str, conn: Any = None) -> int: ...

    async def read_all(self, after_position: int = 0, limit: int = 1000, conn: Any = None) -> list[RecordedEvent]: ...


# Appends any number of requests, each to its own stream, in one statement. A request whose
# stream is not at its expected version inserts nothing (and reports the current version);
# two writers racing past the guard collide on the primary key instead.
_APPEND = """
WITH request AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::uuid[], $6::text[], $7::int[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $14::text[])
           WITH ORDINALITY AS r(stream_id, expected, step, customer_id, event_id, event_type, schema_version,
                                data, correlation_id, causation_id, traceparent, actor, ord)
), stream AS (
    -- a correlated max() per stream reads one primary-key entry; a join could scan the table
    SELECT s.stream_id,
           (SELECT coalesce(max(e.version), 0) FROM events e WHERE e.stream_id = s.stream_id) AS current
      FROM (SELECT DISTINCT stream_id FROM request) s
), appended AS (
    INSERT INTO events (stream_id, version, event_id, event_type, schema_version, customer_id, topic,
                        data, occurred_at, correlation_id, causation_id, traceparent, actor)
    SELECT r.stream_id, r.expected + r.step, r.event_id, r.event_type, r.schema_version, r.customer_id, $12,
           r.data::jsonb, $13, r.correlation_id, r.causation_id, r.traceparent, r.actor
      FROM request r JOIN stream s ON s.stream_id = r.stream_id AND s.current = r.expected
     ORDER BY r.ord
    RETURNING position, event_id
), queued AS (
    INSERT INTO outbox (position) SELECT position FROM appended ORDER BY position
)
SELECT event_id, position, NULL::text AS stream_id, NULL::int AS current FROM appended
UNION ALL
SELECT NULL, NULL, stream_id, current FROM stream
"""

_COLUMNS = """position, stream_id, version, event_id, event_type, schema_version, customer_id,
              topic, data, occurred_at, correlation_id, causation_id, traceparent, actor"""


@dataclass(frozen=True)
class Append:
    """Events for one stream, to go after ``expected_version`` (0 for a new stream)."""

    stream_id: str
    expected_version: int
    events: Sequence[DomainEvent]
    customer_id: str
    context: EventContext | None = None
    # One per event, where the events have different causes (several documents for one customer).
    contexts: Sequence[EventContext] | None = None


def contexts_of(append: Append, registry: EventRegistry) -> Sequence[EventContext]:
    """The context of each event of an append, once its events are known to be the store's own."""
    for event in append.events:
        if not registry.knows(event.event_type):
            raise ValueError(f"{event.event_type} is not in this store's event registry")
    if append.contexts is not None:
        if len(append.contexts) != len(append.events):
            raise ValueError(f"{len(append.contexts)} contexts for {len(append.events)} events of {append.stream_id}")
        return append.contexts
    return [append.context or EventContext.current()] * len(append.events)


@dataclass(frozen=True)
class _Request:
    stream_id: str
    expected_version: int
    events: Sequence[DomainEvent]
    customer_id: str
    contexts: Sequence[EventContext]  # one per event


_Outcome = list["RecordedEvent"] | ConcurrencyConflict


class EventStore:
    """Appends and reads one service's events.

    Appends that do not bring a transaction of their own are committed in groups (a
    ``Batcher``): while one group is being written, concurrent appends queue up and go together
    in the next transaction (one statement for all their events and outbox rows, one call of the
    projection). Each keeps its own outcome; should a group fail, its appends are retried one by
    one, so one bad command never fails another.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        source: str,
        topic: str,
        registry: EventRegistry,
        clock: BusinessClock | None = None,
        projection: InlineProjection | None = None,
        group_commit: bool = True,
        max_group: int = 64,
        writers: int = 2,
    ) -> None:
        self.pool = pool
        self.source = source
        self.topic = topic
        self.registry = registry
        self.clock = clock or SystemClock()
        self.projection = projection
        self.group_commit = group_commit
        self._groups = Batcher[_Request, list[RecordedEvent]](
            self._commit, max_batch=max_group, writers=writers, apart=lambda r: r.stream_id
        )

    @property
    def writers(self) -> int:
        """Groups in flight at once."""
        return self._groups.writers

    @writers.setter
    def writers(self, writers: int) -> None:
        self._groups.writers = writers

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
        context: EventContext | None = None,
        conn: Connection | None = None,
        savepoint: bool = True,
    ) -> list[RecordedEvent]:
        """Append events after ``expected_version`` (0 for a new stream).

        Runs in ``conn``'s transaction when given, else is committed before it returns;
        ``savepoint`` as for ``append_all``.
        Raises ``ConcurrencyConflict`` when the stream is not at ``expected_version``.
        Without a ``context``, the one bound for the current request or event is used.
        """
        if not events:
            return []
        append = Append(stream_id, expected_version, events, customer_id, context or EventContext.current())
        if conn is not None:
            return (await self.append_all(conn, [append], savepoint=savepoint))[0]
        request = _Request(stream_id, expected_version, events, customer_id, contexts_of(append, self.registry))
        if not self.group_commit:
            outcome = (await self._commit([request]))[0]
            if isinstance(outcome, ConcurrencyConflict):
                raise outcome
            return outcome
        return await self._groups.submit(request)

    async def append_all(
        self, conn: Connection, appends: Sequence[Append], *, savepoint: bool = True
    ) -> list[list[RecordedEvent]]:
        """Append to several streams in ``conn``'s transaction, in one statement: all or none.

        Raises ``ConcurrencyConflict`` for the first stream not at its expected version; a
        savepoint keeps the caller's transaction usable for a retry. Without it (two round
        trips fewer) a conflict aborts the caller's transaction: for appends that cannot
        conflict, such as the first event of a stream named by a fresh id.
        """
        if len({a.stream_id for a in appends}) != len(appends):
            raise ValueError("append_all takes each stream once")
        requests = [
            _Request(a.stream_id, a.expected_version, a.events, a.customer_id, contexts_of(a, self.registry))
            for a in appends
        ]
        written = [r for r in requests if r.events]
        try:
            async with conn.transaction() if savepoint else contextlib.nullcontext():
                outcomes = await self._write(conn, written)
                for outcome in outcomes:
                    if isinstance(outcome, ConcurrencyConflict):
                        raise outcome
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "events_stream_version_key":
                raise
            for request in requests:  # which stream lost the race: the one whose winner has committed
                actual = await self.current_version(request.stream_id, conn)
                if actual != request.expected_version:
                    raise ConcurrencyConflict(request.stream_id, request.expected_version, actual) from exc
            raise
        appended = {id(r): o for r, o in zip(written, outcomes, strict=True) if isinstance(o, list)}
        return [appended.get(id(r), []) for r in requests]

    async def _commit(self, requests: Sequence[_Request]) -> list[_Outcome]:
        """Requests in one transaction of their own; a lost race of a lone request is its conflict."""
        try:
            async with self.transaction() as conn:
                return await self._write(conn, requests)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_version_key" and len(requests) == 1:
                lost = requests[0]
                raise ConcurrencyConflict(lost.stream_id, lost.expected_version, None) from exc
            raise

    async def _write(self, conn: Connection, requests: Sequence[_Request]) -> list[_Outcome]:
        """Append the requests that find their streams at the expected version; the others
        get a conflict, one outcome per request in order. The outcomes are handed to the callers
        only after the commit."""
        occurred_at = self.clock.now()
        flat = [
            (request, step, event, uuid4(), event.payload(), request.contexts[step - 1])
            for request in requests
            for step, event in enumerate(request.events, start=1)
        ]
        rows = await conn.fetch(
            _APPEND,
            [r.stream_id for r, *_ in flat],
            [r.expected_version for r, *_ in flat],
            [step for _, step, *_ in flat],
            [r.customer_id for r, *_ in flat],
            [eid for *_, eid, _, _ in flat],
            [e.event_type for _, _, e, *_ in flat],
            [e.schema_version for _, _, e, *_ in flat],
            [json.dumps(p, separators=(",", ":"), ensure_ascii=False) for *_, p, _ in flat],
            [c.correlation_id for *_, c in flat],
            [c.causation_id for *_, c in flat],
            [c.traceparent for *_, c in flat],
            self.topic,
            occurred_at,
            [c.actor for *_, c in flat],
        )
        positions = {row["event_id"]: row["position"] for row in rows if row["event_id"] is not None}
        current = {row["stream_id"]: row["current"] for row in rows if row["stream_id"] is not None}
        recorded_all: list[RecordedEvent] = []
        by_request: dict[int, list[RecordedEvent]] = {}
        for request, step, event, event_id, payload, context in flat:
            if event_id not in positions:
                continue
            recorded = RecordedEvent(
                position=positions[event_id],
                stream_id=request.stream_id,
                version=request.expected_version + step,
                event_id=event_id,
                event_type=event.event_type,
                schema_version=event.schema_version,
                customer_id=request.customer_id,
                topic=self.topic,
                occurred_at=occurred_at,
                event=event,
                data=payload,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                traceparent=context.traceparent,
                actor=context.actor,
            )
            by_request.setdefault(id(request), []).append(recorded)
            recorded_all.append(recorded)
        outcomes: list[_Outcome] = [
            by_request.get(id(r)) or ConcurrencyConflict(r.stream_id, r.expected_version, current.get(r.stream_id))
            for r in requests
        ]
        if self.projection is not None and recorded_all:
            await self.projection(conn, recorded_all)
        metrics.EVENTS_APPENDED.labels(self.topic).inc(len(recorded_all))
        return outcomes

    async def heads(self, stream_ids: Sequence[str], conn: Connection | None = None) -> dict[str, tuple[int, UUID]]:
        """Each stream's last version and event id; a stream with no events is left out."""
        executor = conn if conn is not None else self.pool
        rows = await executor.fetch(  # read backwards through the primary key
            "SELECT s AS stream_id, e.version, e.event_id FROM unnest($1::text[]) AS s CROSS JOIN LATERAL"
            " (SELECT version, event_id FROM events WHERE stream_id = s ORDER BY version DESC LIMIT 1) AS e",
            list(stream_ids),
        )
        return {row["stream_id"]: (row["version"], row["event_id"]) for row in rows}

    async def event_id_at(self, stream_id: str, version: int, conn: Connection | None = None) -> UUID | None:
        executor = conn if conn is not None else self.pool
        found: UUID | None = await executor.fetchval(
            "SELECT event_id FROM events WHERE stream_id = $1 AND version = $2", stream_id, version
        )
        return found

    async def current_version(self, stream_id: str, conn: Connection | None = None) -> int:
        query = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1"
        if conn is not None:
            return int(await conn.fetchval(query, stream_id))
        return int(await self.pool.fetchval(query, stream_id))

    async def load(self, stream_id: str, conn: Connection | None = None, *, after: int = 0) -> list[RecordedEvent]:
        """The stream's events after version ``after``, in order."""
        query = f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version"
        executor = conn if conn is not None else self.pool
        rows = await executor.fetch(query, stream_id, after)
        return [self.decode_row(row) for row in rows]

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        """Stored events in position order, for rebuilds and audits (never for live tailing)."""
        query = f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        executor = conn if conn is not None else self.pool
        return [self.decode_row(row) for row in await executor.fetch(query, after_position, limit)]

    def decode_row(self, row: asyncpg.Record) -> RecordedEvent:
        data = json.loads(row["data"])
        return RecordedEvent(
            position=row["position"],
            stream_id=row["stream_id"],
            version=row["version"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            schema_version=row["schema_version"],
            customer_id=row["customer_id"],
            topic=row["topic"],
            occurred_at=row["occurred_at"],
            event=self.registry.decode(row["event_type"], row["schema_version"], data),
            data=data,
            correlation_id=row["correlation_id"],
            causation_id=row["causation_id"],
            traceparent=row["traceparent"],
            actor=row["actor"],
        )
