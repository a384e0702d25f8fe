"""What collections does when others' events arrive: it keeps the facts dunning works on (open
items, disputes, cash, the customer's grade, holds and limit, the billing contact, FX rates), and
values the promises and plans of the customers whose cash moved and places the customers on the
worklist again, in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from contracts.profiles import ContactAdded, ContactChanged, ContactRetired, directory_entry
from contracts.receivables import (
    Allocation,
    AllocationsWithdrawn,
    CreditNoteApplied,
    DatedAllocation,
    DisputeOpened,
    DisputeResolved,
    FxRateRecorded,
    InvoiceAdjusted,
    InvoiceIssued,
    InvoiceWrittenOff,
    PaymentAllocated,
    PaymentReceived,
    PaymentReversed,
)
from contracts.scoring import (
    CreditHoldPlaced,
    CreditHoldReleased,
    CreditLimitSet,
    CustomerScored,
    PaymentLatenessPredicted,
)
from libs.events.consumer import BatchHandler, Delivery
from libs.events.database import Connection
from libs.events.store import EventContext
from libs.service.directory import Directory
from services.collections import handlers, queries


def facts(parts: handlers.Parts) -> BatchHandler:
    directory = Directory(directory_entry)

    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        await directory.project(conn, deliveries)
        today = parts.clock.today()
        moved = await project_facts(conn, deliveries, parts.base_currency, today)
        if moved:
            contexts = {d.customer_id: EventContext.caused_by(d.envelope) for d in deliveries}
            await handlers.value_commitments(parts, conn, sorted(moved), today, contexts)
        await queries.refresh_worklist(conn, [d.customer_id for d in deliveries], today, parts.base_currency)

    return react


def _schedule(event: InvoiceIssued | InvoiceAdjusted) -> str:
    return json.dumps([(i.due_date.isoformat(), str(i.amount.amount)) for i in event.schedule])


# customer, invoice, amount (signed), the day the ledger recorded it, the business date it counts from
Reduction = tuple[str, str, Decimal, date, date]


def _reduced(
    customer_id: str, allocations: Sequence[Allocation], sign: int, recorded_on: date, entry_date: date
) -> list[Reduction]:
    return [(customer_id, a.invoice_id, sign * _with_discount(a), recorded_on, entry_date) for a in allocations]


def _with_discount(a: Allocation | DatedAllocation) -> Decimal:
    return a.amount.amount + (a.discount.amount if a.discount else Decimal(0))


async def project_facts(conn: Connection, deliveries: Sequence[Delivery], base_currency: str, today: date) -> set[str]:
    """Write the facts these events carry, each with the business date it was recorded on (a grade and
    a hold: the day collections learnt of it), so that the policy backtest sees what was known on any
    day; answers the customers whose cash moved."""
    moved: set[str] = set()
    standings: set[str] = set()
    for delivery in deliveries:
        event, customer_id = delivery.event, delivery.customer_id
        reductions: list[Reduction] = []
        match event:
            case InvoiceIssued(charge=None):  # a charge collections posted is not dunned itself
                await conn.execute(
                    "INSERT INTO items (customer_id, invoice_id, number, currency, total, issue_date, schedule,"
                    " first_due, issued_total, recorded_on) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $5, $9)"
                    " ON CONFLICT DO NOTHING",
                    customer_id,
                    event.invoice_id,
                    event.number,
                    event.total.currency,
                    event.total.amount,
                    event.issue_date,
                    _schedule(event),
                    min(i.due_date for i in event.schedule),
                    event.recorded_on,
                )
            case InvoiceAdjusted():
                await conn.execute(
                    "UPDATE items SET total = $3, schedule = $4::jsonb, first_due = $5"
                    " WHERE customer_id = $1 AND invoice_id = $2",
                    customer_id,
                    event.invoice_id,
                    event.total.amount,
                    _schedule(event),
                    min(i.due_date for i in event.schedule),
                )
                # In the dated history, an adjustment is what is owed changing from the day it was recorded.
                await _dated(
                    conn, [(customer_id, event.invoice_id, -event.change.amount, event.recorded_on, event.entry_date)]
                )
            case PaymentReceived():
                await _cash(
                    conn,
                    [
                        (
                            customer_id,
                            event.payment_id,
                            None,
                            event.amount.currency,
                            event.amount.amount,
                            event.value_date,
                        )
                    ],
                )
                moved.add(customer_id)
            case PaymentAllocated():
                reductions = _reduced(customer_id, event.allocations, +1, event.recorded_on, event.entry_date)
                await _cash(
                    conn,
                    [
                        (
                            customer_id,
                            event.payment_id,
                            a.invoice_id,
                            a.amount.currency,
                            a.amount.amount,
                            event.entry_date,
                        )
                        for a in event.allocations
                    ],
                )
                moved.add(customer_id)
            case PaymentReversed():
                reductions = _reduced(customer_id, event.reversed_allocations, -1, event.recorded_on, event.entry_date)
                await conn.execute(
                    "UPDATE cash SET reversed = true WHERE customer_id = $1 AND payment_id = $2",
                    customer_id,
                    event.payment_id,
                )
                moved.add(customer_id)
            case AllocationsWithdrawn():
                reductions = [
                    (customer_id, a.invoice_id, -_with_discount(a), event.recorded_on, a.entry_date)
                    for a in event.allocations
                ]
                if event.source == "payment":
                    await _cash(
                        conn,
                        [
                            (
                                customer_id,
                                event.source_id,
                                a.invoice_id,
                                a.amount.currency,
                                -a.amount.amount,
                                a.entry_date,
                            )
                            for a in event.allocations
                        ],
                    )
                    moved.add(customer_id)
            case CreditNoteApplied():
                reductions = _reduced(customer_id, event.allocations, +1, event.recorded_on, event.entry_date)
            case InvoiceWrittenOff():
                amount = event.amount.amount
                reductions = [(customer_id, event.invoice_id, amount, event.recorded_on, event.entry_date)]
            case DisputeOpened():
                await conn.execute(
                    "INSERT INTO disputes (dispute_id, customer_id, invoice_id, opened_on) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT DO NOTHING",
                    event.dispute_id,
                    customer_id,
                    event.invoice_id,
                    event.opened_on,
                )
            case DisputeResolved():
                await conn.execute(
                    "UPDATE disputes SET resolved_on = $2 WHERE dispute_id = $1", event.dispute_id, event.resolved_on
                )
            case FxRateRecorded() if event.base_currency == base_currency:
                await conn.execute(
                    "INSERT INTO fx_rates (currency, rate_date, rate) VALUES ($1, $2, $3)"
                    " ON CONFLICT (currency, rate_date) DO UPDATE SET rate = excluded.rate",
                    event.currency,
                    event.rate_date,
                    event.rate,
                )
            case CustomerScored():
                await _standing(conn, customer_id, "grade = $2", event.grade)
            case CreditHoldPlaced():
                await _standing(
                    conn, customer_id, "holds = array_append(array_remove(standing.holds, $2), $2)", event.hold_id
                )
            case CreditHoldReleased():
                await _standing(conn, customer_id, "holds = array_remove(standing.holds, $2)", event.hold_id)
            case PaymentLatenessPredicted():
                await _standing(conn, customer_id, "expected_days_late = $2", event.expected_days_late)
            case CreditLimitSet():
                await conn.execute(
                    "INSERT INTO standing (customer_id, limit_amount, limit_currency) VALUES ($1, $2, $3)"
                    " ON CONFLICT (customer_id) DO UPDATE SET limit_amount = $2, limit_currency = $3",
                    customer_id,
                    event.limit.amount,
                    event.limit.currency,
                )
            case ContactAdded() | ContactChanged():
                await conn.execute(
                    "INSERT INTO contacts (customer_id, contact_id, name, email, phone, billing)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id, contact_id)"
                    " DO UPDATE SET name = $3, email = $4, phone = $5, billing = $6",
                    customer_id,
                    event.contact_id,
                    event.name,
                    event.email,
                    event.phone,
                    event.billing,
                )
            case ContactRetired():
                await conn.execute(
                    "UPDATE contacts SET retired = true WHERE customer_id = $1 AND contact_id = $2",
                    customer_id,
                    event.contact_id,
                )
        if isinstance(event, CustomerScored | CreditHoldPlaced | CreditHoldReleased):
            standings.add(customer_id)
        if reductions:
            await conn.executemany(
                "UPDATE items SET reduced = reduced + $3 WHERE customer_id = $1 AND invoice_id = $2",
                [r[:3] for r in reductions],
            )
            await _dated(conn, reductions)
    if standings:
        await conn.execute(
            "INSERT INTO standing_history (customer_id, since, grade, on_hold)"
            " SELECT customer_id, $2, grade, holds <> '{}' FROM standing WHERE customer_id = ANY($1::text[])"
            " ON CONFLICT (customer_id, since) DO UPDATE SET grade = excluded.grade, on_hold = excluded.on_hold",
            sorted(standings),
            today,
        )
    return moved


async def _dated(conn: Connection, reductions: Sequence[Reduction]) -> None:
    await conn.executemany(
        "INSERT INTO reductions (customer_id, invoice_id, amount, recorded_on, entry_date) VALUES ($1, $2, $3, $4, $5)",
        reductions,
    )


async def _cash(conn: Connection, rows: list[tuple[object, ...]]) -> None:
    if rows:
        await conn.executemany(
            "INSERT INTO cash (customer_id, payment_id, invoice_id, currency, amount, on_date)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            rows,
        )


async def _standing(conn: Connection, customer_id: str, assignment: str, value: object) -> None:
    # The assignment comes from this module, never from input.
    await conn.execute("INSERT INTO standing (customer_id) VALUES ($1) ON CONFLICT DO NOTHING", customer_id)
    await conn.execute(f"UPDATE standing SET {assignment} WHERE customer_id = $1", customer_id, value)
