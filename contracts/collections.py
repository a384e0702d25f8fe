"""The contract of collections.events: the dunning policy in force, each customer's collection case
(dunning steps with the inputs they were decided on, notices and their delivery, contacts,
promises to pay and their valuation, payment plans, escalations, collector assignments), and the
charges a notice adds to the account, which receivables books."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.contracts import DomainEvent, EventRegistry, ExactDecimal, Money

Channel = Literal["email", "letter", "sms", "phone"]
GradeOrUnrated = Literal["A", "B", "C", "D", "E", "unrated"]
ContactChannel = Literal["call", "email", "visit", "letter", "sms"]
ContactOutcome = Literal[
    "voicemail", "unreachable", "invoice_not_received", "disputes_it", "payment_sent", "promises_to_pay", "refuses"
]
PauseReason = Literal["disputed", "promise", "plan", "blocked", "escalated"]
EscalationTo = Literal["legal", "agency"]
EscalationResult = Literal["recovered", "partly_recovered", "uncollectable"]
Language = Literal["zh", "en"]

POLICY_STREAM = "dunning-policy"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- the dunning policy ---------------------------------------------------------------------------------


class Template(_Part):
    """A notice's text as Jinja2 (rendered sandboxed), in each language."""

    subject: dict[Language, str]
    body: dict[Language, str]


class Level(_Part):
    """A dunning level: what a notice at this level says and through which channels it goes."""

    level: int = Field(ge=0, le=20, description="0 is the friendly reminder before due")
    name: str = Field(min_length=1, max_length=80)
    channels: tuple[Channel, ...] = Field(min_length=1)
    template: str = Field(min_length=1, max_length=80, description="a key of the policy's templates")
    gentle: bool = False  # skipped for a customer on credit hold
    fee: dict[str, ExactDecimal] = Field(default_factory=dict, description="a fixed fee per currency, added once")


class Step(_Part):
    """A level a strategy reaches when an item's dunning days (relative to due) reach ``days``."""

    level: int = Field(ge=0, le=20)
    days: int = Field(ge=-60, le=3650)


class Strategy(_Part):
    name: str = Field(min_length=1, max_length=80)
    grades: tuple[GradeOrUnrated, ...] = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1)


class EscalationRule(_Part):
    """When a case goes to legal or an agency by itself: an item that has had its strategy's last
    notice and is at least ``days_overdue`` past due on the dunning clock, with the customer's
    overdue total at least ``minimum`` in a currency; or a plan defaulted."""

    to: EscalationTo = "legal"
    days_overdue: int = Field(ge=1, le=3650)
    minimum: dict[str, ExactDecimal] = Field(default_factory=dict)
    on_plan_default: bool = True


class PortfolioRule(_Part):
    """Cases of customers matching every condition given go to ``collector``; the first rule that
    matches assigns; a case assigned by hand keeps its collector."""

    collector: str = Field(min_length=1, max_length=100)
    grades: tuple[GradeOrUnrated, ...] | None = None
    countries: tuple[str, ...] | None = Field(default=None, description="ISO 3166-1 alpha-2")
    minimum_overdue: dict[str, ExactDecimal] | None = Field(
        default=None, description="per currency: overdue at least this much in one of them"
    )
    minimum_open: dict[str, ExactDecimal] | None = Field(
        default=None, description="the account's size, per currency: open at least this much in one of them"
    )


class Policy(_Part):
    levels: tuple[Level, ...] = Field(min_length=1)
    strategies: tuple[Strategy, ...] = Field(min_length=1)
    templates: dict[str, Template]
    minimum_amount: dict[str, ExactDecimal] = Field(
        default_factory=dict, description="per currency: below it, the items raised send nothing"
    )
    minimum_days_between_contacts: int = Field(default=7, ge=0, le=365)
    review_before_sending: bool = False
    interest_percent_a_year: ExactDecimal | None = Field(default=None, ge=0, le=100)
    promise_tolerance_days: int = Field(default=3, ge=0, le=60)
    plan_grace_days: int = Field(default=5, ge=0, le=60)
    plan_defaults_after_missed: int = Field(default=2, ge=1, le=12)
    escalation: EscalationRule | None = None
    portfolios: tuple[PortfolioRule, ...] = ()


class DunningPolicyReleased(DomainEvent):
    """A version of the dunning policy, in force from its release; the only way the policy changes."""

    event_type = "collections.DunningPolicyReleased"
    schema_version = 1

    version: int
    policy: Policy
    released_by: str
    reason: str
    released_on: date


# -- the collection case --------------------------------------------------------------------------------


class CaseEvent(DomainEvent):
    customer_id: str


class ItemInput(_Part):
    """An open item as a dunning step saw it: its amounts, its due date and its clocks."""

    invoice_id: str
    number: str
    currency: str
    open: ExactDecimal
    overdue: ExactDecimal  # of its instalments due before the step's date
    due_date: date
    days_past_due: int  # aging: never paused
    dunning_days: int  # days past due less the days its dunning clock was paused
    level_before: int | None
    level_after: int | None
    paused: PauseReason | None = None
    charged_through: date | None = None  # interest was charged up to this date


class Charge(_Part):
    kind: Literal["fee", "interest"]
    amount: Money
    description: str


class DunningStepTaken(CaseEvent):
    """The daily run raised items of a customer to a level: one consolidated notice lists them all.
    It carries every input it was decided on, so a replay of the same inputs gives the same step."""

    event_type = "collections.DunningStepTaken"
    schema_version = 1

    step_id: str
    business_date: date
    policy_version: int
    strategy: str
    grade: GradeOrUnrated
    on_hold: bool
    level: int  # the notice's: the highest an item reached
    items: tuple[ItemInput, ...]
    last_contact_on: date | None
    channels: tuple[Channel, ...]
    charges: tuple[Charge, ...] = ()
    proposed: bool = False  # the policy asks a collector to review it before it goes out


class ChargesPosted(CaseEvent):
    """The fee and interest of a notice that goes out (its step taken, or approved on review), posted
    to the ledger: receivables books each as a charge on the account, due on ``business_date``."""

    event_type = "collections.ChargesPosted"
    schema_version = 1

    step_id: str
    business_date: date
    charges: tuple[Charge, ...] = Field(min_length=1)


class StepReviewed(CaseEvent):
    """A collector approved a proposed step (its notice goes out), or skipped it."""

    event_type = "collections.StepReviewed"
    schema_version = 1

    step_id: str
    decision: Literal["approved", "skipped"]
    note: str | None = None
    channels: tuple[Channel, ...] | None = None  # the collector's edit of the channels
    by: str


class NoticeSent(CaseEvent):
    event_type = "collections.NoticeSent"
    schema_version = 1

    notice_id: str
    step_id: str
    channel: Channel
    address: str
    message_id: str
    attempt: int
    language: Language


class NoticeFailed(CaseEvent):
    """A channel failed for a notice; ``final`` when it is not tried again (a task and a letter instead)."""

    event_type = "collections.NoticeFailed"
    schema_version = 1

    notice_id: str
    step_id: str
    channel: Channel
    reason: str
    attempt: int
    final: bool


class ContactLogged(CaseEvent):
    event_type = "collections.ContactLogged"
    schema_version = 1

    contact_id: str
    channel: ContactChannel
    outcome: ContactOutcome
    note: str | None = None
    by: str
    contacted_on: date


class DisputeRequested(CaseEvent):
    """The customer disputes an invoice on a contact: receivables opens the dispute (its id is
    ``request_id``), and the dispute then pauses the item's dunning clock."""

    event_type = "collections.DisputeRequested"
    schema_version = 1

    request_id: str
    invoice_id: str
    amount: Money
    reason: str
    by: str
    contact_id: str
    requested_on: date


class PromiseMade(CaseEvent):
    event_type = "collections.PromiseMade"
    schema_version = 1

    promise_id: str
    amount: Money
    due_date: date
    invoices: tuple[str, ...] = ()  # none: any of the customer's items
    tolerance_days: int
    by: str
    made_on: date
    contact_id: str | None = None


class PromiseValued(CaseEvent):
    """What a promise came to: kept (paid in full), partially kept, broken (nothing paid by its date
    and tolerance), or reopened (a kept promise whose payment was reversed)."""

    event_type = "collections.PromiseValued"
    schema_version = 1

    promise_id: str
    outcome: Literal["kept", "partially_kept", "broken", "reopened"]
    paid: Money
    valued_on: date


class PlanInstalment(_Part):
    due_date: date
    amount: Money


class PlanAgreed(CaseEvent):
    event_type = "collections.PlanAgreed"
    schema_version = 1

    plan_id: str
    invoices: tuple[str, ...]
    instalments: tuple[PlanInstalment, ...]
    by: str
    agreed_on: date


class PlanChanged(CaseEvent):
    """A plan's course: an instalment missed, the arrears caught up (cured), paid in full
    (completed), or defaulted."""

    event_type = "collections.PlanChanged"
    schema_version = 1

    plan_id: str
    change: Literal["instalment_missed", "cured", "completed", "defaulted"]
    instalment: int | None = None
    paid: Money
    due: Money  # what the plan had fallen due by then
    on: date


class CaseEscalated(CaseEvent):
    """The case handed to legal or an agency with its file; dunning stops."""

    event_type = "collections.CaseEscalated"
    schema_version = 1

    escalation_id: str
    to: EscalationTo
    agency: str | None = None
    reason: str
    by: str  # a person, or "policy"
    escalated_on: date
    open: tuple[Money, ...]
    items: tuple[str, ...]
    notices_sent: int
    contacts: int
    promises: int


class EscalationReported(CaseEvent):
    event_type = "collections.EscalationReported"
    schema_version = 1

    escalation_id: str
    result: EscalationResult
    recovered: Money | None = None
    note: str | None = None
    by: str
    reported_on: date


class CollectorAssigned(CaseEvent):
    event_type = "collections.CollectorAssigned"
    schema_version = 1

    collector: str
    by: str  # a person, or "portfolio"
    rule: str


class DunningBlocked(CaseEvent):
    """Dunning of one item (or of every item) stopped by hand until a date."""

    event_type = "collections.DunningBlocked"
    schema_version = 1

    block_id: str
    invoice_id: str | None = None
    reason: str
    until: date
    by: str
    blocked_on: date


class DunningUnblocked(CaseEvent):
    event_type = "collections.DunningUnblocked"
    schema_version = 1

    block_id: str
    by: str
    unblocked_on: date


CASE_EVENTS: list[type[DomainEvent]] = [
    DunningStepTaken,
    StepReviewed,
    ChargesPosted,
    NoticeSent,
    NoticeFailed,
    ContactLogged,
    DisputeRequested,
    PromiseMade,
    PromiseValued,
    PlanAgreed,
    PlanChanged,
    CaseEscalated,
    EscalationReported,
    CollectorAssigned,
    DunningBlocked,
    DunningUnblocked,
]
PUBLISHED: list[type[DomainEvent]] = [DunningPolicyReleased, *CASE_EVENTS]
registry = EventRegistry(PUBLISHED)
