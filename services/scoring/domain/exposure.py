"""What a customer owes and how late, in the base currency: the exposure limits and holds weigh,
and the facts a score is made of."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from contracts.scoring import ScoreInputs
from libs.events.contracts import to_minor_unit

ZERO = Decimal(0)


def past_due(
    schedule: Sequence[tuple[date, Decimal]], total: Decimal, open_: Decimal, today: date
) -> list[tuple[date, Decimal]]:
    """What of an invoice is past due today, instalment by instalment (due date, amount); what
    was paid settles the earliest instalments first."""
    paid = total - open_
    items = []
    for due, amount in schedule:
        covered = min(max(paid, ZERO), amount)
        paid -= covered
        if amount - covered > 0 and due < today:
            items.append((due, amount - covered))
    return items


def overdue_of(
    schedule: Sequence[tuple[date, Decimal]], total: Decimal, open_: Decimal, today: date
) -> tuple[Decimal, int]:
    """What of an invoice is past due today, and the days past due of its oldest unpaid instalment."""
    items = past_due(schedule, total, open_, today)
    return sum((a for _, a in items), ZERO), max(((today - due).days for due, _ in items), default=0)


def net_of_credit(items: Sequence[tuple[date, Decimal]], credit: Decimal, today: date) -> tuple[Decimal, int]:
    """Overdue items less the customer's unapplied cash and credit balance in their currency, taken
    off the oldest first: what is overdue then, and the days past due of the oldest left."""
    left, oldest, overdue = max(credit, ZERO), 0, ZERO
    for due, amount in sorted(items):
        taken = min(left, amount)
        left -= taken
        if amount > taken:
            overdue += amount - taken
            oldest = max(oldest, (today - due).days)
    return overdue, oldest


@dataclass(frozen=True)
class Exposure:
    """A customer's receivables in the base currency; amounts in currencies without a rate are
    not counted, and named in ``unpriced``."""

    balance: Decimal
    overdue: Decimal  # net of unapplied cash and credit balance
    oldest_days_past_due: int
    unpriced: tuple[str, ...] = ()
    file_status: tuple[str, str] | None = None  # the credit file's status and why, when not active


@dataclass(frozen=True)
class Facts:
    inputs: ScoreInputs
    exposure: Exposure
    monthly_invoicing: Decimal  # the last twelve months' invoicing in the base currency, a month
    net_worth: Decimal | None  # tangible net worth from the latest statement, in the base currency
    insured_cover: Decimal | None  # credit-insurance cover in force, in the base currency


def in_base(amount: Decimal, currency: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    """One amount in the base currency (exact: round a figure once, when it is complete)."""
    rate = rates.get(currency)
    return None if rate is None else amount * rate


def total_in_base(
    amounts: Iterable[tuple[Decimal, str]], rates: Mapping[str, Decimal], base: str
) -> tuple[Decimal, set[str]]:
    """The amounts added up in the base currency, exactly, then rounded half-up to its minor unit
    once; and the currencies left out for want of a rate."""
    total, unpriced = ZERO, set()
    for amount, currency in amounts:
        converted = in_base(amount, currency, rates)
        if converted is None:
            unpriced.add(currency)
        else:
            total += converted
    return to_minor_unit(total, base), unpriced


def months_between(start: date, end: date) -> int:
    return max((end.year - start.year) * 12 + end.month - start.month - (end.day < start.day), 0)
