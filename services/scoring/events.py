"""The contract of scoring.events: scores, limits and their approval, terms, holds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from libs.events.contracts import DomainEvent, EventRegistry, Money

RequestKind = Literal["new", "increase", "decrease", "temporary"]


class CreditAccountEvent(DomainEvent):
    customer_id: str


class CreditLimitRequested(CreditAccountEvent):
    event_type = "scoring.CreditLimitRequested"
    schema_version = 1

    request_id: str
    kind: RequestKind
    amount: Money
    expires_on: date | None = None  # temporary limits only
    requested_by: str
    reason: str
    waiting_for: str  # the tier whose authority the amount needs


class CreditLimitEscalated(CreditAccountEvent):
    """An approver agreed, but the amount is above their authority: the next tier decides."""

    event_type = "scoring.CreditLimitEscalated"
    schema_version = 1

    request_id: str
    by: str
    to_tier: str
    note: str | None = None


class CreditLimitApproved(CreditAccountEvent):
    event_type = "scoring.CreditLimitApproved"
    schema_version = 1

    request_id: str
    by: str
    tier: str
    note: str | None = None


class CreditLimitRejected(CreditAccountEvent):
    event_type = "scoring.CreditLimitRejected"
    schema_version = 1

    request_id: str
    by: str
    reason: str


class CreditLimitSet(CreditAccountEvent):
    """The limit in force from now: the standing limit, or a temporary one until it expires."""

    event_type = "scoring.CreditLimitSet"
    schema_version = 1

    limit: Money
    standing_limit: Money
    expires_on: date | None = None
    request_id: str | None = None
    reason: str


class CreditHoldPlaced(CreditAccountEvent):
    event_type = "scoring.CreditHoldPlaced"
    schema_version = 1

    hold_id: str
    reason: str
    by: str  # a person, or "policy"


class CreditHoldReleased(CreditAccountEvent):
    event_type = "scoring.CreditHoldReleased"
    schema_version = 1

    hold_id: str
    reason: str
    by: str


class CreditTermsSet(CreditAccountEvent):
    event_type = "scoring.CreditTermsSet"
    schema_version = 1

    credit_days: int
    discount_percent: Decimal | None = None
    discount_days: int | None = None
    by: str


PUBLISHED: list[type[DomainEvent]] = [
    CreditLimitRequested,
    CreditLimitEscalated,
    CreditLimitApproved,
    CreditLimitRejected,
    CreditLimitSet,
    CreditHoldPlaced,
    CreditHoldReleased,
    CreditTermsSet,
]
registry = EventRegistry(PUBLISHED)
