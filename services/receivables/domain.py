"""A customer's account in the receivables ledger (应收账款台账), as pure functions.

One stream per customer holds its invoices, payments, credit notes, disputes, write-offs and
statements, because cash application decides across all of a customer's open items at once.
``decide`` functions take the folded ``Account`` and a command and return events; ``evolve``
folds one event into the account. No I/O here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from libs.events.contracts import DomainEvent, Money
from services.receivables.events import (
    AccountEvent,
    Allocation,
    AllocationBasis,
    BalanceConfirmed,
    BalanceDisputed,
    CashDiscount,
    CreditNoteApplied,
    CreditNoteIssued,
    DifferingLine,
    DisputeOpened,
    DisputeOutcome,
    DisputeResolved,
    FxRateRecorded,
    Instalment,
    InvoiceAdjusted,
    InvoiceFellOverdue,
    InvoiceIssued,
    InvoiceReopened,
    InvoiceSettled,
    InvoiceWrittenOff,
    PaymentAllocated,
    PaymentReceived,
    PaymentReversed,
    Remainder,
    RemittanceLine,
    StatementIssued,
    Terms,
    WriteOffRecovered,
)

ZERO = Decimal(0)
# ISO 4217 currencies without minor units; every other currency Credo meets has two.
_NO_MINOR_UNITS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"})
# Days-past-due boundaries of the default aging buckets: current, 1-30, 31-60, 61-90, 91-180, over 180.
DEFAULT_BOUNDARIES: tuple[int, ...] = (0, 30, 60, 90, 180)


class Refused(Exception):
    """A command the account does not accept; the message says why."""


class Unknown(Refused):
    """The command names an invoice, payment, dispute or statement the account does not have."""


def stream_id(customer_id: str) -> str:
    return f"account-{customer_id}"


def cent(currency: str) -> Decimal:
    return Decimal(1) if currency in _NO_MINOR_UNITS else Decimal("0.01")


def in_minor_units(amount: Decimal, currency: str) -> bool:
    return amount == amount.quantize(cent(currency))


def money(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


# -- state -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: str
    number: str
    currency: str
    total: Decimal
    issue_date: date
    schedule: tuple[tuple[date, Decimal], ...]  # (due date, amount) in order
    discount_terms: CashDiscount | None
    revision: int
    paid: Decimal = ZERO  # by payments
    credited: Decimal = ZERO  # by credit notes
    discounted: Decimal = ZERO  # cash discount granted
    written_off: Decimal = ZERO
    recovered: Decimal = ZERO
    disputed: Decimal = ZERO  # under open disputes
    overdue_bucket: Mapping[int, int] = field(default_factory=dict)  # instalment -> last bucket announced

    @property
    def open(self) -> Decimal:
        return self.total - self.paid - self.credited - self.discounted - self.written_off

    def open_instalments(self) -> list[tuple[int, date, Decimal]]:
        """(instalment number, due date, open amount): reductions settle the earliest instalments first."""
        reduced = self.total - self.open
        result = []
        for number, (due, amount) in enumerate(self.schedule, start=1):
            taken = min(amount, max(reduced, ZERO))
            reduced -= taken
            if amount - taken > 0:
                result.append((number, due, amount - taken))
        return result

    def earliest_open_due(self) -> date:
        items = self.open_instalments()
        return items[0][1] if items else self.schedule[-1][0]


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    currency: str
    amount: Decimal
    value_date: date
    revision: int
    unallocated: Decimal
    remainder_as: Remainder | None = None
    # Plain tuples rather than the events' models: thousands of accounts are kept in memory.
    allocations: tuple[tuple[str, Decimal, Decimal], ...] = ()  # invoice id, amount, discount
    reversed: bool = False
    remittance: tuple[tuple[str, Decimal | None], ...] = ()  # normalised invoice number, amount
    payer_reference: str | None = None

    @property
    def waiting(self) -> bool:
        """Unapplied cash whose remittance may name an invoice that has not arrived yet."""
        return self.remainder_as == "unapplied" and self.unallocated > 0 and not self.reversed


@dataclass(frozen=True, slots=True)
class CreditNote:
    credit_note_id: str
    currency: str
    amount: Decimal
    revision: int
    unallocated: Decimal
    invoice_id: str | None = None  # the invoice it credits, which may not have arrived yet


@dataclass(frozen=True, slots=True)
class Dispute:
    dispute_id: str
    invoice_id: str
    amount: Decimal
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class Statement:
    statement_id: str
    period_start: date
    period_end: date
    ledger_version: int
    answered: bool = False


@dataclass(frozen=True)
class Account:
    customer_id: str = ""
    invoices: Mapping[str, Invoice] = field(default_factory=dict)
    numbers: Mapping[str, str] = field(default_factory=dict)  # normalised invoice number -> invoice id
    payments: Mapping[str, Payment] = field(default_factory=dict)
    credit_notes: Mapping[str, CreditNote] = field(default_factory=dict)
    disputes: Mapping[str, Dispute] = field(default_factory=dict)
    statements: Mapping[str, Statement] = field(default_factory=dict)

    def invoice(self, invoice_id: str) -> Invoice:
        try:
            return self.invoices[invoice_id]
        except KeyError:
            raise Unknown(f"customer {self.customer_id} has no invoice {invoice_id}") from None

    def open_invoices(self, currency: str) -> list[Invoice]:
        """Oldest due first: by the earliest open due date, then issue date, then number."""
        candidates = [i for i in self.invoices.values() if i.currency == currency and i.open > 0]
        return sorted(candidates, key=lambda i: (i.earliest_open_due(), i.issue_date, i.number))


def evolve(account: Account, event: DomainEvent) -> Account:
    match event:
        case InvoiceIssued():
            invoice = Invoice(
                event.invoice_id,
                event.number,
                event.total.currency,
                event.total.amount,
                event.issue_date,
                _schedule_pairs(event.schedule),
                event.terms.discount,
                event.revision,
            )
            return replace(
                account,
                customer_id=event.customer_id,
                invoices={**account.invoices, invoice.invoice_id: invoice},
                numbers={**account.numbers, normalise_number(event.number): invoice.invoice_id},
            )
        case InvoiceAdjusted():
            invoice = account.invoices[event.invoice_id]
            invoice = replace(
                invoice,
                total=event.total.amount,
                schedule=_schedule_pairs(event.schedule),
                revision=event.revision or invoice.revision,
            )
            return _with_invoice(account, invoice)
        case PaymentReceived():
            amount = event.amount
            payment = Payment(
                event.payment_id,
                amount.currency,
                amount.amount,
                event.value_date,
                event.revision,
                amount.amount,
                remittance=tuple((normalise_number(r.invoice_number), r.amount) for r in event.remittance),
                payer_reference=event.payer_reference,
            )
            return replace(
                account, customer_id=event.customer_id, payments={**account.payments, payment.payment_id: payment}
            )
        case PaymentAllocated():
            payment = account.payments[event.payment_id]
            allocated = sum((a.amount.amount for a in event.allocations), ZERO)
            payment = replace(
                payment,
                unallocated=payment.unallocated - allocated,
                remainder_as=event.remainder_as,
                allocations=payment.allocations
                + tuple(
                    (a.invoice_id, a.amount.amount, a.discount.amount if a.discount else ZERO)
                    for a in event.allocations
                ),
            )
            account = replace(account, payments={**account.payments, payment.payment_id: payment})
            return _allocate(account, event.allocations, "paid", +1)
        case PaymentReversed():
            payment = replace(account.payments[event.payment_id], reversed=True, unallocated=ZERO, remainder_as=None)
            account = replace(account, payments={**account.payments, payment.payment_id: payment})
            return _allocate(account, event.reversed_allocations, "paid", -1)
        case CreditNoteIssued():
            amount = event.amount
            note = CreditNote(
                event.credit_note_id, amount.currency, amount.amount, event.revision, amount.amount, event.invoice_id
            )
            return replace(
                account, customer_id=event.customer_id, credit_notes={**account.credit_notes, note.credit_note_id: note}
            )
        case CreditNoteApplied():
            note = account.credit_notes[event.credit_note_id]
            applied = sum((a.amount.amount for a in event.allocations), ZERO)
            note = replace(note, unallocated=note.unallocated - applied)
            account = replace(account, credit_notes={**account.credit_notes, note.credit_note_id: note})
            return _allocate(account, event.allocations, "credited", +1)
        case DisputeOpened():
            dispute = Dispute(event.dispute_id, event.invoice_id, event.amount.amount)
            invoice = account.invoices[event.invoice_id]
            account = _with_invoice(account, replace(invoice, disputed=invoice.disputed + dispute.amount))
            return replace(account, disputes={**account.disputes, dispute.dispute_id: dispute})
        case DisputeResolved():
            dispute = account.disputes[event.dispute_id]
            invoice = account.invoices[dispute.invoice_id]
            account = _with_invoice(account, replace(invoice, disputed=invoice.disputed - dispute.amount))
            return replace(account, disputes={**account.disputes, dispute.dispute_id: replace(dispute, resolved=True)})
        case InvoiceWrittenOff():
            invoice = account.invoices[event.invoice_id]
            return _with_invoice(account, replace(invoice, written_off=invoice.written_off + event.amount.amount))
        case WriteOffRecovered():
            invoice = account.invoices[event.invoice_id]
            return _with_invoice(account, replace(invoice, recovered=invoice.recovered + event.amount.amount))
        case InvoiceFellOverdue():
            invoice = account.invoices[event.invoice_id]
            marks = {**invoice.overdue_bucket, event.instalment: bucket_index(event.days_past_due)}
            return _with_invoice(account, replace(invoice, overdue_bucket=marks))
        case StatementIssued():
            statement = Statement(event.statement_id, event.period_start, event.period_end, event.ledger_version)
            return replace(
                account,
                customer_id=event.customer_id,
                statements={**account.statements, statement.statement_id: statement},
            )
        case BalanceConfirmed() | BalanceDisputed():
            statement = replace(account.statements[event.statement_id], answered=True)
            return replace(account, statements={**account.statements, statement.statement_id: statement})
    return account  # settled and reopened restate what the amounts already say


def _with_invoice(account: Account, invoice: Invoice) -> Account:
    return replace(account, invoices={**account.invoices, invoice.invoice_id: invoice})


def _allocate(account: Account, allocations: Iterable[Allocation], by: str, sign: int) -> Account:
    invoices = dict(account.invoices)
    for allocation in allocations:
        invoice = invoices[allocation.invoice_id]
        discount = allocation.discount.amount if allocation.discount else ZERO
        invoices[allocation.invoice_id] = replace(
            invoice,
            **{by: getattr(invoice, by) + sign * allocation.amount.amount},
            discounted=invoice.discounted + sign * discount,
        )
    return replace(account, invoices=invoices)


def _schedule_pairs(schedule: Sequence[Instalment]) -> tuple[tuple[date, Decimal], ...]:
    return tuple((i.due_date, i.amount.amount) for i in schedule)


def fold(events: Iterable[DomainEvent], account: Account | None = None) -> Account:
    account = account or Account()
    for event in events:
        account = evolve(account, event)
    return account


# -- terms ---------------------------------------------------------------------------------------


def normalise_number(number: str) -> str:
    return "".join(number.split()).upper()


def schedule_for(total: Money, issue_date: date, terms: Terms) -> tuple[Instalment, ...]:
    """Due dates from terms: one at ``net_days`` after the invoice date, or the instalments given."""
    if (terms.net_days is None) == (terms.instalments is None):
        raise Refused("terms need either net_days or instalments, not both")
    if terms.instalments is None:
        assert terms.net_days is not None
        if terms.discount is not None and terms.discount.days > terms.net_days:
            raise Refused(
                f"the cash discount's {terms.discount.days} days exceed the {terms.net_days} days net of the terms"
            )
        return (Instalment(due_date=issue_date + timedelta(days=terms.net_days), amount=total),)
    if terms.discount is not None:
        raise Refused("a cash discount cannot be combined with an instalment schedule")
    schedule = tuple(sorted(terms.instalments, key=lambda i: i.due_date))
    if any(i.amount.currency != total.currency for i in schedule):
        raise Refused(f"every instalment must be in the invoice's currency {total.currency}")
    if any(i.due_date < issue_date for i in schedule):
        raise Refused("an instalment falls due before the invoice date")
    if any(i.amount.amount <= 0 for i in schedule):
        raise Refused("every instalment must be a positive amount")
    planned = sum((i.amount.amount for i in schedule), ZERO)
    if planned != total.amount:
        raise Refused(f"the instalments add up to {planned}, not to the invoice total {total.amount}")
    return schedule


def _rescaled(schedule: tuple[tuple[date, Decimal], ...], total: Money) -> tuple[Instalment, ...]:
    """A changed total keeps the due dates; the last instalment absorbs the change."""
    if len(schedule) == 1:
        return (Instalment(due_date=schedule[0][0], amount=total),)
    head = [Instalment(due_date=d, amount=money(a, total.currency)) for d, a in schedule[:-1]]
    rest = total.amount - sum((i.amount.amount for i in head), ZERO)
    if rest <= 0:
        raise Refused(f"a total of {total.amount} does not cover the instalments before the last")
    return (*head, Instalment(due_date=schedule[-1][0], amount=money(rest, total.currency)))


def discount_window(invoice: Invoice) -> tuple[Decimal, date] | None:
    """The cash discount an invoice allows and the last value date that earns it."""
    terms = invoice.discount_terms
    if terms is None or invoice.discounted > 0:
        return None
    amount = (invoice.total * terms.percent / 100).quantize(cent(invoice.currency), ROUND_HALF_UP)
    return amount, invoice.issue_date + timedelta(days=terms.days)


# -- documents from the ERP ------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceDocument:
    document_id: str
    revision: int
    number: str
    net: Money
    tax: Money
    issue_date: date
    terms: Terms
    order_ref: str | None = None
    erp_reference: str | None = None

    @property
    def total(self) -> Money:
        return self.net + self.tax


@dataclass(frozen=True)
class PaymentDocument:
    document_id: str
    revision: int
    amount: Money
    value_date: date
    method: str
    payer_reference: str | None = None
    remittance: tuple[RemittanceLine, ...] = ()
    reversed: bool = False
    reversal_reason: str | None = None


@dataclass(frozen=True)
class CreditNoteDocument:
    document_id: str
    revision: int
    number: str
    amount: Money
    reason: str
    issue_date: date
    invoice_id: str | None = None  # the ERP document id of the invoice it credits


def receive_invoice(account: Account, customer_id: str, doc: InvoiceDocument, today: date) -> list[DomainEvent]:
    known = account.invoices.get(doc.document_id)
    if known is not None:
        return _correct_invoice(account, known, doc, today) if doc.revision > known.revision else []
    owner = account.numbers.get(normalise_number(doc.number))
    if owner is not None:
        raise Refused(f"invoice number {doc.number} is already invoice {owner} of customer {customer_id}")
    if doc.net.currency != doc.tax.currency:
        raise Refused(f"net amount in {doc.net.currency} but tax in {doc.tax.currency}")
    total = doc.total
    if total.amount <= 0:
        raise Refused(f"an invoice must be for a positive total, not {total.amount}")
    issued = InvoiceIssued(
        customer_id=customer_id,
        recorded_on=today,
        invoice_id=doc.document_id,
        number=doc.number,
        net=doc.net,
        tax=doc.tax,
        total=total,
        issue_date=doc.issue_date,
        terms=doc.terms,
        schedule=schedule_for(total, doc.issue_date, doc.terms),
        order_ref=doc.order_ref,
        erp_reference=doc.erp_reference,
        revision=doc.revision,
    )
    return [issued, *_match_waiting(evolve(account, issued), doc.document_id, today)]


def _match_waiting(account: Account, invoice_id: str, today: date) -> list[DomainEvent]:
    """A credit note or a payment's remittance that named this invoice before it arrived (the
    ERP's topics are not ordered with one another) is applied to it now."""
    invoice = account.invoices[invoice_id]
    events: list[DomainEvent] = []
    for note in account.credit_notes.values():
        if note.invoice_id == invoice_id and note.unallocated > 0 and note.currency == invoice.currency:
            events += _apply_credit_note(account, note.credit_note_id, invoice_id, note.unallocated, today, today)
            account = fold(events, account)
    number = normalise_number(invoice.number)
    for payment in account.payments.values():
        if not payment.waiting or payment.currency != invoice.currency:
            continue
        if payment.remittance:
            named = [amount for named_number, amount in payment.remittance if named_number == number]
        else:
            named = [None] if number in _reference_tokens(payment.payer_reference) else []
        if not named:
            continue
        offered = min(payment.unallocated, named[0] or payment.unallocated)
        allocation = _settle(account.invoices[invoice_id], offered, payment.value_date)
        if allocation is not None:
            basis: AllocationBasis = "remittance" if payment.remittance else "reference"
            more = _allocated(
                account,
                payment.payment_id,
                payment.currency,
                basis,
                [allocation],
                "unapplied",
                payment.value_date,
                today,
            )
            events += more
            account = fold(more, account)
    return events


def _correct_invoice(account: Account, invoice: Invoice, doc: InvoiceDocument, today: date) -> list[DomainEvent]:
    """A corrected ERP document (a higher revision) becomes an adjustment of what is owed."""
    total = doc.total
    if total.currency != invoice.currency:
        raise Refused(f"revision {doc.revision} changes the currency of invoice {invoice.invoice_id}")
    if normalise_number(doc.number) != normalise_number(invoice.number):
        raise Refused(f"revision {doc.revision} changes the number of invoice {invoice.invoice_id}")
    schedule = schedule_for(total, doc.issue_date, doc.terms)
    reason = f"corrected by the ERP (revision {doc.revision})"
    return adjust(account, invoice.invoice_id, total, schedule, reason, today, revision=doc.revision)


def adjust(
    account: Account,
    invoice_id: str,
    total: Money,
    schedule: tuple[Instalment, ...] | None,
    reason: str,
    today: date,
    *,
    revision: int | None = None,
) -> list[DomainEvent]:
    invoice = account.invoice(invoice_id)
    change = total.amount - invoice.total
    reduced = invoice.total - invoice.open
    if total.amount < reduced:
        raise Refused(
            f"invoice {invoice_id} cannot be reduced to {total.amount}: {reduced} of it is already paid, "
            "credited or written off"
        )
    schedule = schedule or _rescaled(invoice.schedule, total)
    events: list[DomainEvent] = [
        InvoiceAdjusted(
            customer_id=account.customer_id,
            recorded_on=today,
            invoice_id=invoice_id,
            change=money(change, invoice.currency),
            total=total,
            schedule=schedule,
            reason=reason,
            entry_date=today,
            revision=revision,
        )
    ]
    if invoice.open > 0 and total.amount == reduced:
        events.append(
            InvoiceSettled(customer_id=account.customer_id, recorded_on=today, invoice_id=invoice_id, settled_on=today)
        )
    elif invoice.open == 0 and total.amount > reduced:
        events.append(
            InvoiceReopened(
                customer_id=account.customer_id,
                recorded_on=today,
                invoice_id=invoice_id,
                open=money(total.amount - reduced, invoice.currency),
                reason=reason,
            )
        )
    return events


def receive_payment(account: Account, customer_id: str, doc: PaymentDocument, today: date) -> list[DomainEvent]:
    known = account.payments.get(doc.document_id)
    if known is not None:
        if doc.revision <= known.revision:
            return []
        if doc.amount != money(known.amount, known.currency) or doc.value_date != known.value_date:
            raise Refused(
                f"revision {doc.revision} of payment {doc.document_id} changes its amount or value date; "
                "reverse the payment and send a new one"
            )
        if doc.reversed and not known.reversed:
            return reverse_payment(account, doc.document_id, doc.reversal_reason or "reversed by the ERP", today)
        return []
    if doc.amount.amount <= 0:
        raise Refused(f"a payment must be a positive amount, not {doc.amount.amount}")
    received = PaymentReceived(
        customer_id=customer_id,
        recorded_on=today,
        payment_id=doc.document_id,
        amount=doc.amount,
        value_date=doc.value_date,
        method=doc.method,
        payer_reference=doc.payer_reference,
        remittance=doc.remittance,
        revision=doc.revision,
    )
    account = evolve(account, received)
    basis, plan, remainder_as = apply_cash(account, doc.amount, doc.value_date, doc.remittance, doc.payer_reference)
    events: list[DomainEvent] = [received]
    events += _allocated(
        account, doc.document_id, doc.amount.currency, basis, plan, remainder_as, doc.value_date, today
    )
    if doc.reversed:
        account = fold(events[1:], account)
        events += reverse_payment(account, doc.document_id, doc.reversal_reason or "reversed by the ERP", today)
    return events


def _allocated(
    account: Account,
    payment_id: str,
    currency: str,
    basis: AllocationBasis,
    plan: Sequence[Allocation],
    remainder_as: Remainder | None,
    entry_date: date,
    today: date,
    allocated_by: str | None = None,
) -> list[DomainEvent]:
    payment = account.payments[payment_id]
    remainder = payment.unallocated - sum((a.amount.amount for a in plan), ZERO)
    events: list[DomainEvent] = [
        PaymentAllocated(
            customer_id=account.customer_id,
            recorded_on=today,
            payment_id=payment_id,
            basis=basis,
            allocations=tuple(plan),
            entry_date=entry_date,
            remainder=money(remainder, currency),
            remainder_as=remainder_as if remainder > 0 else None,
            allocated_by=allocated_by,
        )
    ]
    return events + _settled_by(account, plan, entry_date, today)


def _settled_by(account: Account, plan: Sequence[Allocation], on: date, today: date) -> list[DomainEvent]:
    settled: list[DomainEvent] = []
    for allocation in plan:
        invoice = account.invoices[allocation.invoice_id]
        owed = _open_after_earlier(plan, allocation, invoice)
        discount = allocation.discount.amount if allocation.discount else ZERO
        if owed > 0 and allocation.amount.amount + discount >= owed:
            settled.append(
                InvoiceSettled(
                    customer_id=account.customer_id, recorded_on=today, invoice_id=invoice.invoice_id, settled_on=on
                )
            )
    return settled


def _open_after_earlier(plan: Sequence[Allocation], current: Allocation, invoice: Invoice) -> Decimal:
    """What an invoice still owed when ``current`` reached it (a plan may touch an invoice twice)."""
    before = ZERO
    for allocation in plan:
        if allocation is current:
            break
        if allocation.invoice_id == invoice.invoice_id:
            before += allocation.amount.amount + (allocation.discount.amount if allocation.discount else ZERO)
    return invoice.open - before


def apply_cash(
    account: Account,
    amount: Money,
    value_date: date,
    remittance: Sequence[RemittanceLine],
    reference: str | None,
) -> tuple[AllocationBasis, list[Allocation], Remainder | None]:
    """Cash application: to the invoices the remittance names; else to the invoice the payer's
    reference names; else to the oldest due first. Returns the basis, the allocations, and what
    a remainder is: unapplied cash when what was named could not all be found or nothing was
    open, a credit balance when the customer paid more than it owed."""
    cash = amount.amount
    if remittance:
        plan: list[Allocation] = []
        all_found = True
        for line in remittance:
            invoice_id = account.numbers.get(normalise_number(line.invoice_number))
            invoice = account.invoices.get(invoice_id) if invoice_id else None
            if invoice is None or invoice.currency != amount.currency or invoice.open <= 0:
                all_found = False
                continue
            offered = min(cash, line.amount) if line.amount is not None else cash
            allocation = _settle(invoice, offered, value_date)
            if allocation is not None:
                plan.append(allocation)
                cash -= allocation.amount.amount
        return "remittance", plan, ("credit_balance" if all_found else "unapplied") if cash > 0 else None
    named = _named_by_reference(account, amount.currency, reference)
    if named is not None:
        allocation = _settle(named, cash, value_date)
        plan = [allocation] if allocation else []
        left = cash - (allocation.amount.amount if allocation else ZERO)
        return "reference", plan, "credit_balance" if left > 0 else None
    plan = []
    open_items = account.open_invoices(amount.currency)
    for invoice in open_items:
        if cash <= 0:
            break
        collectable = invoice.open - invoice.disputed
        if collectable <= 0:
            continue
        allocation = _settle(invoice, cash, value_date, ceiling=collectable)
        if allocation is not None:
            plan.append(allocation)
            cash -= allocation.amount.amount
    return "oldest_due", plan, ("credit_balance" if open_items else "unapplied") if cash > 0 else None


_REFERENCE_SEPARATORS = re.compile(r"[^0-9A-Za-z/_-]+")


def _reference_tokens(reference: str | None) -> list[str]:
    return [t.upper() for t in _REFERENCE_SEPARATORS.split(reference or "") if t]


def _named_by_reference(account: Account, currency: str, reference: str | None) -> Invoice | None:
    for token in _reference_tokens(reference):
        invoice_id = account.numbers.get(token)
        invoice = account.invoices.get(invoice_id) if invoice_id else None
        if invoice is not None and invoice.currency == currency and invoice.open > 0:
            return invoice
    return None


def _settle(invoice: Invoice, offered: Decimal, value_date: date, ceiling: Decimal | None = None) -> Allocation | None:
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
        return _allocated(
            account, source_id, currency, "manual", plan, payment.remainder_as, today, today, allocated_by=by
        )
    applied = CreditNoteApplied(
        customer_id=account.customer_id,
        recorded_on=today,
        credit_note_id=source_id,
        allocations=tuple(plan),
        entry_date=today,
    )
    return [applied, *_settled_by(account, plan, today, today)]


def reverse_payment(account: Account, payment_id: str, reason: str, today: date) -> list[DomainEvent]:
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
            for invoice_id, amount, discount in payment.allocations
        ),
        entry_date=today,
    )
    events: list[DomainEvent] = [reversed_]
    after = evolve(account, reversed_)
    for invoice_id in dict.fromkeys(invoice_id for invoice_id, _, _ in payment.allocations):
        before, now = account.invoices[invoice_id], after.invoices[invoice_id]
        if before.open == 0 and now.open > 0:
            events.append(
                InvoiceReopened(
                    customer_id=account.customer_id,
                    recorded_on=today,
                    invoice_id=invoice_id,
                    open=money(now.open, now.currency),
                    reason=f"payment {payment_id} reversed: {reason}",
                )
            )
    return events


def receive_credit_note(account: Account, customer_id: str, doc: CreditNoteDocument, today: date) -> list[DomainEvent]:
    known = account.credit_notes.get(doc.document_id)
    if known is not None:
        if doc.revision > known.revision and doc.amount != money(known.amount, known.currency):
            raise Refused(
                f"revision {doc.revision} of credit note {doc.document_id} changes its amount; "
                "issue a further credit note or an invoice for the difference"
            )
        return []
    if doc.amount.amount <= 0:
        raise Refused(f"a credit note must be a positive amount, not {doc.amount.amount}")
    invoice = account.invoices.get(doc.invoice_id or "")
    if invoice is not None and invoice.currency != doc.amount.currency:
        raise Refused(f"credit note in {doc.amount.currency} for invoice {doc.invoice_id} in {invoice.currency}")
    return credit(account, customer_id, doc, today)


def credit(account: Account, customer_id: str, doc: CreditNoteDocument, today: date) -> list[DomainEvent]:
    issued = CreditNoteIssued(
        customer_id=customer_id,
        recorded_on=today,
        credit_note_id=doc.document_id,
        number=doc.number,
        amount=doc.amount,
        reason=doc.reason,
        issue_date=doc.issue_date,
        invoice_id=doc.invoice_id,
        revision=doc.revision,
    )
    events: list[DomainEvent] = [issued]
    if doc.invoice_id is None or doc.invoice_id not in account.invoices:
        return events  # a credit balance, until a person allocates it or its invoice arrives
    account = evolve(account, issued)
    return events + _apply_credit_note(
        account, doc.document_id, doc.invoice_id, doc.amount.amount, doc.issue_date, today
    )


def _apply_credit_note(
    account: Account, credit_note_id: str, invoice_id: str, amount: Decimal, on: date, today: date
) -> list[DomainEvent]:
    invoice = account.invoices[invoice_id]
    applied = min(amount, invoice.open)
    if applied <= 0:
        return []
    plan = [Allocation(invoice_id=invoice_id, amount=money(applied, invoice.currency))]
    applied_event = CreditNoteApplied(
        customer_id=account.customer_id,
        recorded_on=today,
        credit_note_id=credit_note_id,
        allocations=tuple(plan),
        entry_date=on,
    )
    return [applied_event, *_settled_by(account, plan, on, today)]


# -- disputes, write-offs ---------------------------------------------------------------------------


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
        events += credit(evolve(account, resolved), account.customer_id, doc, today)
    return events


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


# -- overdue, aging ------------------------------------------------------------------------------------


def bucket_index(days: int, boundaries: Sequence[int] = DEFAULT_BOUNDARIES) -> int:
    """0 for the first bucket (up to the first boundary), len(boundaries) for the last."""
    for index, upper in enumerate(boundaries):
        if days <= upper:
            return index
    return len(boundaries)


def bucket_labels(boundaries: Sequence[int] = DEFAULT_BOUNDARIES) -> list[str]:
    labels = ["current" if boundaries[0] == 0 else f"0-{boundaries[0]}"]
    labels += [f"{lower + 1}-{upper}" for lower, upper in itertools.pairwise(boundaries)]
    return [*labels, f"over {boundaries[-1]}"]


def fall_overdue(account: Account, today: date) -> list[DomainEvent]:
    """Once when an instalment passes its due date, and again at each bucket boundary it crosses."""
    labels = bucket_labels()
    events: list[DomainEvent] = []
    for invoice in account.invoices.values():
        for number, due, open_amount in invoice.open_instalments():
            days = (today - due).days
            bucket = bucket_index(days)
            if days > 0 and bucket > invoice.overdue_bucket.get(number, 0):
                events.append(
                    InvoiceFellOverdue(
                        customer_id=account.customer_id,
                        recorded_on=today,
                        invoice_id=invoice.invoice_id,
                        instalment=number,
                        due_date=due,
                        days_past_due=days,
                        bucket=labels[bucket],
                        open=money(open_amount, invoice.currency),
                    )
                )
    return events


@dataclass(frozen=True)
class OpenItem:
    customer_id: str
    invoice_id: str
    currency: str
    issue_date: date
    due_date: date
    amount: Decimal


def open_items(account: Account) -> list[OpenItem]:
    return [
        OpenItem(account.customer_id, invoice.invoice_id, invoice.currency, invoice.issue_date, due, amount)
        for invoice in account.invoices.values()
        for _, due, amount in invoice.open_instalments()
    ]


def age(
    items: Iterable[OpenItem],
    as_of: date,
    *,
    by: str = "due_date",
    boundaries: Sequence[int] = DEFAULT_BOUNDARIES,
) -> dict[str, dict[str, Decimal]]:
    """Open amounts per currency and bucket, aged from the due date or the invoice date."""
    labels = bucket_labels(boundaries)
    result: dict[str, dict[str, Decimal]] = {}
    for item in items:
        start = item.due_date if by == "due_date" else item.issue_date
        buckets = result.setdefault(item.currency, dict.fromkeys(labels, ZERO))
        label = labels[bucket_index((as_of - start).days, boundaries)]
        buckets[label] += item.amount
    return result


def recorded_on(event: DomainEvent) -> date:
    assert isinstance(event, AccountEvent | FxRateRecorded), event
    return event.recorded_on


def recorded_by(events: Iterable[DomainEvent], as_of: date) -> list[DomainEvent]:
    """What the ledger knew at the end of ``as_of``: the events recorded on or before it."""
    return [e for e in events if recorded_on(e) <= as_of]


# -- statements -----------------------------------------------------------------------------------------


def issue_statement(
    account: Account,
    statement_id: str,
    customer_name: str,
    period_start: date,
    period_end: date,
    ledger_version: int,
    closing: Sequence[Money],
    digest: str,
    today: date,
) -> list[DomainEvent]:
    if period_end < period_start:
        raise Refused("a statement's period ends before it starts")
    return [
        StatementIssued(
            customer_id=account.customer_id,
            recorded_on=today,
            statement_id=statement_id,
            customer_name=customer_name,
            period_start=period_start,
            period_end=period_end,
            ledger_version=ledger_version,
            closing=tuple(closing),
            digest=digest,
        )
    ]


def _statement(account: Account, statement_id: str) -> Statement:
    statement = account.statements.get(statement_id)
    if statement is None:
        raise Unknown(f"customer {account.customer_id} has no statement {statement_id}")
    if statement.answered:
        raise Refused(f"statement {statement_id} has already been confirmed or disputed")
    return statement


def confirm_balance(account: Account, statement_id: str, confirmed_by: str, on: date, today: date) -> list[DomainEvent]:
    _statement(account, statement_id)
    return [
        BalanceConfirmed(
            customer_id=account.customer_id,
            recorded_on=today,
            statement_id=statement_id,
            confirmed_by=confirmed_by,
            confirmed_on=on,
        )
    ]


def dispute_balance(
    account: Account, statement_id: str, disputed_by: str, on: date, lines: Sequence[DifferingLine], today: date
) -> list[DomainEvent]:
    _statement(account, statement_id)
    if not lines:
        raise Refused("a disputed statement names at least one line where the customer's books differ")
    return [
        BalanceDisputed(
            customer_id=account.customer_id,
            recorded_on=today,
            statement_id=statement_id,
            disputed_by=disputed_by,
            disputed_on=on,
            lines=tuple(lines),
        )
    ]


# -- movements --------------------------------------------------------------------------------------------


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


def movements(event: DomainEvent) -> list[Movement]:
    """What an event changes in the customer's balance, as statement lines."""
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
    return []
