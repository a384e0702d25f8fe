"""The contract of profiles.events: what other services and the ERP may rely on, and the rules
that give a consumer its meaning: the ratios of a financial statement, and what a customer's
events say of it for a directory of customers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from libs.events.contracts import DomainEvent, EventRegistry, ExactDecimal, Money

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


Zone = Literal["safe", "grey", "distress"]
Z_SAFE_ABOVE = Decimal("2.60")
Z_DISTRESS_BELOW = Decimal("1.10")


class StatementRatios(BaseModel):
    """What credit people read from a statement, as profiles computed it when it was recorded."""

    model_config = ConfigDict(frozen=True)

    current_ratio: ExactDecimal | None  # current assets / current liabilities, 4 places
    debt_ratio: ExactDecimal | None  # total liabilities / total assets, 4 places
    working_capital: ExactDecimal  # current assets - current liabilities
    altman_z: ExactDecimal | None  # Altman Z'' (private, non-manufacturing firms), 2 places
    altman_zone: Zone | None  # safe above 2.60, distress below 1.10, grey between


def _ratio(numerator: Decimal, denominator: Decimal, places: str = "0.0001") -> Decimal | None:
    if denominator == 0:
        return None
    return (numerator / denominator).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def altman_z_double_prime(items: StatementItems) -> Decimal | None:
    """Altman Z″ = 6.56·X1 + 3.26·X2 + 6.72·X3 + 1.05·X4 (for private and non-manufacturing firms).

    X1 working capital, X2 retained earnings and X3 EBIT over total assets; X4 book equity
    over total liabilities. None when a denominator is zero.
    """
    if items.total_assets == 0 or items.total_liabilities == 0:
        return None
    assets = items.total_assets
    x1 = (items.current_assets - items.current_liabilities) / assets
    x2 = items.retained_earnings / assets
    x3 = items.ebit / assets
    x4 = items.equity / items.total_liabilities
    z = Decimal("6.56") * x1 + Decimal("3.26") * x2 + Decimal("6.72") * x3 + Decimal("1.05") * x4
    return z.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def zone(z: Decimal) -> Zone:
    if z > Z_SAFE_ABOVE:
        return "safe"
    if z < Z_DISTRESS_BELOW:
        return "distress"
    return "grey"


def statement_ratios(items: StatementItems) -> StatementRatios:
    """The ratios of a statement: the published definition every consumer may rely on."""
    z = altman_z_double_prime(items)
    return StatementRatios(
        current_ratio=_ratio(items.current_assets, items.current_liabilities),
        debt_ratio=_ratio(items.total_liabilities, items.total_assets),
        working_capital=items.current_assets - items.current_liabilities,
        altman_z=z,
        altman_zone=zone(z) if z is not None else None,
    )


class FinancialStatementRecorded(DomainEvent):
    """A balance sheet and income statement for a period, in one currency, with its ratios."""

    event_type = "profiles.FinancialStatementRecorded"
    schema_version = 2

    customer_id: str
    period_end: date
    period_months: int
    currency: str
    items: StatementItems
    audited: bool = False
    ratios: StatementRatios


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


class InsuranceCoverCancelled(DomainEvent):
    """The insurer cancelled cover under a policy: from ``cancelled_on`` it insures nothing."""

    event_type = "profiles.InsuranceCoverCancelled"
    schema_version = 1

    customer_id: str
    insurer: str
    policy_number: str
    cancelled_on: date
    reason: str


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
    InsuranceCoverCancelled,
    BureauReportRecorded,
]
registry = EventRegistry(PUBLISHED)


@registry.upcaster("profiles.FinancialStatementRecorded", from_version=1)
def _statement_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 carried the items only: the ratios follow from them by the published definitions.
    items = StatementItems.model_validate(data["items"])
    return {**data, "ratios": statement_ratios(items).model_dump(mode="json")}


@registry.upcaster("profiles.CustomerRegistered", from_version=1)
def _registered_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 1 carried the registration number and country flat, without a scheme.
    return {
        "customer_id": data["customer_id"],
        "legal_name": data["legal_name"],
        "registration": {"scheme": "OTHER", "number": data["registration_number"], "country": data["country"]},
    }


# -- what a customer's events say of it --------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryEntry:
    """A customer as other services know it from profiles.events: who it is and its ERP id. A
    profile update does not repeat the country: ``None`` there means unchanged."""

    customer_id: str
    legal_name: str
    erp_id: str | None
    address: str | None
    country: str | None


def directory_entry(event: DomainEvent) -> DirectoryEntry | None:
    """The directory's entry for a customer from one of profiles' events, if it says anything of it."""
    if isinstance(event, CustomerRegistered):
        return DirectoryEntry(
            event.customer_id, event.legal_name, event.erp_id, event.address, event.registration.country
        )
    if isinstance(event, ProfileUpdated):
        return DirectoryEntry(event.customer_id, event.legal_name, event.erp_id, event.address, None)
    return None
