"""The contract of alerts.events: the alert rules in force (versioned data), and each customer's
alerts with their lifecycle: raised (with the facts that met the rule and the events that carried
them), repeated, acknowledged, assigned, resolved or suppressed."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.contracts import DomainEvent, EventRegistry

Severity = Literal["info", "warning", "critical"]
Grade = Literal["A", "B", "C", "D", "E"]

RULES_STREAM = "alert-rules"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- the rules --------------------------------------------------------------------------------------------


class _Rule(_Part):
    rule_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="names the rule in every alert it raises")
    severity: Severity


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


Rule = Annotated[
    GradeDrop | HoldPlaced | BrokenPromise | PlanInstalmentMissed | CaseEscalated | StatementDisputed,
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


class AlertRepeated(AlertEvent):
    """The rule met again while its alert is open: the count rises and the facts are the latest."""

    event_type = "alerts.AlertRepeated"
    schema_version = 1

    rule_version: int
    count: int = Field(ge=2)
    facts: tuple[Fact, ...] = Field(min_length=1)
    repeated_on: date


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


ALERT_EVENTS: list[type[DomainEvent]] = [
    AlertRaised,
    AlertRepeated,
    AlertAcknowledged,
    AlertAssigned,
    AlertResolved,
    AlertSuppressed,
]
PUBLISHED: list[type[DomainEvent]] = [RulesReleased, *ALERT_EVENTS]
registry = EventRegistry(PUBLISHED)
