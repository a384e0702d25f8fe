"""The simulator's customers with their documents recorded late, as domain events: each document
0-5 days after its date, one in eight 40-120 days after, so back-dated postings withdraw allocations
and make them again in document order."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from services.receivables import domain
from services.receivables.domain import Account, Document
from tests.unit.test_document_order import documents
from tools import erp_simulator


def _dated(doc: Document) -> date:
    return doc.value_date if isinstance(doc, domain.PaymentDocument) else doc.issue_date


def recorded_late(customer: str, docs: list[Document]) -> list[Any]:
    """One customer's events, in the order recorded."""
    rng = random.Random(customer)
    lag = {d.document_id: rng.randint(40, 120) if rng.random() < 0.125 else rng.randint(0, 5) for d in docs}
    account, events = Account(customer_id=customer), []
    for doc in sorted(docs, key=lambda d: (_dated(d) + timedelta(days=lag[d.document_id]), d.document_id)):
        today = _dated(doc) + timedelta(days=lag[doc.document_id])
        per_document, realigned = domain.receive_documents(account, customer, [doc], today)
        new = [e for _, of_one in per_document for e in of_one] + realigned
        events += new
        account = domain.fold(new, account)
    return events


def late_book(book: erp_simulator.Book) -> dict[str, list[Any]]:
    """Every customer's events, recorded late."""
    return {customer: recorded_late(customer, docs) for customer, docs in documents(book).items()}
