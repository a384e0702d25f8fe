"""Credit limits (信用额度) and who may approve them (审批权限). Pure functions.

A recommended limit follows from the grade, the customer's needs (average monthly invoicing
over the credit period) and its net worth (a grade-dependent share of tangible net worth),
capped by credit-insurance cover where the policy says so; the calculation is kept as lines a
person can read. Limit requests go through an authority matrix: a request above an approver's
authority moves up to the next tier, and nobody approves their own request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from contracts.scoring import Grade
from libs.events.actors import same_person
from libs.events.contracts import to_minor_unit

ROUNDING = Decimal(1000)  # limits are set in whole thousands


@dataclass(frozen=True)
class LimitPolicy:
    # How many months of needs a grade may carry, and what share of tangible net worth.
    needs_multiple: Mapping[Grade, Decimal] = field(
        default_factory=lambda: {
            "A": Decimal("1.5"),
            "B": Decimal("1.2"),
            "C": Decimal(1),
            "D": Decimal("0.5"),
            "E": Decimal(0),
        }
    )
    net_worth_share: Mapping[Grade, Decimal] = field(
        default_factory=lambda: {
            "A": Decimal("0.20"),
            "B": Decimal("0.15"),
            "C": Decimal("0.10"),
            "D": Decimal("0.05"),
            "E": Decimal(0),
        }
    )
    cap_at_insured_cover: bool = True
    # The credit period each grade gets unless someone with authority sets other terms.
    default_credit_days: Mapping[Grade, int] = field(
        default_factory=lambda: {"A": 60, "B": 45, "C": 30, "D": 15, "E": 0}
    )
    # The most each role may approve, in the base currency; tiers in order of authority.
    authority: tuple[tuple[str, Decimal], ...] = (
        ("credit_analyst", Decimal(100_000)),
        ("credit_manager", Decimal(1_000_000)),
        ("finance_director", Decimal(10_000_000)),
    )
    # A cash discount the first tier may grant; more needs the second; above the most is refused.
    first_tier_discount_percent: Decimal = Decimal(2)
    most_discount_percent: Decimal = Decimal(10)


@dataclass(frozen=True)
class Recommendation:
    amount: Decimal
    calculation: tuple[str, ...]


def _thousands(value: Decimal) -> Decimal:
    return (value / ROUNDING).to_integral_value(ROUND_DOWN) * ROUNDING


def recommend(
    grade: Grade,
    monthly_invoicing: Decimal,
    credit_days: int,
    tangible_net_worth: Decimal | None,
    insured_cover: Decimal | None,
    policy: LimitPolicy | None = None,
    currency: str = "CNY",
) -> Recommendation:
    """The recommended limit in ``currency`` (the base currency), with its calculation in lines."""
    policy = policy or LimitPolicy()

    def shown(amount: Decimal) -> str:
        return format(to_minor_unit(amount, currency), "f")

    lines = []
    needs = monthly_invoicing * Decimal(credit_days) / 30 * policy.needs_multiple[grade]
    lines.append(
        f"needs: {shown(monthly_invoicing)} a month x {credit_days} days / 30 x {policy.needs_multiple[grade]:f}"
        f" (grade {grade}) = {shown(needs)}"
    )
    limit = needs
    if tangible_net_worth is not None:
        worth = max(tangible_net_worth, Decimal(0)) * policy.net_worth_share[grade]
        lines.append(
            f"net worth: {policy.net_worth_share[grade] * 100:f}% of tangible net worth {shown(tangible_net_worth)}"
            f" = {shown(worth)}"
        )
        limit = min(limit, worth)
    else:
        lines.append("net worth: no statement; not applied")
    if policy.cap_at_insured_cover and insured_cover is not None:
        lines.append(f"capped at the credit-insurance cover {shown(insured_cover)}")
        limit = min(limit, insured_cover)
    amount = _thousands(limit)
    lines.append(f"recommended: {shown(amount)} {currency} (the lowest, in whole thousands)")
    return Recommendation(amount, tuple(lines))


def default_terms(grade: Grade | None, policy: LimitPolicy) -> int:
    """The grade's default credit period; an ungraded customer gets grade C's."""
    return policy.default_credit_days[grade or "C"]


class NotAllowed(Exception):
    """An approval that the matrix or the rules do not allow; the message says why."""


@dataclass(frozen=True)
class Approval:
    decision: str  # "approved" or "escalated"
    by: str
    tier: str  # the tier that approved, or that the request now waits for


def authority_rank(approver: str, approver_roles: Sequence[str], waiting_for: str | None, policy: LimitPolicy) -> int:
    """The approver's tier in the matrix, if it reaches the tier the request waits for."""
    tiers = [name for name, _ in policy.authority]
    held = [tiers.index(r) for r in approver_roles if r in tiers]
    if "admin" in approver_roles:
        held.append(len(tiers) - 1)
    if not held:
        raise NotAllowed(f"{approver} holds no approval authority ({', '.join(tiers)})")
    rank = max(held)
    if waiting_for is not None and rank < tiers.index(waiting_for):
        raise NotAllowed(f"the request waits for a {waiting_for}")
    return rank


def approve(
    amount: Decimal,
    requested_by: str,
    approver: str,
    approver_roles: Sequence[str],
    waiting_for: str | None,
    policy: LimitPolicy | None = None,
) -> Approval:
    """One step of the chain: approve within the approver's authority, else endorse it up to the
    next tier. An approver above the tier a request waits for may act on it."""
    policy = policy or LimitPolicy()
    if same_person(approver, requested_by):
        raise NotAllowed("the requester cannot approve their own request")
    tiers = [name for name, _ in policy.authority]
    rank = authority_rank(approver, approver_roles, waiting_for, policy)
    limit = policy.authority[rank][1]
    if amount <= limit:
        return Approval("approved", approver, tiers[rank])
    if rank + 1 == len(tiers):
        raise NotAllowed(f"{amount:f} is above every tier's authority (the highest is {policy.authority[-1][1]:f})")
    return Approval("escalated", approver, tiers[rank + 1])  # endorsed; the next tier decides
