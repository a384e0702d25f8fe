"""Loading customers' accounts and appending their events.

An account is folded from its stream. Folding a busy customer's history for every ERP
document would cost more than the document, so folded accounts are kept in memory, each
with the version and the id of the last event it has seen. Before one is used, the stream's
last event is read: if it is still the one the account has seen, the account is current; if
the stream has grown, only the newer events are folded in; otherwise (another process wrote,
or a transaction that wrote it rolled back) it is folded again from the start. The
expected-version check on append stays the guard; the memory only saves reading.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID
from weakref import WeakKeyDictionary

from libs.events.contracts import DomainEvent
from libs.events.database import Connection
from libs.events.store import Append, EventContext, EventStore, RecordedEvent
from services.receivables.domain import Account, fold, stream_id
from services.receivables.settings import settings


@dataclass(frozen=True)
class Loaded:
    account: Account
    version: int
    last_event_id: UUID | None


class Accounts:
    def __init__(self, store: EventStore, capacity: int) -> None:
        self.store = store
        self.capacity = capacity
        self._memory: OrderedDict[str, Loaded] = OrderedDict()

    async def load_many(self, conn: Connection, customer_ids: Sequence[str]) -> dict[str, Loaded]:
        streams = {stream_id(c): c for c in customer_ids}
        heads = await conn.fetch(  # each stream's last event, read backwards through the primary key
            "SELECT s AS stream_id, e.version, e.event_id FROM unnest($1::text[]) AS s CROSS JOIN LATERAL"
            " (SELECT version, event_id FROM events WHERE stream_id = s ORDER BY version DESC LIMIT 1) AS e",
            list(streams),
        )
        found = {row["stream_id"]: (row["version"], row["event_id"]) for row in heads}
        loaded: dict[str, Loaded] = {}
        for stream, customer_id in streams.items():
            if stream not in found:
                loaded[customer_id] = Loaded(Account(customer_id=customer_id), 0, None)
                continue
            version, event_id = found[stream]
            remembered = self._memory.get(stream)
            if remembered is not None and (remembered.version, remembered.last_event_id) == (version, event_id):
                self._memory.move_to_end(stream)
                loaded[customer_id] = remembered
            else:
                loaded[customer_id] = await self._read(conn, stream, customer_id, remembered)
        return loaded

    async def load(self, conn: Connection, customer_id: str) -> Loaded:
        return (await self.load_many(conn, [customer_id]))[customer_id]

    async def _read(self, conn: Connection, stream: str, customer_id: str, remembered: Loaded | None) -> Loaded:
        if remembered is not None and remembered.version > 0:
            seen = await conn.fetchval(
                "SELECT event_id FROM events WHERE stream_id = $1 AND version = $2", stream, remembered.version
            )
            if seen == remembered.last_event_id:
                newer = await self.store.load(stream, conn, after=remembered.version)
                return self._remember(stream, remembered, newer)
        history = await self.store.load(stream, conn)
        return self._remember(stream, Loaded(Account(customer_id=customer_id), 0, None), history)

    def _remember(
        self, stream: str, base: Loaded, recorded: Sequence[RecordedEvent], folded: Account | None = None
    ) -> Loaded:
        if not recorded:
            return base
        account = folded or fold((r.event for r in recorded), base.account)
        loaded = Loaded(account, recorded[-1].version, recorded[-1].event_id)
        self._memory[stream] = loaded
        self._memory.move_to_end(stream)
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)
        return loaded

    async def append(
        self,
        conn: Connection,
        decisions: dict[str, tuple[Loaded, list[DomainEvent]]],
        contexts: dict[str, list[EventContext]] | None = None,
        folded: dict[str, Account] | None = None,
    ) -> dict[str, Loaded]:
        """Append each customer's new events after the version it was loaded at, in one
        statement, each event with its own context where ``contexts`` gives them; answers each
        account as it stands after its events (``folded`` when the caller has folded them)."""
        pending = [(c, loaded, events) for c, (loaded, events) in decisions.items() if events]
        appended = await self.store.append_all(
            conn,
            [
                Append(stream_id(c), loaded.version, events, c, contexts=(contexts or {}).get(c))
                for c, loaded, events in pending
            ],
        )
        result = {c: loaded for c, (loaded, _) in decisions.items()}
        for (customer_id, loaded, _), recorded in zip(pending, appended, strict=True):
            after = (folded or {}).get(customer_id)
            result[customer_id] = self._remember(stream_id(customer_id), loaded, recorded, after)
        return result


_ACCOUNTS: WeakKeyDictionary[EventStore, Accounts] = WeakKeyDictionary()


def accounts_of(store: EventStore) -> Accounts:
    """The one memory of accounts per event store, shared by the API and the ERP reaction."""
    if store not in _ACCOUNTS:
        _ACCOUNTS[store] = Accounts(store, settings().accounts_in_memory)
    return _ACCOUNTS[store]
