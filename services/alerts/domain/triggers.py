"""What an event of another service tells a rule: the facts that meet it, or nothing.

Most rules are met by one event alone. The others compare it with what came before: the score's
and the overdue share's recent history, the provider's previous bureau report, the cover a new
one replaces, every customer's balance. Alerts keeps that as ``Memory`` (per customer) and
``Book`` (the balances), and ``remember`` folds each event into them after the rules have looked."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from contracts.alerts import (
    BOOK,
    BrokenPromise,
    BureauAdverse,
    BureauScoreDrop,
    CaseEscalated,
    Concentration,
    ExposureOverLimit,
    Fact,
    GradeDrop,
    HoldPlaced,
    InsuranceCancelled,
    InsuranceExpiring,
    InsuranceReduced,
    ItemOverdue,
    LimitUse,
    OverdueShareRise,
    PlanInstalmentMissed,
    ReviewOverdue,
    Rule,
    ScoreDrop,
    StatementDisputed,
    TopConcentration,
)
from contracts.collections import CaseEscalated as CaseHandedOver
from contracts.collections import PlanChanged, PromiseValued
from contracts.profiles import (
    AdverseRecord,
    BureauReportRecorded,
    CreditReviewDue,
    InsuranceCoverCancelled,
    InsuranceCoverRecorded,
)
from contracts.receivables import BalanceDisputed, InvoiceFellOverdue
from contracts.scoring import CreditCheckDecided, CreditHoldPlaced, CustomerScored
from libs.events.contracts import DomainEvent

GRADES = "ABCDE"
HISTORY_DAYS = 366  # the longest window a rule may look back over
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Scored:
    """One day of a customer's scores: the highest, and the lowest overdue share, with their events
    (what the rules that compare with the past ask of a day)."""

    on: date
    score: Decimal
    event_id: str
    overdue_share: Decimal | None = None  # overdue / balance * 100, when there is a balance
    share_event_id: str | None = None

    def merged(self, score: Decimal, share: Decimal | None, event_id: str) -> Scored:
        high = (score, event_id) if score > self.score else (self.score, self.event_id)
        lower = share is not None and (self.overdue_share is None or share < self.overdue_share)
        low = (share, event_id) if lower else (self.overdue_share, self.share_event_id)
        return Scored(self.on, high[0], high[1], low[0], low[1])


@dataclass(frozen=True, slots=True)
class Report:
    score: int | None
    adverse: frozenset[str]  # each record as kind:date:amount
    event_id: str


@dataclass(frozen=True, slots=True)
class Cover:
    insurer: str
    insured: Decimal
    currency: str
    expires_on: date
    event_id: str


@dataclass(frozen=True, slots=True)
class Memory:
    """What alerts keeps of one customer."""

    scores: tuple[Scored, ...] = ()  # oldest first, the last HISTORY_DAYS days
    reports: dict[str, Report] = field(default_factory=dict)  # the latest per provider
    covers: dict[str, Cover] = field(default_factory=dict)  # the latest per policy number


class Book:
    """Every customer's balance in the base currency, as scoring last reported it, with the positive
    ones kept in order and summed, so a rule on the whole book costs little per event."""

    def __init__(self, balances: Mapping[str, Decimal] | None = None) -> None:
        self.balances: dict[str, Decimal] = dict(balances or {})
        self.positive = sorted(b for b in self.balances.values() if b > 0)
        self.total = sum(self.positive, Decimal(0))

    def with_balance(self, customer_id: str, balance: Decimal) -> tuple[int, Decimal, list[Decimal]]:
        """How many positive balances, their total and the largest 100 (largest first), were the
        customer's balance ``balance``; the book itself unchanged."""
        old = self.balances.get(customer_id)
        largest = self.positive[-101:]
        count, total = len(self.positive), self.total
        if old is not None and old > 0:
            count, total = count - 1, total - old
            if old in largest:
                largest.remove(old)
        if balance > 0:
            count, total = count + 1, total + balance
            bisect.insort(largest, balance)
        return count, total, largest[::-1][:100]

    def set(self, customer_id: str, balance: Decimal) -> None:
        old = self.balances.get(customer_id)
        if old is not None and old > 0:
            del self.positive[bisect.bisect_left(self.positive, old)]
            self.total -= old
        if balance > 0:
            bisect.insort(self.positive, balance)
            self.total += balance
        self.balances[customer_id] = balance


@dataclass(frozen=True, slots=True)
class Met:
    subject: str  # the customer, or BOOK
    facts: tuple[Fact, ...]


def overdue_share(event: CustomerScored) -> Decimal | None:
    balance, overdue = event.inputs.balance, event.inputs.overdue
    if not balance or balance <= 0 or overdue is None:
        return None
    return overdue * HUNDRED / balance


def adverse_key(record: AdverseRecord) -> str:
    amount = f"{record.amount.amount} {record.amount.currency}" if record.amount else ""
    return f"{record.kind}:{record.date.isoformat()}:{amount}"


def limit_used(check: CreditCheckDecided) -> Decimal:
    """Open receivables and reserved orders, with the order checked when it was approved."""
    ordered = check.amount_in_base.amount if check.outcome == "approve" else Decimal(0)
    return check.open_receivables.amount + check.reserved.amount + ordered


def share_of(part: Decimal, whole: Decimal) -> Decimal:
    """``part`` as a percentage of ``whole``, unrounded: rules compare it exactly."""
    return part * HUNDRED / whole


def shown(percent: Decimal) -> str:
    """A percentage as a fact shows it: to two places, half up."""
    return f"{percent.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)} %"


def facts_for(
    rule: Rule, event: DomainEvent, event_id: str, customer_id: str, memory: Memory, book: Book, today: date
) -> Met | None:
    """The facts with which ``event`` (of id ``event_id``) meets ``rule``, or None; ``memory`` and
    ``book`` are as they stood before the event."""

    def fact(name: str, value: object) -> Fact:
        return Fact(name=name, value=str(value), event_id=event_id, event_type=event.event_type)

    def met(*facts: Fact, subject: str = customer_id) -> Met:
        return Met(subject, facts)

    match rule, event:
        case GradeDrop(), CustomerScored(previous_grade=str() as previous):
            drop = GRADES.index(event.grade) - GRADES.index(previous)
            entered = event.grade in rule.into and previous not in rule.into
            if drop >= rule.by_grades or entered:
                return met(fact("previous_grade", previous), fact("grade", event.grade), fact("score", event.score))
        case ScoreDrop(), CustomerScored():
            since = event.inputs.as_of - timedelta(days=rule.within_days)
            window = [s for s in memory.scores if s.on >= since]
            if window:
                highest = max(window, key=lambda s: s.score)
                if highest.score - event.score >= rule.points:
                    earlier = Fact(
                        name="highest_score",
                        value=f"{highest.score} on {highest.on}",
                        event_id=highest.event_id,
                        event_type=event.event_type,
                    )
                    return met(earlier, fact("score", event.score), fact("drop", highest.score - event.score))
        case OverdueShareRise(), CustomerScored():
            now = overdue_share(event)
            since = event.inputs.as_of - timedelta(days=rule.within_days)
            window = [s for s in memory.scores if s.on >= since and s.overdue_share is not None]
            if now is not None and window:
                low = min(window, key=lambda s: s.overdue_share or HUNDRED)
                assert low.overdue_share is not None
                if now - low.overdue_share >= rule.points:
                    earlier = Fact(
                        name="lowest_overdue_share",
                        value=f"{shown(low.overdue_share)} on {low.on}",
                        event_id=low.share_event_id or low.event_id,
                        event_type=event.event_type,
                    )
                    return met(earlier, fact("overdue_share", shown(now)), fact("rise", shown(now - low.overdue_share)))
        case Concentration(), CustomerScored(inputs=inputs) if inputs.balance is not None and inputs.balance > 0:
            count, whole, _ = book.with_balance(customer_id, inputs.balance)
            if count >= rule.minimum_customers and share_of(inputs.balance, whole) > rule.percent:
                return met(
                    fact("balance", inputs.balance),
                    fact("book", whole),
                    fact("share", shown(share_of(inputs.balance, whole))),
                )
        case TopConcentration(), CustomerScored(inputs=inputs) if inputs.balance is not None:
            count, whole, largest = book.with_balance(customer_id, inputs.balance)
            top = largest[: rule.top]
            if count >= rule.minimum_customers and share_of(sum(top, Decimal(0)), whole) > rule.percent:
                share = share_of(sum(top, Decimal(0)), whole)
                return met(fact("top", rule.top), fact("book", whole), fact("share", shown(share)), subject=BOOK)
        case HoldPlaced(), CreditHoldPlaced():
            return met(fact("hold_id", event.hold_id), fact("reason", event.reason), fact("by", event.by))
        case LimitUse(), CreditCheckDecided(limit=limit) if limit is not None and limit.amount > 0:
            used = limit_used(event)
            if share_of(used, limit.amount) >= rule.percent:
                return met(
                    fact("used", f"{used} {limit.currency}"),
                    fact("limit", f"{limit.amount} {limit.currency}"),
                    fact("use", shown(share_of(used, limit.amount))),
                )
        case ExposureOverLimit(), CreditCheckDecided(limit=limit) if limit is not None:
            used = limit_used(event)
            if used > limit.amount:
                return met(
                    fact("used", f"{used} {limit.currency}"),
                    fact("limit", f"{limit.amount} {limit.currency}"),
                    fact("over", f"{used - limit.amount} {limit.currency}"),
                )
        case ItemOverdue(), InvoiceFellOverdue() if event.days_past_due > rule.days:
            return met(
                fact("invoice_id", event.invoice_id),
                fact("days_past_due", event.days_past_due),
                fact("open", f"{event.open.amount} {event.open.currency}"),
            )
        case BrokenPromise(), PromiseValued(outcome="broken"):
            return met(fact("promise_id", event.promise_id), fact("valued_on", event.valued_on))
        case PlanInstalmentMissed(), PlanChanged(change="instalment_missed"):
            return met(fact("plan_id", event.plan_id), fact("instalment", event.instalment))
        case CaseEscalated(), CaseHandedOver():
            amounts = ", ".join(f"{m.amount} {m.currency}" for m in event.open)
            return met(fact("to", event.to), fact("reason", event.reason), fact("open", amounts), fact("by", event.by))
        case StatementDisputed(), BalanceDisputed():
            return met(fact("statement_id", event.statement_id), fact("disputed_by", event.disputed_by))
        case BureauAdverse(), BureauReportRecorded():
            before = memory.reports.get(event.provider)
            new = [r for r in event.adverse_records if adverse_key(r) not in (before.adverse if before else ())]
            if new:
                return met(fact("provider", event.provider), *(fact(r.kind, adverse_key(r)) for r in new))
        case BureauScoreDrop(), BureauReportRecorded(score=int() as score):
            before = memory.reports.get(event.provider)
            if before is not None and before.score is not None and before.score - score >= rule.points:
                earlier = Fact(
                    name="previous_score",
                    value=str(before.score),
                    event_id=before.event_id,
                    event_type=event.event_type,
                )
                return met(fact("provider", event.provider), earlier, fact("score", score))
        case InsuranceExpiring(), InsuranceCoverRecorded():
            if (event.expires_on - today).days <= rule.within_days:
                return met(fact("policy_number", event.policy_number), fact("expires_on", event.expires_on))
        case InsuranceReduced(), InsuranceCoverRecorded():
            replaced = memory.covers.get(event.policy_number)
            limit = event.insured_limit
            if replaced is not None and replaced.currency == limit.currency and limit.amount < replaced.insured:
                earlier = Fact(
                    name="previous_limit",
                    value=f"{replaced.insured} {replaced.currency}",
                    event_id=replaced.event_id,
                    event_type=event.event_type,
                )
                return met(
                    fact("policy_number", event.policy_number),
                    earlier,
                    fact("insured_limit", f"{limit.amount} {limit.currency}"),
                )
        case InsuranceCancelled(), InsuranceCoverCancelled():
            return met(
                fact("insurer", event.insurer),
                fact("policy_number", event.policy_number),
                fact("cancelled_on", event.cancelled_on),
                fact("reason", event.reason),
            )
        case ReviewOverdue(), CreditReviewDue():
            return met(fact("review_on", event.review_on))
    return None


def expiring(rule: InsuranceExpiring, cover: Cover, policy_number: str, day: date) -> tuple[Fact, ...] | None:
    """The daily look at a cover: met on the day it comes within the rule's days of expiry."""
    if cover.expires_on - timedelta(days=rule.within_days) != day:
        return None
    carried = {"event_id": cover.event_id, "event_type": InsuranceCoverRecorded.event_type}
    return (
        Fact(name="policy_number", value=policy_number, **carried),
        Fact(name="expires_on", value=cover.expires_on.isoformat(), **carried),
    )


def scored_into(days: tuple[Scored, ...], event: CustomerScored, event_id: str) -> tuple[Scored, ...]:
    """A score into its day (a new day, or merged into the day's), the days older than any rule
    looks at dropped."""
    on, share = event.inputs.as_of, overdue_share(event)
    kept = tuple(s for s in days if s.on > on - timedelta(days=HISTORY_DAYS))
    if kept and kept[-1].on == on:
        return (*kept[:-1], kept[-1].merged(event.score, share, event_id))
    return (*kept, Scored(on, event.score, event_id, share, event_id if share is not None else None))


def remember(memory: Memory, book: Book, customer_id: str, event: DomainEvent, event_id: str) -> tuple[Memory, Book]:
    """Memory and book with ``event`` in them (the book changed in place: it is the whole book's)."""
    match event:
        case CustomerScored():
            memory = replace(memory, scores=scored_into(memory.scores, event, event_id))
            if event.inputs.balance is not None:
                book.set(customer_id, event.inputs.balance)
        case BureauReportRecorded():
            report = Report(event.score, frozenset(adverse_key(r) for r in event.adverse_records), event_id)
            memory = replace(memory, reports={**memory.reports, event.provider: report})
        case InsuranceCoverRecorded():
            limit = event.insured_limit
            cover = Cover(event.insurer, limit.amount, limit.currency, event.expires_on, event_id)
            memory = replace(memory, covers={**memory.covers, event.policy_number: cover})
        case InsuranceCoverCancelled():  # nothing left to expire
            memory = replace(memory, covers={p: c for p, c in memory.covers.items() if p != event.policy_number})
    return memory, book


REMEMBERED = (CustomerScored, BureauReportRecorded, InsuranceCoverRecorded, InsuranceCoverCancelled)


# Every event type some rule looks at: what alerts keeps for the backtest.
LOOKED_AT = (
    CustomerScored,
    CreditHoldPlaced,
    CreditCheckDecided,
    InvoiceFellOverdue,
    PromiseValued,
    PlanChanged,
    CaseHandedOver,
    BalanceDisputed,
    BureauReportRecorded,
    InsuranceCoverRecorded,
    InsuranceCoverCancelled,
    CreditReviewDue,
)
