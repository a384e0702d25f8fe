"""A customer's account: its state, folded from its events. No I/O.

One stream per customer holds its invoices, payments, credit notes, disputes, write-offs and
statements, because cash application decides across all of a customer's open items at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from immutables import Map

from contracts.receivables import (
    AllocationsWithdrawn,
    BalanceConfirmed,
    BalanceDisputed,
    CashDiscount,
    CreditBalanceRefunded,
    CreditNoteApplied,
    CreditNoteIssued,
    DisputeOpened,
    DisputeResolved,
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
    StatementIssued,
    WriteOffRecovered,
)
from libs.events import refusals
from libs.events.contracts import DomainEvent, Money

ZERO = Decimal(0)
EMPTY: Map[Any, Any] = Map()
# Days-past-due boundaries of the default aging buckets: current, 1-30, 31-60, 61-90, 91-180, over 180.
DEFAULT_BOUNDARIES: tuple[int, ...] = (0, 30, 60, 90, 180)

# The order in which the ERP's documents are applied, whatever order they arrive in: by their own
# date, then invoices before credit notes before payments, then by document id.
INVOICE, CREDIT_NOTE, PAYMENT = range(3)
DocumentKey = tuple[date, int, str]


class Refused(refusals.Refused):
    """A command the account does not accept; the message says why."""


class Unknown(Refused, refusals.NotFound):
    """The command names an invoice, payment, dispute or statement the account does not have."""


def stream_id(customer_id: str) -> str:
    return f"account-{customer_id}"


def money(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


def normalise_number(number: str) -> str:
    return "".join(number.split()).upper()


def bucket_index(days: int, boundaries: Sequence[int] = DEFAULT_BOUNDARIES) -> int:
    """0 for the first bucket (up to the first boundary), len(boundaries) for the last."""
    for index, upper in enumerate(boundaries):
        if days <= upper:
            return index
    return len(boundaries)


# -- state -------------------------------------------------------------------------------------
# Named tuples and persistent maps: folding thousands of events changes one entry at a time,
# cheaply, and an account is a value that compares equal to another with the same contents.


class Invoice(NamedTuple):
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
    overdue_bucket: Map[int, int] = EMPTY  # instalment -> last bucket announced
    settled_on: date | None = None

    @property
    def open(self) -> Decimal:
        return self.total - self.paid - self.credited - self.discounted - self.written_off

    @property
    def key(self) -> DocumentKey:
        return (self.issue_date, INVOICE, self.invoice_id)

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


# An allocation as the account keeps it: plain tuples rather than the events' models, since
# thousands of accounts are kept in memory.
PaymentLine = tuple[str, Decimal, Decimal, date, bool]  # invoice id, amount, discount, entry date, by hand
NoteLine = tuple[str, Decimal, date, bool]  # invoice id, amount, entry date, by hand


class Payment(NamedTuple):
    payment_id: str
    currency: str
    amount: Decimal
    value_date: date
    revision: int
    unallocated: Decimal
    remainder_as: Remainder | None = None
    allocations: tuple[PaymentLine, ...] = ()
    reversed: bool = False
    remittance: tuple[tuple[str, Decimal | None], ...] = ()  # normalised invoice number, amount
    payer_reference: str | None = None
    refunded: Decimal = ZERO

    @property
    def key(self) -> DocumentKey:
        return (self.value_date, PAYMENT, self.payment_id)

    @property
    def waiting(self) -> bool:
        """Unapplied cash: applied by itself as soon as what it names, or anything, is open."""
        return self.remainder_as == "unapplied" and self.unallocated > 0 and not self.reversed

    @property
    def by_hand(self) -> Decimal:
        return sum((line[1] for line in self.allocations if line[4]), ZERO)


class CreditNote(NamedTuple):
    credit_note_id: str
    number: str
    currency: str
    amount: Decimal
    issue_date: date
    revision: int
    unallocated: Decimal
    invoice_id: str | None = None  # the invoice it credits, which may not have arrived yet
    from_erp: bool = True  # else it settles an upheld dispute
    allocations: tuple[NoteLine, ...] = ()
    refunded: Decimal = ZERO

    @property
    def key(self) -> DocumentKey:
        return (self.issue_date, CREDIT_NOTE, self.credit_note_id)


class Dispute(NamedTuple):
    dispute_id: str
    invoice_id: str
    amount: Decimal
    resolved: bool = False


class Statement(NamedTuple):
    statement_id: str
    period_start: date
    period_end: date
    ledger_version: int
    issued_on: date
    answered: bool = False


class Account(NamedTuple):
    # Persistent maps: an event changes one entry without copying the others.
    customer_id: str = ""
    invoices: Map[str, Invoice] = EMPTY
    numbers: Map[str, str] = EMPTY  # normalised invoice number -> invoice id
    payments: Map[str, Payment] = EMPTY
    credit_notes: Map[str, CreditNote] = EMPTY
    disputes: Map[str, Dispute] = EMPTY
    statements: Map[str, Statement] = EMPTY
    latest_document: DocumentKey | None = None  # the latest, in document order, of the ERP's documents
    latest_source: DocumentKey | None = None  # the latest of its payments and credit notes
    waiting: Map[str, DocumentKey] = EMPTY  # payments with unapplied cash, by document key

    def invoice(self, invoice_id: str) -> Invoice:
        try:
            return self.invoices[invoice_id]
        except KeyError:
            raise Unknown(f"customer {self.customer_id} has no invoice {invoice_id}") from None

    def open_invoices(self, currency: str) -> list[Invoice]:
        """Oldest due first: by the earliest open due date, then issue date, then number."""
        candidates = [i for i in self.invoices.values() if i.currency == currency and i.open > 0]
        return sorted(candidates, key=lambda i: (i.earliest_open_due(), i.issue_date, i.number))

    def with_document(self, key: DocumentKey) -> Account:
        latest = key if self.latest_document is None else max(self.latest_document, key)
        if key[1] == INVOICE:
            return self._replace(latest_document=latest)
        source = key if self.latest_source is None else max(self.latest_source, key)
        return self._replace(latest_document=latest, latest_source=source)


def evolve(account: Account, event: DomainEvent) -> Account:
    match event:
        case InvoiceIssued():
            invoice = Invoice(
                event.invoice_id,
                event.number,
                event.total.currency,
                event.total.amount,
                event.issue_date,
                schedule_pairs(event.schedule),
                event.terms.discount,
                event.revision,
            )
            return account._replace(
                customer_id=event.customer_id,
                invoices=account.invoices.set(invoice.invoice_id, invoice),
                numbers=account.numbers.set(normalise_number(event.number), invoice.invoice_id),
            ).with_document(invoice.key)
        case InvoiceAdjusted():
            invoice = account.invoices[event.invoice_id]
            invoice = invoice._replace(
                total=event.total.amount,
                schedule=schedule_pairs(event.schedule),
                revision=event.revision or invoice.revision,
            )
            return _with_invoice(account, invoice)
        case InvoiceSettled():
            return _with_invoice(account, account.invoices[event.invoice_id]._replace(settled_on=event.settled_on))
        case InvoiceReopened():
            return _with_invoice(account, account.invoices[event.invoice_id]._replace(settled_on=None))
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
            return account._replace(
                customer_id=event.customer_id, payments=account.payments.set(payment.payment_id, payment)
            ).with_document(payment.key)
        case PaymentAllocated():
            payment = account.payments[event.payment_id]
            allocated = sum((a.amount.amount for a in event.allocations), ZERO)
            manual = event.basis == "manual"
            lines = tuple(
                (a.invoice_id, a.amount.amount, a.discount.amount if a.discount else ZERO, event.entry_date, manual)
                for a in event.allocations
            )
            payment = payment._replace(
                unallocated=payment.unallocated - allocated,
                remainder_as=event.remainder_as,
                allocations=payment.allocations + lines,
            )
            account = with_payment(account, payment)
            return _reduce(
                account, ((a.invoice_id, a.amount.amount, _discount(a.discount)) for a in event.allocations), "paid"
            )
        case PaymentReversed():
            payment = account.payments[event.payment_id]._replace(
                reversed=True, unallocated=ZERO, remainder_as=None, allocations=()
            )
            account = with_payment(account, payment)
            return _reduce(
                account,
                ((a.invoice_id, -a.amount.amount, -_discount(a.discount)) for a in event.reversed_allocations),
                "paid",
            )
        case AllocationsWithdrawn():
            return _withdraw(account, event)
        case CreditNoteIssued():
            amount = event.amount
            note = CreditNote(
                event.credit_note_id,
                event.number,
                amount.currency,
                amount.amount,
                event.issue_date,
                event.revision,
                amount.amount,
                event.invoice_id,
                from_erp=event.dispute_id is None,
            )
            account = account._replace(
                customer_id=event.customer_id, credit_notes=account.credit_notes.set(note.credit_note_id, note)
            )
            return account.with_document(note.key) if note.from_erp else account
        case CreditNoteApplied():
            note = account.credit_notes[event.credit_note_id]
            applied = sum((a.amount.amount for a in event.allocations), ZERO)
            manual = event.allocated_by is not None
            noted = tuple((a.invoice_id, a.amount.amount, event.entry_date, manual) for a in event.allocations)
            note = note._replace(unallocated=note.unallocated - applied, allocations=note.allocations + noted)
            account = account._replace(credit_notes=account.credit_notes.set(note.credit_note_id, note))
            return _reduce(account, ((a.invoice_id, a.amount.amount, ZERO) for a in event.allocations), "credited")
        case CreditBalanceRefunded():
            return _refunded(account, event.source_id, event.amount.amount)
        case DisputeOpened():
            dispute = Dispute(event.dispute_id, event.invoice_id, event.amount.amount)
            invoice = account.invoices[event.invoice_id]
            account = _with_invoice(account, invoice._replace(disputed=invoice.disputed + dispute.amount))
            return account._replace(disputes=account.disputes.set(dispute.dispute_id, dispute))
        case DisputeResolved():
            dispute = account.disputes[event.dispute_id]
            invoice = account.invoices[dispute.invoice_id]
            account = _with_invoice(account, invoice._replace(disputed=invoice.disputed - dispute.amount))
            return account._replace(disputes=account.disputes.set(dispute.dispute_id, dispute._replace(resolved=True)))
        case InvoiceWrittenOff():
            invoice = account.invoices[event.invoice_id]
            return _with_invoice(account, invoice._replace(written_off=invoice.written_off + event.amount.amount))
        case WriteOffRecovered():
            invoice = account.invoices[event.invoice_id]
            return _with_invoice(account, invoice._replace(recovered=invoice.recovered + event.amount.amount))
        case InvoiceFellOverdue():
            invoice = account.invoices[event.invoice_id]
            marks = invoice.overdue_bucket.set(event.instalment, bucket_index(event.days_past_due))
            return _with_invoice(account, invoice._replace(overdue_bucket=marks))
        case StatementIssued():
            statement = Statement(
                event.statement_id, event.period_start, event.period_end, event.ledger_version, event.recorded_on
            )
            return account._replace(
                customer_id=event.customer_id,
                statements=account.statements.set(statement.statement_id, statement),
            )
        case BalanceConfirmed() | BalanceDisputed():
            statement = account.statements[event.statement_id]._replace(answered=True)
            return account._replace(statements=account.statements.set(statement.statement_id, statement))
    return account


def _discount(discount: Money | None) -> Decimal:
    return discount.amount if discount else ZERO


def with_payment(account: Account, payment: Payment) -> Account:
    """The account with the payment as given, and its unapplied cash on the list of what waits."""
    waiting = account.waiting
    if payment.waiting:
        waiting = waiting.set(payment.payment_id, payment.key)
    elif payment.payment_id in waiting:
        waiting = waiting.delete(payment.payment_id)
    return account._replace(payments=account.payments.set(payment.payment_id, payment), waiting=waiting)


def _with_invoice(account: Account, invoice: Invoice) -> Account:
    return account._replace(invoices=account.invoices.set(invoice.invoice_id, invoice))


def _reduce(account: Account, lines: Iterable[tuple[str, Decimal, Decimal]], by: str) -> Account:
    """Each (invoice, amount, discount) reduces what is open on the invoice, by payments or credits."""
    invoices = account.invoices.mutate()
    for invoice_id, amount, discount in lines:
        invoice = invoices[invoice_id]
        invoices[invoice_id] = invoice._replace(
            **{by: getattr(invoice, by) + amount}, discounted=invoice.discounted + discount
        )
    return account._replace(invoices=invoices.finish())


def _withdraw(account: Account, event: AllocationsWithdrawn) -> Account:
    withdrawn = [(a.invoice_id, a.amount.amount, _discount(a.discount), a.entry_date) for a in event.allocations]
    total = sum((amount for _, amount, _, _ in withdrawn), ZERO)
    if event.source == "payment":
        payment = account.payments[event.source_id]
        lines = list(payment.allocations)
        for invoice_id, amount, discount, entry in withdrawn:
            lines.remove((invoice_id, amount, discount, entry, False))
        payment = payment._replace(unallocated=payment.unallocated + total, allocations=tuple(lines))
        account = with_payment(account, payment)
        by = "paid"
    else:
        note = account.credit_notes[event.source_id]
        notes = list(note.allocations)
        for invoice_id, amount, _, entry in withdrawn:
            notes.remove((invoice_id, amount, entry, False))
        note = note._replace(unallocated=note.unallocated + total, allocations=tuple(notes))
        account = account._replace(credit_notes=account.credit_notes.set(note.credit_note_id, note))
        by = "credited"
    return _reduce(account, ((i, -amount, -discount) for i, amount, discount, _ in withdrawn), by)


def _refunded(account: Account, source_id: str, amount: Decimal) -> Account:
    if source_id in account.payments:
        payment = account.payments[source_id]
        left = payment.unallocated - amount
        payment = payment._replace(
            unallocated=left,
            refunded=payment.refunded + amount,
            remainder_as=payment.remainder_as if left else None,
        )
        return with_payment(account, payment)
    note = account.credit_notes[source_id]
    note = note._replace(unallocated=note.unallocated - amount, refunded=note.refunded + amount)
    return account._replace(credit_notes=account.credit_notes.set(source_id, note))


def schedule_pairs(schedule: Sequence[Instalment]) -> tuple[tuple[date, Decimal], ...]:
    return tuple((i.due_date, i.amount.amount) for i in schedule)


def fold(events: Iterable[DomainEvent], account: Account | None = None) -> Account:
    account = account or Account()
    for event in events:
        account = evolve(account, event)
    return account
