"""Cash application: which invoices a payment or a credit note settles, and what is left of it.

A payment goes to the invoices its remittance names; else to the invoice its reference names;
else to the oldest due first, leaving disputed amounts alone. What cannot be matched, or is
more than all that is open, is *unapplied cash*: it waits, and is applied by itself as soon as
what it names, or (undetailed) anything, is open. Paying more than what was named leaves a
*credit balance*, which waits for a person: to allocate it or pay it back.

An allocation counts from the later of the payment's value date (a credit note's date) and the
invoice's date: before both existed, nothing was settled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from contracts.receivables import (
    Allocation,
    AllocationBasis,
    CreditBalanceRefunded,
    CreditNoteApplied,
    InvoiceReopened,
    InvoiceSettled,
    PaymentAllocated,
    PaymentReversed,
    Remainder,
    RemittanceLine,
)
from libs.events.contracts import DomainEvent, Money
from services.receivables.domain.account import (
    ZERO,
    Account,
    Invoice,
    Payment,
    Refused,
    Unknown,
    evolve,
    fold,
    money,
    normalise_number,
)
from services.receivables.domain.terms import discount_window

_REFERENCE_SEPARATORS = re.compile(r"[^0-9A-Za-z/_-]+")


def reference_tokens(reference: str | None) -> list[str]:
    return [t.upper() for t in _REFERENCE_SEPARATORS.split(reference or "") if t]


def named_by_reference(account: Account, currency: str, reference: str | None) -> Invoice | None:
    for token in reference_tokens(reference):
        invoice_id = account.numbers.get(token)
        invoice = account.invoices.get(invoice_id) if invoice_id else None
        if invoice is not None and invoice.currency == currency and invoice.open > 0:
            return invoice
    return None


def counts_from(invoice: Invoice, source_date: date) -> date:
    """The business date an allocation counts from: the later of the source's date and the invoice's."""
    return max(source_date, invoice.issue_date)


def settle(invoice: Invoice, offered: Decimal, value_date: date, ceiling: Decimal | None = None) -> Allocation | None:
    """Set up to ``offered`` against an invoice. Inside the discount window, an amount that
    covers what is open less the discount settles it, the difference granted as discount; a
    late payment of the discounted amount leaves the difference open."""
    owed = invoice.open if ceiling is None else min(invoice.open, ceiling)
    if offered <= 0 or owed <= 0:
        return None
    window = discount_window(invoice)
    if window is not None and value_date <= window[1] and owed == invoice.open and owed - window[0] <= offered < owed:
        return Allocation(
            invoice_id=invoice.invoice_id,
            amount=money(offered, invoice.currency),
            discount=money(owed - offered, invoice.currency),
        )
    return Allocation(invoice_id=invoice.invoice_id, amount=money(min(offered, owed), invoice.currency))


def apply_cash(
    account: Account,
    amount: Money,
    value_date: date,
    remittance: Sequence[RemittanceLine],
    reference: str | None,
) -> tuple[AllocationBasis, list[Allocation], Remainder | None]:
    """Where ``amount`` goes: the basis, the allocations, and what a remainder is."""
    cash = amount.amount
    if remittance:
        plan: list[Allocation] = []
        all_found = True
        for line in remittance:
            invoice_id = account.numbers.get(normalise_number(line.invoice_number))
            invoice = account.invoices.get(invoice_id) if invoice_id else None
            if invoice is None or invoice.currency != amount.currency:
                all_found = False
                continue
            offered = min(cash, line.amount) if line.amount is not None else cash
            allocation = settle(_after(invoice, plan), offered, value_date)
            if allocation is not None:
                plan.append(allocation)
                cash -= allocation.amount.amount
        return "remittance", plan, ("credit_balance" if all_found else "unapplied") if cash > 0 else None
    named = named_by_reference(account, amount.currency, reference)
    if named is not None:
        allocation = settle(named, cash, value_date)
        plan = [allocation] if allocation else []
        left = cash - (allocation.amount.amount if allocation else ZERO)
        return "reference", plan, "credit_balance" if left > 0 else None
    plan = oldest_due(account, amount.currency, cash, value_date)
    left = cash - sum((a.amount.amount for a in plan), ZERO)
    return "oldest_due", plan, "unapplied" if left > 0 else None


def _after(invoice: Invoice, plan: Sequence[Allocation]) -> Invoice:
    """The invoice as the allocations planned so far leave it (a remittance may name it twice)."""
    taken = sum(
        (
            a.amount.amount + (a.discount.amount if a.discount else ZERO)
            for a in plan
            if a.invoice_id == invoice.invoice_id
        ),
        ZERO,
    )
    return invoice._replace(paid=invoice.paid + taken) if taken else invoice


def oldest_due(account: Account, currency: str, cash: Decimal, value_date: date) -> list[Allocation]:
    """Undetailed cash to the oldest due first; disputed amounts are left alone."""
    plan = []
    for invoice in account.open_invoices(currency):
        if cash <= 0:
            break
        collectable = invoice.open - invoice.disputed
        if collectable <= 0:
            continue
        allocation = settle(invoice, cash, value_date, ceiling=collectable)
        if allocation is not None:
            plan.append(allocation)
            cash -= allocation.amount.amount
    return plan


def allocation_events(
    account: Account,
    payment_id: str,
    basis: AllocationBasis,
    plan: Sequence[Allocation],
    remainder_as: Remainder | None,
    today: date,
    *,
    allocated_by: str | None = None,
    on: date | None = None,
) -> list[DomainEvent]:
    """The payment's allocations, one event per business date they count from (``on`` for all,
    when given), and the invoices they settle."""
    payment = account.payments[payment_id]
    dated: dict[date, list[Allocation]] = {}
    for allocation in plan:
        day = on or counts_from(account.invoices[allocation.invoice_id], payment.value_date)
        dated.setdefault(day, []).append(allocation)
    if not dated:
        dated[on or payment.value_date] = []
    left, events = payment.unallocated, list[PaymentAllocated]()
    for day, allocations in sorted(dated.items()):
        left -= sum((a.amount.amount for a in allocations), ZERO)
        events.append(
            PaymentAllocated(
                customer_id=account.customer_id,
                recorded_on=today,
                payment_id=payment_id,
                basis=basis,
                allocations=tuple(allocations),
                entry_date=day,
                remainder=money(left, payment.currency),
                remainder_as=remainder_as if left > 0 else None,
                allocated_by=allocated_by,
            )
        )
    return [*events, *settled_by(account, [(a, e.entry_date) for e in events for a in e.allocations], today)]


def settled_by(account: Account, plan: Sequence[tuple[Allocation, date]], today: date) -> list[DomainEvent]:
    """InvoiceSettled for each invoice an allocation of the plan leaves with nothing open."""
    settled: list[DomainEvent] = []
    taken: dict[str, Decimal] = {}
    for allocation, on in plan:
        invoice = account.invoices[allocation.invoice_id]
        owed = invoice.open - taken.get(invoice.invoice_id, ZERO)
        reduction = allocation.amount.amount + (allocation.discount.amount if allocation.discount else ZERO)
        taken[invoice.invoice_id] = taken.get(invoice.invoice_id, ZERO) + reduction
        if owed > 0 and reduction >= owed:
            settled.append(
                InvoiceSettled(
                    customer_id=account.customer_id, recorded_on=today, invoice_id=invoice.invoice_id, settled_on=on
                )
            )
    return settled


def apply_credit_note(
    account: Account, credit_note_id: str, invoice_id: str, amount: Decimal, today: date, *, by: str | None = None
) -> list[DomainEvent]:
    """A credit note against its invoice, up to what is open on it."""
    note, invoice = account.credit_notes[credit_note_id], account.invoices[invoice_id]
    applied = min(amount, invoice.open)
    if applied <= 0:
        return []
    on = today if by is not None else counts_from(invoice, note.issue_date)
    allocation = Allocation(invoice_id=invoice_id, amount=money(applied, invoice.currency))
    event = CreditNoteApplied(
        customer_id=account.customer_id,
        recorded_on=today,
        credit_note_id=credit_note_id,
        allocations=(allocation,),
        entry_date=on,
        allocated_by=by,
    )
    return [event, *settled_by(account, [(allocation, on)], today)]


def _waiting(account: Account, currency: str) -> list[Payment]:
    """The payments with unapplied cash in ``currency``, in document order."""
    found = (account.payments[payment_id] for payment_id, _ in sorted(account.waiting.items(), key=lambda w: w[1]))
    return [p for p in found if p.currency == currency]


def apply_waiting(account: Account, invoice_ids: Sequence[str], today: date) -> list[DomainEvent]:
    """Invoices became open (arrived, reopened, undisputed): what waited for them is applied now.
    First the credit notes that name them, then unapplied cash whose remittance or reference names
    them, then undetailed unapplied cash to whatever is open, oldest due first; each source in
    the order of its date."""
    events: list[DomainEvent] = []

    def take(more: list[DomainEvent]) -> None:
        nonlocal account
        events.extend(more)
        account = fold(more, account)

    for invoice_id in invoice_ids:
        currency = account.invoices[invoice_id].currency
        for note in sorted(account.credit_notes.values(), key=lambda n: n.key):
            if note.from_erp and note.invoice_id == invoice_id and note.unallocated > 0 and note.currency == currency:
                take(apply_credit_note(account, note.credit_note_id, invoice_id, note.unallocated, today))
        number = normalise_number(account.invoices[invoice_id].number)
        for payment in _waiting(account, currency):
            basis: AllocationBasis
            if payment.remittance:
                named = [amount for named_number, amount in payment.remittance if named_number == number]
                basis = "remittance"
            else:
                named = [None] if number in reference_tokens(payment.payer_reference) else []
                basis = "reference"
            if not named:
                continue
            offered = min(payment.unallocated, named[0] or payment.unallocated)
            allocation = settle(account.invoices[invoice_id], offered, payment.value_date)
            if allocation is None:
                continue
            left = payment.unallocated - allocation.amount.amount
            remainder: Remainder = "credit_balance"
            if basis == "remittance" and not all(n in account.numbers for n, _ in payment.remittance):
                remainder = "unapplied"
            take(
                allocation_events(account, payment.payment_id, basis, [allocation], remainder if left else None, today)
            )
    for currency in sorted({account.invoices[i].currency for i in invoice_ids}):
        for payment in [p for p in _waiting(account, currency) if not p.remittance]:
            plan = oldest_due(account, currency, account.payments[payment.payment_id].unallocated, payment.value_date)
            if plan:
                left = payment.unallocated - sum((a.amount.amount for a in plan), ZERO)
                take(
                    allocation_events(
                        account, payment.payment_id, "oldest_due", plan, "unapplied" if left else None, today
                    )
                )
    return events


def allocate_by_hand(
    account: Account, source_id: str, lines: Sequence[tuple[str, Decimal]], by: str, today: date
) -> list[DomainEvent]:
    """A person allocates unapplied cash, a credit balance or an unapplied credit note to invoices."""
    payment, note = account.payments.get(source_id), account.credit_notes.get(source_id)
    if payment is not None:
        if payment.reversed:
            raise Refused(f"payment {source_id} was reversed")
        available, currency = payment.unallocated, payment.currency
    elif note is not None:
        available, currency = note.unallocated, note.currency
    else:
        raise Unknown(f"customer {account.customer_id} has no payment or credit note {source_id}")
    if len({invoice_id for invoice_id, _ in lines}) != len(lines):
        raise Refused("each invoice may appear once in an allocation")
    plan = []
    for invoice_id, amount in lines:
        invoice = account.invoice(invoice_id)
        if invoice.currency != currency:
            raise Refused(f"invoice {invoice_id} is in {invoice.currency}, {source_id} in {currency}")
        if not ZERO < amount <= invoice.open:
            raise Refused(f"invoice {invoice_id} has {invoice.open} {currency} open; cannot allocate {amount}")
        plan.append(Allocation(invoice_id=invoice_id, amount=money(amount, currency)))
    wanted = sum((a.amount.amount for a in plan), ZERO)
    if wanted > available:
        raise Refused(f"{source_id} has {available} {currency} left to allocate, not {wanted}")
    if payment is not None:
        return allocation_events(
            account, source_id, "manual", plan, payment.remainder_as, today, allocated_by=by, on=today
        )
    applied = CreditNoteApplied(
        customer_id=account.customer_id,
        recorded_on=today,
        credit_note_id=source_id,
        allocations=tuple(plan),
        entry_date=today,
        allocated_by=by,
    )
    return [applied, *settled_by(account, [(a, today) for a in plan], today)]


def reverse_payment(account: Account, payment_id: str, reason: str, today: date) -> list[DomainEvent]:
    """A payment did not stand: what it settled is open again, and unapplied cash waiting elsewhere
    is applied to it. A payment that did not stand was never made: the reversal counts from its
    value date, so that the ledger as of any business date is the same whenever the reversal came."""
    payment = account.payments.get(payment_id)
    if payment is None:
        raise Unknown(f"customer {account.customer_id} has no payment {payment_id}")
    if payment.reversed:
        raise Refused(f"payment {payment_id} is already reversed")
    reversed_ = PaymentReversed(
        customer_id=account.customer_id,
        recorded_on=today,
        payment_id=payment_id,
        amount=money(payment.amount, payment.currency),
        reason=reason,
        reversed_allocations=tuple(
            Allocation(
                invoice_id=invoice_id,
                amount=money(amount, payment.currency),
                discount=money(discount, payment.currency) if discount else None,
            )
            for invoice_id, amount, discount, _, _ in payment.allocations
        ),
        entry_date=payment.value_date,
    )
    events: list[DomainEvent] = [reversed_]
    after = evolve(account, reversed_)
    reopened = []
    for invoice_id in dict.fromkeys(line[0] for line in payment.allocations):
        before, now = account.invoices[invoice_id], after.invoices[invoice_id]
        if before.open == 0 and now.open > 0:
            reopened.append(invoice_id)
            events.append(
                InvoiceReopened(
                    customer_id=account.customer_id,
                    recorded_on=today,
                    invoice_id=invoice_id,
                    open=money(now.open, now.currency),
                    reason=f"payment {payment_id} reversed: {reason}",
                )
            )
    touched = list(dict.fromkeys(line[0] for line in payment.allocations))
    return events + apply_waiting(fold(events, account), touched, today) if touched else events


def refund(
    account: Account,
    refund_id: str,
    source_id: str,
    amount: Decimal,
    method: str,
    reference: str | None,
    by: str,
    today: date,
) -> list[DomainEvent]:
    """Pay back money the customer has with us: a credit balance, unapplied cash or an unapplied credit note."""
    payment, note = account.payments.get(source_id), account.credit_notes.get(source_id)
    if payment is not None and not payment.reversed:
        available, currency = payment.unallocated, payment.currency
    elif note is not None:
        available, currency = note.unallocated, note.currency
    else:
        raise Unknown(f"customer {account.customer_id} has no payment or credit note {source_id} to refund from")
    if not ZERO < amount <= available:
        raise Refused(f"{source_id} has {available} {currency} that could be refunded, not {amount}")
    return [
        CreditBalanceRefunded(
            customer_id=account.customer_id,
            recorded_on=today,
            refund_id=refund_id,
            source_id=source_id,
            amount=money(amount, currency),
            method=method,
            reference=reference,
            refunded_by=by,
            entry_date=today,
        )
    ]
