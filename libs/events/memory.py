"""An event store in memory, for use-case tests: the same protocol and guarantees as
``EventStore`` without PostgreSQL or the broker.

A transaction sees what was committed and what it appended itself; it commits when its block
ends and is rolled back by an exception. Appends check the expected version against both, and
again at commit, so a race two transactions run is lost by the later one, as in PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from libs.events.clock import BusinessClock, SystemClock
from libs.events.contracts import DomainEvent, EventRegistry
from libs.events.store import Append, ConcurrencyConflict, EventContext, RecordedEvent, contexts_of


@dataclass
class MemoryTransaction:
    """What one transaction has appended and not yet committed, by stream."""

    pending: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    open: bool = True


class MemoryEventStore:
    def __init__(self, *, source: str, topic: str, registry: EventRegistry, clock: BusinessClock | None = None) -> None:
        self.source = source
        self.topic = topic
        self.registry = registry
        self.clock = clock or SystemClock()
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._all: list[RecordedEvent] = []
        self._next_position = 1

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        tx = MemoryTransaction()
        try:
            yield tx
        except BaseException:
            tx.open = False
            raise
        self._commit(tx)

    def _commit(self, tx: MemoryTransaction) -> None:
        tx.open = False
        for stream_id, recorded in tx.pending.items():
            current = len(self._streams.get(stream_id, []))
            if recorded and recorded[0].version != current + 1:
                raise ConcurrencyConflict(stream_id, recorded[0].version - 1, current)
        for stream_id, recorded in tx.pending.items():
            self._streams.setdefault(stream_id, []).extend(recorded)
            self._all.extend(recorded)
        self._all.sort(key=lambda r: r.position)

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
    ) -> list[RecordedEvent]:
        if not events:
            return []
        appends = [Append(stream_id, expected_version, events, customer_id, context or EventContext.current())]
        if conn is not None:
            return (await self.append_all(conn, appends, savepoint=savepoint))[0]
        async with self.transaction() as tx:
            return (await self.append_all(tx, appends))[0]

    async def append_all(
        self, conn: Any, appends: Sequence[Append], *, savepoint: bool = True
    ) -> list[list[RecordedEvent]]:
        tx = _transaction(conn)
        if len({a.stream_id for a in appends}) != len(appends):
            raise ValueError("append_all takes each stream once")
        contexts_by_stream = {}
        for a in appends:  # all or none: every check before anything is appended
            contexts_by_stream[a.stream_id] = contexts_of(a, self.registry)
            current = self._version(a.stream_id, tx)
            if a.events and current != a.expected_version:
                raise ConcurrencyConflict(a.stream_id, a.expected_version, current)
        occurred_at = self.clock.now()
        result = []
        for a in appends:
            contexts = contexts_by_stream[a.stream_id]
            recorded = []
            for step, (event, context) in enumerate(zip(a.events, contexts, strict=True), start=1):
                recorded.append(
                    RecordedEvent(
                        position=self._next_position,
                        stream_id=a.stream_id,
                        version=a.expected_version + step,
                        event_id=uuid4(),
                        event_type=event.event_type,
                        schema_version=event.schema_version,
                        customer_id=a.customer_id,
                        topic=self.topic,
                        occurred_at=occurred_at,
                        event=event,
                        data=event.payload(),
                        correlation_id=context.correlation_id,
                        causation_id=context.causation_id,
                        traceparent=context.traceparent,
                        actor=context.actor,
                    )
                )
                self._next_position += 1
            tx.pending.setdefault(a.stream_id, []).extend(recorded)
            result.append(recorded)
        return result

    def _events(self, stream_id: str, conn: Any) -> list[RecordedEvent]:
        committed = self._streams.get(stream_id, [])
        if conn is None:
            return list(committed)
        return [*committed, *_transaction(conn).pending.get(stream_id, [])]

    def _version(self, stream_id: str, tx: MemoryTransaction) -> int:
        return len(self._events(stream_id, tx))

    async def load(self, stream_id: str, conn: Any = None, *, after: int = 0) -> list[RecordedEvent]:
        return [r for r in self._events(stream_id, conn) if r.version > after]

    async def heads(self, stream_ids: Sequence[str], conn: Any = None) -> dict[str, tuple[int, UUID]]:
        found = {}
        for stream_id in stream_ids:
            events = self._events(stream_id, conn)
            if events:
                found[stream_id] = (events[-1].version, events[-1].event_id)
        return found

    async def event_id_at(self, stream_id: str, version: int, conn: Any = None) -> UUID | None:
        events = self._events(stream_id, conn)
        return events[version - 1].event_id if 0 < version <= len(events) else None

    async def current_version(self, stream_id: str, conn: Any = None) -> int:
        return len(self._events(stream_id, conn))

    async def read_all(self, after_position: int = 0, limit: int = 1000, conn: Any = None) -> list[RecordedEvent]:
        visible = self._all
        if conn is not None:
            visible = sorted(
                [*self._all, *(r for rs in _transaction(conn).pending.values() for r in rs)], key=lambda r: r.position
            )
        return [r for r in visible if r.position > after_position][:limit]


def _transaction(conn: Any) -> MemoryTransaction:
    if not isinstance(conn, MemoryTransaction) or not conn.open:
        raise ValueError("not an open transaction of this store")
    return conn
