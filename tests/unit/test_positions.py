"""Which days the month-end positions are kept for, and which postings change them."""

from __future__ import annotations

from datetime import date

from contracts.receivables import PaymentReceived
from libs.events.contracts import Money
from services.receivables.domain.positions import months_back, position_days, stale_since


def test_position_days_are_month_ends_and_the_90th_day_after_each() -> None:
    assert position_days(date(2026, 1, 1), date(2026, 4, 30)) == [
        date(2026, 1, 29),  # 31 October + 90
        date(2026, 1, 31),
        date(2026, 2, 28),  # a month end, and 30 November + 90
        date(2026, 3, 31),  # a month end, and 31 December + 90
        date(2026, 4, 30),
    ]
    assert position_days(date(2026, 2, 2), date(2026, 2, 27)) == []


def _paid(value_date: date, recorded_on: date) -> PaymentReceived:
    return PaymentReceived(
        customer_id="C-1",
        recorded_on=recorded_on,
        payment_id="P-1",
        amount=Money(amount="100.00", currency="CNY"),
        value_date=value_date,
        method="bank_transfer",
    )


def test_a_posting_changes_the_positions_it_reaches_back_to() -> None:
    # Recorded the day it counts from, or late within one month: no position changes.
    assert stale_since(_paid(date(2026, 3, 10), date(2026, 3, 10)), date(2026, 3, 10)) is None
    assert stale_since(_paid(date(2026, 3, 10), date(2026, 3, 14)), date(2026, 3, 14)) is None
    # Late across a month end: every position day from its value date on.
    assert stale_since(_paid(date(2026, 3, 30), date(2026, 4, 2)), date(2026, 4, 2)) == date(2026, 3, 30)
    # Late across the 90th day after a month end (29 January, after 31 October).
    assert stale_since(_paid(date(2026, 1, 28), date(2026, 1, 30)), date(2026, 1, 30)) == date(2026, 1, 28)


def test_months_back_crosses_years() -> None:
    assert months_back(date(2026, 2, 17), 0) == date(2026, 2, 1)
    assert months_back(date(2026, 2, 17), 3) == date(2025, 11, 1)
    assert months_back(date(2026, 2, 17), 23) == date(2024, 3, 1)
