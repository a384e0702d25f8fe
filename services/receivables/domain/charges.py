"""Charges collections posts with a notice (a dunning fee, late-payment interest), booked on the
account as receivables of their own: due on the notice's date, paid like any invoice (oldest due
first, so after the invoices that fell due before them), aged and on the statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from contracts.collections import Charge
from contracts.receivables import ChargeOrigin, InvoiceIssued, Terms
from libs.events.contracts import DomainEvent, Money, in_minor_units
from services.receivables.domain.account import ZERO, Account, Refused, fold
from services.receivables.domain.documents import issue, number_free
from services.receivables.domain.terms import schedule_for

DUE_AT_ONCE = Terms(net_days=0)


def charge_id(step_id: str, charge: Charge) -> str:
    """One charge per kind and currency of a step; the same on every redelivery."""
    return f"{step_id}-{charge.kind}-{charge.amount.currency}"


def charge_number(business_date: date, charge: Charge) -> str:
    """The number on the statement: a customer has at most one dunning step a day."""
    return f"{'FEE' if charge.kind == 'fee' else 'INT'}-{business_date:%Y%m%d}-{charge.amount.currency}"


def book_charges(
    account: Account, customer_id: str, step_id: str, business_date: date, charges: Sequence[Charge], today: date
) -> list[DomainEvent]:
    """Each charge not yet booked becomes a receivable; unapplied cash waiting on the account pays it."""
    events: list[DomainEvent] = []
    for charge in charges:
        invoice_id = charge_id(step_id, charge)
        if invoice_id in account.invoices:
            continue  # booked when this posting was delivered before
        amount = charge.amount
        if amount.amount <= 0 or not in_minor_units(amount.amount, amount.currency):
            raise Refused(f"a charge must be positive in {amount.currency}'s minor unit, not {amount.amount}")
        number = charge_number(business_date, charge)
        number_free(account, number, customer_id)
        issued = InvoiceIssued(
            customer_id=customer_id,
            recorded_on=today,
            invoice_id=invoice_id,
            number=number,
            net=amount,
            tax=Money(amount=ZERO, currency=amount.currency),
            total=amount,
            issue_date=business_date,
            terms=DUE_AT_ONCE,
            schedule=schedule_for(amount, business_date, DUE_AT_ONCE),
            charge=ChargeOrigin(kind=charge.kind, step_id=step_id, description=charge.description),
        )
        booked = issue(account, issued, today)
        account = fold(booked, account)
        events += booked
    return events
