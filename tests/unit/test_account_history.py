"""An account's history folded at any date is the same account as folding it afresh: the simulator's
customers, their documents arriving days after their dates and some of them months late (so
allocations are withdrawn and made again in document order), folded at every other week's end and every
month end, as known on several days, with the dates asked for in any order."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from contracts.receivables import AllocationsWithdrawn
from services.receivables import domain
from services.receivables.domain import Account, Document
from tests.unit.test_document_order import documents
from tools import erp_simulator

BOOK = erp_simulator.generate(5, 8, 480, start=date(2025, 1, 1))


def _dated(doc: Document) -> date:
    return doc.value_date if isinstance(doc, domain.PaymentDocument) else doc.issue_date


def recorded_late(customer: str, docs: list[Document]) -> list[Any]:
    """Each document recorded 0-5 days after its date, one in eight 40-120 days after."""
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


def test_an_account_history_folds_at_any_date_to_the_account_folded_afresh() -> None:
    weeks = [date(2025, 1, 5) + timedelta(weeks=2 * k) for k in range(30)]
    month_ends = [date(2025, m + 1, 1) - timedelta(days=1) for m in range(1, 12)]
    asked = weeks + month_ends
    withdrawn = 0
    for customer, docs in documents(BOOK).items():
        events = recorded_late(customer, docs)
        withdrawn += sum(isinstance(e, AllocationsWithdrawn) for e in events)
        for known_on in (date(2025, 6, 30), date(2025, 12, 31), date.max):
            history = domain.AccountHistory(events, customer, known_on)
            for as_of in random.Random(customer).sample(asked, len(asked)):
                assert history.at(as_of) == domain.account_as_of(events, customer, as_of, known_on), (as_of, known_on)
    assert withdrawn >= 3  # back-dated postings moved allocations: the case the history must reckon with
