"""The credit file: its state, the commands on it, and how its events change it.

A handler loads the stream, folds it with ``evolve``, asks a decide function, and appends what
it returns.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import date

from contracts.profiles import (
    BureauReportRecorded,
    CompanySize,
    ContactAdded,
    ContactChanged,
    ContactRetired,
    CreditReviewDue,
    CustomerRegistered,
    CustomerStatusChanged,
    FinancialStatementRecorded,
    InsuranceCoverCancelled,
    InsuranceCoverRecorded,
    ProfileUpdated,
    Registration,
    ReviewDateSet,
    StatementItems,
    Status,
    TradeReferenceRecorded,
    statement_ratios,
)
from libs.events import refusals
from libs.events.contracts import DomainEvent, is_invoicing_currency
from services.profiles.domain import financials
from services.profiles.domain.registration import normalise, uscc_problem


class Refused(refusals.Refused):
    """A command the credit file does not accept; the message says why."""


class Unknown(Refused, refusals.NotFound):
    """The command names a customer or contact the file does not have."""


@dataclass(frozen=True)
class ContactDetails:
    name: str
    role: str | None = None
    email: str | None = None
    phone: str | None = None
    billing: bool = False


@dataclass(frozen=True)
class Contact:
    contact_id: str
    details: ContactDetails
    retired: bool = False


@dataclass(frozen=True)
class Profile:
    legal_name: str
    industry: str | None = None
    size: CompanySize | None = None
    address: str | None = None
    erp_id: str | None = None


@dataclass(frozen=True)
class CreditFile:
    customer_id: str = ""
    registered: bool = False
    profile: Profile = Profile("")
    registration: Registration | None = None
    status: Status = "active"
    contacts: dict[str, Contact] = field(default_factory=dict)
    review_on: date | None = None
    review_due_raised_for: date | None = None
    covers: frozenset[tuple[str, str]] = frozenset()  # (insurer, policy number) of cover not cancelled


def stream_id(customer_id: str) -> str:
    return f"customer-{customer_id}"


def new_file(customer_id: str) -> CreditFile:
    """The state of a file not yet opened."""
    return CreditFile(customer_id=customer_id)


def customer_id_for(erp_id: str) -> str:
    """The same ERP customer always becomes the same credit file, however often it arrives."""
    return "C-" + hashlib.sha256(f"erp:{erp_id}".encode()).hexdigest()[:12].upper()


def counts_from(event: DomainEvent, recorded_on: date) -> date:
    """The business date a fact of the file counts from: a statement from the end of its period, a
    bureau report from its date, a cancellation of cover from the day it took effect, anything else
    from the day it was recorded."""
    if isinstance(event, FinancialStatementRecorded):
        return event.period_end
    if isinstance(event, BureauReportRecorded):
        return event.report_date
    if isinstance(event, InsuranceCoverCancelled):
        return event.cancelled_on
    return recorded_on


# -- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterCustomer:
    customer_id: str
    profile: Profile
    registration: Registration
    customer_since: date | None = None


@dataclass(frozen=True)
class UpdateProfile:
    profile: Profile


@dataclass(frozen=True)
class RecordStatement:
    period_end: date
    period_months: int
    currency: str
    items: StatementItems
    audited: bool
    today: date


def registration_problem(registration: Registration) -> str | None:
    if registration.scheme == "CN-USCC":
        if registration.country != "CN":
            return "a unified social credit code is Chinese: its country must be CN"
        return uscc_problem(registration.number)
    if not registration.number:
        return "the registration number is empty"
    return None


def register(state: CreditFile, command: RegisterCustomer) -> list[DomainEvent]:
    if state.registered:
        raise Refused(f"customer {command.customer_id} is already registered")
    registration = command.registration.model_copy(
        update={"number": normalise(command.registration.scheme, command.registration.number)}
    )
    problem = registration_problem(registration)
    if problem:
        raise Refused(problem)
    return [
        CustomerRegistered(
            customer_id=command.customer_id,
            registration=registration,
            customer_since=command.customer_since,
            **asdict(command.profile),
        )
    ]


def _registered(state: CreditFile) -> None:
    if not state.registered:
        raise Unknown(f"no customer {state.customer_id}")


def update_profile(state: CreditFile, command: UpdateProfile) -> list[DomainEvent]:
    _registered(state)
    if command.profile == state.profile:
        return []
    return [ProfileUpdated(customer_id=state.customer_id, **asdict(command.profile))]


def _contact_problem(details: ContactDetails) -> None:
    if details.billing and not (details.email and details.phone):
        raise Refused("a billing contact needs an email address and a phone number: collections writes to it")
    if not (details.email or details.phone):
        raise Refused("a contact needs an email address or a phone number")


def add_contact(state: CreditFile, contact_id: str, details: ContactDetails) -> list[DomainEvent]:
    _registered(state)
    _contact_problem(details)
    return [ContactAdded(customer_id=state.customer_id, contact_id=contact_id, **asdict(details))]


def _active_contact(state: CreditFile, contact_id: str) -> Contact:
    _registered(state)
    contact = state.contacts.get(contact_id)
    if contact is None:
        raise Unknown(f"customer {state.customer_id} has no contact {contact_id}")
    if contact.retired:
        raise Refused(f"contact {contact_id} is retired")
    return contact


def change_contact(state: CreditFile, contact_id: str, details: ContactDetails) -> list[DomainEvent]:
    current = _active_contact(state, contact_id)
    _contact_problem(details)
    if current.details == details:
        return []
    return [ContactChanged(customer_id=state.customer_id, contact_id=contact_id, **asdict(details))]


def retire_contact(state: CreditFile, contact_id: str, reason: str) -> list[DomainEvent]:
    _active_contact(state, contact_id)
    return [ContactRetired(customer_id=state.customer_id, contact_id=contact_id, reason=reason)]


def change_status(state: CreditFile, status: Status, reason: str) -> list[DomainEvent]:
    _registered(state)
    if status == state.status:
        raise Refused(f"customer {state.customer_id} is already {status.replace('_', ' ')}")
    return [CustomerStatusChanged(customer_id=state.customer_id, status=status, reason=reason)]


def record_statement(state: CreditFile, command: RecordStatement) -> list[DomainEvent]:
    _registered(state)
    if not is_invoicing_currency(command.currency):
        raise Refused(f"{command.currency!r} is not an ISO 4217 currency code")
    if command.period_end > command.today:
        raise Refused(f"the period ends on {command.period_end}, after today ({command.today})")
    problem = financials.balance_problem(command.items)
    if problem:
        raise Refused(f"the statement does not add up: {problem}")
    return [
        FinancialStatementRecorded(
            customer_id=state.customer_id,
            period_end=command.period_end,
            period_months=command.period_months,
            currency=command.currency,
            items=command.items,
            audited=command.audited,
            ratios=statement_ratios(command.items),
        )
    ]


def set_review_date(state: CreditFile, review_on: date, today: date) -> list[DomainEvent]:
    _registered(state)
    if review_on <= today:
        raise Refused(f"the review date {review_on} must be after today ({today})")
    if review_on == state.review_on:
        return []
    return [ReviewDateSet(customer_id=state.customer_id, review_on=review_on)]


def review_due(state: CreditFile, business_date: date) -> list[DomainEvent]:
    """Raise CreditReviewDue once the review date has passed, once per review date."""
    if state.review_on is None or state.review_on >= business_date or state.review_due_raised_for == state.review_on:
        return []
    return [CreditReviewDue(customer_id=state.customer_id, review_on=state.review_on)]


def record_trade_reference(state: CreditFile, event: TradeReferenceRecorded) -> list[DomainEvent]:
    _registered(state)
    if event.credit_limit is not None and event.credit_limit.amount <= 0:
        raise Refused("a trade reference's credit limit must be positive")
    return [event]


def record_insurance_cover(state: CreditFile, event: InsuranceCoverRecorded, today: date) -> list[DomainEvent]:
    _registered(state)
    if event.insured_limit.amount <= 0:
        raise Refused("the insured limit must be positive")
    if event.expires_on <= today:
        raise Refused(f"the cover expired on {event.expires_on}")
    return [event]


def cancel_insurance_cover(state: CreditFile, event: InsuranceCoverCancelled, today: date) -> list[DomainEvent]:
    _registered(state)
    if (event.insurer, event.policy_number) not in state.covers:
        raise Unknown(f"no cover of {event.insurer} under policy {event.policy_number} for {state.customer_id}")
    if event.cancelled_on > today:
        raise Refused(f"cancelled_on: {event.cancelled_on} is after today ({today})")
    return [event]


def record_bureau_report(state: CreditFile, event: BureauReportRecorded, today: date) -> list[DomainEvent]:
    _registered(state)
    if event.report_date > today:
        raise Refused(f"the report is dated {event.report_date}, after today ({today})")
    if event.score is not None and event.score < 0:
        raise Refused("a bureau score cannot be negative")
    return [event]


# -- evolution ------------------------------------------------------------------------------


def _profile(event: CustomerRegistered | ProfileUpdated) -> Profile:
    return Profile(event.legal_name, event.industry, event.size, event.address, event.erp_id)


def evolve(state: CreditFile, event: DomainEvent) -> CreditFile:
    if isinstance(event, CustomerRegistered):
        return CreditFile(
            customer_id=event.customer_id, registered=True, registration=event.registration, profile=_profile(event)
        )
    if isinstance(event, ProfileUpdated):
        return replace(state, profile=_profile(event))
    if isinstance(event, ContactAdded | ContactChanged):
        details = ContactDetails(event.name, event.role, event.email, event.phone, event.billing)
        contact = Contact(event.contact_id, details)
        return replace(state, contacts={**state.contacts, event.contact_id: contact})
    if isinstance(event, ContactRetired):
        retired = replace(state.contacts[event.contact_id], retired=True)
        return replace(state, contacts={**state.contacts, event.contact_id: retired})
    if isinstance(event, CustomerStatusChanged):
        return replace(state, status=event.status)
    if isinstance(event, ReviewDateSet):
        return replace(state, review_on=event.review_on)
    if isinstance(event, CreditReviewDue):
        return replace(state, review_due_raised_for=event.review_on)
    if isinstance(event, InsuranceCoverRecorded):
        return replace(state, covers=state.covers | {(event.insurer, event.policy_number)})
    if isinstance(event, InsuranceCoverCancelled):
        return replace(state, covers=state.covers - {(event.insurer, event.policy_number)})
    return state
