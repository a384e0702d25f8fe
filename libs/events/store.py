"""The Postgres event store of one service.

Appending checks the expected stream version: the primary key (stream_id, version) is the
optimistic-concurrency check, and a guard refuses an expected version that is not the
stream's current one. Events, their outbox rows and the service's own read-model updates
are written in one transaction, so the service's API reads its own writes and nothing is
published that was not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import structlog

from libs.events import metrics
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


@dataclass
class _Request:
    stream_id: str
    expected_version: int
    events: Sequence[DomainEvent]
    customer_id: str
    contexts: Sequence[EventContext]  # one per event
    done: asyncio.Future[list[RecordedEvent]]


class EventStore:
    """Appends and reads one service's events.

    Appends that do not bring a transaction of their own are committed in groups: while one
    group is being written, concurrent appends queue up and go together in the next
    transaction (one statement for all their events and outbox rows, one call of the
    projection). Each keeps its own outcome; should a group fail, its appends are retried
    one by one, so one bad command never fails another.
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
        self.max_group = max_group
        self.writers = writers
        self._queue: deque[_Request] = deque()
        self._writer_tasks: set[asyncio.Task[None]] = set()

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
        context = context or EventContext.current()
        self._check_known(events)
        request = _Request(
            stream_id,
            expected_version,
            events,
            customer_id,
            [context] * len(events),
            asyncio.get_running_loop().create_future(),
        )
        if conn is not None:
            appends = [Append(stream_id, expected_version, events, customer_id, context)]
            return (await self.append_all(conn, appends, savepoint=savepoint))[0]
        if not self.group_commit:
            await self._commit_alone(request)
            return request.done.result()
        self._queue.append(request)
        if len(self._writer_tasks) < self.writers:
            task = asyncio.ensure_future(self._drain())
            self._writer_tasks.add(task)  # held so the task is not collected mid-write
            task.add_done_callback(self._writer_tasks.discard)
        return await request.done

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
        loop = asyncio.get_running_loop()
        requests = []
        for a in appends:
            self._check_known(a.events)
            if a.contexts is not None and len(a.contexts) != len(a.events):
                raise ValueError(f"{len(a.contexts)} contexts for {len(a.events)} events of {a.stream_id}")
            contexts = a.contexts or [a.context or EventContext.current()] * len(a.events)
            requests.append(
                _Request(a.stream_id, a.expected_version, a.events, a.customer_id, contexts, loop.create_future())
            )
        try:
            async with conn.transaction() if savepoint else contextlib.nullcontext():
                outcomes = await self._write(conn, [r for r in requests if r.events])
                for _, outcome in outcomes:
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
        appended = {id(request): outcome for request, outcome in outcomes if isinstance(outcome, list)}
        return [appended.get(id(r), []) for r in requests]

    def _check_known(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if not self.registry.knows(event.event_type):
                raise ValueError(f"{event.event_type} is not in this store's event registry")

    async def _drain(self) -> None:
        while self._queue:
            group = self._take_group()
            if group:
                await self._commit_group(group)

    def _take_group(self) -> list[_Request]:
        """Up to ``max_group`` queued appends, at most one per stream, in arrival order."""
        group: list[_Request] = []
        streams: set[str] = set()
        later: list[_Request] = []
        while self._queue and len(group) < self.max_group:
            request = self._queue.popleft()
            if request.done.done():  # the caller gave up waiting
                continue
            if request.stream_id in streams:
                later.append(request)
            else:
                streams.add(request.stream_id)
                group.append(request)
        self._queue.extendleft(reversed(later))
        return group

    async def _commit_group(self, group: list[_Request]) -> None:
        if len(group) == 1:
            await self._commit_alone(group[0])
            return
        try:
            async with self.transaction() as conn:
                outcomes = await self._write(conn, group)
        except Exception:  # noqa: BLE001 - each request learns its own outcome below
            for request in group:
                if not request.done.done():
                    await self._commit_alone(request)
            return
        _settle(outcomes)

    async def _commit_alone(self, request: _Request) -> None:
        try:
            async with self.transaction() as conn:
                outcomes = await self._write(conn, [request])
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "events_stream_version_key":
                _fail(request, exc)
            else:
                _fail(request, ConcurrencyConflict(request.stream_id, request.expected_version, None))
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            _fail(request, exc)
        else:
            _settle(outcomes)

    async def _write(self, conn: Connection, requests: Sequence[_Request]) -> list[_Outcome]:
        """Append the requests that find their streams at the expected version; the others
        get a conflict. The outcomes are handed to the callers only after the commit."""
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
        outcomes: list[_Outcome] = []
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
        for request in requests:
            appended = by_request.get(id(request))
            if appended is None:
                outcomes.append(
                    (
                        request,
                        ConcurrencyConflict(
                            request.stream_id, request.expected_version, current.get(request.stream_id)
                        ),
                    )
                )
            else:
                outcomes.append((request, appended))
        if self.projection is not None and recorded_all:
            await self.projection(conn, recorded_all)
        metrics.EVENTS_APPENDED.labels(self.topic).inc(len(recorded_all))
        return outcomes

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


Decide = Callable[[Any], Sequence[DomainEvent]]


_Outcome = tuple[_Request, list[RecordedEvent] | ConcurrencyConflict]


def _settle(outcomes: Sequence[_Outcome]) -> None:
    for request, outcome in outcomes:
        if isinstance(outcome, ConcurrencyConflict):
            _fail(request, outcome)
        elif not request.done.done():
            request.done.set_result(outcome)


def _fail(request: _Request, exc: BaseException) -> None:
    if not request.done.done():
        request.done.set_exception(exc)


async def execute(
    store: EventStore,
    stream_id: str,
    *,
    customer_id: str,
    initial: Any,
    evolve: Callable[[Any, DomainEvent], Any],
    decide: Decide,
    context: EventContext | None = None,
    attempts: int = 5,
    conn: Connection | None = None,
) -> list[RecordedEvent]:
    """Load a stream, fold it, decide, append; on a conflict, do it again on fresh state.

    A conflict that persists after ``attempts`` tries is raised, never swallowed.
    """
    for attempt in range(1, attempts + 1):
        history = await store.load(stream_id, conn)
        state = initial
        for recorded in history:
            state = evolve(state, recorded.event)
        new_events = decide(state)
        try:
            version = history[-1].version if history else 0
            return await store.append(
                stream_id, version, new_events, customer_id=customer_id, context=context, conn=conn
            )
        except ConcurrencyConflict:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
