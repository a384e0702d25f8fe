"""The shapes of scoring's answers. Amounts in the base currency are rendered to its minor unit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from contracts.scoring import Grade, RequestKind, ScoreInputs
from libs.service.views import Amount, MoneyView, View


class Step(View):
    step: str
    by: str
    at: str
    note: str | None


class RequestTermsView(View):
    credit_days: int
    discount_percent: Amount | None
    discount_days: int | None


class RequestView(View):
    """A limit or terms request with every step of the approval chain."""

    request_id: str
    customer_id: str
    kind: RequestKind | Literal["terms"]
    amount: MoneyView | None
    expires_on: date | None
    terms: RequestTermsView | None
    requested_by: str
    reason: str
    status: Literal["pending", "approved", "rejected"]
    waiting_for: str | None  # while pending
    steps: list[Step]
    requested_at: datetime
    decided_at: datetime | None


class LimitInForce(View):
    in_force: MoneyView | None
    standing: MoneyView | None
    temporary_until: date | None
    reason: str | None


class TermsInForce(View):
    credit_days: int
    discount_percent: Amount | None
    discount_days: int | None
    source: str  # "set", or the grade whose default applies


class HoldView(View):
    hold_id: str
    reason: str
    by: str
    placed_at: datetime


class ExposureView(View):
    open_receivables: MoneyView
    overdue: MoneyView
    oldest_days_past_due: int
    reserved: MoneyView
    total: MoneyView
    available: MoneyView | None  # below zero when over the limit; none without a limit
    unpriced_currencies: list[str]


class RecommendedLimit(View):
    amount: MoneyView
    calculation: list[str]


class CreditSummary(View):
    """The credit account as the credit team reads it."""

    customer_id: str
    score: Amount | None
    grade: Grade | None
    reasons: list[str]
    components: dict[str, Amount]
    left_out: list[str]
    notes: list[str]
    policy_version: str | None
    scored_at: datetime | None
    limit: LimitInForce
    terms: TermsInForce
    holds: list[HoldView]
    exposure: ExposureView
    recommended_limit: RecommendedLimit
    pending_requests: list[RequestView]
    version: int


class CommandAnswer(CreditSummary):
    """The credit account after a command, with what the command recorded."""

    recorded: list[str]


class ScoreView(View):
    version: int
    score: Amount
    grade: Grade
    previous_grade: Grade | None
    policy_version: str
    cause: str
    reasons: list[str]
    components: dict[str, Amount]
    weights: dict[str, Amount]
    left_out: list[str]
    inputs: ScoreInputs | None = Field(description="what it was computed from; null when asked without")
    notes: list[str]
    scored_at: datetime


class ScoreHistory(View):
    customer_id: str
    scores: list[ScoreView]


class CustomerRequests(View):
    customer_id: str
    requests: list[RequestView]


class WaitingRequests(View):
    requests: list[RequestView]


class CheckAnswer(View):
    """The credit check's decision: approve, review or hold, with the available credit and why."""

    decision_id: str
    customer_id: str
    order_ref: str
    outcome: Literal["approve", "review", "hold"]
    reasons: list[str]
    reserved_until: date | None
    replaces: str | None
    amount: MoneyView
    amount_in_base: MoneyView
    limit: MoneyView | None
    open_receivables: MoneyView
    reserved: MoneyView
    available: MoneyView


class CheckView(View):
    """A credit check's decision as recorded, and whether its reservation still stands."""

    decision_id: str
    customer_id: str
    order_ref: str
    amount: Amount
    currency: str
    amount_in_base: Amount
    outcome: Literal["approve", "review", "hold"]
    available: Amount
    reasons: list[str]
    reserved_until: date | None
    released_on: date | None
    released_reason: str | None
    checked_by: str
    decided_at: datetime
    reserving: bool


class PolicyView(View):
    """The policy in force, as one versioned whole."""

    version: str
    scorecard: dict[str, Any]
    limits: dict[str, Any]
    checks: dict[str, Any]
    holds: dict[str, Any]
    base_currency: str


class WhatIfReport(View):
    """How grades, recommended limits and overdue holds would differ under a changed policy."""

    policy: PolicyView
    as_of: date
    history: dict[str, int]
    customers: int
    grades: dict[str, dict[str, int]]
    recommended_limits: dict[str, Any]
    overdue_holds: dict[str, int]
    changed: list[dict[str, Any]]
    changed_listed: str


class GradeLineView(View):
    grade: Grade | None  # None: customers not rated yet
    customers: int
    exposure: MoneyView
    limits: MoneyView


class AgainstLimitsView(View):
    with_limit: int
    limits: MoneyView
    exposure_with_limit: MoneyView
    over_limit: int
    over_limit_excess: MoneyView
    near_limit: int
    without_limit: int
    exposure_without_limit: MoneyView


class PortfolioView(View):
    """The book by grade and against its limits, today, in the base currency."""

    as_of: date
    currency: str
    customers: int
    by_grade: list[GradeLineView]
    against_limits: AgainstLimitsView
    unpriced_currencies: list[str]
