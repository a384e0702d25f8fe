"""Month-end positions: what the KPIs and the provision matrix read of an account at a month end,
kept so that a report need not fold the book. Pure: an account folded at a position day in, its
figures per currency out.

A position day is a month end, or the day AT_RISK_DAYS after one (where the at-risk rate looks).
At a month end a position holds, per currency, what was open (all of it, not yet due, more than 90
days past due, past due, and Σ past-due amount x days past due); by calendar month for the
FLOW_MONTHS months up to it, the credit sales, cash collected and instalments due, each by the
rules of the KPIs; and the invoices the provision matrix reads (``Item``). AT_RISK_DAYS after a
month end it holds, by the month the invoices were issued in, what of them was unpaid (open or
written off less recovered) that day.
"""

from __future__ import annotations

import calendar
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from contracts.receivables import AllocationsWithdrawn, InvoiceFellOverdue, InvoiceIssued
from libs.events.contracts import DomainEvent
from services.receivables.domain.account import ZERO, Account
from services.receivables.domain.aging import counts_from, open_items
from services.receivables.domain.kpis import AT_RISK_DAYS

FLOW_MONTHS = 24  # the longest period a report reads from positions, in calendar months


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def first_of(day: date) -> date:
    return day.replace(day=1)


def months_back(day: date, months: int) -> date:
    """The first of the month ``months`` calendar months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def is_month_end(day: date) -> bool:
    return day == month_end(day)


def position_days(first: date, last: date) -> list[date]:
    """The position days from ``first`` to ``last``: month ends and AT_RISK_DAYS after each."""
    found: set[date] = set()
    end = month_end(first - timedelta(days=AT_RISK_DAYS))
    while end <= last:
        found |= {d for d in (end, end + timedelta(days=AT_RISK_DAYS)) if first <= d <= last}
        end = month_end(end + timedelta(days=1))
    return sorted(found)


def first_counted(event: DomainEvent) -> date | None:
    """The first business date from which any of an event's effect counts; None for the sweep's markers."""
    if isinstance(event, InvoiceFellOverdue):
        return None
    if isinstance(event, AllocationsWithdrawn):
        return min((a.entry_date for a in event.allocations), default=None)
    return counts_from(event)


def charges_of(events: Iterable[DomainEvent]) -> frozenset[str]:
    """The invoices that are dunning fees or interest, not sales."""
    return frozenset(e.invoice_id for e in events if isinstance(e, InvoiceIssued) and e.charge is not None)


@dataclass
class Open:
    """What was open at a day in one currency."""

    receivables: Decimal = ZERO
    current: Decimal = ZERO
    over_90: Decimal = ZERO
    past_due: Decimal = ZERO
    past_due_days: Decimal = ZERO  # Σ past-due amount x days past due


@dataclass
class Flow:
    """One calendar month's flows in one currency."""

    sales: Decimal = ZERO
    collected: Decimal = ZERO
    fell_due: Decimal = ZERO
    unpaid: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Item:
    """An invoice at a month end, for the provision matrix: what was open (the sum of its open
    instalments) and since when the oldest was due, what was written off less recovered by then,
    and, issued in that month, its total."""

    invoice_id: str
    currency: str
    open: Decimal
    oldest_due: date | None
    lost: Decimal
    billed: Decimal | None


@dataclass
class Position:
    day: date
    open: dict[str, Open] = field(default_factory=dict)  # by currency
    flows: dict[tuple[str, date], Flow] = field(default_factory=dict)  # by currency and month (its first day)
    items: list[Item] = field(default_factory=list)  # month ends: the invoices the provision reads

    def flow(self, currency: str, day: date) -> Flow:
        return self.flows.setdefault((currency, first_of(day)), Flow())


def position(account: Account, day: date, charges: frozenset[str]) -> Position:
    """The account, folded at the end of ``day``, as a position of that day."""
    found = Position(day)
    for item in open_items(account):
        held = found.open.setdefault(item.currency, Open())
        days = (day - item.due_date).days
        held.receivables += item.amount
        if days <= 0:
            held.current += item.amount
            continue
        held.past_due += item.amount
        held.past_due_days += item.amount * days
        if days > 90:
            held.over_90 += item.amount
    if is_month_end(day):
        _flows(found, account, charges)
    if is_month_end(day - timedelta(days=AT_RISK_DAYS)):  # 31 December's is also 31 March's month end
        _unpaid(found, account, charges)
    return found


def _flows(found: Position, account: Account, charges: frozenset[str]) -> None:
    since, month = months_back(found.day, FLOW_MONTHS - 1), first_of(found.day)
    for invoice in account.invoices.values():
        if invoice.invoice_id in charges:
            continue
        instalments = invoice.open_instalments()
        lost = invoice.written_off - invoice.recovered
        billed = invoice.total if invoice.issue_date >= month else None
        if instalments or lost or billed is not None:
            found.items.append(
                Item(
                    invoice.invoice_id,
                    invoice.currency,
                    sum((a for _, _, a in instalments), ZERO),
                    min((due for _, due, _ in instalments), default=None),
                    lost,
                    billed,
                )
            )
        if since <= invoice.issue_date <= found.day:
            found.flow(invoice.currency, invoice.issue_date).sales += invoice.total
        for due, amount in invoice.schedule:
            if since <= due <= found.day:
                found.flow(invoice.currency, due).fell_due += amount
    for payment in account.payments.values():
        if not payment.reversed and since <= payment.value_date <= found.day:
            found.flow(payment.currency, payment.value_date).collected += payment.amount


def _unpaid(found: Position, account: Account, charges: frozenset[str]) -> None:
    billed_by = found.day - timedelta(days=AT_RISK_DAYS)
    since = months_back(billed_by, FLOW_MONTHS - 1)
    for invoice in account.invoices.values():
        if invoice.invoice_id not in charges and since <= invoice.issue_date <= billed_by:
            unpaid = invoice.open + invoice.written_off - invoice.recovered
            if unpaid:
                found.flow(invoice.currency, invoice.issue_date).unpaid += unpaid


def stale_since(event: DomainEvent, recorded: date) -> date | None:
    """The first business date of the position days, before the day ``recorded`` an event was,
    whose positions it changes; None when it changes none."""
    first = first_counted(event)
    if first is None or first >= recorded or not position_days(first, recorded - timedelta(days=1)):
        return None  # a posting a few days late within a month changes no position
    return first


# -- the whole book's positions, as what each knowledge date changed ----------------------------------

Amounts = tuple[Decimal, ...]
K = TypeVar("K", bound=Hashable)  # what a position's amounts are kept by: a currency, (currency, month)


def version_changes(chain: Mapping[date, Mapping[K, Amounts]]) -> dict[tuple[date, K], Amounts]:
    """Each version of an account's day (by known_from) as its change over the one before it, by key;
    what a version lacks counts as zero."""
    changes: dict[tuple[date, K], Amounts] = {}
    before: Mapping[K, Amounts] = {}
    for known in sorted(chain):
        now = chain[known]
        for key in now.keys() | before.keys():
            changes[(known, key)] = _less(now.get(key), before.get(key))
        before = now
    return changes


def book_changes(
    old: Mapping[date, Mapping[K, Amounts]], new: Mapping[date, Mapping[K, Amounts]]
) -> dict[tuple[date, K], Amounts]:
    """What replacing an account's versions ``old`` by ``new`` adds to the book's rows, none zero."""
    was, now = version_changes(old), version_changes(new)
    added = {at: _less(now.get(at), was.get(at)) for at in now.keys() | was.keys()}
    return {at: amounts for at, amounts in added.items() if any(amounts)}


def _less(a: Amounts | None, b: Amounts | None) -> Amounts:
    if b is None:
        return a or ()
    if a is None:
        return tuple(-x for x in b)
    return tuple(x - y for x, y in zip(a, b, strict=True))
