"""An account's history folded at any date is the same account as folding it afresh: the simulator's
customers, their documents arriving days after their dates and some of them months late (so
allocations are withdrawn and made again in document order), folded at every other week's end and every
month end, as known on several days (by a history of what was known then, or by one of everything
asked for the day), with the dates asked for in any order."""

from __future__ import annotations

import random
from datetime import date, timedelta

from contracts.receivables import AllocationsWithdrawn
from services.receivables import domain
from tests.support.late_book import late_book
from tools import erp_simulator

BOOK = erp_simulator.generate(5, 8, 480, start=date(2025, 1, 1))


def test_an_account_history_folds_at_any_date_to_the_account_folded_afresh() -> None:
    weeks = [date(2025, 1, 5) + timedelta(weeks=2 * k) for k in range(30)]
    month_ends = [date(2025, m + 1, 1) - timedelta(days=1) for m in range(1, 12)]
    asked = weeks + month_ends
    withdrawn = 0
    for customer, events in late_book(BOOK).items():
        withdrawn += sum(isinstance(e, AllocationsWithdrawn) for e in events)
        everything = domain.AccountHistory(events, customer, date.max)
        for known_on in (date(2025, 6, 30), date(2025, 12, 31), date.max):
            history = domain.AccountHistory(events, customer, known_on)
            for as_of in random.Random(customer).sample(asked, len(asked)):
                afresh = domain.account_as_of(events, customer, as_of, known_on)
                assert history.at(as_of) == afresh, (as_of, known_on)
                # One history of everything recorded answers for any earlier knowledge date too.
                assert everything.at(as_of, known_on) == afresh, (as_of, known_on)
    assert withdrawn >= 3  # back-dated postings moved allocations: the case the history must reckon with
