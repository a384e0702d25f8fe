"""The contract of alerts.events: the alert rules in force (versioned data), and each customer's
alerts with their lifecycle: raised (with the facts that met the rule and the events that carried
them), repeated, acknowledged, assigned, resolved or suppressed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.contracts import DomainEvent, EventRegistry

Severity = Literal["info", "warning", "critical"]
Grade = Literal["A", "B", "C", "D", "E"]

RULES_STREAM = "alert-rules"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- the rules --------------------------------------------------------------------------------------------


Role = Literal["collector", "credit_analyst", "credit_manager", "finance_director", "admin"]

# Who an alert goes to next when nobody acknowledges it in its rule's time.
ESCALATES_TO: dict[str, Role] = {
    "collector": "credit_manager",
    "credit_analyst": "credit_manager",
    "credit_manager": "finance_director",
}

# The subjects of alerts that are no customer's: the book as a whole, and the services' operations.
BOOK = "BOOK"
OPERATIONS = "OPERATIONS"


class _Rule(_Part):
    rule_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="names the rule in every alert it raises")
    severity: Severity
    notify: Role = Field(default="credit_analyst", description="the role an alert of this rule goes to first")
    acknowledge_within_days: int | None = Field(
        default=None,
        ge=1,
        le=90,
        description="days on the business clock before an unacknowledged alert goes to the next role",
    )


class GradeDrop(_Rule):
    """The customer's grade fell by at least ``by_grades``, or into one of ``into`` from outside it."""

    kind: Literal["grade_drop"] = "grade_drop"
    by_grades: int = Field(default=2, ge=1, le=4)
    into: tuple[Grade, ...] = ("D", "E")


class HoldPlaced(_Rule):
    """A credit hold was placed on the customer."""

    kind: Literal["hold_placed"] = "hold_placed"


class BrokenPromise(_Rule):
    """A promise to pay was broken."""

    kind: Literal["broken_promise"] = "broken_promise"


class PlanInstalmentMissed(_Rule):
    """An instalment of a payment plan was missed."""

    kind: Literal["plan_instalment_missed"] = "plan_instalment_missed"


class CaseEscalated(_Rule):
    """A collection case was handed to legal or an agency."""

    kind: Literal["case_escalated"] = "case_escalated"


class StatementDisputed(_Rule):
    """The customer answered a statement of account that it does not agree."""

    kind: Literal["statement_disputed"] = "statement_disputed"


class ScoreDrop(_Rule):
    """The score fell by at least ``points`` from its highest within the last ``within_days`` days."""

    kind: Literal["score_drop"] = "score_drop"
    points: Decimal = Field(gt=0, le=100)
    within_days: int = Field(default=30, ge=1, le=366)


class LimitUse(_Rule):
    """A credit check found open receivables and reserved orders (with the order, when approved) at or
    above ``percent`` of the limit."""

    kind: Literal["limit_use"] = "limit_use"
    percent: Decimal = Field(gt=0, le=1000)


class ExposureOverLimit(_Rule):
    """A credit check found open receivables and reserved orders (with the order, when approved) above
    the limit."""

    kind: Literal["exposure_over_limit"] = "exposure_over_limit"


class ItemOverdue(_Rule):
    """An item entered an aging band more than ``days`` days past due."""

    kind: Literal["item_overdue"] = "item_overdue"
    days: int = Field(ge=0, le=3650)


class OverdueShareRise(_Rule):
    """The overdue share of the balance rose by at least ``points`` percentage points from its lowest
    within the last ``within_days`` days."""

    kind: Literal["overdue_share_rise"] = "overdue_share_rise"
    points: Decimal = Field(gt=0, le=100)
    within_days: int = Field(default=30, ge=1, le=366)


class BureauAdverse(_Rule):
    """A bureau report carries an adverse record the provider's previous report did not."""

    kind: Literal["bureau_adverse"] = "bureau_adverse"


class BureauScoreDrop(_Rule):
    """A bureau report's score is at least ``points`` below the provider's previous report."""

    kind: Literal["bureau_score_drop"] = "bureau_score_drop"
    points: int = Field(ge=1)


class InsuranceExpiring(_Rule):
    """Credit-insurance cover expires within ``within_days`` days."""

    kind: Literal["insurance_expiring"] = "insurance_expiring"
    within_days: int = Field(default=30, ge=0, le=366)


class InsuranceReduced(_Rule):
    """New credit-insurance cover under the same policy insures less than the cover it replaces."""

    kind: Literal["insurance_reduced"] = "insurance_reduced"


class InsuranceCancelled(_Rule):
    """The insurer cancelled credit-insurance cover."""

    kind: Literal["insurance_cancelled"] = "insurance_cancelled"


class ReviewOverdue(_Rule):
    """The credit file's review date passed without a review."""

    kind: Literal["review_overdue"] = "review_overdue"


class Concentration(_Rule):
    """One customer's balance is above ``percent`` of the book's."""

    kind: Literal["concentration"] = "concentration"
    percent: Decimal = Field(gt=0, lt=100)
    minimum_customers: int = Field(default=20, ge=1, description="customers with a balance before it applies")


class TopConcentration(_Rule):
    """The ``top`` largest balances together are above ``percent`` of the book's (an alert on the book)."""

    kind: Literal["top_concentration"] = "top_concentration"
    top: int = Field(ge=1, le=100)
    percent: Decimal = Field(gt=0, lt=100)
    minimum_customers: int = Field(default=20, ge=1, description="customers with a balance before it applies")


class DeadLetter(_Rule):
    """A service set aside a message it cannot apply (an operations alert)."""

    kind: Literal["dead_letter"] = "dead_letter"


Rule = Annotated[
    GradeDrop
    | HoldPlaced
    | BrokenPromise
    | PlanInstalmentMissed
    | CaseEscalated
    | StatementDisputed
    | ScoreDrop
    | LimitUse
    | ExposureOverLimit
    | ItemOverdue
    | OverdueShareRise
    | BureauAdverse
    | BureauScoreDrop
    | InsuranceExpiring
    | InsuranceReduced
    | InsuranceCancelled
    | ReviewOverdue
    | Concentration
    | TopConcentration
    | DeadLetter,
    Field(discriminator="kind"),
]


class RulesReleased(DomainEvent):
    """A new version of the rule set, as a whole, with who released it and why."""

    event_type = "alerts.RulesReleased"
    schema_version = 1

    version: int = Field(ge=2)
    rules: tuple[Rule, ...]
    released_by: str
    reason: str
    released_on: date


# -- the alerts -------------------------------------------------------------------------------------------


class Fact(_Part):
    """A value that met the rule, and the event that carried it."""

    name: str
    value: str
    event_id: str
    event_type: str


class AlertEvent(DomainEvent):
    customer_id: str
    alert_id: str


class AlertRaised(AlertEvent):
    event_type = "alerts.AlertRaised"
    schema_version = 1

    rule_id: str
    rule_version: int
    kind: str
    severity: Severity
    facts: tuple[Fact, ...] = Field(min_length=1)
    raised_on: date
    notify: Role = "credit_analyst"  # the role it goes to


class AlertRepeated(AlertEvent):
    """The rule met again while its alert is open: the count rises and the facts are the latest."""

    event_type = "alerts.AlertRepeated"
    schema_version = 1

    rule_version: int
    count: int = Field(ge=2)
    facts: tuple[Fact, ...] = Field(min_length=1)
    repeated_on: date


class AlertEscalated(AlertEvent):
    """Nobody acknowledged the alert in its rule's time: it goes to the next role."""

    event_type = "alerts.AlertEscalated"
    schema_version = 1

    to: Role
    level: int = Field(ge=1)  # how many times it has escalated
    escalated_on: date


class AlertAcknowledged(AlertEvent):
    event_type = "alerts.AlertAcknowledged"
    schema_version = 1

    by: str
    note: str | None = None


class AlertAssigned(AlertEvent):
    event_type = "alerts.AlertAssigned"
    schema_version = 1

    to: str
    by: str


class AlertResolved(AlertEvent):
    event_type = "alerts.AlertResolved"
    schema_version = 1

    by: str
    note: str


class AlertSuppressed(AlertEvent):
    event_type = "alerts.AlertSuppressed"
    schema_version = 1

    by: str
    reason: str


# -- delivery ---------------------------------------------------------------------------------------------


class Audience(_Part):
    """Whose alerts a subscription carries: those routed to a role, assigned to a person, or of the
    customers in a collector's portfolio. Unset parts do not narrow it."""

    role: Role | None = None
    person: str | None = Field(default=None, min_length=1, max_length=100)
    portfolio: str | None = Field(default=None, min_length=1, max_length=100, description="a collector's id")


class SubscriptionCreated(DomainEvent):
    """Alerts matching ``audience``, ``severities`` and ``rules`` are delivered to an email address or
    a webhook. A webhook's signing secret is derived from the service's key and never travels."""

    event_type = "alerts.SubscriptionCreated"
    schema_version = 1

    subscription_id: str
    channel: Literal["email", "webhook"]
    address: str  # an email address, or the webhook's https/http URL
    audience: Audience
    severities: tuple[Severity, ...] = ("info", "warning", "critical")
    rules: tuple[str, ...] = ()  # rule ids; none: every rule
    by: str


class SubscriptionCancelled(DomainEvent):
    event_type = "alerts.SubscriptionCancelled"
    schema_version = 1

    subscription_id: str
    by: str
    reason: str


class DeliveryAttempted(DomainEvent):
    """One attempt to deliver an alert's event to a subscription; ``delivery_id`` is the same on every
    attempt (the alert event's id), so the receiver can drop a repeat."""

    event_type = "alerts.DeliveryAttempted"
    schema_version = 1

    subscription_id: str
    delivery_id: str
    alert_id: str
    attempt: int = Field(ge=1)
    delivered: bool
    status: int | None = None  # the webhook's HTTP status
    error: str | None = None


class ReceiverPaused(DomainEvent):
    """A receiver failed every attempt of ``failures`` deliveries in a row: nothing more is tried until
    it is resumed; what waits for it is delivered then."""

    event_type = "alerts.ReceiverPaused"
    schema_version = 1

    subscription_id: str
    failures: int
    last_error: str


class ReceiverResumed(DomainEvent):
    event_type = "alerts.ReceiverResumed"
    schema_version = 1

    subscription_id: str
    by: str


SUBSCRIPTION_EVENTS: list[type[DomainEvent]] = [
    SubscriptionCreated,
    SubscriptionCancelled,
    DeliveryAttempted,
    ReceiverPaused,
    ReceiverResumed,
]

ALERT_EVENTS: list[type[DomainEvent]] = [
    AlertRaised,
    AlertRepeated,
    AlertEscalated,
    AlertAcknowledged,
    AlertAssigned,
    AlertResolved,
    AlertSuppressed,
]
PUBLISHED: list[type[DomainEvent]] = [RulesReleased, *ALERT_EVENTS, *SUBSCRIPTION_EVENTS]
registry = EventRegistry(PUBLISHED)
