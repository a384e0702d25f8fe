"""The rule backtest: a rule set replayed over the events alerts observed, in the order it observed
them, changing nothing. No I/O.

Each observed event carries the business date on which alerts received it. The replay folds every
event into the memory from the first one observed (so a rule comparing with the past sees the
past), and from ``start`` to ``end`` lets each rule look at each event as the live consumer did;
at the start of each of those days it runs the daily look at insurance cover, as the sweep does.
Nobody closes an alert in a replay: the first time a rule is met for a subject in the window is an
alert, every later time a repeat."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from contracts.alerts import DeadLetter, Fact, InsuranceExpiring, Rule
from libs.events.contracts import DomainEvent
from services.alerts.domain.triggers import Book, Memory, expiring, facts_for, remember

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Observed:
    day: date  # the business date alerts received it
    customer_id: str
    event_id: str
    event: DomainEvent


@dataclass(slots=True)
class Replayed:
    rule_id: str
    subject: str
    raised_on: date
    facts: tuple[Fact, ...]
    count: int = 1


@dataclass
class Backtest:
    alerts: list[Replayed] = field(default_factory=list)  # in the order they were raised
    repeats: Counter[str] = field(default_factory=Counter)  # by rule

    def raised(self) -> Counter[str]:
        return Counter(a.rule_id for a in self.alerts)

    def weekly(self) -> Counter[tuple[date, str]]:
        """Alerts raised per week (its Monday) and rule."""
        return Counter((a.raised_on - timedelta(days=a.raised_on.weekday()), a.rule_id) for a in self.alerts)


def replay(
    rules: Sequence[Rule],
    observed: Iterable[Observed],
    start: date,
    end: date,
    customers: set[str] | None = None,
    progress: Callable[[int], None] = lambda _: None,
) -> Backtest:
    """What ``rules`` would have raised from ``start`` to ``end`` (only for ``customers``, if given)."""
    found = Backtest()
    opened: dict[tuple[str, str], Replayed] = {}
    memories: dict[str, Memory] = {}
    book = Book()
    live = [r for r in rules if not isinstance(r, DeadLetter)]  # dead letters are not observed events
    swept = start - timedelta(days=1)

    def met(rule: Rule, subject: str, facts: tuple[Fact, ...], day: date) -> None:
        if customers is not None and subject not in customers:
            return
        key = (rule.rule_id, subject)
        if key in opened:
            opened[key].count += 1
            found.repeats[rule.rule_id] += 1
        else:
            opened[key] = Replayed(rule.rule_id, subject, day, facts)
            found.alerts.append(opened[key])

    def sweep_through(day: date) -> None:
        nonlocal swept
        while swept < min(day, end):
            swept += timedelta(days=1)
            for rule in live:
                if isinstance(rule, InsuranceExpiring):
                    for customer_id, memory in memories.items():
                        for policy_number, cover in memory.covers.items():
                            facts = expiring(rule, cover, policy_number, swept)
                            if facts is not None:
                                met(rule, customer_id, facts, swept)

    for n, seen in enumerate(observed, start=1):
        if seen.day > end:
            break
        if seen.day >= start:
            sweep_through(seen.day)
        memory = memories.get(seen.customer_id, Memory())
        if seen.day >= start:
            for rule in live:
                hit = facts_for(rule, seen.event, seen.event_id, seen.customer_id, memory, book, seen.day)
                if hit is not None:
                    met(rule, hit.subject, hit.facts, seen.day)
        memories[seen.customer_id], book = remember(memory, book, seen.customer_id, seen.event, seen.event_id)
        if n % 10_000 == 0:
            progress(n)
    sweep_through(end)
    return found
