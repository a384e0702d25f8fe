"""Running a command: load the stream, fold it, decide, append; on a lost race, again on fresh state.

Every service's use cases run through ``run``. The streams are read through ``FoldedStreams``:
one customer's stream folded into its state, kept in memory when folding a long history for
every command would cost more than the command. Before a remembered state is used the stream's
last event is read: if it is still the one the state has seen, the state is current; if the
stream has grown, only the newer events are folded in; otherwise (another process wrote, or a
transaction that wrote it rolled back) it is folded again from the start. The expected-version
check on append stays the guard; the memory only saves reading.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from libs.events.contracts import DomainEvent
from libs.events.refusals import check_version
from libs.events.store import Append, ConcurrencyConflict, EventContext, RecordedEvent, Store

State = TypeVar("State")


@dataclass(frozen=True)
class Loaded(Generic[State]):
    """A stream's state as of ``version``, the last event folded into it being ``last_event_id``."""

    state: State
    version: int
    last_event_id: UUID | None = None


@dataclass(frozen=True)
class Ran(Generic[State]):
    """What a command recorded, and the state after it."""

    recorded: list[RecordedEvent]
    after: Loaded[State]

    @property
    def events(self) -> list[DomainEvent]:
        return [r.event for r in self.recorded]


class FoldedStreams(Generic[State]):
    """Each key's stream (``stream_of(key)``) folded from ``initial(key)`` with ``evolve``; up to
    ``capacity`` of them remembered, the least recently used forgotten first."""

    def __init__(
        self,
        store: Store,
        *,
        stream_of: Callable[[str], str],
        initial: Callable[[str], State],
        evolve: Callable[[State, DomainEvent], State],
        capacity: int = 0,
    ) -> None:
        self.store = store
        self.stream_of = stream_of
        self.initial = initial
        self.evolve = evolve
        self.capacity = capacity
        self._memory: OrderedDict[str, Loaded[State]] = OrderedDict()

    def fold(self, events: Iterable[DomainEvent], state: State) -> State:
        for event in events:
            state = self.evolve(state, event)
        return state

    async def load(self, conn: Any, key: str) -> Loaded[State]:
        return (await self.load_many(conn, [key]))[key]

    async def load_many(self, conn: Any, keys: Sequence[str]) -> dict[str, Loaded[State]]:
        streams = {self.stream_of(k): k for k in keys}
        if self.capacity == 0:  # nothing remembered: read each stream whole, without asking for its head
            return {k: await self._read(conn, s, k, None) for s, k in streams.items()}
        heads = await self.store.heads(list(streams), conn)
        loaded: dict[str, Loaded[State]] = {}
        for stream, key in streams.items():
            if stream not in heads:
                loaded[key] = Loaded(self.initial(key), 0)
                continue
            remembered = self._memory.get(stream)
            if remembered is not None and (remembered.version, remembered.last_event_id) == heads[stream]:
                self._memory.move_to_end(stream)
                loaded[key] = remembered
            else:
                loaded[key] = await self._read(conn, stream, key, remembered)
        return loaded

    async def _read(self, conn: Any, stream: str, key: str, remembered: Loaded[State] | None) -> Loaded[State]:
        if remembered is not None and remembered.version > 0:
            seen = await self.store.event_id_at(stream, remembered.version, conn)
            if seen == remembered.last_event_id:
                newer = await self.store.load(stream, conn, after=remembered.version)
                return self._remember(stream, remembered, newer)
        history = await self.store.load(stream, conn)
        return self._remember(stream, Loaded(self.initial(key), 0), history)

    def _remember(
        self, stream: str, base: Loaded[State], recorded: Sequence[RecordedEvent], folded: State | None = None
    ) -> Loaded[State]:
        if not recorded:
            return base
        state = folded if folded is not None else self.fold((r.event for r in recorded), base.state)
        loaded = Loaded(state, recorded[-1].version, recorded[-1].event_id)
        if self.capacity > 0:
            self._memory[stream] = loaded
            self._memory.move_to_end(stream)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)
        return loaded

    async def append(
        self,
        conn: Any,
        decisions: dict[str, tuple[Loaded[State], Sequence[DomainEvent]]],
        contexts: dict[str, list[EventContext]] | None = None,
        folded: dict[str, State] | None = None,
        *,
        context: EventContext | None = None,
    ) -> dict[str, tuple[Loaded[State], list[RecordedEvent]]]:
        """Append each key's new events after the version it was loaded at, in one statement in
        ``conn``'s transaction, each event with its own context where ``contexts`` gives them (else
        ``context``, else the one bound for the work in hand); answers each key's state after its
        events (``folded`` when the caller has folded them) and what was recorded.

        Raises ``ConcurrencyConflict`` when a stream has moved since it was loaded."""
        pending = [(k, loaded, events) for k, (loaded, events) in decisions.items() if events]
        appended = await self.store.append_all(
            conn,
            [
                Append(
                    self.stream_of(k),
                    loaded.version,
                    events,
                    k,
                    context=context,
                    contexts=(contexts or {}).get(k),
                )
                for k, loaded, events in pending
            ],
        )
        result: dict[str, tuple[Loaded[State], list[RecordedEvent]]] = {
            k: (loaded, []) for k, (loaded, _) in decisions.items()
        }
        for (key, loaded, _), recorded in zip(pending, appended, strict=True):
            after = (folded or {}).get(key)
            result[key] = (self._remember(self.stream_of(key), loaded, recorded, after), recorded)
        return result


ATTEMPTS = 5


async def run(
    streams: FoldedStreams[State],
    conn: Any,
    key: str,
    decide: Callable[[State], Sequence[DomainEvent]],
    *,
    expected_version: int | None = None,
    context: EventContext | None = None,
    attempts: int = ATTEMPTS,
) -> Ran[State]:
    """Load ``key``'s stream, decide on its state, append in ``conn``'s transaction.

    A race lost to another writer is decided again on fresh state, up to ``attempts`` times,
    unless the caller named the version it expects (an If-Match): then the conflict is theirs.
    Refusals raised by ``decide`` pass through untouched.
    """
    for attempt in range(1, attempts + 1):
        loaded = await streams.load(conn, key)
        if loaded.version > 0:
            check_version(expected_version, loaded.version)
        events = list(decide(loaded.state))  # on nothing yet: refused as missing before it is stale
        check_version(expected_version, loaded.version)
        try:
            after, recorded = (await streams.append(conn, {key: (loaded, events)}, context=context))[key]
        except ConcurrencyConflict:
            if attempt == attempts or expected_version is not None:
                raise
            continue
        return Ran(recorded, after)
    raise AssertionError("unreachable")
