"""HTTP API of profiles: parse, authorise, call a handler or a query, answer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import pycountry
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from contracts.profiles import (
    AdverseRecord,
    BureauReportRecorded,
    CompanySize,
    InsuranceCoverCancelled,
    InsuranceCoverRecorded,
    PaymentExperience,
    Registration,
    ScoreRange,
    StatementItems,
    Status,
    TradeReferenceRecorded,
)
from libs.events.contracts import AcceptedCurrency, BoundedDecimal, BusinessDate, CalendarDate, Money, accepted_amount
from libs.events.database import Connection
from libs.service import hot
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import etag, if_match_version
from libs.service.hot import HotRoute
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.views import Body, answer
from services.profiles import adapters, domain, handlers, queries

router = APIRouter(tags=["credit files"])

READERS = ("viewer", "credit_analyst", "collector", "credit_manager", "finance_director")
Readers = Annotated[Principal, Depends(require(*READERS))]
Analysts = Annotated[Principal, Depends(require("credit_analyst", "credit_manager"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]


class RegistrationIn(Body):
    scheme: Literal["CN-USCC", "OTHER"] = Field(description="CN-USCC: 统一社会信用代码; OTHER: any other, by country")
    number: str = Field(min_length=1, max_length=64)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if pycountry.countries.get(alpha_2=value.upper()) is None:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value.upper()


class ProfileIn(Body):
    legal_name: str = Field(min_length=1, max_length=200)
    industry: str | None = Field(default=None, max_length=100)
    size: CompanySize | None = None
    address: str | None = Field(default=None, max_length=500)
    erp_id: str | None = Field(default=None, min_length=1, max_length=64)

    def profile(self) -> domain.Profile:
        return domain.Profile(self.legal_name, self.industry, self.size, self.address, self.erp_id)


class ProfilePatch(Body):
    """A JSON merge patch (RFC 7396) of the profile: a field left out is kept, ``null`` clears it."""

    legal_name: str | None = Field(default=None, min_length=1, max_length=200)
    industry: str | None = Field(default=None, max_length=100)
    size: CompanySize | None = None
    address: str | None = Field(default=None, max_length=500)
    erp_id: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("legal_name")
    @classmethod
    def _name_stays(cls, name: str | None) -> str | None:
        if name is None:  # given as null: left out, the name is kept
            raise ValueError("legal_name cannot be cleared: a credit file always has a legal name")
        return name


class NewCustomer(ProfileIn):
    registration: RegistrationIn
    customer_since: CalendarDate | None = None


class ContactIn(Body):
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{5,32}$")
    billing: bool = False

    def details(self) -> domain.ContactDetails:
        return domain.ContactDetails(self.name, self.role, self.email, self.phone, self.billing)


class Retirement(Body):
    reason: str = Field(min_length=1, max_length=500)


class StatusChange(Body):
    status: Status
    reason: str = Field(min_length=1, max_length=500)


class StatementIn(Body):
    period_end: CalendarDate
    period_months: int = Field(ge=1, le=12)
    currency: AcceptedCurrency
    items: StatementItems
    audited: bool = False

    @field_validator("items", mode="before")
    @classmethod
    def _decimal_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            floats = sorted(k for k, v in value.items() if isinstance(v, float))
            if floats:
                raise ValueError(f"amounts are decimal strings, not floating-point numbers: {', '.join(floats)}")
        return value

    @model_validator(mode="after")
    def _amounts(self) -> StatementIn:
        for name, amount in self.items:
            accepted_amount(amount, self.currency, f"items.{name}")
        return self


class ReviewDate(Body):
    review_on: BusinessDate


class MoneyIn(Body):
    amount: BoundedDecimal = Field(gt=0)
    currency: AcceptedCurrency

    @model_validator(mode="after")
    def _in_minor_units(self) -> MoneyIn:
        accepted_amount(self.amount, self.currency)
        return self

    def money(self) -> Money:
        return Money.of(self.amount, self.currency)


class TradeReferenceIn(Body):
    supplier: str = Field(min_length=1, max_length=200)
    contact: str | None = Field(default=None, max_length=200)
    trading_since: CalendarDate | None = None
    credit_limit: MoneyIn | None = None
    payment_experience: PaymentExperience
    notes: str | None = Field(default=None, max_length=2000)


class InsuranceCoverIn(Body):
    insurer: str = Field(min_length=1, max_length=200)
    policy_number: str = Field(min_length=1, max_length=64)
    insured_limit: MoneyIn
    expires_on: BusinessDate


class CoverCancellationIn(Body):
    insurer: str = Field(min_length=1, max_length=200)
    cancelled_on: BusinessDate = Field(description="the day it stops insuring: today at the latest")
    reason: str = Field(min_length=1, max_length=2000)


class ScoreRangeIn(Body):
    min: int = Field(ge=-1_000_000, le=1_000_000, description="the worst score of the provider's scale")
    max: int = Field(ge=-1_000_000, le=1_000_000, description="the best score of the provider's scale")

    @model_validator(mode="after")
    def _ordered(self) -> ScoreRangeIn:
        if self.max <= self.min:
            raise ValueError("a score range runs from a lower min to a higher max")
        return self


class BureauReportIn(Body):
    provider: str = Field(min_length=1, max_length=100)
    report_date: BusinessDate
    score: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    score_range: ScoreRangeIn | None = Field(
        default=None,
        validate_default=True,
        description="the provider's scale, e.g. 300 to 850; required with a score",
    )
    rating: str | None = Field(default=None, max_length=20)
    adverse_records: list[AdverseRecord] = Field(default=[], max_length=1000)
    raw: str | None = Field(default=None, max_length=1_000_000, description="the report as received")

    @field_validator("score_range")
    @classmethod
    def _score_on_its_scale(cls, scale: ScoreRangeIn | None, info: ValidationInfo) -> ScoreRangeIn | None:
        score = info.data.get("score")
        if score is not None:
            if scale is None:
                raise ValueError("a score comes with its scale: give the provider's min and max")
            if not scale.min <= score <= scale.max:
                raise ValueError(f"the score {score} is outside its range {scale.min} to {scale.max}")
        return scale

    def scale(self) -> ScoreRange | None:
        return ScoreRange(min=self.score_range.min, max=self.score_range.max) if self.score_range else None


# -- routes -------------------------------------------------------------------------------------


def _parts(kit: Kit) -> handlers.Parts:
    parts: handlers.Parts = kit.parts
    return parts


@router.post(
    "/customers",
    status_code=201,
    response_model=queries.CreditFileView,
    summary="Open a credit file (send an Idempotency-Key to retry safely)",
)
async def register_customer(body: NewCustomer, request: Request, kit: KitDep, caller: Analysts) -> Response:
    """A new credit file: the legal name and registration (a CN-USCC code is checked in full: authority,
    kind, division, the embedded organisation code and the check character), and the profile. A
    registration or ERP id already on file is refused with 409."""
    customer_id = f"C-{uuid.uuid4().hex[:12].upper()}"
    registration = Registration(
        scheme=body.registration.scheme, number=body.registration.number, country=body.registration.country
    )
    command = domain.RegisterCustomer(customer_id, body.profile(), registration, body.customer_since)
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        await handlers.register_customer(_parts(kit), scope.conn, command)
        file = await queries.credit_file(scope.conn, customer_id, kit.clock.today())
        headers = {"ETag": etag(file.version), "Location": f"/customers/{customer_id}"}
        return scope.keep(answer(file, 201, headers))


@router.get(
    "/customers",
    response_model=queries.CustomerPage,
    responses={400: {"description": "the cursor is not one this service gave"}},
    summary="Search credit files; pages follow next_cursor",
)
async def list_customers(
    kit: KitDep,
    _: Readers,
    q: Annotated[str | None, Query(min_length=2, max_length=100, description="part of the name or number")] = None,
    industry: str | None = None,
    status: Status | None = None,
    review_overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """Credit files whose name or registration number contains `q`, filtered by industry, status or an
    overdue review; ordered by name, a page at a time (pass `next_cursor` back as `cursor`)."""
    try:
        async with kit.pool.acquire() as conn:
            page = await queries.search(
                conn,
                kit.clock.today(),
                text=q,
                industry=industry,
                status=status,
                review_overdue=review_overdue,
                limit=limit,
                cursor=cursor,
            )
    except queries.InvalidCursor as invalid:
        raise Problem(400, "Invalid cursor", str(invalid), kind="invalid-cursor") from None
    return answer(page)


@router.get(
    "/customers/{customer_id}",
    response_model=queries.CreditFileView,
    summary="The whole credit file in one call, now or as it stood on a date",
)
async def get_customer(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    as_of: Annotated[BusinessDate | None, Query(description="the business date the file is for")] = None,
    known_on: Annotated[BusinessDate | None, Query(description="what had been recorded by the end of this day")] = None,
) -> Response:
    """The credit file: identity, contacts, statements with their ratios, bureau reports, trade
    references, insurance cover, review date, and the credit standing scoring decided. With `as_of`
    and `known_on`, the file as it stood on a business date as recorded by a day."""
    today = kit.clock.today()
    if as_of is not None or known_on is not None:
        day, known = as_of or today, known_on or today
        if day > today or known > today:
            raise Problem(
                422, "Invalid date", f"as_of and known_on are no later than today ({today})", kind="invalid-date"
            )
        async with kit.pool.acquire() as conn:
            return answer(await queries.credit_file_as_of(kit.store, conn, customer_id, day, known))
    return await _file_now(kit, customer_id)


async def _file_now(kit: Kit, customer_id: str) -> Response:
    async with kit.pool.acquire() as conn:
        file = await queries.credit_file(conn, customer_id, kit.clock.today())
    return answer(file, headers={"ETag": etag(file.version)})


async def hot_credit_file(request: Request) -> Response:
    """GET /customers/{id} without a query, ahead of FastAPI's routing and dependencies: every
    front-end and the scoring of every customer read it."""
    hot.caller(request, *READERS)
    return await _file_now(request.app.state.kit, request.path_params["customer_id"])


HOT_ROUTES = [HotRoute("GET", "/customers/{customer_id}", hot_credit_file, plain=True)]


@router.patch(
    "/customers/{customer_id}",
    response_model=queries.CreditFileView,
    responses={428: {"description": "If-Match is required: send the ETag you read"}},
    summary='Change the profile; send If-Match with the ETag, e.g. "1"',
)
async def update_customer(customer_id: str, body: ProfilePatch, request: Request, kit: KitDep, _: Analysts) -> Response:
    """A JSON merge patch of the profile (RFC 7396; `application/merge-patch+json` or JSON): what is
    left out is kept, `null` clears it. If-Match with the file's ETag is required."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    command = handlers.ChangeProfile(customer_id, changes, if_match_version(request, required=True))
    return await _change(kit, customer_id, lambda conn: handlers.change_profile(_parts(kit), conn, command))


@router.post(
    "/customers/{customer_id}/contacts", status_code=201, response_model=queries.ContactView, summary="Add a contact"
)
async def add_contact(customer_id: str, body: ContactIn, request: Request, kit: KitDep, caller: Analysts) -> Response:
    """A person at the customer; a billing contact (whom collections writes to) needs an email address
    and a phone number."""
    command = handlers.AddContact(customer_id, f"P-{uuid.uuid4().hex[:10].upper()}", body.details())
    return await _record(
        request,
        kit,
        caller,
        lambda conn: handlers.add_contact(_parts(kit), conn, command),
        customer_id,
        lambda file: next(c for c in file.contacts if c.contact_id == command.contact_id),
    )


@router.put(
    "/customers/{customer_id}/contacts/{contact_id}",
    response_model=queries.CreditFileView,
    summary="Change a contact",
)
async def change_contact(
    customer_id: str, contact_id: str, body: ContactIn, request: Request, kit: KitDep, _: Analysts
) -> Response:
    """The whole contact as it is now; If-Match with the file's ETag guards against a lost update."""
    command = handlers.ChangeContact(customer_id, contact_id, body.details(), if_match_version(request))
    return await _change(kit, customer_id, lambda conn: handlers.change_contact(_parts(kit), conn, command))


@router.post(
    "/customers/{customer_id}/contacts/{contact_id}/retirement",
    response_model=queries.CreditFileView,
    summary="Retire a contact, with a reason",
)
async def retire_contact(
    customer_id: str, contact_id: str, body: Retirement, request: Request, kit: KitDep, _: Analysts
) -> Response:
    """The contact is no longer to be used; it stays in the file's history."""
    command = handlers.RetireContact(customer_id, contact_id, body.reason, if_match_version(request))
    return await _change(kit, customer_id, lambda conn: handlers.retire_contact(_parts(kit), conn, command))


@router.post(
    "/customers/{customer_id}/status",
    response_model=queries.CreditFileView,
    summary="Put on hold, reactivate or close, with a reason",
)
async def change_status(customer_id: str, body: StatusChange, request: Request, kit: KitDep, _: Managers) -> Response:
    """Active, on hold or closed, with the reason (credit managers). A file on hold or closed holds every
    credit check in scoring until it is active again."""
    command = handlers.ChangeStatus(customer_id, body.status, body.reason, if_match_version(request))
    return await _change(kit, customer_id, lambda conn: handlers.change_status(_parts(kit), conn, command))


@router.post(
    "/customers/{customer_id}/statements",
    status_code=201,
    response_model=queries.StatementView,
    summary="Record a financial statement; refused if the balance sheet does not balance",
)
async def record_statement(
    customer_id: str, body: StatementIn, request: Request, kit: KitDep, caller: Analysts
) -> Response:
    """A balance sheet and income statement for a period. Assets, liabilities and revenue cannot be
    negative, parts cannot exceed their whole, and assets must equal liabilities plus equity within
    0.5 % of total assets (or one unit): else it is refused naming the difference. The answer carries
    the current ratio, debt ratio, working capital and Altman Z″ with its zone."""
    command = handlers.RecordStatement(
        customer_id, body.period_end, body.period_months, body.currency, body.items, body.audited
    )
    return await _record(
        request,
        kit,
        caller,
        lambda conn: handlers.record_statement(_parts(kit), conn, command),
        customer_id,
        lambda file: next(
            s for s in file.statements if (s.period_end, s.period_months) == (body.period_end, body.period_months)
        ),
    )


@router.put(
    "/customers/{customer_id}/review-date",
    response_model=queries.CreditFileView,
    summary="When the credit file is next to be reviewed",
)
async def set_review_date(customer_id: str, body: ReviewDate, request: Request, kit: KitDep, _: Analysts) -> Response:
    """The date the file is next to be reviewed; once it has passed, a daily sweep raises CreditReviewDue."""
    command = handlers.SetReviewDate(customer_id, body.review_on, if_match_version(request))
    return await _change(kit, customer_id, lambda conn: handlers.set_review_date(_parts(kit), conn, command))


@router.post(
    "/customers/{customer_id}/trade-references",
    status_code=201,
    response_model=queries.TradeReferenceView,
    summary="Record a trade reference",
)
async def record_trade_reference(
    customer_id: str, body: TradeReferenceIn, request: Request, kit: KitDep, caller: Analysts
) -> Response:
    """What another supplier says of how the customer pays them."""
    reference = TradeReferenceRecorded(
        customer_id=customer_id,
        reference_id=f"R-{uuid.uuid4().hex[:10].upper()}",
        supplier=body.supplier,
        contact=body.contact,
        trading_since=body.trading_since,
        credit_limit=body.credit_limit.money() if body.credit_limit else None,
        payment_experience=body.payment_experience,
        notes=body.notes,
    )
    command = handlers.RecordTradeReference(reference)
    return await _record(
        request,
        kit,
        caller,
        lambda conn: handlers.record_trade_reference(_parts(kit), conn, command),
        customer_id,
        lambda file: next(r for r in file.trade_references if r.reference_id == reference.reference_id),
    )


@router.post(
    "/customers/{customer_id}/insurance-covers",
    status_code=201,
    response_model=queries.InsuranceCoverView,
    summary="Record credit-insurance cover (a renewal of the same policy replaces it)",
)
async def record_insurance_cover(
    customer_id: str, body: InsuranceCoverIn, request: Request, kit: KitDep, caller: Analysts
) -> Response:
    """Credit-insurance cover: the insurer's limit on what the customer owes, until it expires; a renewal
    of the same policy replaces it."""
    cover = InsuranceCoverRecorded(
        customer_id=customer_id,
        insurer=body.insurer,
        policy_number=body.policy_number,
        insured_limit=body.insured_limit.money(),
        expires_on=body.expires_on,
    )
    command = handlers.RecordInsuranceCover(cover)
    return await _record(
        request,
        kit,
        caller,
        lambda conn: handlers.record_insurance_cover(_parts(kit), conn, command),
        customer_id,
        lambda file: next(
            c for c in file.insurance_covers if (c.insurer, c.policy_number) == (cover.insurer, cover.policy_number)
        ),
    )


@router.post(
    "/customers/{customer_id}/insurance-covers/{policy_number}/cancellation",
    status_code=201,
    response_model=queries.InsuranceCoverView,
    responses={404: {"description": "no such customer, or no cover of that insurer under that policy"}},
    summary="Record that the insurer cancelled cover",
)
async def cancel_insurance_cover(
    customer_id: str, policy_number: str, body: CoverCancellationIn, request: Request, kit: KitDep, caller: Analysts
) -> Response:
    """From ``cancelled_on`` the cover insures nothing (``in_force`` false); a renewal recorded later
    replaces it."""
    cancellation = InsuranceCoverCancelled(
        customer_id=customer_id,
        insurer=body.insurer,
        policy_number=policy_number,
        cancelled_on=body.cancelled_on,
        reason=body.reason,
    )
    command = handlers.CancelInsuranceCover(cancellation)
    return await _record(
        request,
        kit,
        caller,
        lambda conn: handlers.cancel_insurance_cover(_parts(kit), conn, command),
        customer_id,
        lambda file: next(
            c for c in file.insurance_covers if (c.insurer, c.policy_number) == (body.insurer, policy_number)
        ),
    )


@router.post(
    "/customers/{customer_id}/bureau-reports",
    status_code=201,
    response_model=queries.BureauReportView,
    summary="Record a credit bureau report",
)
async def record_bureau_report(
    customer_id: str, body: BureauReportIn, request: Request, kit: KitDep, caller: Analysts
) -> Response:
    """A credit bureau's report, typed in: its score comes with the provider's scale (`score_range`),
    and adverse records such as lawsuits and tax arrears."""
    report = BureauReportRecorded(
        customer_id=customer_id,
        report_id=f"B-{uuid.uuid4().hex[:10].upper()}",
        provider=body.provider,
        report_date=body.report_date,
        score=body.score,
        score_range=body.scale(),
        rating=body.rating,
        adverse_records=tuple(body.adverse_records),
        raw=body.raw,
    )
    command = handlers.RecordBureauReport(report)
    return await _record(
        request,
        kit,
        caller,
        lambda conn: handlers.record_bureau_report(_parts(kit), conn, command),
        customer_id,
        _report_of(report.report_id),
    )


@router.post(
    "/customers/{customer_id}/bureau-reports/pull",
    status_code=201,
    response_model=queries.BureauReportView,
    summary="Pull the customer's report from the configured credit bureau",
)
async def pull_bureau_report(customer_id: str, request: Request, kit: KitDep, caller: Analysts) -> Response:
    """Ask the configured bureau (CREDO_BUREAU_URL) for the customer's report and record it, with the
    payload kept exactly as received."""
    command = handlers.PullBureauReport(customer_id, f"B-{uuid.uuid4().hex[:10].upper()}")

    async def pull(conn: Connection) -> Any:
        try:
            return await handlers.pull_bureau_report(_parts(kit), conn, command)
        except adapters.NoReport as missing:
            raise Problem(404, "No bureau report", str(missing), kind="no-bureau-report") from None
        except adapters.BureauUnavailable as down:
            raise Problem(502, "Bureau unavailable", str(down), kind="bureau-unavailable") from None

    return await _record(request, kit, caller, pull, customer_id, _report_of(command.report_id))


def _report_of(report_id: str) -> Callable[[queries.CreditFileView], queries.BureauReportView]:
    return lambda file: next(r for r in file.bureau_reports if r.report_id == report_id)


@router.get(
    "/customers/{customer_id}/bureau-reports/{report_id}/raw",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "the payload exactly as the bureau sent it, fields unknown to Credo included",
        }
    },
    summary="A bureau report as received",
)
async def bureau_report_raw(customer_id: str, report_id: str, kit: KitDep, _: Readers) -> Response:
    """A bureau report's payload exactly as the bureau sent it."""
    async with kit.pool.acquire() as conn:
        raw = await queries.bureau_report_raw(conn, customer_id, report_id)
    return Response(raw, media_type="application/json")


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=list[queries.TimelineEntry],
    summary="Every change to the credit file, oldest first",
)
async def timeline(customer_id: str, kit: KitDep, _: Readers) -> Response:
    """Each change with when it was recorded, who made it (a person, a machine client such as the
    ERP, or the service whose event caused it), and what it says."""
    return answer(await queries.timeline(kit.store, customer_id))


# -- answering ---------------------------------------------------------------------------------------

Command = Callable[[Connection], Awaitable[Any]]


async def _change(kit: Kit, customer_id: str, command: Command) -> Response:
    """Run a change and answer with the whole file as it now stands."""
    async with kit.store.transaction() as conn:
        await command(conn)
        file = await queries.credit_file(conn, customer_id, kit.clock.today())
    return answer(file, headers={"ETag": etag(file.version)})


async def _record(
    request: Request,
    kit: Kit,
    caller: Principal,
    command: Command,
    customer_id: str,
    entry_of: Callable[[queries.CreditFileView], BaseModel],
) -> Response:
    """Record something in the credit file and answer with the entry as the file now shows it."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        await command(scope.conn)
        file = await queries.credit_file(scope.conn, customer_id, kit.clock.today())
        return scope.keep(answer(entry_of(file), 201, {"ETag": etag(file.version)}))
