"""The policy backtest: the daily dunning runs of a proposed policy replayed over the recorded history
on a case of its own, changing nothing. No I/O.

Each customer's history is what collections recorded: its invoices and every change to what is
owed on them, each with the business date the ledger recorded it and the date it counts from;
disputes, promises, plans and blocks from the day they began; the contacts people logged; and the
grade and hold from the day collections learnt of them. On the ``recorded`` basis the run of a day
sees what had been recorded before that day, as the real run did at the start of it; on the
``entry`` basis, the documents by their own dates, as if the ledger had known each on its day."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from contracts.collections import Charge, DunningStepTaken, GradeOrUnrated, Policy
from services.collections.domain.dunning import (
    Clock,
    Standing,
    assess,
    clocks,
    decide,
    escalation_reason,
    rises,
    strategy_steps,
)
from services.collections.domain.items import ZERO, OpenItem, Pause
from services.collections.domain.policy import strategy_for

MAX_DAYS = 366
Basis = Literal["recorded", "entry"]


@dataclass(frozen=True, slots=True)
class ItemHistory:
    """An invoice from the day the ledger recorded it: its total as issued, and every change to what
    is owed on it with the day the ledger recorded that."""

    invoice_id: str
    number: str
    currency: str
    issued_total: Decimal
    recorded_on: date
    issue_date: date
    schedule: tuple[tuple[date, Decimal], ...]
    reductions: tuple[tuple[date, date, Decimal], ...] = ()  # (recorded on, counts from, amount), signed


@dataclass(frozen=True, slots=True)
class CustomerHistory:
    customer_id: str
    items: Sequence[ItemHistory]
    pauses: Sequence[Pause] = ()  # disputes, promises, plans and blocks, from the day each began
    contacts: Sequence[date] = ()  # the days people logged a contact
    standings: Sequence[tuple[date, Standing]] = ()  # (from that day on, the standing), in order

    def standing_before(self, day: date, basis: Basis) -> Standing:
        """The standing collections knew at the start of ``day``; on the entry basis, the first it
        learnt of holds for the days before it too (a grade is no document with a date of its own)."""
        at = bisect.bisect_left([since for since, _ in self.standings], day)
        if at:
            return self.standings[at - 1][1]
        return self.standings[0][1] if basis == "entry" and self.standings else Standing()

    def first_day(self, basis: Basis) -> date | None:
        """The first run that can see an item: the day after the first was recorded (or dated)."""
        first = min((i.recorded_on if basis == "recorded" else i.issue_date for i in self.items), default=None)
        return first + timedelta(days=1) if first else None


@dataclass(frozen=True, slots=True)
class WouldSend:
    customer_id: str
    day: date
    level: int
    items: int
    grade: GradeOrUnrated
    charges: tuple[Charge, ...]


@dataclass(frozen=True, slots=True)
class WouldEscalate:
    customer_id: str
    day: date
    reason: str


@dataclass
class Backtest:
    steps: list[WouldSend] = field(default_factory=list)
    escalations: list[WouldEscalate] = field(default_factory=list)

    def per_day(self) -> dict[date, Counter[int]]:
        days: dict[date, Counter[int]] = defaultdict(Counter)
        for step in self.steps:
            days[step.day][step.level] += 1
        return dict(sorted(days.items()))

    def charged(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for step in self.steps:
            for charge in step.charges:
                totals[charge.amount.currency] += charge.amount.amount
        return dict(sorted(totals.items()))


def replay_customer(
    policy: Policy,
    history: CustomerHistory,
    start: date,
    end: date,
    basis: Basis,
    into: Backtest,
    *,
    every_day: bool = False,
) -> None:
    """One customer's runs from the day after its first invoice was recorded to ``end`` under
    ``policy``; what falls from ``start`` on is reported. A proposed step is taken as approved on its
    day, charges are computed but not booked, and after an escalation nothing more goes out.

    Only the days on which the run could decide differently are run: a fact arriving or ending, an
    instalment falling due, an item's dunning days reaching its strategy's next level or the
    escalation rule's days, the minimum interval passing. ``every_day`` runs them all, which gives
    the same answer more slowly (the tests hold the two equal)."""
    first = history.first_day(basis)
    if first is None:
        return
    facts = _Facts(history, basis)
    levels: dict[str, int] = {}
    charged: dict[str, date] = {}
    last_contact: date | None = None
    day = first
    while day <= end:
        facts.arrive(day)
        if facts.last_contact is not None and (last_contact is None or facts.last_contact > last_contact):
            last_contact = facts.last_contact
        items = facts.open_items()
        standing = history.standing_before(day, basis)
        steps = strategy_steps(policy, standing.grade, standing.on_hold)
        last = strategy_for(policy, standing.grade).steps[-1].level
        today = clocks(items, facts.pauses, day)
        # Only a day on which an item rises, or one at the last level may be escalated, needs the
        # whole decision; the others are read off the clocks.
        may_contact = last_contact is None or (day - last_contact).days >= policy.minimum_days_between_contacts
        rising = (
            may_contact
            and last_contact != day
            and any(
                rises(steps, levels.get(c.item.invoice_id), c.dunning_days, c.paused is not None) is not None
                for c in today
            )
        )
        rule = policy.escalation
        at_last = rule is not None and any(
            levels.get(c.item.invoice_id, -1) >= last and c.paused is None and c.dunning_days >= rule.days_overdue
            for c in today
        )
        if rising or at_last:
            assessed = assess(items, levels, charged, facts.pauses, day)
            step: DunningStepTaken | None = None
            if rising:
                step = decide(policy, 0, assessed, standing, last_contact, day, f"{history.customer_id}-{day}")
            if step is not None:
                for item in step.items:
                    if item.level_after is not None and item.level_after != item.level_before:
                        levels[item.invoice_id] = item.level_after
                        charged[item.invoice_id] = day
                last_contact = day
                if day >= start:
                    raised = sum(1 for i in step.items if i.level_after != i.level_before)
                    into.steps.append(
                        WouldSend(history.customer_id, day, step.level, raised, standing.grade, step.charges)
                    )
            reason = escalation_reason(policy, assessed, standing.grade)
            if reason is not None:
                if day >= start:
                    into.escalations.append(WouldEscalate(history.customer_id, day, reason))
                return
        after = day + ONE_DAY
        day = after if every_day else _next_run(policy, facts, today, levels, steps, last, last_contact, after)


ONE_DAY = timedelta(days=1)


class _Facts:
    """A customer's facts in the order a run sees them, applied as the days go by."""

    def __init__(self, history: CustomerHistory, basis: Basis) -> None:
        recorded = basis == "recorded"
        # Each fact with the first day a run sees it.
        self._items = sorted(
            ((i.recorded_on if recorded else i.issue_date) + ONE_DAY, n, i) for n, i in enumerate(history.items)
        )
        self._reductions = sorted(
            ((on if recorded else entry) + ONE_DAY, item.invoice_id, amount)
            for item in history.items
            for on, entry, amount in item.reductions
        )
        self._pauses = sorted(((p.start + ONE_DAY, n, p) for n, p in enumerate(history.pauses)), key=lambda x: x[:2])
        self._contacts = sorted(contact + ONE_DAY for contact in history.contacts)
        self._next = [0, 0, 0, 0]
        self.items: dict[str, ItemHistory] = {}
        self.reduced: dict[str, Decimal] = defaultdict(Decimal)
        self.pauses: list[Pause] = []
        self.last_contact: date | None = None
        # The days on which something a run reads changes by itself: what it sees arrives, a pause
        # ends, an instalment falls due (what is overdue grows), the standing changes.
        changes = {when for when, _, _ in self._items} | {when for when, _, _ in self._reductions}
        changes |= {when for when, _, _ in self._pauses} | set(self._contacts)
        changes |= {pause.end for pause in history.pauses if pause.end is not None}
        changes |= {due + ONE_DAY for item in history.items for due, _ in item.schedule}
        changes |= {since + ONE_DAY for since, _ in history.standings}
        self.changes = sorted(changes)

    def arrive(self, day: date) -> None:
        """Everything a run of ``day`` sees that the run before it did not."""
        at = self._next
        while at[0] < len(self._items) and self._items[at[0]][0] <= day:
            item = self._items[at[0]][2]
            self.items[item.invoice_id] = item
            at[0] += 1
        while at[1] < len(self._reductions) and self._reductions[at[1]][0] <= day:
            _, invoice_id, amount = self._reductions[at[1]]
            self.reduced[invoice_id] += amount
            at[1] += 1
        while at[2] < len(self._pauses) and self._pauses[at[2]][0] <= day:
            self.pauses.append(self._pauses[at[2]][2])
            at[2] += 1
        while at[3] < len(self._contacts) and self._contacts[at[3]] <= day:
            contact = self._contacts[at[3]] - ONE_DAY
            self.last_contact = max(self.last_contact or contact, contact)
            at[3] += 1

    def open_items(self) -> list[OpenItem]:
        found = []
        for invoice_id, item in self.items.items():
            reduced = self.reduced.get(invoice_id, ZERO)
            if item.issued_total - reduced > 0:
                found.append(
                    OpenItem(invoice_id, item.number, item.currency, item.issued_total, reduced, item.schedule)
                )
        return found

    def next_change(self, after: date) -> date | None:
        at = bisect.bisect_left(self.changes, after)
        return self.changes[at] if at < len(self.changes) else None


def _next_run(
    policy: Policy,
    facts: _Facts,
    today: Sequence[Clock],
    levels: dict[str, int],
    steps: Sequence[tuple[int, int]],
    last: int,
    last_contact: date | None,
    after: date,
) -> date:
    """The first day from ``after`` on whose run could decide otherwise than the run before it."""
    candidates = [when for when in (facts.next_change(after),) if when is not None]
    if last_contact is not None:
        candidates.append(last_contact + timedelta(days=max(policy.minimum_days_between_contacts, 1)))
    rule = policy.escalation
    yesterday = after - ONE_DAY
    for clock in today:
        if clock.paused is not None:
            continue  # it waits for its pause to end, a change
        level = levels.get(clock.item.invoice_id)
        ahead = [at for at, reached in steps if at > clock.dunning_days and (level is None or reached > level)]
        if ahead:
            candidates.append(yesterday + timedelta(days=ahead[0] - clock.dunning_days))
        if rule is not None and level is not None and level >= last:
            candidates.append(yesterday + timedelta(days=max(rule.days_overdue - clock.dunning_days, 1)))
    found = [when for when in candidates if when >= after]
    return min(found) if found else date.max


def backtest(
    policy: Policy,
    histories: Sequence[CustomerHistory],
    start: date,
    end: date,
    basis: Basis = "recorded",
    progress: Callable[[int, int], None] = lambda done, of: None,
) -> Backtest:
    """Every customer replayed; ``progress`` hears how many are done, of how many, every 100."""
    found = Backtest()
    for done, history in enumerate(histories, start=1):
        replay_customer(policy, history, start, end, basis, found)
        if done % 100 == 0 or done == len(histories):
            progress(done, len(histories))
    return found
