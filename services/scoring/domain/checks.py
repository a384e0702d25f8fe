"""The credit check the ERP asks before it ships: approve, review or hold. Pure functions.

Available credit is the limit less the exposure: open receivables plus orders already
approved but not yet invoiced (each approved check reserves its amount until its invoice
arrives or the reservation expires).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from contracts.scoring import Grade

Outcome = Literal["approve", "review", "hold"]


@dataclass(frozen=True)
class CheckPolicy:
    review_tolerance: Decimal = Decimal("0.10")  # over the limit by up to this share of it: a person decides
    review_grades: tuple[Grade, ...] = ("E",)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    available: Decimal
    reasons: tuple[str, ...]


def decide(
    amount: Decimal,
    limit: Decimal | None,
    open_receivables: Decimal,
    reserved: Decimal,
    holds: Sequence[str],
    grade: Grade | None,
    policy: CheckPolicy | None = None,
) -> Decision:
    policy = policy or CheckPolicy()
    if amount <= 0:
        raise ValueError("an order to check is a positive amount")
    exposure = open_receivables + reserved
    available = (limit - exposure) if limit is not None else Decimal(0)
    if holds:
        return Decision("hold", available, tuple(f"credit hold: {reason}" for reason in holds))
    if limit is None:
        return Decision("review", available, ("no credit limit is set",))
    if amount > available:
        over = amount - available
        reason = f"the order exceeds available credit ({available:f} of {limit:f}) by {over:f}"
        if over <= limit * policy.review_tolerance:
            return Decision("review", available, (reason,))
        return Decision("hold", available, (reason,))
    if grade in policy.review_grades:
        return Decision("review", available, (f"grade {grade}",))
    return Decision("approve", available, ())
