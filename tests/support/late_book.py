"""The simulator's customers with their documents recorded late, as domain events: each document
0-5 days after its date, one in eight 40-120 days after, so back-dated postings withdraw allocations
and make them again in document order; write-offs and recoveries besides, when asked for."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from services.receivables import domain
from services.receivables.domain import Account, Document
from tests.unit.test_document_order import documents
from tools import erp_simulator


def _dated(doc: Document) -> date:
    return doc.value_date if isinstance(doc, domain.PaymentDocument) else doc.issue_date


def recorded_late(customer: str, docs: list[Document], write_offs: bool = False) -> list[Any]:
    """One customer's events, in the order recorded; with ``write_offs``, the credit team writes off
    now and then an invoice more than 120 days past due, and recovers half of one now and then."""
    rng = random.Random(customer)
    lag = {d.document_id: rng.randint(40, 120) if rng.random() < 0.125 else rng.randint(0, 5) for d in docs}
    account, events = Account(customer_id=customer), []
    for doc in sorted(docs, key=lambda d: (_dated(d) + timedelta(days=lag[d.document_id]), d.document_id)):
        today = _dated(doc) + timedelta(days=lag[doc.document_id])
        per_document, realigned = domain.receive_documents(account, customer, [doc], today)
        new = [e for _, of_one in per_document for e in of_one] + realigned
        if write_offs:
            new += _credit_team(domain.fold(new, account), today, rng)
        events += new
        account = domain.fold(new, account)
    return events


def _credit_team(account: Account, today: date, rng: random.Random) -> list[Any]:
    stale = [i for i in account.invoices.values() if i.open > 0 and i.earliest_open_due() < today - timedelta(120)]
    if stale and rng.random() < 0.2:
        return domain.write_off(account, stale[0].invoice_id, None, "uncollectable", "wang", today)
    lost = [i for i in account.invoices.values() if i.written_off - i.recovered >= Decimal("0.02")]
    if lost and rng.random() < 0.05:
        half = ((lost[0].written_off - lost[0].recovered) / 2).quantize(Decimal("0.01"))
        return domain.recover(account, lost[0].invoice_id, half, "paid by the guarantor", today)
    return []


def late_book(book: erp_simulator.Book, write_offs: bool = False) -> dict[str, list[Any]]:
    """Every customer's events, recorded late."""
    return {customer: recorded_late(customer, docs, write_offs) for customer, docs in documents(book).items()}
