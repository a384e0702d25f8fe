"""A customer's credit account: limit and terms requests through the approval chain, the limit
in force (standing or temporary), terms, and holds. Pure decide/evolve; limits are in the base
currency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Literal

from contracts.scoring import (
    CreditHoldPlaced,
    CreditHoldReleased,
    CreditLimitApproved,
    CreditLimitEscalated,
    CreditLimitRejected,
    CreditLimitRequested,
    CreditLimitSet,
    CreditTermsRequested,
    CreditTermsSet,
    Grade,
    RequestKind,
)
from libs.events import refusals
from libs.events.actors import same_person
from libs.events.contracts import DomainEvent, Money
from services.scoring.domain import limits

OVER_LIMIT, OVERDUE, CREDIT_FILE = "over-limit", "overdue", "credit-file"  # the ids of the holds policy places
POLICY_HOLDS = (OVER_LIMIT, OVERDUE, CREDIT_FILE)
# Who may release a policy hold by hand (it comes back at the next look if its cause remains).
RELEASE_POLICY_HOLDS = ("credit_manager", "finance_director", "admin")


class Refused(refusals.Refused):
    """A command the credit account does not accept; the message says why."""


@dataclass(frozen=True)
class Terms:
    credit_days: int
    discount_percent: Decimal | None = None
    discount_days: int | None = None


@dataclass(frozen=True)
class Request:
    request_id: str
    kind: RequestKind | Literal["terms"]
    amount: Money | None  # None for terms
    expires_on: date | None
    requested_by: str
    waiting_for: str
    status: str = "pending"  # pending, approved, rejected
    terms: Terms | None = None


@dataclass(frozen=True)
class HoldPolicy:
    over_limit: bool = True  # hold while exposure is above the limit in force
    overdue_days: int | None = 60  # hold while anything is more than this many days past due


@dataclass(frozen=True)
class CreditAccount:
    customer_id: str = ""
    standing_limit: Money | None = None
    temporary_limit: Money | None = None
    temporary_until: date | None = None
    requests: Mapping[str, Request] = field(default_factory=dict)
    holds: Mapping[str, str] = field(default_factory=dict)  # hold id -> reason
    terms: Terms | None = None

    def limit_on(self, today: date) -> Money | None:
        """The limit in force: a temporary one until its expiry date, then the standing one."""
        if self.temporary_limit is not None and self.temporary_until is not None and today < self.temporary_until:
            return self.temporary_limit
        return self.standing_limit


def stream_id(customer_id: str) -> str:
    return f"credit-account-{customer_id}"


def evolve(account: CreditAccount, event: DomainEvent) -> CreditAccount:
    match event:
        case CreditLimitRequested():
            request = Request(
                event.request_id, event.kind, event.amount, event.expires_on, event.requested_by, event.waiting_for
            )
            return replace(
                account, customer_id=event.customer_id, requests={**account.requests, request.request_id: request}
            )
        case CreditTermsRequested():
            terms = Terms(event.credit_days, event.discount_percent, event.discount_days)
            request = Request(event.request_id, "terms", None, None, event.requested_by, event.waiting_for, terms=terms)
            return replace(
                account, customer_id=event.customer_id, requests={**account.requests, request.request_id: request}
            )
        case CreditTermsSet():
            terms = Terms(event.credit_days, event.discount_percent, event.discount_days)
            return replace(account, customer_id=event.customer_id, terms=terms)
        case CreditLimitEscalated():
            request = replace(account.requests[event.request_id], waiting_for=event.to_tier)
            return replace(account, requests={**account.requests, request.request_id: request})
        case CreditLimitApproved() | CreditLimitRejected():
            status = "approved" if isinstance(event, CreditLimitApproved) else "rejected"
            request = replace(account.requests[event.request_id], status=status)
            return replace(account, requests={**account.requests, request.request_id: request})
        case CreditLimitSet():
            temporary = event.limit if event.expires_on is not None else None
            return replace(
                account,
                customer_id=event.customer_id,
                standing_limit=event.standing_limit,
                temporary_limit=temporary,
                temporary_until=event.expires_on,
            )
        case CreditHoldPlaced():
            return replace(account, customer_id=event.customer_id, holds={**account.holds, event.hold_id: event.reason})
        case CreditHoldReleased():
            return replace(account, holds={k: v for k, v in account.holds.items() if k != event.hold_id})
    return account


def request_limit(
    account: CreditAccount,
    customer_id: str,
    request_id: str,
    kind: RequestKind,
    amount: Money,
    expires_on: date | None,
    requested_by: str,
    reason: str,
    today: date,
    policy: limits.LimitPolicy,
) -> list[DomainEvent]:
    standing = account.standing_limit.amount if account.standing_limit else None
    if amount.amount <= 0:
        raise Refused("a credit limit is a positive amount")
    if (kind == "temporary") != (expires_on is not None):
        raise Refused("a temporary limit, and only a temporary one, has an expiry date")
    if expires_on is not None and expires_on <= today:
        raise Refused(f"a temporary limit must expire after today ({today.isoformat()})")
    if kind == "new" and standing is not None:
        raise Refused(f"customer {customer_id} already has a limit of {standing:f}; request an increase or decrease")
    if kind in ("increase", "decrease", "temporary") and standing is None:
        raise Refused(f"customer {customer_id} has no limit yet; request a new one")
    if kind == "increase" and standing is not None and amount.amount <= standing:
        raise Refused(f"an increase must exceed the current limit of {standing:f}")
    if kind == "decrease" and standing is not None and amount.amount >= standing:
        raise Refused(f"a decrease must be below the current limit of {standing:f}")
    if amount.amount > policy.authority[-1][1]:
        raise Refused(f"{amount.amount:f} is above every tier's authority (the highest is {policy.authority[-1][1]:f})")
    return [
        CreditLimitRequested(
            customer_id=customer_id,
            request_id=request_id,
            kind=kind,
            amount=amount,
            expires_on=expires_on,
            requested_by=requested_by,
            reason=reason,
            waiting_for=policy.authority[0][0],  # every request starts at the first tier
        )
    ]


def _pending(account: CreditAccount, request_id: str) -> Request:
    request = account.requests.get(request_id)
    if request is None:
        raise Refused(f"customer {account.customer_id} has no limit request {request_id}")
    if request.status != "pending":
        raise Refused(f"request {request_id} is already {request.status}")
    return request


def approve(
    account: CreditAccount,
    request_id: str,
    approver: str,
    roles: Sequence[str],
    note: str | None,
    policy: limits.LimitPolicy,
) -> list[DomainEvent]:
    request = _pending(account, request_id)
    amount = request.amount.amount if request.amount is not None else Decimal(0)  # terms need only the tier
    try:
        step = limits.approve(amount, request.requested_by, approver, roles, request.waiting_for, policy)
    except limits.NotAllowed as not_allowed:
        raise Refused(str(not_allowed)) from None
    if step.decision == "escalated":
        return [
            CreditLimitEscalated(
                customer_id=account.customer_id, request_id=request_id, by=approver, to_tier=step.tier, note=note
            )
        ]
    approved = CreditLimitApproved(
        customer_id=account.customer_id, request_id=request_id, by=approver, tier=step.tier, note=note
    )
    if request.terms is not None:
        return [approved, _terms_set(account.customer_id, request.terms, approver, request_id, step.tier)]
    assert request.amount is not None
    standing = account.standing_limit if request.kind == "temporary" else request.amount
    assert standing is not None  # a temporary request needs a standing limit
    return [
        approved,
        CreditLimitSet(
            customer_id=account.customer_id,
            limit=request.amount,
            standing_limit=standing,
            expires_on=request.expires_on,
            request_id=request_id,
            reason=f"{request.kind} limit approved by {approver} ({step.tier})",
        ),
    ]


def _terms_set(customer_id: str, terms: Terms, by: str, request_id: str, tier: str) -> CreditTermsSet:
    return CreditTermsSet(
        customer_id=customer_id,
        **asdict(terms),
        by=by,
        request_id=request_id,
        reason=f"terms approved by {by} ({tier})",
    )


def request_terms(
    account: CreditAccount,
    customer_id: str,
    request_id: str,
    terms: Terms,
    grade: Grade | None,
    requested_by: str,
    reason: str,
    policy: limits.LimitPolicy,
) -> list[DomainEvent]:
    """Terms go through the same chain: within the grade's default credit period and a cash discount
    of at most the first tier's, the first tier decides; more needs the second. A discount above the
    policy's most is no credit term at all."""
    if (terms.discount_percent is None) != (terms.discount_days is None):
        raise Refused("a cash discount needs both its percent and its days")
    if terms.discount_days is not None and terms.discount_days >= terms.credit_days:
        raise Refused("the discount period must be shorter than the credit period")
    discount = terms.discount_percent or Decimal(0)
    if terms.discount_percent is not None and not Decimal(0) < discount <= policy.most_discount_percent:
        raise Refused(f"a cash discount is more than 0 and at most {policy.most_discount_percent:f} percent")
    default = limits.default_terms(grade, policy)
    beyond = terms.credit_days > default or discount > policy.first_tier_discount_percent
    tier = policy.authority[1 if beyond else 0][0]
    return [
        CreditTermsRequested(
            customer_id=customer_id,
            request_id=request_id,
            **asdict(terms),
            requested_by=requested_by,
            reason=reason,
            waiting_for=tier,
        )
    ]


def reject(
    account: CreditAccount, request_id: str, by: str, roles: Sequence[str], reason: str, policy: limits.LimitPolicy
) -> list[DomainEvent]:
    """A request is rejected by someone with the authority of the tier it waits for, or withdrawn
    by the person who made it."""
    request = _pending(account, request_id)
    if not same_person(request.requested_by, by):
        try:
            limits.authority_rank(by, roles, request.waiting_for, policy)
        except limits.NotAllowed as not_allowed:
            raise Refused(str(not_allowed)) from None
    return [CreditLimitRejected(customer_id=account.customer_id, request_id=request_id, by=by, reason=reason)]


def expire_temporary(account: CreditAccount, today: date) -> list[DomainEvent]:
    """A temporary limit ends by itself on its expiry date; the standing limit applies again."""
    if account.temporary_until is None or account.temporary_until > today or account.standing_limit is None:
        return []
    return [
        CreditLimitSet(
            customer_id=account.customer_id,
            limit=account.standing_limit,
            standing_limit=account.standing_limit,
            reason=f"the temporary limit expired on {account.temporary_until.isoformat()}",
        )
    ]


def place_hold(account: CreditAccount, customer_id: str, hold_id: str, reason: str, by: str) -> list[DomainEvent]:
    if hold_id in account.holds:
        return []  # already held for this reason; placing it again changes nothing
    return [CreditHoldPlaced(customer_id=customer_id, hold_id=hold_id, reason=reason, by=by)]


def release_hold(
    account: CreditAccount, hold_id: str, reason: str, by: str, roles: Sequence[str] = ("policy",)
) -> list[DomainEvent]:
    """A hold placed by hand is released by the credit team; a hold policy placed is released by
    policy, or by a credit manager with a reason, and is placed again at the next look if its cause
    remains."""
    if hold_id not in account.holds:
        raise Refused(f"customer {account.customer_id} has no hold {hold_id}")
    if hold_id in POLICY_HOLDS and by != "policy" and not set(roles) & set(RELEASE_POLICY_HOLDS):
        raise Refused(f"hold {hold_id} was placed by policy: only a credit manager may release it by hand")
    return [CreditHoldReleased(customer_id=account.customer_id, hold_id=hold_id, reason=reason, by=by)]


def policy_holds(
    account: CreditAccount,
    exposure: Decimal,
    oldest_days_past_due: int,
    today: date,
    policy: HoldPolicy,
    file_status: tuple[str, str] | None = None,
) -> list[DomainEvent]:
    """Place or release the holds that policy keeps: over the limit in force, overdue past the
    policy's days, and a credit file on hold or closed. A hold placed by hand is left to people."""
    limit = account.limit_on(today)
    wanted: dict[str, str] = {}
    if policy.over_limit and limit is not None and exposure > limit.amount:
        wanted[OVER_LIMIT] = f"exposure {exposure:.2f} is above the limit of {limit.amount:.2f}"
    if policy.overdue_days is not None and oldest_days_past_due > policy.overdue_days:
        wanted[OVERDUE] = f"an invoice is {oldest_days_past_due} days past due (policy: {policy.overdue_days})"
    if file_status is not None:
        status, why = file_status
        wanted[CREDIT_FILE] = f"the credit file is {status.replace('_', ' ')}: {why}"
    events: list[DomainEvent] = []
    for hold_id, reason in wanted.items():
        events += place_hold(account, account.customer_id, hold_id, reason, "policy")
    cured = {
        OVER_LIMIT: "exposure is within the limit",
        OVERDUE: "nothing is overdue past the policy",
        CREDIT_FILE: "the credit file is active again",
    }
    for hold_id in POLICY_HOLDS:
        if hold_id in account.holds and hold_id not in wanted:
            events += release_hold(account, hold_id, cured[hold_id], "policy")
    return events
