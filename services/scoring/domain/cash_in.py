"""The 13-week cash-in forecast: what the open invoices are predicted to bring in, week by week,
with promises to pay and plan instalments in place of the predictions of the invoices they cover.

Weeks run Monday to Sunday; the first is the week of the forecast's day. Each amount is in the
base currency, added up exactly and rounded half-up to its minor unit once per week.

- A predicted invoice brings its open amount in the week of its predicted payment date.
- A promise or a plan instalment brings its amount in the week of its due date (the forecast's
  day when that has passed); the invoices it names are taken out of the predictions.
- A promise naming no invoices takes its amount off its customer's predictions, earliest
  predicted first.
- What is predicted after the last week is ``later``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from libs.events.contracts import to_minor_unit

ZERO = Decimal(0)
WEEKS = 13


@dataclass(frozen=True, slots=True)
class Receipt:
    """An open invoice's predicted payment, in the base currency."""

    customer_id: str
    invoice_id: str
    paid_on: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Expected:
    """A promise to pay or a plan instalment still to come, in the base currency."""

    customer_id: str
    source: str  # promise | plan
    due_date: date
    amount: Decimal
    invoices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Week:
    start: date
    predicted: Decimal
    promised: Decimal

    @property
    def total(self) -> Decimal:
        return self.predicted + self.promised


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def forecast(
    day: date, receipts: Sequence[Receipt], expected: Sequence[Expected], base: str, weeks: int = WEEKS
) -> tuple[list[Week], Decimal]:
    """The weeks from ``day``'s and what is predicted after them, by the rules above."""
    first = week_of(day)
    end = first + timedelta(days=7 * weeks)
    covered = {(e.customer_id, i) for e in expected for i in e.invoices}
    unnamed: dict[str, Decimal] = defaultdict(Decimal)
    for e in expected:
        if not e.invoices and e.source == "promise":
            unnamed[e.customer_id] += e.amount
    predicted: dict[date, Decimal] = defaultdict(Decimal)
    promised: dict[date, Decimal] = defaultdict(Decimal)
    later = ZERO
    for r in sorted(receipts, key=lambda r: (r.customer_id, r.paid_on, r.invoice_id)):
        if (r.customer_id, r.invoice_id) in covered:
            continue
        amount = r.amount
        taken = min(unnamed[r.customer_id], amount)
        unnamed[r.customer_id] -= taken
        amount -= taken
        if r.paid_on >= end:
            later += amount
        else:
            predicted[week_of(max(r.paid_on, day))] += amount
    for e in expected:
        on = max(e.due_date, day)
        if on >= end:
            later += e.amount
        else:
            promised[week_of(on)] += e.amount
    found = [
        Week(start, to_minor_unit(predicted[start], base), to_minor_unit(promised[start], base))
        for start in (first + timedelta(days=7 * k) for k in range(weeks))
    ]
    return found, to_minor_unit(later, base)
