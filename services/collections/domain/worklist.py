"""The collector's priority: a sum of named parts, each capped, so a row says why it ranks where it does.

    amount        10 * log10(1 + overdue in the base currency / 1,000), at most 30
    age           the oldest item's days past due * 25 / 90, at most 25
    grade         A 0, B 3, C 6, D 10, E 15, unrated 8
    promises      10 for each broken promise, at most 20
    limit use     10 at or above the limit, 5 at or above 80 % of it
    contact       days since the last contact ÷ 3, at most 10 (10 when never contacted)
    lateness      the days late scoring predicts its open invoices will be paid ÷ 3, at most 10
                  (0 without a prediction)

Each part is rounded to two decimals; the priority is their sum. Ties rank by the larger overdue
amount, then by customer id."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from contracts.collections import GradeOrUnrated, PortfolioRule

GRADE_POINTS: dict[str, Decimal] = {
    "A": Decimal(0),
    "B": Decimal(3),
    "C": Decimal(6),
    "D": Decimal(10),
    "E": Decimal(15),
    "unrated": Decimal(8),
}
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Situation:
    overdue_in_base: Decimal
    oldest_days_past_due: int
    grade: GradeOrUnrated
    broken_promises: int
    limit_use: Decimal | None  # exposure ÷ limit; None without a limit
    last_contact_on: date | None
    expected_days_late: int | None = None  # from scoring's payment-date predictions


def parts(situation: Situation, day: date) -> dict[str, Decimal]:
    amount = Decimal(str(min(30.0, 10 * math.log10(1 + float(max(situation.overdue_in_base, Decimal(0))) / 1000))))
    age = min(Decimal(25), Decimal(max(situation.oldest_days_past_due, 0)) * 25 / 90)
    use = situation.limit_use
    limit = (
        Decimal(10)
        if use is not None and use >= 1
        else Decimal(5)
        if use is not None and use >= Decimal("0.8")
        else Decimal(0)
    )
    since = None if situation.last_contact_on is None else (day - situation.last_contact_on).days
    contact = Decimal(10) if since is None else min(Decimal(10), Decimal(max(since, 0)) / 3)
    found = {
        "amount": amount,
        "age": age,
        "grade": GRADE_POINTS[situation.grade],
        "promises": min(Decimal(20), Decimal(10 * situation.broken_promises)),
        "limit_use": limit,
        "contact": contact,
        "lateness": min(Decimal(10), Decimal(max(situation.expected_days_late or 0, 0)) / 3),
    }
    return {name: value.quantize(CENT, ROUND_HALF_UP) for name, value in found.items()}


def priority(found: dict[str, Decimal]) -> Decimal:
    return sum(found.values(), Decimal(0))


def portfolio_of(
    rules: tuple[PortfolioRule, ...],
    grade: GradeOrUnrated,
    country: str | None,
    overdue: dict[str, Decimal],
    open_: dict[str, Decimal],
) -> tuple[int, PortfolioRule] | None:
    """The first rule (numbered from 1) whose every condition the customer meets, if any."""
    for number, rule in enumerate(rules, start=1):
        if rule.grades is not None and grade not in rule.grades:
            continue
        if rule.countries is not None and country not in rule.countries:
            continue
        if not _reaches(overdue, rule.minimum_overdue) or not _reaches(open_, rule.minimum_open):
            continue
        return number, rule
    return None


def _reaches(amounts: dict[str, Decimal], minimum: dict[str, Decimal] | None) -> bool:
    """No minimum, or at least the minimum in one of its currencies."""
    return minimum is None or any(amounts.get(c, Decimal(0)) >= amount for c, amount in minimum.items())
