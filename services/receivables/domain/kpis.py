"""What the credit manager steers by (应收账款周转率, 账龄分析, 坏账准备): DSO and its variants, ADD,
CEI, the shares of the book current and over 90 days past due, cash collected against what fell
due, and a provision matrix applied to the aging. Pure: amounts in, figures out.

Rounding: days and percentages are computed exactly and rounded once, half up, to two places;
money to the base currency's minor unit by the caller. A figure whose denominator is zero is None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)
TWO_PLACES = Decimal("0.01")


def rounded(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def simple_dso(receivables: Decimal, sales: Decimal, days: int) -> Decimal | None:
    """Ending receivables / credit sales of the period x its days."""
    return None if sales <= 0 else rounded(receivables / sales * days)


@dataclass(frozen=True, slots=True)
class MonthSales:
    sales: Decimal
    days: int


def count_back_dso(receivables: Decimal, months: Sequence[MonthSales]) -> tuple[Decimal | None, bool]:
    """Walk back from the latest month (``months`` latest first): a month whose sales the remaining
    receivables cover counts whole, the month that exhausts them its share of its days. Stops at a
    month with no sales; answers the days and whether the receivables were exhausted."""
    if not months or receivables <= 0:
        return (ZERO if receivables <= 0 else None), receivables <= 0
    left, days = receivables, ZERO
    for month in months:
        if month.sales <= 0:
            return rounded(days), False
        if left <= month.sales:
            return rounded(days + left / month.sales * month.days), True
        left -= month.sales
        days += month.days
    return rounded(days), False


def best_possible_dso(current: Decimal, sales: Decimal, days: int) -> Decimal | None:
    """Current (not yet due) receivables in place of all receivables."""
    return simple_dso(current, sales, days)


def average_days_delinquent(dso: Decimal | None, best: Decimal | None) -> Decimal | None:
    """ADD, the DSO variant: DSO - best possible DSO."""
    return None if dso is None or best is None else rounded(dso - best)


def cei(
    beginning: Decimal,
    sales: Decimal,
    months: int,
    ending_total: Decimal,
    ending_current: Decimal,
    *,
    divide_by_months: bool = True,
) -> Decimal | None:
    """Collection effectiveness index, in percent: (B + S/N - ET) / (B + S/N - EC) x 100; without
    ``divide_by_months``, S in place of S/N (the other variant in use)."""
    billed = sales / months if divide_by_months else sales
    collectible = beginning + billed - ending_current
    return None if collectible <= 0 else rounded((beginning + billed - ending_total) / collectible * HUNDRED)


def share(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole``."""
    return None if whole <= 0 else rounded(part / whole * HUNDRED)


def provision(balances: Mapping[str, Decimal], rates: Mapping[str, Decimal]) -> tuple[dict[str, Decimal], Decimal]:
    """Expected credit loss per band (balance x its loss rate, in percent) and in total, each to the
    cent, the total the sum of the bands."""
    per_band = {
        band: (balance * rates[band] / HUNDRED).quantize(TWO_PLACES, ROUND_HALF_UP)
        for band, balance in balances.items()
    }
    return per_band, sum(per_band.values(), ZERO)


# -- a book at a date ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenAmount:
    """An open instalment at a date, in the base currency."""

    customer_id: str
    invoice_id: str
    number: str
    amount: Decimal
    due_date: date
    days_past_due: int  # 0 and below: current


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What was open at the end of a day, in the base currency."""

    day: date
    total: Decimal = ZERO
    current: Decimal = ZERO  # not yet due
    over_90: Decimal = ZERO  # more than 90 days past due
    past_due: Decimal = ZERO
    past_due_days: Decimal = ZERO  # Σ past-due amount x days past due

    @classmethod
    def of(cls, day: date, items: Iterable[OpenAmount]) -> Snapshot:
        total = current = over_90 = past_due = past_due_days = ZERO
        for item in items:
            total += item.amount
            if item.days_past_due <= 0:
                current += item.amount
                continue
            past_due += item.amount
            past_due_days += item.amount * item.days_past_due
            if item.days_past_due > 90:
                over_90 += item.amount
        return cls(day, total, current, over_90, past_due, past_due_days)

    @property
    def weighted_days_past_due(self) -> Decimal | None:
        """ADD, the invoice-weighted variant: Σ past-due amount x days past due / Σ past-due amount."""
        return None if self.past_due <= 0 else rounded(self.past_due_days / self.past_due)


@dataclass(frozen=True, slots=True)
class Period:
    """A period's figures, from its snapshots and flows (all in the base currency)."""

    start: date
    end: date
    months: int  # calendar months the period spans, for CEI's S/N
    beginning: Snapshot  # at the end of the day before ``start``
    ending: Snapshot
    sales: Decimal  # invoices issued in the period (charges excluded)
    monthly_sales: tuple[MonthSales, ...]  # latest first, for count-back
    collected: Decimal  # payments with a value date in the period
    fell_due: Decimal  # instalments due in the period, as scheduled
    unpaid_later: Decimal | None = None  # of the period's billing, unpaid AT_RISK_DAYS after its end; None: not yet
    promised: Decimal = ZERO  # promises to pay made in the period

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True, slots=True)
class Figures:
    receivables: Decimal
    current: Decimal
    sales: Decimal
    dso: Decimal | None
    count_back_dso: Decimal | None
    count_back_exhausted: bool
    best_possible_dso: Decimal | None
    add: Decimal | None
    weighted_days_past_due: Decimal | None
    cei: Decimal | None
    cei_undivided: Decimal | None
    percent_current: Decimal | None
    percent_over_90: Decimal | None
    collected: Decimal
    fell_due: Decimal
    collected_to_fell_due: Decimal | None
    at_risk_rate: Decimal | None
    promised: Decimal
    collection_progress: Decimal | None


AT_RISK_DAYS = 90


def figures(period: Period) -> Figures:
    end, days = period.ending, period.days
    dso = simple_dso(end.total, period.sales, days)
    best = best_possible_dso(end.current, period.sales, days)
    back, exhausted = count_back_dso(end.total, period.monthly_sales)

    def index(divide: bool) -> Decimal | None:
        return cei(period.beginning.total, period.sales, period.months, end.total, end.current, divide_by_months=divide)

    return Figures(
        receivables=end.total,
        current=end.current,
        sales=period.sales,
        dso=dso,
        count_back_dso=back,
        count_back_exhausted=exhausted,
        best_possible_dso=best,
        add=average_days_delinquent(dso, best),
        weighted_days_past_due=end.weighted_days_past_due,
        cei=index(True),
        cei_undivided=index(False),
        percent_current=share(end.current, end.total),
        percent_over_90=share(end.over_90, end.total),
        collected=period.collected,
        fell_due=period.fell_due,
        collected_to_fell_due=share(period.collected, period.fell_due),
        at_risk_rate=None if period.unpaid_later is None else share(period.unpaid_later, period.sales),
        promised=period.promised,
        collection_progress=share(period.promised, end.past_due),
    )


def months_spanned(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1
