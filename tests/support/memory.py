"""The use cases' collaborators in memory, so handlers run without PostgreSQL or the broker: the
event store (``libs.events.memory``) and the read-model lookups the handlers ask before they decide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from contracts import profiles as profiles_events
from contracts import receivables as receivables_events
from contracts.profiles import Registration
from contracts.receivables import Issuer
from libs.events.clock import SettableClock
from libs.events.memory import MemoryEventStore
from libs.service.directory import Customer
from services.profiles import domain as profiles_domain
from services.profiles import handlers as profiles
from services.receivables import handlers as receivables

ISSUER = Issuer(
    name="福州闽江供应链有限公司", address="福建省福州市鼓楼区五四路 88 号", bank_account="1402 0211 0900 1234 567"
)


@dataclass
class MemoryCustomers:
    """The directory as a dict: customer id -> customer."""

    known: dict[str, Customer] = field(default_factory=dict)

    def register(
        self, customer_id: str, legal_name: str, erp_id: str | None = None, address: str | None = None
    ) -> None:
        self.known[customer_id] = Customer(customer_id, legal_name, erp_id, address)

    async def get(self, conn: Any, customer_id: str) -> Customer | None:
        return self.known.get(customer_id)

    async def by_erp_id(self, conn: Any, erp_ids: Sequence[str]) -> dict[str, str]:
        wanted = set(erp_ids)
        return {c.erp_id: c.customer_id for c in self.known.values() if c.erp_id in wanted}


class StoreRegistrations:
    """Who holds a registration, read from the credit files' own events in the store."""

    def __init__(self, store: MemoryEventStore) -> None:
        self.store = store

    async def _files(self, conn: Any) -> list[tuple[str, Registration, str | None]]:
        found: dict[str, tuple[str, Registration, str | None]] = {}
        for recorded in await self.store.read_all(conn=conn, limit=1_000_000):
            event = recorded.event
            if isinstance(event, profiles_events.CustomerRegistered):
                found[event.customer_id] = (event.customer_id, event.registration, event.erp_id)
            elif isinstance(event, profiles_events.ProfileUpdated) and event.customer_id in found:
                customer_id, registration, _ = found[event.customer_id]
                found[event.customer_id] = (customer_id, registration, event.erp_id)
        return list(found.values())

    async def holder(self, conn: Any, registration: Registration) -> str | None:
        number = profiles_domain.normalise(registration.scheme, registration.number)
        for customer_id, held, _ in await self._files(conn):
            if (held.scheme, held.country, held.number) == (registration.scheme, registration.country, number):
                return customer_id
        return None

    async def erp_link(self, conn: Any, erp_id: str, registration: Registration) -> tuple[str, str | None] | None:
        files = await self._files(conn)
        by_erp = next(((c, e) for c, _, e in files if e == erp_id), None)
        if by_erp is not None:
            return by_erp
        holder = await self.holder(conn, registration)
        return next(((c, e) for c, _, e in files if c == holder), None)


def profiles_parts(today: date = date(2026, 11, 23)) -> profiles.Parts:
    clock = SettableClock(today, frozen=True)
    store = MemoryEventStore(source="profiles", topic="profiles.events", registry=profiles_events.registry, clock=clock)
    return profiles.Parts(
        store=store,
        files=profiles.credit_files(store),
        clock=clock,
        registrations=StoreRegistrations(store),
        bureau=None,
    )


def receivables_parts(today: date = date(2026, 11, 23), customers: MemoryCustomers | None = None) -> receivables.Parts:
    clock = SettableClock(today, frozen=True)
    registry = receivables_events.registry
    store = MemoryEventStore(source="receivables", topic="receivables.events", registry=registry, clock=clock)
    return receivables.Parts(
        store=store,
        accounts=receivables.accounts(store, capacity=100),
        fx=receivables.fx_book(store),
        clock=clock,
        customers=customers or MemoryCustomers(),
        base_currency="CNY",
        issuer=ISSUER,
        statement_font=Path("/nonexistent"),
    )
