"""Open items and their two clocks: aging, which never pauses, and the dunning clock, which pauses
while an item is disputed, under a promise, in a plan or blocked by hand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from contracts.collections import PauseReason

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An invoice as collections follows it: what is still open, and its instalments' due dates."""

    invoice_id: str
    number: str
    currency: str
    total: Decimal
    reduced: Decimal  # by payments, credit notes, discounts and write-offs
    schedule: tuple[tuple[date, Decimal], ...]  # (due date, amount), in order

    @property
    def open(self) -> Decimal:
        return self.total - self.reduced

    def open_instalments(self) -> list[tuple[date, Decimal]]:
        """Reductions settle the earliest instalments first, as the ledger does."""
        left, result = self.reduced, []
        for due, amount in self.schedule:
            taken = min(amount, max(left, ZERO))
            left -= taken
            if amount - taken > 0:
                result.append((due, amount - taken))
        return result

    def due_date(self) -> date:
        """The item falls due, and its clocks run, from its earliest open instalment."""
        instalments = self.open_instalments()
        return instalments[0][0] if instalments else self.schedule[-1][0]

    def clocks(self, day: date) -> tuple[date, Decimal]:
        """The due date and what is overdue on ``day``, from one pass over the instalments."""
        instalments = self.open_instalments()
        if not instalments:
            return self.schedule[-1][0], ZERO
        return instalments[0][0], sum((amount for due, amount in instalments if due < day), ZERO)

    def overdue(self, day: date) -> Decimal:
        """What is open of the instalments due before ``day``."""
        return sum((amount for due, amount in self.open_instalments() if due < day), ZERO)


@dataclass(frozen=True, slots=True)
class Pause:
    """The dunning clock of ``invoice_id`` (None: of every item) stops from ``start`` until the day
    before ``end`` (None: until further notice)."""

    reason: PauseReason
    start: date
    end: date | None
    invoice_id: str | None = None

    def covers(self, invoice_id: str, day: date) -> bool:
        return (
            (self.invoice_id is None or self.invoice_id == invoice_id)
            and self.start <= day
            and (self.end is None or day < self.end)
        )


# When several pauses hold an item on one day, the one named is the first of these.
PAUSE_ORDER: tuple[PauseReason, ...] = ("escalated", "disputed", "plan", "promise", "blocked")


def pause_on(pauses: Iterable[Pause], invoice_id: str, day: date) -> PauseReason | None:
    holding = {p.reason for p in pauses if p.covers(invoice_id, day)}
    return next((reason for reason in PAUSE_ORDER if reason in holding), None)


def paused_days(pauses: Sequence[Pause], invoice_id: str, due: date, day: date) -> int:
    """The days from ``due`` up to (not including) ``day`` on which any pause held the item; a day
    two pauses share counts once."""
    spans = sorted(
        (max(p.start, due), min(p.end or day, day))
        for p in pauses
        if p.invoice_id in (None, invoice_id) and max(p.start, due) < min(p.end or day, day)
    )
    total, reach = 0, due
    for start, end in spans:
        start = max(start, reach)
        if end > start:
            total += (end - start).days
            reach = end
    return total


def dunning_days(pauses: Sequence[Pause], item: OpenItem, day: date) -> int:
    """Days past due on the dunning clock: aging's days less the paused ones (before due, the same)."""
    due = item.due_date()
    days = (day - due).days
    return days if days <= 0 else days - paused_days(pauses, item.invoice_id, due, day)


def last_day(start: date, days: int) -> date:
    return start + timedelta(days=days)
