"""Overdue and aging (账龄分析), and the account as of any business date as known on any day.

Every as-of read has two axes. ``as_of`` is the business date the figures are for: each effect
counts from its own date (an invoice from its date, a payment's allocation from the later of its
value date and the invoice's date, a credit note from its date, a write-off or an allocation by
hand from the day it was made). ``known_on`` is what the ledger had recorded by the end of that
day. Aging at 31 October as known today is ``as_of=2026-10-31``; as reported on 1 November adds
``known_on=2026-11-01``.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from contracts.receivables import (
    AccountEvent,
    AllocationsWithdrawn,
    CreditBalanceRefunded,
    CreditNoteApplied,
    CreditNoteIssued,
    DisputeOpened,
    DisputeResolved,
    FxRateProposed,
    FxRateRecorded,
    InvoiceAdjusted,
    InvoiceFellOverdue,
    InvoiceIssued,
    InvoiceSettled,
    InvoiceWrittenOff,
    PaymentAllocated,
    PaymentReceived,
    PaymentReversed,
    WriteOffRecovered,
)
from libs.events.contracts import DomainEvent
from services.receivables.domain.account import (
    DEFAULT_BOUNDARIES,
    ZERO,
    Account,
    bucket_index,
    evolve,
    money,
)


def bucket_labels(boundaries: Sequence[int] = DEFAULT_BOUNDARIES) -> list[str]:
    labels = ["current" if boundaries[0] == 0 else f"0-{boundaries[0]}"]
    labels += [f"{lower + 1}-{upper}" for lower, upper in itertools.pairwise(boundaries)]
    return [*labels, f"over {boundaries[-1]}"]


def fall_overdue(account: Account, today: date) -> list[DomainEvent]:
    """Once when an instalment passes its due date, and again at each bucket boundary it crosses."""
    labels = bucket_labels()
    events: list[DomainEvent] = []
    for invoice in account.invoices.values():
        for number, due, open_amount in invoice.open_instalments():
            days = (today - due).days
            bucket = bucket_index(days)
            if days > 0 and bucket > invoice.overdue_bucket.get(number, 0):
                events.append(
                    InvoiceFellOverdue(
                        customer_id=account.customer_id,
                        recorded_on=today,
                        invoice_id=invoice.invoice_id,
                        instalment=number,
                        due_date=due,
                        days_past_due=days,
                        bucket=labels[bucket],
                        open=money(open_amount, invoice.currency),
                    )
                )
    return events


@dataclass(frozen=True)
class OpenItem:
    customer_id: str
    invoice_id: str
    number: str
    currency: str
    issue_date: date
    due_date: date
    amount: Decimal


def open_items(account: Account) -> list[OpenItem]:
    return [
        OpenItem(
            account.customer_id, invoice.invoice_id, invoice.number, invoice.currency, invoice.issue_date, due, amount
        )
        for invoice in account.invoices.values()
        for _, due, amount in invoice.open_instalments()
    ]


def age(
    items: Iterable[OpenItem],
    as_of: date,
    *,
    by: str = "due_date",
    boundaries: Sequence[int] = DEFAULT_BOUNDARIES,
) -> dict[str, dict[str, Decimal]]:
    """Open amounts per currency and bucket, aged from the due date or the invoice date."""
    labels = bucket_labels(boundaries)
    result: dict[str, dict[str, Decimal]] = {}
    for item in items:
        start = item.due_date if by == "due_date" else item.issue_date
        buckets = result.setdefault(item.currency, dict.fromkeys(labels, ZERO))
        label = labels[bucket_index((as_of - start).days, boundaries)]
        buckets[label] += item.amount
    return result


# -- the two axes ------------------------------------------------------------------------------------------


def recorded_on(event: DomainEvent) -> date:
    assert isinstance(event, AccountEvent | FxRateRecorded | FxRateProposed), event
    return event.recorded_on


def recorded_by(events: Iterable[DomainEvent], known_on: date) -> list[DomainEvent]:
    """What the ledger knew at the end of ``known_on``: the events recorded on or before it."""
    return [e for e in events if recorded_on(e) <= known_on]


def counts_from(event: DomainEvent) -> date:
    """The business date from which an event's effect on the account counts."""
    match event:
        case InvoiceIssued():
            return event.issue_date
        case PaymentReceived():
            return event.value_date
        case CreditNoteIssued():
            return event.issue_date
        case DisputeOpened():
            return event.opened_on
        case DisputeResolved():
            return event.resolved_on
        case InvoiceSettled():
            return event.settled_on
        case (
            InvoiceAdjusted()
            | PaymentAllocated()
            | PaymentReversed()
            | CreditNoteApplied()
            | CreditBalanceRefunded()
            | InvoiceWrittenOff()
            | WriteOffRecovered()
        ):
            return event.entry_date
    return recorded_on(event)


def in_effect(events: Iterable[DomainEvent], as_of: date) -> Iterator[DomainEvent]:
    """The effects that count at the end of the business date ``as_of``, in the order recorded."""
    for event in events:
        if isinstance(event, AllocationsWithdrawn):
            kept = tuple(a for a in event.allocations if a.entry_date <= as_of)
            if kept:
                yield event.model_copy(update={"allocations": kept})
        elif isinstance(event, InvoiceFellOverdue):
            continue  # a marker of the sweep, not an amount
        elif counts_from(event) <= as_of:
            yield event


def _apply(account: Account, event: DomainEvent) -> Account:
    try:
        return evolve(account, event)
    except KeyError:
        return account  # an effect dated before what it acts on existed (a document dated ahead of its day)


def account_as_of(events: Iterable[DomainEvent], customer_id: str, as_of: date, known_on: date) -> Account:
    """The account at the end of ``as_of`` from what had been recorded by the end of ``known_on``."""
    account = Account(customer_id=customer_id)
    for event in in_effect(recorded_by(events, known_on), as_of):
        account = _apply(account, event)
    return account


def _counted(event: DomainEvent) -> tuple[date, date]:
    """The first business date from which any of an event's effect counts, and the first from which
    all of it does (they differ only for withdrawn allocations of several dates)."""
    if isinstance(event, AllocationsWithdrawn):
        dates = [a.entry_date for a in event.allocations]
        return (min(dates), max(dates)) if dates else (date.min, date.min)
    day = counts_from(event)
    return day, day


CHECKPOINT_EVERY = 32  # events between two kept folds of an account's history


class AccountHistory:
    """An account's events recorded by a knowledge date, folded at any business date, each fold the
    same as ``account_as_of``'s. The events from the first up to the first that does not wholly count
    by a date all count at every later date too, so the fold of that run is kept (at checkpoints) and
    continued from one date to another; after it, only the events that count earlier than one
    recorded before them (a back-dated posting) can count, and they are applied one by one."""

    def __init__(self, events: Iterable[DomainEvent], customer_id: str, known_on: date) -> None:
        self._events = [e for e in recorded_by(events, known_on) if not isinstance(e, InvoiceFellOverdue)]
        self._customer_id = customer_id
        self._recorded = [recorded_on(e) for e in self._events]
        self._in_order = all(a <= b for a, b in itertools.pairwise(self._recorded))
        self._earlier: dict[date, AccountHistory] = {}
        self._reach: list[date] = []  # by event: the latest date from which an event up to it wholly counts
        self._late: list[int] = []  # events that may count before the reach of those recorded before them
        self._first: list[date] = []
        reach = date.min
        for position, event in enumerate(self._events):
            first, whole = _counted(event)
            reach = max(reach, whole)
            self._reach.append(reach)
            self._first.append(first)
            if first < reach:
                self._late.append(position)
        self._checkpoints: dict[int, Account] = {0: Account(customer_id=customer_id)}
        self._positions = [0]

    def at(self, as_of: date, known_on: date | None = None) -> Account:
        """The account at the end of ``as_of``; with ``known_on``, from what had been recorded by the
        end of that day (recorded in day order, those events are the first of the history)."""
        if known_on is not None and not self._in_order and known_on < max(self._recorded):
            if known_on not in self._earlier:
                self._earlier[known_on] = AccountHistory(self._events, self._customer_id, known_on)
            return self._earlier[known_on].at(as_of)
        known = len(self._events) if known_on is None else bisect.bisect_right(self._recorded, known_on)
        end = min(bisect.bisect_right(self._reach, as_of), known)
        account = self._run(end)
        for position in self._late[bisect.bisect_left(self._late, end) :]:
            if position >= known:
                break
            if self._first[position] <= as_of:
                for event in in_effect((self._events[position],), as_of):
                    account = _apply(account, event)
        return account

    def _run(self, end: int) -> Account:
        """The fold of the first ``end`` events, every one wholly counting."""
        start = self._positions[bisect.bisect_right(self._positions, end) - 1]
        account = self._checkpoints[start]
        for position in range(start, end):
            for event in in_effect((self._events[position],), date.max):
                account = _apply(account, event)
            if (position + 1) % CHECKPOINT_EVERY == 0 or position + 1 == end:
                self._keep(position + 1, account)
        return account

    def _keep(self, position: int, account: Account) -> None:
        if position not in self._checkpoints:
            self._checkpoints[position] = account
            bisect.insort(self._positions, position)
