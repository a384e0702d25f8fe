"""The contract of scoring.events: scores, limits and their approval, terms, holds, and the
credit checks the ERP asks for. The ERP subscribes to this topic for limit changes and holds."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.contracts import DomainEvent, EventRegistry, ExactDecimal, Money

RequestKind = Literal["new", "increase", "decrease", "temporary"]
Grade = Literal["A", "B", "C", "D", "E"]
Outcome = Literal["approve", "review", "hold"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ScoredPayment(_Part):
    """One invoice paid: its amount in the base currency, and days beyond terms (negative: early)."""

    amount: ExactDecimal
    days_beyond_terms: int
    paid_on: date


class ScoreInputs(_Part):
    """Everything a score was computed from; with the policy version it gives the same score again."""

    as_of: date
    payments: tuple[ScoredPayment, ...] = ()  # the last twelve months'
    balance: ExactDecimal | None = None  # open receivables in the base currency
    overdue: ExactDecimal | None = None
    oldest_days_past_due: int = 0
    altman_z: ExactDecimal | None = None
    current_ratio: ExactDecimal | None = None
    months_trading: int | None = None
    invoices_paid: int = 0
    bureau_score: int | None = None
    bureau_provider: str | None = None
    bureau_score_min: int | None = None  # the scale the report gives for its score
    bureau_score_max: int | None = None
    adverse_records: int = 0
    broken_promises: int = 0  # promises to pay broken in the last twelve months


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
    discount_percent: ExactDecimal | None = None
    discount_days: int | None = None
    by: str
    request_id: str | None = None
    reason: str


class CustomerScored(CreditAccountEvent):
    event_type = "scoring.CustomerScored"
    schema_version = 1

    score: ExactDecimal
    grade: Grade
    previous_grade: Grade | None = None
    components: dict[str, ExactDecimal]  # each 0-100
    weights: dict[str, ExactDecimal]  # as used, renormalised to 100
    left_out: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # the components that cost the most points, most first
    policy_version: str
    inputs: ScoreInputs
    cause: str  # the event type that made it score again
    notes: tuple[str, ...] = ()  # why the grade is not the plain grade of the score (band, thin file)


class CreditTermsRequested(CreditAccountEvent):
    event_type = "scoring.CreditTermsRequested"
    schema_version = 1

    request_id: str
    credit_days: int = Field(ge=0, le=365)
    discount_percent: ExactDecimal | None = None
    discount_days: int | None = None
    requested_by: str
    reason: str
    waiting_for: str


class CreditCheckDecided(DomainEvent):
    """The answer to the ERP's credit check; an approved one reserves its amount until the
    order's invoice arrives or the reservation expires."""

    event_type = "scoring.CreditCheckDecided"
    schema_version = 1

    decision_id: str
    customer_id: str
    order_ref: str
    amount: Money
    amount_in_base: Money
    outcome: Outcome
    limit: Money | None = None
    open_receivables: Money
    reserved: Money  # other approved orders not yet invoiced
    available: Money  # limit less open receivables and reserved, before this order
    reasons: tuple[str, ...] = ()
    reserved_until: date | None = None
    replaces: str | None = None  # an earlier approval of the same order, released by this one
    checked_by: str


class PaymentDateModelTrained(DomainEvent):
    """A payment-date model trained on the book's invoices due ``data_from`` to ``data_to`` as
    known on ``trained_on``, with the rolling-origin backtest that measured it beside the three
    baselines. The model's bytes stay in scoring; ``model_digest`` names them."""

    event_type = "scoring.PaymentDateModelTrained"
    schema_version = 1

    version: int
    trained_on: date
    data_from: date | None
    data_to: date | None
    samples: int
    features: tuple[str, ...]
    parameters: dict[str, int | float | str]
    seed: int
    backtest: dict[str, Any]  # origins: one row per origin; overall: model and baselines, each's metrics
    model_digest: str
    training_seconds: float
    trained_by: str


class PaymentLatenessPredicted(DomainEvent):
    """What the latest predictions say of a customer's open invoices, weighted by what is open:
    the days after the due dates it is expected to pay, and the probability of paying late.
    Published when it changes by a day or by five points."""

    event_type = "scoring.PaymentLatenessPredicted"
    schema_version = 1

    customer_id: str
    predicted_on: date
    model_version: int | None  # None: the median-delay baseline, before a model was trained
    open_invoices: int
    expected_days_late: int
    late_probability: ExactDecimal  # 0 to 1


PUBLISHED: list[type[DomainEvent]] = [
    CustomerScored,
    PaymentDateModelTrained,
    PaymentLatenessPredicted,
    CreditCheckDecided,
    CreditTermsRequested,
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
