"""Movements: what each event changes in the customer's balance, as the lines of the account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from libs.events.contracts import DomainEvent
from services.receivables.events import (
    AllocationsWithdrawn,
    CreditBalanceRefunded,
    CreditNoteIssued,
    InvoiceAdjusted,
    InvoiceIssued,
    InvoiceWrittenOff,
    PaymentAllocated,
    PaymentReceived,
    PaymentReversed,
    WriteOffRecovered,
)

# Lines the customer never sees on a statement: writing off is the ledger's own affair, and what
# is written off is still owed.
INTERNAL = frozenset({"write_off", "write_off_reinstated"})


@dataclass(frozen=True, slots=True)
class Movement:
    """A line of the customer's account: a positive amount raises what the customer owes."""

    kind: str
    reference: str
    invoice_id: str | None
    currency: str
    amount: Decimal
    entry_date: date
    description: str
    detail: str | None = None  # an invoice's order, a payment's method


def movements(event: DomainEvent) -> list[Movement]:
    match event:
        case InvoiceIssued():
            total = event.total
            return [
                Movement(
                    "invoice",
                    event.number,
                    event.invoice_id,
                    total.currency,
                    total.amount,
                    event.issue_date,
                    f"Invoice {event.number}" + (f", order {event.order_ref}" if event.order_ref else ""),
                    event.order_ref,
                )
            ]
        case InvoiceAdjusted() if event.change.amount != 0:
            change = event.change
            return [
                Movement(
                    "adjustment",
                    event.invoice_id,
                    event.invoice_id,
                    change.currency,
                    change.amount,
                    event.entry_date,
                    f"Adjustment of invoice {event.invoice_id}: {event.reason}",
                )
            ]
        case CreditNoteIssued():
            amount = event.amount
            return [
                Movement(
                    "credit_note",
                    event.number,
                    event.invoice_id,
                    amount.currency,
                    -amount.amount,
                    event.issue_date,
                    f"Credit note {event.number}: {event.reason}",
                )
            ]
        case PaymentReceived():
            amount = event.amount
            return [
                Movement(
                    "payment",
                    event.payment_id,
                    None,
                    amount.currency,
                    -amount.amount,
                    event.value_date,
                    f"Payment {event.payment_id} ({event.method})",
                    event.method,
                )
            ]
        case PaymentAllocated():
            return [
                Movement(
                    "discount",
                    event.payment_id,
                    a.invoice_id,
                    a.discount.currency,
                    -a.discount.amount,
                    event.entry_date,
                    f"Cash discount on invoice {a.invoice_id}",
                )
                for a in event.allocations
                if a.discount is not None and a.discount.amount != 0
            ]
        case AllocationsWithdrawn():
            return [
                Movement(
                    "discount_reversal",
                    event.source_id,
                    a.invoice_id,
                    a.discount.currency,
                    a.discount.amount,
                    a.entry_date,
                    f"Cash discount on invoice {a.invoice_id} withdrawn: {event.reason}",
                )
                for a in event.allocations
                if a.discount is not None and a.discount.amount != 0
            ]
        case PaymentReversed():
            amount = event.amount
            reversal = Movement(
                "payment_reversal",
                event.payment_id,
                None,
                amount.currency,
                amount.amount,
                event.entry_date,
                f"Payment {event.payment_id} reversed: {event.reason}",
            )
            discounts = [
                Movement(
                    "discount_reversal",
                    event.payment_id,
                    a.invoice_id,
                    a.discount.currency,
                    a.discount.amount,
                    event.entry_date,
                    f"Cash discount on invoice {a.invoice_id} withdrawn",
                )
                for a in event.reversed_allocations
                if a.discount is not None and a.discount.amount != 0
            ]
            return [reversal, *discounts]
        case CreditBalanceRefunded():
            amount = event.amount
            return [
                Movement(
                    "refund",
                    event.refund_id,
                    None,
                    amount.currency,
                    amount.amount,
                    event.entry_date,
                    f"Refund {event.refund_id} of {event.source_id} ({event.method})",
                    event.method,
                )
            ]
        case InvoiceWrittenOff():
            amount = event.amount
            return [
                Movement(
                    "write_off",
                    event.invoice_id,
                    event.invoice_id,
                    amount.currency,
                    -amount.amount,
                    event.entry_date,
                    f"Written off: {event.reason}",
                )
            ]
        case WriteOffRecovered():
            # What was written off is owed again as far as it is recovered, and is paid at once.
            amount = event.amount
            return [
                Movement(
                    "write_off_reinstated",
                    event.invoice_id,
                    event.invoice_id,
                    amount.currency,
                    amount.amount,
                    event.entry_date,
                    f"Written-off amount recovered: {event.reason}",
                ),
                Movement(
                    "recovery",
                    event.invoice_id,
                    event.invoice_id,
                    amount.currency,
                    -amount.amount,
                    event.entry_date,
                    f"Recovery received on invoice {event.invoice_id}",
                ),
            ]
    return []
