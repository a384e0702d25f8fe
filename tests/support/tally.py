"""A small aggregate of the tests' own to drive the backbone: a customer's tally account.

Its projection adds amounts up without any idempotence of its own, so an event applied
twice shows as a wrong balance and an applied-count that exceeds the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from libs.events.consumer import Delivery
from libs.events.contracts import DomainEvent, EventRegistry, Money
from libs.events.database import Connection, Migration
from libs.events.store import RecordedEvent

SOURCE = "tally"


class Deposited(DomainEvent):
    event_type = "tally.Deposited"
    schema_version = 2

    amount: Money
    memo: str


class Withdrawn(DomainEvent):
    event_type = "tally.Withdrawn"

    amount: Money


registry = EventRegistry([Deposited, Withdrawn])


@registry.upcaster("tally.Deposited", from_version=1)
def _deposited_v1_to_v2(data: dict[str, object]) -> dict[str, object]:
    # Version 1 carried a bare decimal string in CNY and no memo.
    return {"amount": {"amount": data["amount"], "currency": "CNY"}, "memo": ""}


@dataclass(frozen=True)
class Account:
    balance: Decimal = Decimal("0")
    events: int = 0


def evolve(state: Account, event: DomainEvent) -> Account:
    if isinstance(event, Deposited):
        return Account(state.balance + event.amount.amount, state.events + 1)
    if isinstance(event, Withdrawn):
        return Account(state.balance - event.amount.amount, state.events + 1)
    return state


def deposit(amount: str, memo: str = "") -> DomainEvent:
    return Deposited(amount=Money.of(amount, "CNY"), memo=memo)


READ_MODEL = [
    Migration(
        "tally/001_balances.sql",
        """
        CREATE TABLE balances (
            stream_id   text PRIMARY KEY,
            customer_id text NOT NULL,
            balance     numeric NOT NULL,
            applied     integer NOT NULL
        );
        """,
    )
]


def signed(event: DomainEvent) -> Decimal:
    if isinstance(event, Deposited):
        return event.amount.amount
    if isinstance(event, Withdrawn):
        return -event.amount.amount
    return Decimal(0)


_ADD = (
    "INSERT INTO balances (stream_id, customer_id, balance, applied) VALUES ($1, $2, $3, 1)"
    " ON CONFLICT (stream_id) DO UPDATE SET balance = balances.balance + excluded.balance,"
    " applied = balances.applied + 1"
)


async def add_to_balance(conn: Connection, stream_id: str, customer_id: str, event: DomainEvent) -> None:
    await conn.execute(_ADD, stream_id, customer_id, signed(event))


async def own_projection(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    # executemany sends the whole group in one round trip
    await conn.executemany(_ADD, [(r.stream_id, r.customer_id, signed(r.event)) for r in events])


async def project_delivery(conn: Connection, delivery: Delivery) -> None:
    await add_to_balance(conn, delivery.stream_id, delivery.customer_id, delivery.event)


async def project_deliveries(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    """The same projection for a whole batch, in one round trip."""
    await conn.executemany(_ADD, [(d.stream_id, d.customer_id, signed(d.event)) for d in deliveries])


async def project_and_time(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    """The projection, and when it happened, for measuring lag (benchmarks only)."""
    await project_deliveries(conn, deliveries)
    await conn.executemany(
        "INSERT INTO projected_at VALUES ($1, $2, clock_timestamp())",
        [(d.envelope.id, d.envelope.time) for d in deliveries],
    )


async def balances(conn_or_pool: Connection | asyncpg.Pool) -> dict[str, tuple[Decimal, int]]:
    rows = await conn_or_pool.fetch("SELECT stream_id, balance, applied FROM balances")
    return {r["stream_id"]: (r["balance"], r["applied"]) for r in rows}


async def expected_from_events(pool: asyncpg.Pool) -> dict[str, tuple[Decimal, int]]:
    """The balances the stored events imply, computed without any projection code."""
    rows = await pool.fetch(
        "SELECT stream_id, sum(CASE WHEN event_type = 'tally.Deposited' THEN (data->'amount'->>'amount')::numeric"
        " ELSE -(data->'amount'->>'amount')::numeric END) AS balance, count(*) AS applied"
        " FROM public.events GROUP BY stream_id"
    )
    return {r["stream_id"]: (r["balance"], r["applied"]) for r in rows}
