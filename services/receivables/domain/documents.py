"""The ERP's documents (invoices, payments, credit notes) applied to a customer's account.

The ledger is a function of the documents, not of the order they arrive in. The ERP's topics are
not ordered with one another, so a payment may arrive before the invoices it pays; the ledger
applies documents as if they had arrived in *document order* (their own date, then invoices
before credit notes before payments, then document id). When a document arrives that belongs
before documents already applied, or a correction or reversal changes one of them, the
automatic allocations are worked out again in document order, and those that differ are
withdrawn and made again (``AllocationsWithdrawn`` then the allocations that stand). What people
did by hand (allocations, write-offs, disputes, adjustments, refunds) stays as it was done: the
allocations made again take only what it left open.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from immutables import Map

from contracts.erp import ErpCreditNote, ErpDocument, ErpInvoice, ErpPayment
from contracts.receivables import (
    AllocationsWithdrawn,
    CreditNoteApplied,
    CreditNoteIssued,
    DatedAllocation,
    Instalment,
    InvoiceAdjusted,
    InvoiceIssued,
    InvoiceReopened,
    InvoiceSettled,
    PaymentAllocated,
    PaymentReceived,
    RemittanceLine,
    Terms,
)
from libs.events.contracts import DomainEvent, Money
from services.receivables.domain.account import (
    CREDIT_NOTE,
    INVOICE,
    PAYMENT,
    ZERO,
    Account,
    CreditNote,
    DocumentKey,
    Invoice,
    Payment,
    Refused,
    evolve,
    fold,
    money,
    normalise_number,
    with_payment,
)
from services.receivables.domain.cash import (
    allocation_events,
    apply_cash,
    apply_credit_note,
    apply_waiting,
    reverse_payment,
)
from services.receivables.domain.terms import rescaled, schedule_for


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

    @property
    def key(self) -> DocumentKey:
        return (self.issue_date, INVOICE, self.document_id)


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

    @property
    def key(self) -> DocumentKey:
        return (self.value_date, PAYMENT, self.document_id)


@dataclass(frozen=True)
class CreditNoteDocument:
    document_id: str
    revision: int
    number: str
    amount: Money
    reason: str
    issue_date: date
    invoice_id: str | None = None  # the ERP document id of the invoice it credits

    @property
    def key(self) -> DocumentKey:
        return (self.issue_date, CREDIT_NOTE, self.document_id)


Document = InvoiceDocument | PaymentDocument | CreditNoteDocument


def document_of(posted: ErpDocument, document_id: str, revision: int) -> Document:
    """One revision of one of the ERP's documents, as the ledger reads it."""
    match posted:
        case ErpInvoice():
            return InvoiceDocument(
                document_id,
                revision,
                posted.number,
                posted.net,
                posted.tax,
                posted.issue_date,
                posted.terms,
                posted.order_ref,
                posted.erp_reference,
            )
        case ErpPayment():
            return PaymentDocument(
                document_id,
                revision,
                posted.amount,
                posted.value_date,
                posted.method,
                posted.payer_reference,
                posted.remittance,
                posted.reversed,
                posted.reversal_reason,
            )
        case ErpCreditNote():
            return CreditNoteDocument(
                document_id,
                revision,
                posted.number,
                posted.amount,
                posted.reason,
                posted.issue_date,
                posted.invoice_document_id,
            )


def receive(account: Account, customer_id: str, doc: Document, today: date) -> list[DomainEvent]:
    """One revision of one document, applied as it arrives."""
    match doc:
        case InvoiceDocument():
            return receive_invoice(account, customer_id, doc, today)
        case PaymentDocument():
            return receive_payment(account, customer_id, doc, today)
        case CreditNoteDocument():
            return receive_credit_note(account, customer_id, doc, today)


def receive_documents(
    account: Account, customer_id: str, docs: Sequence[Document], today: date
) -> tuple[list[tuple[int, list[DomainEvent]]], list[DomainEvent]]:
    """Documents of one batch (the events of each, with its place in ``docs``, in the order they
    were decided), then, if one belongs before those already applied or changed one of them, the
    events that bring the allocations to document order."""
    per_document: list[tuple[int, list[DomainEvent]]] = []
    again = False
    # In document order within the batch (a document's revisions keep theirs): fewer come late.
    for index, doc in sorted(enumerate(docs), key=lambda d: d[1].key):
        known = _known(account, doc)
        new = receive(account, customer_id, doc, today)
        if new and (known or _late(account, doc)):
            again = True
        account = fold(new, account)
        per_document.append((index, new))
    return per_document, realign(account, today) if again else []


def _late(account: Account, doc: Document) -> bool:
    """Whether a new document comes before documents already applied that it could change: an
    invoice before a payment or credit note, a payment or credit note before anything."""
    if isinstance(doc, InvoiceDocument):
        return account.latest_source is not None and doc.key < account.latest_source
    return account.latest_document is not None and doc.key < account.latest_document


def _known(account: Account, doc: Document) -> bool:
    return doc.document_id in (
        account.invoices if isinstance(doc, InvoiceDocument)
        else account.payments if isinstance(doc, PaymentDocument)
        else account.credit_notes
    )  # fmt: skip


# -- invoices -------------------------------------------------------------------------------------------


def receive_invoice(account: Account, customer_id: str, doc: InvoiceDocument, today: date) -> list[DomainEvent]:
    known = account.invoices.get(doc.document_id)
    if known is not None:
        return _correct_invoice(account, known, doc, today) if doc.revision > known.revision else []
    number_free(account, doc.number, customer_id)
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
    return issue(account, issued, today)


def number_free(account: Account, number: str, customer_id: str) -> None:
    """An invoice number names one receivable of the account."""
    owner = account.numbers.get(normalise_number(number))
    if owner is not None:
        raise Refused(f"invoice number {number} is already invoice {owner} of customer {customer_id}")


def issue(account: Account, issued: InvoiceIssued, today: date) -> list[DomainEvent]:
    """A receivable arises, and what waited on the account for it is applied."""
    return [issued, *apply_waiting(evolve(account, issued), [issued.invoice_id], today)]


def _correct_invoice(account: Account, invoice: Invoice, doc: InvoiceDocument, today: date) -> list[DomainEvent]:
    """A corrected ERP document (a higher revision) becomes an adjustment of what is owed; being
    the document itself corrected, it counts from the invoice's date."""
    total = doc.total
    if total.currency != invoice.currency:
        raise Refused(f"revision {doc.revision} changes the currency of invoice {invoice.invoice_id}")
    if normalise_number(doc.number) != normalise_number(invoice.number):
        raise Refused(f"revision {doc.revision} changes the number of invoice {invoice.invoice_id}")
    schedule = schedule_for(total, doc.issue_date, doc.terms)
    reason = f"corrected by the ERP (revision {doc.revision})"
    return adjust(
        account, invoice.invoice_id, total, schedule, reason, today, revision=doc.revision, on=invoice.issue_date
    )


def adjust(
    account: Account,
    invoice_id: str,
    total: Money,
    schedule: tuple[Instalment, ...] | None,
    reason: str,
    today: date,
    *,
    revision: int | None = None,
    on: date | None = None,
) -> list[DomainEvent]:
    """Change what is owed on an invoice; ``on`` is the date it counts from (today unless given)."""
    invoice = account.invoice(invoice_id)
    change = total.amount - invoice.total
    reduced = invoice.total - invoice.open
    if total.amount < reduced:
        raise Refused(
            f"invoice {invoice_id} cannot be reduced to {total.amount}: {reduced} of it is already paid, "
            "credited or written off"
        )
    schedule = schedule or rescaled(invoice.schedule, total)
    entry = on or today
    events: list[DomainEvent] = [
        InvoiceAdjusted(
            customer_id=account.customer_id,
            recorded_on=today,
            invoice_id=invoice_id,
            change=money(change, invoice.currency),
            total=total,
            schedule=schedule,
            reason=reason,
            entry_date=entry,
            revision=revision,
        )
    ]
    if invoice.open > 0 and total.amount == reduced:
        events.append(
            InvoiceSettled(customer_id=account.customer_id, recorded_on=today, invoice_id=invoice_id, settled_on=entry)
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
    if total.amount > reduced and change > 0:
        events += apply_waiting(fold(events, account), [invoice_id], today)
    return events


# -- payments ----------------------------------------------------------------------------------------------


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
    events += allocation_events(account, doc.document_id, basis, plan, remainder_as, today)
    if doc.reversed:
        events += reverse_payment(
            fold(events[1:], account), doc.document_id, doc.reversal_reason or "reversed by the ERP", today
        )
    return events


# -- credit notes ------------------------------------------------------------------------------------------


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
    if invoice is not None:
        if invoice.currency != doc.amount.currency:
            raise Refused(f"credit note in {doc.amount.currency} for invoice {doc.invoice_id} in {invoice.currency}")
        credited = sum(
            (n.amount for n in account.credit_notes.values() if n.from_erp and n.invoice_id == invoice.invoice_id),
            ZERO,
        )
        if doc.amount.amount > invoice.total - credited:
            raise Refused(
                f"credit note {doc.number} for {doc.amount.amount} is more than invoice {invoice.number} has left to "
                f"credit ({invoice.total - credited} of its {invoice.total}); the ERP must correct it"
            )
    return credit(account, customer_id, doc, today)


def credit(
    account: Account, customer_id: str, doc: CreditNoteDocument, today: date, *, dispute_id: str | None = None
) -> list[DomainEvent]:
    """A credit note: applied to its invoice up to what is open there, the rest a credit balance."""
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
        dispute_id=dispute_id,
    )
    events: list[DomainEvent] = [issued]
    if doc.invoice_id is None or doc.invoice_id not in account.invoices:
        return events  # a credit balance, until its invoice arrives or a person allocates it
    return events + apply_credit_note(
        evolve(account, issued), doc.document_id, doc.invoice_id, doc.amount.amount, today
    )


# -- document order ------------------------------------------------------------------------------------------


def in_document_order(account: Account, today: date) -> tuple[Account, list[DomainEvent]]:
    """The account as its documents make it when applied in document order, from what people did
    by hand (which stays), and the allocation events that make it so."""
    by_hand_paid: dict[str, Decimal] = defaultdict(Decimal)
    by_hand_credited: dict[str, Decimal] = defaultdict(Decimal)
    for payment in account.payments.values():
        for invoice_id, amount, _, _, manual in payment.allocations:
            if manual:
                by_hand_paid[invoice_id] += amount
    for note in account.credit_notes.values():
        for invoice_id, amount, _, manual in note.allocations:
            if manual or not note.from_erp:
                by_hand_credited[invoice_id] += amount
    fresh = Account(
        customer_id=account.customer_id,
        numbers=account.numbers,
        disputes=account.disputes,
        statements=account.statements,
        credit_notes=Map({k: n for k, n in account.credit_notes.items() if not n.from_erp}),
        payments=Map({k: p for k, p in account.payments.items() if p.reversed}),
    )
    documents: list[tuple[DocumentKey, Invoice | Payment | CreditNote]] = [
        *((i.key, i) for i in account.invoices.values()),
        *((n.key, n) for n in account.credit_notes.values() if n.from_erp),
        *((p.key, p) for p in account.payments.values() if not p.reversed),
    ]
    events: list[DomainEvent] = []
    for _, document in sorted(documents, key=lambda d: d[0]):
        new: list[DomainEvent]
        match document:
            case Invoice():
                invoice = document._replace(
                    paid=by_hand_paid[document.invoice_id],
                    credited=by_hand_credited[document.invoice_id],
                    discounted=ZERO,
                    settled_on=None,
                )
                fresh = fresh._replace(invoices=fresh.invoices.set(invoice.invoice_id, invoice))
                new = apply_waiting(fresh, [invoice.invoice_id], today)
            case CreditNote():
                kept = sum((line[1] for line in document.allocations if line[3]), ZERO) + document.refunded
                note = document._replace(unallocated=document.amount - kept, allocations=())
                fresh = fresh._replace(credit_notes=fresh.credit_notes.set(note.credit_note_id, note))
                new = []
                if note.invoice_id is not None and note.invoice_id in fresh.invoices and note.unallocated > 0:
                    new = apply_credit_note(fresh, note.credit_note_id, note.invoice_id, note.unallocated, today)
            case Payment():
                payment = document._replace(
                    unallocated=document.amount - document.by_hand - document.refunded,
                    allocations=(),
                    remainder_as=None,
                )
                fresh = with_payment(fresh, payment)
                remittance = tuple(
                    RemittanceLine(invoice_number=number, amount=amount) for number, amount in payment.remittance
                )
                basis, plan, remainder_as = apply_cash(
                    fresh,
                    money(payment.unallocated, payment.currency),
                    payment.value_date,
                    remittance,
                    payment.payer_reference,
                )
                new = allocation_events(fresh, payment.payment_id, basis, plan, remainder_as, today)
        fresh = fold(new, fresh)
        events += new
    return fresh, events


def _lines(lines: Sequence[tuple[str, Decimal, Decimal, date]]) -> dict[tuple[str, date], tuple[Decimal, Decimal]]:
    """Allocations summed per invoice and date: the same cash in two pieces is the same allocation."""
    summed: dict[tuple[str, date], tuple[Decimal, Decimal]] = {}
    for invoice_id, amount, discount, on in lines:
        before = summed.get((invoice_id, on), (ZERO, ZERO))
        summed[(invoice_id, on)] = (before[0] + amount, before[1] + discount)
    return summed


def realign(account: Account, today: date) -> list[DomainEvent]:
    """The events that bring the account's automatic allocations to those of document order."""
    target, made = in_document_order(account, today)
    reason = "a document arrived that comes before them in document order"
    withdrawn: list[DomainEvent] = []
    changed: set[str] = set()
    for payment in account.payments.values():
        if payment.reversed:
            continue
        live = [(i, a, d, on) for i, a, d, on, manual in payment.allocations if not manual]
        wanted = [(i, a, d, on) for i, a, d, on, _ in target.payments[payment.payment_id].allocations]
        if _lines(live) != _lines(wanted):
            changed.add(payment.payment_id)
            if live:
                withdrawn.append(_withdrawal(account, payment.payment_id, "payment", live, reason, today))
    for note in account.credit_notes.values():
        if not note.from_erp:
            continue
        live = [(i, a, ZERO, on) for i, a, on, manual in note.allocations if not manual]
        wanted = [(i, a, ZERO, on) for i, a, on, _ in target.credit_notes[note.credit_note_id].allocations]
        if _lines(live) != _lines(wanted):
            changed.add(note.credit_note_id)
            if live:
                withdrawn.append(_withdrawal(account, note.credit_note_id, "credit_note", live, reason, today))
    again = [
        e
        for e in made
        if (isinstance(e, PaymentAllocated) and e.payment_id in changed)
        or (isinstance(e, CreditNoteApplied) and e.credit_note_id in changed)
    ]
    fixes = withdrawn + again
    after = fold(fixes, account)
    for payment in after.payments.values():  # the same allocations, but what the rest of the cash is has changed
        wanted_as = target.payments[payment.payment_id].remainder_as
        if not payment.reversed and payment.unallocated > 0 and payment.remainder_as != wanted_as:
            last = next(
                e for e in reversed(made) if isinstance(e, PaymentAllocated) and e.payment_id == payment.payment_id
            )
            fixes.append(
                last.model_copy(
                    update={
                        "allocations": (),
                        "remainder": money(payment.unallocated, payment.currency),
                        "remainder_as": wanted_as,
                    }
                )
            )
    after = fold(fixes[len(withdrawn) + len(again) :], after)
    for invoice in after.invoices.values():
        wanted_invoice = target.invoices[invoice.invoice_id]
        if wanted_invoice.open == 0 and wanted_invoice.settled_on is not None:
            if invoice.settled_on != wanted_invoice.settled_on:
                fixes.append(
                    InvoiceSettled(
                        customer_id=account.customer_id,
                        recorded_on=today,
                        invoice_id=invoice.invoice_id,
                        settled_on=wanted_invoice.settled_on,
                    )
                )
        elif wanted_invoice.open > 0 and invoice.settled_on is not None:
            fixes.append(
                InvoiceReopened(
                    customer_id=account.customer_id,
                    recorded_on=today,
                    invoice_id=invoice.invoice_id,
                    open=money(wanted_invoice.open, invoice.currency),
                    reason=reason,
                )
            )
    return fixes


def _withdrawal(
    account: Account,
    source_id: str,
    source: Literal["payment", "credit_note"],
    lines: Sequence[tuple[str, Decimal, Decimal, date]],
    reason: str,
    today: date,
) -> AllocationsWithdrawn:
    currency = (account.payments[source_id] if source == "payment" else account.credit_notes[source_id]).currency
    return AllocationsWithdrawn(
        customer_id=account.customer_id,
        recorded_on=today,
        source_id=source_id,
        source=source,
        allocations=tuple(
            DatedAllocation(
                invoice_id=invoice_id,
                amount=money(amount, currency),
                discount=money(discount, currency) if discount else None,
                entry_date=on,
            )
            for invoice_id, amount, discount, on in lines
        ),
        reason=reason,
    )
