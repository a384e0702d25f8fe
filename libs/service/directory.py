"""The customer directory each service keeps in its own read model, so that it knows which
customers exist: a table of customers written from the events that say who a customer is, and
the lookups use cases make in it (``Customers``).

Which events say that, and what, is the publisher's contract: the service gives a function from an
event to an entry (``contracts.profiles.directory_entry``), and this module keeps the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from libs.events.consumer import BatchHandler, Delivery
from libs.events.contracts import DomainEvent
from libs.events.database import Connection, Migration

READ_MODEL = [
    Migration(
        "directory/001_customers.sql",
        """
        CREATE TABLE customers (
            customer_id   text PRIMARY KEY,
            legal_name    text        NOT NULL,
            country       text        NOT NULL,
            registered_at timestamptz NOT NULL
        );
        """,
    ),
    Migration(
        "directory/002_erp_id.sql",
        """
        ALTER TABLE customers ADD COLUMN erp_id text;
        CREATE INDEX customers_erp_id ON customers (erp_id);
        """,
    ),
    Migration("directory/003_address.sql", "ALTER TABLE customers ADD COLUMN address text;"),
]


class Entry(Protocol):
    """What an event says of a customer; ``country`` None: not said, so unchanged."""

    @property
    def customer_id(self) -> str: ...
    @property
    def legal_name(self) -> str: ...
    @property
    def erp_id(self) -> str | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...


Extract = Callable[[DomainEvent], Entry | None]


@dataclass(frozen=True)
class Directory:
    extract: Extract

    async def project(self, conn: Connection, deliveries: Sequence[Delivery]) -> list[Entry]:
        """Write what the deliveries say of customers; answers the entries, in order."""
        entries = [(d, e) for d in deliveries if (e := self.extract(d.event)) is not None]
        new = [(d, e) for d, e in entries if e.country is not None]
        if new:
            await conn.executemany(
                "INSERT INTO customers (customer_id, legal_name, country, registered_at, erp_id, address)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE"
                " SET legal_name = excluded.legal_name, country = excluded.country, erp_id = excluded.erp_id,"
                " address = excluded.address",
                [(e.customer_id, e.legal_name, e.country, d.envelope.time, e.erp_id, e.address) for d, e in new],
            )
        for _, entry in entries:
            if entry.country is None:
                await conn.execute(
                    "UPDATE customers SET legal_name = $2, erp_id = $3, address = $4 WHERE customer_id = $1",
                    entry.customer_id,
                    entry.legal_name,
                    entry.erp_id,
                    entry.address,
                )
        return [e for _, e in entries]

    def consumer(self) -> BatchHandler:
        async def project_customers(conn: Connection, deliveries: Sequence[Delivery]) -> None:
            await self.project(conn, deliveries)

        return project_customers


@dataclass(frozen=True)
class Customer:
    """A customer as the directory knows it."""

    customer_id: str
    legal_name: str
    erp_id: str | None
    address: str | None


class Customers(Protocol):
    """Which customers exist, for use cases that must know before they decide."""

    async def get(self, conn: Any, customer_id: str) -> Customer | None: ...

    async def by_erp_id(self, conn: Any, erp_ids: Sequence[str]) -> dict[str, str]:
        """The customer id of each ERP id that is registered."""
        ...


class DirectoryCustomers:
    """``Customers`` answered from the directory table, in the caller's transaction."""

    async def get(self, conn: Connection, customer_id: str) -> Customer | None:
        row = await conn.fetchrow(
            "SELECT customer_id, legal_name, erp_id, address FROM customers WHERE customer_id = $1", customer_id
        )
        return None if row is None else Customer(**row)

    async def by_erp_id(self, conn: Connection, erp_ids: Sequence[str]) -> dict[str, str]:
        rows = await conn.fetch(
            "SELECT erp_id, customer_id FROM customers WHERE erp_id = ANY($1::text[])", sorted(set(erp_ids))
        )
        return {row["erp_id"]: row["customer_id"] for row in rows}
