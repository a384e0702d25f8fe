"""What the credit team does to an invoice by hand: disputes, write-offs, recoveries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from contracts.receivables import (
    DisputeOpened,
    DisputeOutcome,
    DisputeResolved,
    InvoiceSettled,
    InvoiceWrittenOff,
    WriteOffRecovered,
)
from libs.events.contracts import DomainEvent
from services.receivables.domain.account import ZERO, Account, Refused, Unknown, evolve, fold, money
from services.receivables.domain.cash import apply_waiting
from services.receivables.domain.documents import CreditNoteDocument, credit


def open_dispute(
    account: Account, dispute_id: str, invoice_id: str, amount: Decimal, reason: str, owner: str, today: date
) -> list[DomainEvent]:
    invoice = account.invoice(invoice_id)
    undisputed = invoice.open - invoice.disputed
    if amount <= 0:
        raise Refused("a disputed amount must be positive")
    if amount > undisputed:
        raise Refused(f"invoice {invoice_id} has {undisputed} {invoice.currency} open and undisputed, not {amount}")
    return [
        DisputeOpened(
            customer_id=account.customer_id,
            recorded_on=today,
            dispute_id=dispute_id,
            invoice_id=invoice_id,
            amount=money(amount, invoice.currency),
            reason=reason,
            owner=owner,
            opened_on=today,
        )
    ]


def resolve_dispute(
    account: Account,
    dispute_id: str,
    outcome: DisputeOutcome,
    credited: Decimal | None,
    note: str | None,
    by: str,
    today: date,
) -> list[DomainEvent]:
    """Upheld or partly upheld, the credited amount becomes a credit note on the invoice; what is
    left of the disputed amount is collectable again, and unapplied cash waiting is applied to it."""
    dispute = account.disputes.get(dispute_id)
    if dispute is None:
        raise Unknown(f"customer {account.customer_id} has no dispute {dispute_id}")
    if dispute.resolved:
        raise Refused(f"dispute {dispute_id} is already resolved")
    invoice = account.invoices[dispute.invoice_id]
    if outcome == "upheld":
        amount = dispute.amount
    elif outcome == "rejected":
        amount = ZERO
    else:
        if credited is None or not ZERO < credited < dispute.amount:
            raise Refused(f"a partly upheld dispute credits more than 0 and less than {dispute.amount}")
        amount = credited
    if outcome != "partly" and credited is not None and credited != amount:
        raise Refused(f"an {outcome} dispute credits {amount}; leave 'credited' out or use 'partly'")
    resolved = DisputeResolved(
        customer_id=account.customer_id,
        recorded_on=today,
        dispute_id=dispute_id,
        invoice_id=invoice.invoice_id,
        outcome=outcome,
        credited=money(amount, invoice.currency),
        note=note,
        resolved_by=by,
        resolved_on=today,
    )
    events: list[DomainEvent] = [resolved]
    if amount > 0:
        doc = CreditNoteDocument(
            document_id=f"{dispute_id}-CN",
            revision=1,
            number=f"{dispute_id}-CN",
            amount=money(amount, invoice.currency),
            reason=f"dispute {dispute_id} {outcome}",
            issue_date=today,
            invoice_id=invoice.invoice_id,
        )
        events += credit(evolve(account, resolved), account.customer_id, doc, today, dispute_id=dispute_id)
    return events + apply_waiting(fold(events, account), [invoice.invoice_id], today)


def write_off(
    account: Account, invoice_id: str, amount: Decimal | None, reason: str, approved_by: str, today: date
) -> list[DomainEvent]:
    invoice = account.invoice(invoice_id)
    amount = invoice.open if amount is None else amount
    if amount <= 0 or amount > invoice.open:
        raise Refused(f"invoice {invoice_id} has {invoice.open} {invoice.currency} open; cannot write off {amount}")
    events: list[DomainEvent] = [
        InvoiceWrittenOff(
            customer_id=account.customer_id,
            recorded_on=today,
            invoice_id=invoice_id,
            amount=money(amount, invoice.currency),
            reason=reason,
            approved_by=approved_by,
            entry_date=today,
        )
    ]
    if amount == invoice.open:
        events.append(
            InvoiceSettled(customer_id=account.customer_id, recorded_on=today, invoice_id=invoice_id, settled_on=today)
        )
    return events


def recover(account: Account, invoice_id: str, amount: Decimal, reason: str, today: date) -> list[DomainEvent]:
    invoice = account.invoice(invoice_id)
    recoverable = invoice.written_off - invoice.recovered
    if amount <= 0 or amount > recoverable:
        raise Refused(f"invoice {invoice_id} has {recoverable} {invoice.currency} written off and not yet recovered")
    return [
        WriteOffRecovered(
            customer_id=account.customer_id,
            recorded_on=today,
            invoice_id=invoice_id,
            amount=money(amount, invoice.currency),
            reason=reason,
            entry_date=today,
        )
    ]
