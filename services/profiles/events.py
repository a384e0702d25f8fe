"""The contract of profiles.events: what other services and the ERP may rely on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from libs.events.contracts import DomainEvent, EventRegistry, Money

CompanySize = Literal["micro", "small", "medium", "large"]
Status = Literal["active", "on_hold", "closed"]


class Registration(BaseModel):
    model_config = ConfigDict(frozen=True)

    scheme: Literal["CN-USCC", "OTHER"]
    number: str
    country: str  # ISO 3166-1 alpha-2


class CustomerRegistered(DomainEvent):
    """A customer's credit file was opened."""

    event_type = "profiles.CustomerRegistered"
    schema_version = 2

    customer_id: str
    legal_name: str
    registration: Registration
    industry: str | None = None
    size: CompanySize | None = None
    address: str | None = None
    customer_since: date | None = None
    erp_id: str | None = None


class ProfileUpdated(DomainEvent):
    """A customer's identity details were corrected or changed; it carries the whole profile."""

    event_type = "profiles.ProfileUpdated"
    schema_version = 1

    customer_id: str
    legal_name: str
    industry: str | None = None
    size: CompanySize | None = None
    address: str | None = None
    erp_id: str | None = None


class _ContactEvent(DomainEvent):
    customer_id: str
    contact_id: str
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None
    billing: bool = False


class ContactAdded(_ContactEvent):
    """A person to talk to at the customer; the billing contact is whom collections write to."""

    event_type = "profiles.ContactAdded"
    schema_version = 1


class ContactChanged(_ContactEvent):
    """A contact's details changed; it carries the whole contact."""

    event_type = "profiles.ContactChanged"
    schema_version = 1


class ContactRetired(DomainEvent):
    """A contact is no longer to be used."""

    event_type = "profiles.ContactRetired"
    schema_version = 1

    customer_id: str
    contact_id: str
    reason: str


class CustomerStatusChanged(DomainEvent):
    """The customer was put on hold, reactivated or closed, with the reason."""

    event_type = "profiles.CustomerStatusChanged"
    schema_version = 1

    customer_id: str
    status: Status
    reason: str


class StatementItems(BaseModel):
    model_config = ConfigDict(frozen=True)

    current_assets: Decimal
    total_assets: Decimal
    current_liabilities: Decimal
    total_liabilities: Decimal
    equity: Decimal
    retained_earnings: Decimal
    revenue: Decimal
    ebit: Decimal
    net_income: Decimal


class FinancialStatementRecorded(DomainEvent):
    """A balance sheet and income statement for a period, in one currency."""

    event_type = "profiles.FinancialStatementRecorded"
    schema_version = 1

    customer_id: str
    period_end: date
    period_months: int
    currency: str
    items: StatementItems
    audited: bool = False


class ReviewDateSet(DomainEvent):
    """When the credit file is next to be reviewed."""

    event_type = "profiles.ReviewDateSet"
    schema_version = 1

    customer_id: str
    review_on: date


class CreditReviewDue(DomainEvent):
    """The review date passed: the credit file is due for review (raised once per review date)."""

    event_type = "profiles.CreditReviewDue"
    schema_version = 1

    customer_id: str
    review_on: date


PaymentExperience = Literal["prompt", "slow", "very_slow", "defaulted", "unknown"]


class TradeReferenceRecorded(DomainEvent):
    """What another supplier says of how the customer pays."""

    event_type = "profiles.TradeReferenceRecorded"
    schema_version = 1

    customer_id: str
    reference_id: str
    supplier: str
    contact: str | None = None
    trading_since: date | None = None
    credit_limit: Money | None = None
    payment_experience: PaymentExperience
    notes: str | None = None


class InsuranceCoverRecorded(DomainEvent):
    """Credit insurance on the customer: the insurer's limit on what is owed, until expiry."""

    event_type = "profiles.InsuranceCoverRecorded"
    schema_version = 1

    customer_id: str
    insurer: str
    policy_number: str
    insured_limit: Money
    expires_on: date


AdverseKind = Literal["lawsuit", "judgment", "tax_arrears", "bankruptcy_filing"]


class AdverseRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: AdverseKind
    date: date
    amount: Money | None = None
    description: str | None = None


class ScoreRange(BaseModel):
    """The scale a bureau scores on, e.g. 300 (worst) to 850 (best)."""

    model_config = ConfigDict(frozen=True)

    min: int
    max: int


class BureauReportRecorded(DomainEvent):
    """A credit bureau's report on the customer, with the payload kept exactly as received."""

    event_type = "profiles.BureauReportRecorded"
    schema_version = 1

    customer_id: str
    report_id: str
    provider: str
    report_date: date
    score: int | None = None
    score_range: ScoreRange | None = None  # the provider's scale; higher is better
    rating: str | None = None
    adverse_records: tuple[AdverseRecord, ...] = ()
    raw: str | None = None  # the provider's payload as received


PUBLISHED: list[type[DomainEvent]] = [
    CustomerRegistered,
    ProfileUpdated,
    ContactAdded,
    ContactChanged,
    ContactRetired,
    CustomerStatusChanged,
    FinancialStatementRecorded,
    ReviewDateSet,
    CreditReviewDue,
    TradeReferenceRecorded,
    InsuranceCoverRecorded,
    BureauReportRecorded,
]
registry = EventRegistry(PUBLISHED)


@registry.upcaster("profiles.CustomerRegistered", from_version=1)
def _registered_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 carried the registration number and country flat, without a scheme.
    return {
        "customer_id": data["customer_id"],
        "legal_name": data["legal_name"],
        "registration": {"scheme": "OTHER", "number": data["registration_number"], "country": data["country"]},
    }
