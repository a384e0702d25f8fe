"""The use cases of profiles: the only code that loads credit files, decides and appends.

Each takes the parts the composition root built and a command; each runs in the caller's
transaction (``conn``), so a route can answer from the read model the same transaction wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import asyncpg

from contracts.erp import CustomerMaster
from contracts.profiles import (
    BureauReportRecorded,
    InsuranceCoverCancelled,
    InsuranceCoverRecorded,
    Registration,
    StatementItems,
    Status,
    TradeReferenceRecorded,
)
from libs.events.clock import BusinessClock
from libs.events.commands import FoldedStreams, Ran, run
from libs.events.refusals import Duplicate, NotFound
from libs.events.store import EventContext, Store
from services.profiles import domain
from services.profiles.adapters import BureauProvider, BureauUnavailable, FetchedReport
from services.profiles.domain import CreditFile


class Registrations(Protocol):
    """Who holds a registration number or an ERP id, as the read model knows it."""

    async def holder(self, conn: Any, registration: Registration) -> str | None:
        """The customer holding this registration (its number normalised), if any."""

    async def erp_link(self, conn: Any, erp_id: str, registration: Registration) -> tuple[str, str | None] | None:
        """The customer (and its ERP id) linked to the ERP id, else holding the registration."""


@dataclass
class Parts:
    """What the use cases of profiles work with; built by the composition root."""

    store: Store
    files: FoldedStreams[CreditFile]
    clock: BusinessClock
    registrations: Registrations
    bureau: BureauProvider | None  # None: no bureau is configured


def credit_files(store: Store) -> FoldedStreams[CreditFile]:
    return FoldedStreams(store, stream_of=domain.stream_id, initial=domain.new_file, evolve=domain.evolve)


# -- commands ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeProfile:
    """A merge patch of the profile: the fields named change, the others are kept."""

    customer_id: str
    changes: Mapping[str, Any]
    expected_version: int | None


@dataclass(frozen=True)
class AddContact:
    customer_id: str
    contact_id: str
    details: domain.ContactDetails


@dataclass(frozen=True)
class ChangeContact:
    customer_id: str
    contact_id: str
    details: domain.ContactDetails
    expected_version: int | None


@dataclass(frozen=True)
class RetireContact:
    customer_id: str
    contact_id: str
    reason: str
    expected_version: int | None


@dataclass(frozen=True)
class ChangeStatus:
    customer_id: str
    status: Status
    reason: str
    expected_version: int | None


@dataclass(frozen=True)
class RecordStatement:
    customer_id: str
    period_end: date
    period_months: int
    currency: str
    items: StatementItems
    audited: bool


@dataclass(frozen=True)
class SetReviewDate:
    customer_id: str
    review_on: date
    expected_version: int | None


@dataclass(frozen=True)
class RecordTradeReference:
    reference: TradeReferenceRecorded


@dataclass(frozen=True)
class RecordInsuranceCover:
    cover: InsuranceCoverRecorded


@dataclass(frozen=True)
class CancelInsuranceCover:
    cancellation: InsuranceCoverCancelled


@dataclass(frozen=True)
class RecordBureauReport:
    report: BureauReportRecorded


@dataclass(frozen=True)
class PullBureauReport:
    customer_id: str
    report_id: str


@dataclass(frozen=True)
class ApplyCustomerMaster:
    master: CustomerMaster
    context: EventContext


# -- use cases --------------------------------------------------------------------------------------


async def register_customer(parts: Parts, conn: Any, command: domain.RegisterCustomer) -> Ran[CreditFile]:
    """Open a credit file; a registration number already on file is a duplicate."""
    holder = await parts.registrations.holder(conn, command.registration)
    if holder is not None:
        raise Duplicate(
            f"registration number {command.registration.number} is already registered to customer {holder}",
            customer_id=holder,
        )
    with _unique_keys():
        return await run(parts.files, conn, command.customer_id, lambda f: domain.register(f, command))


async def change_profile(parts: Parts, conn: Any, command: ChangeProfile) -> Ran[CreditFile]:
    def decide(file: CreditFile) -> list[Any]:
        changed = dataclasses.replace(file.profile, **command.changes)
        return domain.update_profile(file, domain.UpdateProfile(changed))

    with _unique_keys():
        return await run(parts.files, conn, command.customer_id, decide, expected_version=command.expected_version)


async def add_contact(parts: Parts, conn: Any, command: AddContact) -> Ran[CreditFile]:
    return await run(
        parts.files, conn, command.customer_id, lambda f: domain.add_contact(f, command.contact_id, command.details)
    )


async def change_contact(parts: Parts, conn: Any, command: ChangeContact) -> Ran[CreditFile]:
    return await run(
        parts.files,
        conn,
        command.customer_id,
        lambda f: domain.change_contact(f, command.contact_id, command.details),
        expected_version=command.expected_version,
    )


async def retire_contact(parts: Parts, conn: Any, command: RetireContact) -> Ran[CreditFile]:
    return await run(
        parts.files,
        conn,
        command.customer_id,
        lambda f: domain.retire_contact(f, command.contact_id, command.reason),
        expected_version=command.expected_version,
    )


async def change_status(parts: Parts, conn: Any, command: ChangeStatus) -> Ran[CreditFile]:
    return await run(
        parts.files,
        conn,
        command.customer_id,
        lambda f: domain.change_status(f, command.status, command.reason),
        expected_version=command.expected_version,
    )


async def record_statement(parts: Parts, conn: Any, command: RecordStatement) -> Ran[CreditFile]:
    statement = domain.RecordStatement(
        command.period_end, command.period_months, command.currency, command.items, command.audited, parts.clock.today()
    )
    return await run(parts.files, conn, command.customer_id, lambda f: domain.record_statement(f, statement))


async def set_review_date(parts: Parts, conn: Any, command: SetReviewDate) -> Ran[CreditFile]:
    today = parts.clock.today()
    return await run(
        parts.files,
        conn,
        command.customer_id,
        lambda f: domain.set_review_date(f, command.review_on, today),
        expected_version=command.expected_version,
    )


async def record_trade_reference(parts: Parts, conn: Any, command: RecordTradeReference) -> Ran[CreditFile]:
    reference = command.reference
    return await run(parts.files, conn, reference.customer_id, lambda f: domain.record_trade_reference(f, reference))


async def record_insurance_cover(parts: Parts, conn: Any, command: RecordInsuranceCover) -> Ran[CreditFile]:
    cover, today = command.cover, parts.clock.today()
    return await run(parts.files, conn, cover.customer_id, lambda f: domain.record_insurance_cover(f, cover, today))


async def cancel_insurance_cover(parts: Parts, conn: Any, command: CancelInsuranceCover) -> Ran[CreditFile]:
    cancelled, today = command.cancellation, parts.clock.today()
    return await run(
        parts.files, conn, cancelled.customer_id, lambda f: domain.cancel_insurance_cover(f, cancelled, today)
    )


async def record_bureau_report(parts: Parts, conn: Any, command: RecordBureauReport) -> Ran[CreditFile]:
    report, today = command.report, parts.clock.today()
    return await run(parts.files, conn, report.customer_id, lambda f: domain.record_bureau_report(f, report, today))


async def pull_bureau_report(parts: Parts, conn: Any, command: PullBureauReport) -> Ran[CreditFile]:
    """Ask the configured bureau for the customer's report and record it, the payload as received.

    Raises ``adapters.NoReport`` when the bureau has none, ``adapters.BureauUnavailable`` when it
    cannot be asked or answers outside its contract."""
    file = (await parts.files.load(conn, command.customer_id)).state
    if not file.registered or file.registration is None:
        raise NotFound(f"no customer {command.customer_id}")
    if parts.bureau is None:
        raise BureauUnavailable("no bureau is configured (CREDO_BUREAU_URL)")
    fetched = await parts.bureau.fetch(file.registration)
    return await record_bureau_report(parts, conn, RecordBureauReport(_report(command, fetched)))


def _report(command: PullBureauReport, fetched: FetchedReport) -> BureauReportRecorded:
    payload = fetched.payload
    return BureauReportRecorded(
        customer_id=command.customer_id,
        report_id=command.report_id,
        provider=fetched.provider,
        report_date=payload.report_date,
        score=payload.score,
        score_range=payload.scale(),
        rating=payload.rating,
        adverse_records=tuple(payload.adverse_records),
        raw=fetched.raw,
    )


ERP_BILLING_CONTACT = "P-ERP-BILLING"  # the contact the ERP's master keeps


async def apply_customer_master(parts: Parts, conn: Any, command: ApplyCustomerMaster) -> Ran[CreditFile]:
    """The ERP's customer master: a new credit file, or the profile of the one it is linked to. A
    file opened by hand for the same registration is linked to the ERP's record. The master's
    billing contact is kept as the file's contact P-ERP-BILLING."""
    master = command.master
    registration = master.registration
    link = await parts.registrations.erp_link(conn, master.erp_id, registration)
    if link is not None and link[1] not in (None, master.erp_id):
        number = domain.normalise(registration.scheme, registration.number)
        raise domain.Refused(
            f"registration {number} belongs to customer {link[0]}, which is ERP customer {link[1]}, not {master.erp_id}"
        )
    customer_id = link[0] if link is not None else domain.customer_id_for(master.erp_id)
    profile = domain.Profile(master.legal_name, master.industry, master.size, master.address, master.erp_id)

    def decide(file: CreditFile) -> list[Any]:
        if file.registered:
            events = domain.update_profile(file, domain.UpdateProfile(profile))
        else:
            opened = domain.RegisterCustomer(customer_id, profile, registration, master.customer_since)
            events = domain.register(file, opened)
        billing = master.billing_contact
        if billing is None or not (billing.email or billing.phone):
            return events
        after = parts.files.fold(events, file)
        details = domain.ContactDetails(billing.name, "accounts payable", billing.email, billing.phone, billing=True)
        if ERP_BILLING_CONTACT in after.contacts and not after.contacts[ERP_BILLING_CONTACT].retired:
            return [*events, *domain.change_contact(after, ERP_BILLING_CONTACT, details)]
        if ERP_BILLING_CONTACT in after.contacts:
            return events  # retired by a person: the ERP does not bring it back
        return [*events, *domain.add_contact(after, ERP_BILLING_CONTACT, details)]

    return await run(parts.files, conn, customer_id, decide, context=command.context)


async def raise_review_due(parts: Parts, conn: Any, customer_id: str, business_date: date) -> Ran[CreditFile]:
    return await run(parts.files, conn, customer_id, lambda f: domain.review_due(f, business_date))


@contextlib.contextmanager
def _unique_keys() -> Iterator[None]:
    """The read model's unique keys stand behind the duplicate checks: a race past them is a duplicate."""
    try:
        yield
    except asyncpg.UniqueViolationError as clash:
        which = {"customers_registration_key": "registration number", "customers_erp_id_key": "ERP id"}.get(
            clash.constraint_name or ""
        )
        if which is None:
            raise
        raise Duplicate(f"this {which} is already registered to another customer") from None
