"""The bad-debt provision (坏账准备) under IFRS 9's simplified approach: a provision matrix of loss
rates per aging band derived from the book's own history, by roll rates or by payment cohorts, with a
forward-looking overlay. Pure: the history in, the matrix out.

The history is what was open at each month end of the look-back window, invoice by invoice, in the
base currency, in the band of its oldest open instalment by due date, and what was written off
(net of recoveries) in each month. Rates are percentages, rounded half up to four places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, TypeVar

BANDS = ("current", "1-30", "31-60", "61-90", "over 90")
LAST = len(BANDS) - 1
ZERO = Decimal(0)
HUNDRED = Decimal(100)
RATE_PLACES = Decimal("0.0001")


def band_of(days_past_due: int) -> int:
    """0 current (not yet due), then 1-30, 31-60, 61-90 and over 90 days past due."""
    if days_past_due <= 0:
        return 0
    return min((days_past_due - 1) // 30 + 1, LAST)


@dataclass(frozen=True, slots=True)
class Open:
    band: int
    amount: Decimal


MonthEnd = Mapping[str, Open]  # by invoice: what was open at a month end, and in which band
WrittenOff = Mapping[str, Decimal]  # by invoice: written off (net of recoveries) in a month


def rate(part: Decimal, whole: Decimal) -> Decimal:
    return ZERO if whole <= 0 else (part / whole * HUNDRED).quantize(RATE_PLACES, ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class RollRates:
    balances: tuple[Decimal, ...]  # per band, summed over the window's month ends but the last
    rolled: tuple[Decimal, ...]  # of that, still open a month later in a later band (the last band: written off)
    rates: tuple[Decimal, ...]  # rolled / balances, per band
    loss_rates: tuple[Decimal, ...]  # the product of the roll rates from the band to write-off


def roll_rates(month_ends: Sequence[MonthEnd], written_off: Sequence[WrittenOff]) -> RollRates:
    """Month-on-month migration: of what was in band b at a month end, the share still open in a later
    band at the next (from the last band: the share written off in the month between), summed over
    the window, then multiplied from each band to write-off. ``written_off[k]`` is the month after
    ``month_ends[k]``."""
    assert len(written_off) == len(month_ends) - 1, "one month of write-offs between each two month ends"
    balances, rolled = [ZERO] * len(BANDS), [ZERO] * len(BANDS)
    for k in range(len(month_ends) - 1):
        now, later, lost = month_ends[k], month_ends[k + 1], written_off[k]
        for invoice, held in now.items():
            balances[held.band] += held.amount
            if held.band == LAST:
                rolled[LAST] += min(lost.get(invoice, ZERO), held.amount)
            elif (moved := later.get(invoice)) is not None and moved.band > held.band:
                rolled[held.band] += min(moved.amount, held.amount)
    return roll_rates_of(balances, rolled)


def roll_rates_of(balances: Sequence[Decimal], rolled: Sequence[Decimal]) -> RollRates:
    """The roll rates of what was in each band and what of it rolled on, multiplied to write-off."""
    rates = [rate(r, b) for r, b in zip(rolled, balances, strict=True)]
    losses = []
    for band in range(len(BANDS)):
        product = Decimal(1)
        for later_band in range(band, len(BANDS)):
            product *= rates[later_band] / HUNDRED
        losses.append((product * HUNDRED).quantize(RATE_PLACES, ROUND_HALF_UP))
    return RollRates(tuple(balances), tuple(rolled), tuple(rates), tuple(losses))


@dataclass(frozen=True, slots=True)
class Cohorts:
    reached: tuple[Decimal, ...]  # per band: what of the billing was open when first seen in it
    lost: tuple[Decimal, ...]  # of that, never paid: written off, or still open over 90 days at the end
    loss_rates: tuple[Decimal, ...]


def cohorts(
    billed: Mapping[str, Decimal], month_ends: Sequence[MonthEnd], written_off: Sequence[WrittenOff]
) -> Cohorts:
    """Payment cohorts: each invoice of the billing (``billed``, by invoice, issued in the window) counts
    in every band it reached, with what of it was open the first month end it was seen there (the
    current band: its amount as billed); the part never paid is what was written off over the window
    and what is still open in the last band at its last month end. A band's loss rate is the never-paid
    share of what reached it."""
    reached, lost = [ZERO] * len(BANDS), [ZERO] * len(BANDS)
    for invoice, amount in billed.items():
        first_seen: dict[int, Decimal] = {0: amount}
        for month_end in month_ends:
            held = month_end.get(invoice)
            if held is not None and held.band > 0:
                first_seen.setdefault(held.band, held.amount)
        final = month_ends[-1].get(invoice) if month_ends else None
        never_paid = sum((w.get(invoice, ZERO) for w in written_off), ZERO)
        if final is not None and final.band == LAST:
            never_paid += final.amount
        for band, open_then in first_seen.items():
            reached[band] += open_then
            lost[band] += min(never_paid, open_then)
    return cohorts_of(reached, lost)


def cohorts_of(reached: Sequence[Decimal], lost: Sequence[Decimal]) -> Cohorts:
    """Each band's loss rate: the never-paid share of what reached it."""
    return Cohorts(tuple(reached), tuple(lost), tuple(rate(x, r) for x, r in zip(lost, reached, strict=True)))


def with_overlay(loss_rates: Sequence[Decimal], overlay_percent: Decimal) -> tuple[Decimal, ...]:
    """The forward-looking overlay: each rate raised (or lowered) by ``overlay_percent`` of itself, at
    most 100 %, at least 0 %."""
    factor = (HUNDRED + overlay_percent) / HUNDRED
    return tuple(min(max(r * factor, ZERO), HUNDRED).quantize(RATE_PLACES, ROUND_HALF_UP) for r in loss_rates)


# -- segments ------------------------------------------------------------------------------------------
# A segmented matrix derives each segment's rates from the history of its own customers and applies
# them to its own balances: each customer in the segment it had at the matrix's month end.

SegmentBy = Literal["none", "grade", "insurance"]
UNRATED, INSURED, UNINSURED = "unrated", "insured", "uninsured"
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CoverChange:
    """Profiles' credit-insurance cover of a customer under a policy: recorded until ``expires_on``,
    or cancelled from ``cancelled_on``; ``recorded_on`` is the day receivables learnt of it."""

    customer_id: str
    policy_number: str
    recorded_on: date
    expires_on: date | None = None  # a cover recorded (or renewed)
    cancelled_on: date | None = None  # a cancellation


def insured(changes: Iterable[CoverChange], day: date, known_on: date) -> frozenset[str]:
    """The customers with a cover in force at the end of ``day`` as known at the end of ``known_on``:
    the latest cover recorded under a policy by both days, expiring on ``day`` or later, and not
    cancelled on or before ``day`` by a cancellation recorded by ``known_on`` after it (on the same
    day, the cancellation comes after the cover)."""
    in_force: dict[tuple[str, str], date | None] = {}
    for change in sorted(changes, key=lambda c: (c.recorded_on, c.cancelled_on is not None)):
        policy = (change.customer_id, change.policy_number)
        if change.expires_on is not None and change.recorded_on <= min(day, known_on):
            in_force[policy] = change.expires_on
        elif change.cancelled_on is not None and change.recorded_on <= known_on and change.cancelled_on <= day:
            in_force[policy] = None
    return frozenset(c for (c, _), expires in in_force.items() if expires is not None and expires >= day)


def restrict(by_invoice: Mapping[str, V], invoices: frozenset[str]) -> dict[str, V]:
    return {invoice: value for invoice, value in by_invoice.items() if invoice in invoices}
