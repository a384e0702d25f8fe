"""Promises to pay and payment plans valued against the ledger's cash.

A payment counts from its value date (an allocation from its entry date); a reversed payment
counts for nothing, whenever it is reversed, so a reversal re-opens what it had kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from services.collections.domain.case import Plan, Promise
from services.collections.domain.items import ZERO, last_day


@dataclass(frozen=True, slots=True)
class Cash:
    """Cash the ledger recorded: a payment received (``invoice_id`` None) or its allocation to an invoice."""

    payment_id: str
    invoice_id: str | None
    currency: str
    amount: Decimal
    on: date
    reversed: bool = False


def paid(cash: Sequence[Cash], currency: str, invoices: Sequence[str], start: date, end: date) -> Decimal:
    """Cash in ``currency`` dated from ``start`` to ``end`` (both included): allocated to ``invoices``,
    or, when none are named, every payment received."""
    named = set(invoices)
    return sum(
        (
            c.amount
            for c in cash
            if not c.reversed
            and c.currency == currency
            and start <= c.on <= end
            and ((c.invoice_id in named) if named else c.invoice_id is None)
        ),
        ZERO,
    )


PromiseOutcome = Literal["kept", "partially_kept", "broken", "reopened"]


def value_promise(promise: Promise, cash: Sequence[Cash], day: date) -> tuple[PromiseOutcome, Decimal] | None:
    """The promise's new outcome on ``day`` with what was paid toward it, or None when it stands.

    Kept as soon as the amount is paid by the due date plus the tolerance; once that day has passed,
    partially kept when some was paid, broken when nothing was. A kept promise whose payment is
    reversed is reopened, and valued again."""
    toward = paid(cash, promise.currency, promise.invoices, promise.made_on, promise.deadline)
    if promise.outcome == "kept":
        return ("reopened", toward) if toward < promise.amount else None
    if not promise.pending:
        return None
    if toward >= promise.amount:
        return "kept", toward
    if day > promise.deadline:
        return ("partially_kept" if toward > 0 else "broken"), toward
    return None


PlanChange = Literal["instalment_missed", "cured", "completed", "defaulted"]


def plan_course(
    plan: Plan, cash: Sequence[Cash], day: date, grace_days: int, defaults_after: int
) -> list[tuple[PlanChange, int | None, Decimal, Decimal]]:
    """What happens to a plan on ``day``: (change, instalment, paid, fallen due) for each.

    Paid counts cash to the plan's invoices from the day it was agreed. An instalment is missed the
    day after its due date plus the grace days when what was paid is short of the instalments due
    by then; the plan is cured when the arrears are paid, completed when it is paid in full, and
    defaulted on its ``defaults_after``-th missed instalment."""
    if plan.ended is not None:
        return []
    toward = paid(cash, plan.currency, plan.invoices, plan.agreed_on, day)
    if toward >= plan.total:
        return [("completed", None, toward, plan.total)]
    changes: list[tuple[PlanChange, int | None, Decimal, Decimal]] = []
    due_so_far = ZERO
    missed = list(plan.missed)
    in_arrears = plan.in_arrears
    for number, (due, amount) in enumerate(plan.instalments, start=1):
        due_so_far += amount
        if day <= last_day(due, grace_days) or number in missed or toward >= due_so_far:
            continue
        missed.append(number)
        in_arrears = True
        changes.append(("instalment_missed", number, toward, due_so_far))
        if len(missed) >= defaults_after:
            changes.append(("defaulted", number, toward, due_so_far))
            return changes
    fallen_due = sum((a for d, a in plan.instalments if d <= day), ZERO)
    if in_arrears and not changes and toward >= fallen_due:
        changes.append(("cured", None, toward, fallen_due))
    return changes
