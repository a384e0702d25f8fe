"""Which days the month-end positions are kept for, and which postings change them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from contracts.receivables import PaymentReceived
from libs.events.contracts import Money
from services.receivables.domain.positions import book_changes, months_back, position_days, stale_since, version_changes


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


JAN, FEB, MAR = date(2026, 1, 5), date(2026, 2, 5), date(2026, 3, 5)


def test_each_version_counts_what_it_changed_over_the_one_before() -> None:
    chain = {FEB: {"CNY": (D(70), D(20))}, JAN: {"CNY": (D(100), D(0)), "USD": (D(5), D(5))}}
    assert version_changes(chain) == {
        (JAN, "CNY"): (D(100), D(0)),
        (JAN, "USD"): (D(5), D(5)),
        (FEB, "CNY"): (D(-30), D(20)),
        (FEB, "USD"): (D(-5), D(-5)),  # a currency the later version lacks is gone from the book
    }


def test_the_book_rows_follow_a_version_written_between_two_and_one_rewritten() -> None:
    kept = {JAN: {"CNY": (D(100),)}, MAR: {"CNY": (D(40),)}}
    between = {**kept, FEB: {"CNY": (D(70),)}}
    # February's version changes February by -30, and March now changes it by -30 instead of -60.
    assert book_changes(kept, between) == {(FEB, "CNY"): (D(-30),), (MAR, "CNY"): (D(30),)}
    # The sums of the book's rows up to each date are then the version in force on it.
    book = version_changes(kept)
    for at, change in book_changes(kept, between).items():
        book[at] = tuple(a + b for a, b in zip(book.get(at, (D(0),)), change, strict=True))
    assert [sum((v[0] for (k, _), v in book.items() if k <= on), D(0)) for on in (JAN, FEB, MAR)] == [100, 70, 40]
    # Rewriting March's version to what it was changes nothing; to nothing at all, takes February's back.
    assert book_changes(between, between) == {}
    assert book_changes(between, {**between, MAR: {}}) == {(MAR, "CNY"): (D(-70) - D(-30),)}
