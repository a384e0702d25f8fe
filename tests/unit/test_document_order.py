"""The ledger is a function of the ERP's documents, not of the order they arrive in: one simulated
book sent in several orders leaves every invoice, payment, credit note and allocation the same,
and the same as applying the documents in document order."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from contracts import erp
from services.receivables import domain
from services.receivables.domain import Account, Document
from tools import erp_simulator

TODAY = date(2026, 1, 10)
BOOK = erp_simulator.generate(11, 14, 700, start=date(2025, 1, 1))
KINDS: dict[str, type[erp.ErpDocument]] = {
    erp.INVOICES: erp.ErpInvoice,
    erp.PAYMENTS: erp.ErpPayment,
    erp.CREDIT_NOTES: erp.ErpCreditNote,
}


def documents(book: erp_simulator.Book) -> dict[str, list[Document]]:
    """Each customer's documents as the ERP sends them: by date, a topic at a time."""
    found: dict[str, list[Document]] = {}
    for d in book.documents:
        model = KINDS[d.topic].model_validate(d.data)
        found.setdefault(d.customer, []).append(domain.document_of(model, d.document_id, d.revision))
    return found


def arrive(docs: Sequence[Document], rng: random.Random) -> tuple[Account, list[Any]]:
    """The documents in this order, in batches of random sizes as a consumer takes them (a lower
    revision arriving after a higher one is dropped, as the consumer drops it); the account and
    the events that made it."""
    account, events = Account(customer_id="C-1"), []
    seen: dict[str, int] = {}
    fresh = []
    for doc in docs:
        if seen.get(doc.document_id, 0) < doc.revision:
            seen[doc.document_id] = doc.revision
            fresh.append(doc)
    while fresh:
        size = rng.randint(1, 12)
        batch, fresh = fresh[:size], fresh[size:]
        per_document, realigned = domain.receive_documents(account, "C-1", batch, TODAY)
        new = [e for _, events_of_one in per_document for e in events_of_one] + realigned
        events += new
        account = domain.fold(new, account)
    return account, events


def _topic(doc: Document) -> int:
    return 0 if isinstance(doc, domain.InvoiceDocument) else 1 if isinstance(doc, domain.CreditNoteDocument) else 2


def shuffled_by_topic(docs: Sequence[Document], rng: random.Random) -> list[Document]:
    """Each topic keeps its own order (one partition per customer), the topics interleave at random."""
    queues = [[d for d in docs if _topic(d) == t] for t in range(3)]
    out: list[Document] = []
    while any(queues):
        out.append(rng.choice([q for q in queues if q]).pop(0))
    return out


ORDERS: dict[str, Callable[[list[Document], random.Random], list[Document]]] = {
    "as the ERP sends them": lambda docs, _: docs,
    "payments and credit notes first": lambda docs, _: sorted(docs, key=lambda d: _topic(d) == 0),
    "invoices last, newest first": lambda docs, _: list(reversed(docs)),
    "topics interleaved at random": shuffled_by_topic,
    "any order at all": lambda docs, rng: rng.sample(docs, len(docs)),
}


def ledger(account: Account, events: Sequence[Any]) -> dict[str, Any]:
    """Everything a user could compare: every invoice, every payment and credit note with its
    allocations summed per invoice and business date, and the aging at three month ends."""

    def summed(lines: Sequence[tuple[str, Decimal, Decimal, date]]) -> dict[tuple[str, date], tuple[Decimal, Decimal]]:
        out: dict[tuple[str, date], tuple[Decimal, Decimal]] = {}
        for invoice_id, amount, discount, on in lines:
            a, d = out.get((invoice_id, on), (Decimal(0), Decimal(0)))
            out[(invoice_id, on)] = (a + amount, d + discount)
        return out

    return {
        "invoices": {
            i.invoice_id: (i.total, i.open, i.paid, i.credited, i.discounted, i.settled_on)
            for i in account.invoices.values()
        },
        "payments": {
            p.payment_id: (p.unallocated, p.remainder_as, p.reversed, summed([line[:4] for line in p.allocations]))
            for p in account.payments.values()
        },
        "credit_notes": {
            n.credit_note_id: (n.unallocated, summed([(i, a, Decimal(0), on) for i, a, on, _ in n.allocations]))
            for n in account.credit_notes.values()
        },
        "aging": {
            day: domain.age(domain.open_items(domain.account_as_of(events, "C-1", day, TODAY)), day)
            for day in (date(2025, 3, 31), date(2025, 6, 30), date(2025, 9, 30))
        },
    }


@pytest.mark.parametrize("customer", sorted(documents(BOOK)))
def test_a_book_sent_in_any_order_gives_the_same_ledger(customer: str) -> None:
    docs = documents(BOOK)[customer]
    results = {}
    for name, order in ORDERS.items():
        rng = random.Random(f"{customer}:{name}")
        account, events = arrive(order(list(docs), rng), rng)
        assert domain.fold(events, Account(customer_id="C-1")) == account  # the events alone make the account
        results[name] = ledger(account, events)
        # and it is the account that document order gives
        target, _ = domain.in_document_order(account, TODAY)
        assert {i: v.open for i, v in target.invoices.items()} == {i: v.open for i, v in account.invoices.items()}
    first, *others = results
    for name in others:
        for part in ("invoices", "payments", "credit_notes", "aging"):
            assert results[name][part] == results[first][part], f"{part} differ when {name}"


def test_the_book_has_what_makes_order_matter() -> None:
    """Lump sums without remittance, discounts, instalments, credit notes, corrections and reversals."""
    docs = [d for ds in documents(BOOK).values() for d in ds]
    payments = [d for d in docs if isinstance(d, domain.PaymentDocument)]
    assert any(not p.remittance for p in payments)
    assert any(p.reversed for p in payments)
    assert any(isinstance(d, domain.CreditNoteDocument) for d in docs)
    assert any(isinstance(d, domain.InvoiceDocument) and d.revision > 1 for d in docs)
    assert any(isinstance(d, domain.InvoiceDocument) and d.terms.discount for d in docs)
