"""HTTP API of profiles: parse, authorise, run the command, answer from the read model."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
import httpx
import pycountry
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from libs.events.contracts import DomainEvent, ExactDecimal, Money, to_minor_unit
from libs.events.database import READ_MODEL_SCHEMA, Connection
from libs.events.refusals import check_version
from libs.events.store import RecordedEvent
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import etag, if_match_version
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.rendering import jsonable
from services.profiles import bureau, credit_standing, domain, projections
from services.profiles.events import (
    AdverseRecord,
    BureauReportRecorded,
    CompanySize,
    CustomerRegistered,
    FinancialStatementRecorded,
    InsuranceCoverRecorded,
    PaymentExperience,
    Registration,
    ScoreRange,
    StatementItems,
    Status,
    TradeReferenceRecorded,
)
from services.profiles.registration import normalise

router = APIRouter(tags=["credit files"])

Readers = Annotated[
    Principal, Depends(require("viewer", "credit_analyst", "collector", "credit_manager", "finance_director"))
]
Analysts = Annotated[Principal, Depends(require("credit_analyst", "credit_manager"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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

    def applied_to(self, current: domain.Profile) -> domain.Profile:
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        return dataclasses.replace(current, **changes)


class NewCustomer(ProfileIn):
    registration: RegistrationIn
    customer_since: date | None = None


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
    period_end: date
    period_months: int = Field(ge=1, le=12)
    currency: str = Field(pattern="^[A-Z]{3}$")
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


class ReviewDate(Body):
    review_on: date


class MoneyIn(Body):
    amount: ExactDecimal = Field(gt=0)
    currency: str = Field(pattern="^[A-Z]{3}$")

    def money(self) -> Money:
        return Money.of(self.amount, self.currency)


class TradeReferenceIn(Body):
    supplier: str = Field(min_length=1, max_length=200)
    contact: str | None = Field(default=None, max_length=200)
    trading_since: date | None = None
    credit_limit: MoneyIn | None = None
    payment_experience: PaymentExperience
    notes: str | None = Field(default=None, max_length=2000)


class InsuranceCoverIn(Body):
    insurer: str = Field(min_length=1, max_length=200)
    policy_number: str = Field(min_length=1, max_length=64)
    insured_limit: MoneyIn
    expires_on: date


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
    report_date: date
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


# -- running commands ------------------------------------------------------------------------


Decide = Callable[[domain.CreditFile], Sequence[DomainEvent]]


async def run(
    kit: Kit, customer_id: str, decide: Decide, conn: Connection, *, expected_version: int | None = None
) -> list[RecordedEvent]:
    """Load the credit file, decide, append; refusals become problem documents."""
    stream = domain.stream_id(customer_id)
    history = await kit.store.load(stream, conn)
    if expected_version is not None:
        if not history:
            raise Problem(404, "Not found", f"no customer {customer_id}")
        check_version(expected_version, history[-1].version)
    state = domain.CreditFile()
    for recorded in history:
        state = domain.evolve(state, recorded.event)
    try:
        events = list(decide(state))
    except domain.Unknown as unknown:
        raise Problem(404, "Not found", str(unknown)) from None
    except domain.Refused as refused:
        raise Problem(422, "Refused", str(refused), kind="refused") from None
    try:
        return await kit.store.append(
            stream, history[-1].version if history else 0, events, customer_id=customer_id, conn=conn
        )
    except asyncpg.UniqueViolationError as clash:
        raise await _duplicate(conn, clash) from None


async def _duplicate(conn: Connection, clash: asyncpg.UniqueViolationError) -> Problem:
    which = {"customers_registration_key": "registration number", "customers_erp_id_key": "ERP id"}.get(
        clash.constraint_name or ""
    )
    if which is None:
        raise clash
    return Problem(
        409, "Duplicate", f"this {which} is already registered to another customer ({clash.detail})", kind="duplicate"
    )


# -- routes -------------------------------------------------------------------------------------


@router.post("/customers", status_code=201, summary="Open a credit file (send an Idempotency-Key to retry safely)")
async def register_customer(body: NewCustomer, request: Request, kit: KitDep, caller: Analysts) -> Response:
    """A new credit file: the legal name and registration (a CN-USCC code is checked in full: authority,
    kind, division, the embedded organisation code and the check character), and the profile. A
    registration or ERP id already on file is refused with 409."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        customer_id = f"C-{uuid.uuid4().hex[:12].upper()}"
        registration = Registration(
            scheme=body.registration.scheme,
            number=body.registration.number,
            country=body.registration.country,
        )
        existing = await scope.conn.fetchval(
            "SELECT customer_id FROM customers WHERE scheme = $1 AND country = $2 AND registration_number = $3",
            registration.scheme,
            registration.country,
            normalise(registration.scheme, registration.number),
        )
        if existing:
            raise Problem(
                409,
                "Duplicate",
                f"registration number {registration.number} is already registered to customer {existing}",
                kind="duplicate",
                customer_id=existing,
            )
        command = domain.RegisterCustomer(customer_id, body.profile(), registration, body.customer_since)
        await run(kit, customer_id, lambda state: domain.register(state, command), scope.conn)
        file = await credit_file(scope.conn, customer_id, kit.clock.today())
        return scope.keep(
            JSONResponse(
                file, status_code=201, headers={"ETag": etag(file["version"]), "Location": f"/customers/{customer_id}"}
            )
        )


@router.get("/customers", summary="Search credit files; pages follow next_cursor")
async def list_customers(
    kit: KitDep,
    _: Readers,
    q: Annotated[str | None, Query(min_length=2, max_length=100, description="part of the name or number")] = None,
    industry: str | None = None,
    status: Status | None = None,
    review_overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Credit files whose name or registration number contains `q`, filtered by industry, status or an
    overdue review; ordered by name, a page at a time (pass `next_cursor` back as `cursor`)."""
    after = _decode_cursor(cursor) if cursor else None
    today = kit.clock.today()
    rows = await kit.pool.fetch(
        "SELECT customer_id, legal_name, registration_number, country, industry, status, review_on, version"
        " FROM customers WHERE ($1::text IS NULL OR lower(legal_name) LIKE '%' || lower($1) || '%'"
        "   OR registration_number ILIKE '%' || $1 || '%')"
        " AND ($2::text IS NULL OR industry = $2) AND ($3::text IS NULL OR status = $3)"
        " AND ($4::boolean IS NULL OR (review_on IS NOT NULL AND review_on < $5) = $4)"
        " AND ($6::text IS NULL OR (lower(legal_name), customer_id) > ($6, $7))"
        " ORDER BY lower(legal_name), customer_id LIMIT $8",
        _like_safe(q),
        industry,
        status,
        review_overdue,
        today,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    page = rows[:limit]
    return {
        "items": [
            jsonable({**dict(r), "review_overdue": r["review_on"] is not None and r["review_on"] < today}) for r in page
        ],
        "next_cursor": _encode_cursor(page[-1]["legal_name"].lower(), page[-1]["customer_id"])
        if len(rows) > limit
        else None,
    }


def _like_safe(text: str | None) -> str | None:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if text else None


def _encode_cursor(name: str, customer_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, customer_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        name, customer_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(name), str(customer_id)
    except (ValueError, TypeError):
        raise Problem(
            400, "Invalid cursor", "pass back the next_cursor of the previous page unchanged", kind="invalid-cursor"
        ) from None


@router.get("/customers/{customer_id}", summary="The whole credit file in one call, now or as it stood on a date")
async def get_customer(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    as_of: Annotated[date | None, Query(description="the business date the file is for")] = None,
    known_on: Annotated[date | None, Query(description="what had been recorded by the end of this day")] = None,
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
        return JSONResponse(await file_as_of(kit, customer_id, day, known))
    async with kit.pool.acquire() as conn:
        file = await credit_file(conn, customer_id, today)
    return JSONResponse(file, headers={"ETag": etag(file["version"])})


def counts_from(recorded: RecordedEvent) -> date:
    """The business date a fact of the file counts from: a statement from the end of its period, a
    bureau report from its date, anything else from the day it was recorded."""
    event = recorded.event
    if isinstance(event, FinancialStatementRecorded):
        return event.period_end
    if isinstance(event, BureauReportRecorded):
        return event.report_date
    return recorded.occurred_at.date()


async def file_as_of(kit: Kit, customer_id: str, as_of: date, known_on: date) -> dict[str, Any]:
    """Replay what had been recorded by ``known_on`` and counts by ``as_of`` into temporary tables
    shaped like the read model, and read them with the same renderer: the file as it was."""
    history = [
        r
        for r in await kit.store.load(domain.stream_id(customer_id))
        if r.occurred_at.date() <= known_on and counts_from(r) <= as_of
    ]
    if not any(isinstance(r.event, CustomerRegistered) for r in history):
        raise Problem(404, "Not found", f"customer {customer_id} had no credit file on {as_of} as known on {known_on}")
    async with kit.pool.acquire() as conn, conn.transaction():
        for table in AS_OF_TABLES:
            await conn.execute(
                f"CREATE TEMP TABLE {table} (LIKE {READ_MODEL_SCHEMA}.{table} INCLUDING DEFAULTS INCLUDING INDEXES)"
                " ON COMMIT DROP"
            )
        await conn.execute(f"SET LOCAL search_path TO pg_temp, {READ_MODEL_SCHEMA}, public")
        await projections.project(conn, history)
        return await credit_file(conn, customer_id, as_of)


AS_OF_TABLES = (
    "customers",
    "contacts",
    "statements",
    "trade_references",
    "insurance_covers",
    "bureau_reports",
    "credit_standing",
)


@router.patch("/customers/{customer_id}", summary='Change the profile; send If-Match with the ETag, e.g. "1"')
async def update_customer(customer_id: str, body: ProfilePatch, request: Request, kit: KitDep, _: Analysts) -> Response:
    """A JSON merge patch of the profile (RFC 7396; `application/merge-patch+json` or JSON): what is
    left out is kept, `null` clears it. If-Match with the file's ETag is required."""
    expected = if_match_version(request, required=True)
    return await _change(
        kit,
        customer_id,
        lambda state: domain.update_profile(state, domain.UpdateProfile(body.applied_to(state.profile))),
        expected,
    )


@router.post("/customers/{customer_id}/contacts", status_code=201, summary="Add a contact")
async def add_contact(customer_id: str, body: ContactIn, request: Request, kit: KitDep, caller: Analysts) -> Response:
    """A person at the customer; a billing contact (whom collections writes to) needs an email address
    and a phone number."""
    contact_id = f"P-{uuid.uuid4().hex[:10].upper()}"
    return await _record(
        request,
        kit,
        caller,
        customer_id,
        lambda state: domain.add_contact(state, contact_id, body.details()),
        "contacts",
        lambda c: c["contact_id"] == contact_id,
    )


@router.put("/customers/{customer_id}/contacts/{contact_id}", summary="Change a contact")
async def change_contact(
    customer_id: str, contact_id: str, body: ContactIn, request: Request, kit: KitDep, _: Analysts
) -> Response:
    """The whole contact as it is now; If-Match with the file's ETag guards against a lost update."""
    expected = if_match_version(request)
    return await _change(
        kit, customer_id, lambda state: domain.change_contact(state, contact_id, body.details()), expected
    )


@router.post("/customers/{customer_id}/contacts/{contact_id}/retirement", summary="Retire a contact, with a reason")
async def retire_contact(
    customer_id: str, contact_id: str, body: Retirement, request: Request, kit: KitDep, _: Analysts
) -> Response:
    """The contact is no longer to be used; it stays in the file's history."""
    expected = if_match_version(request)
    return await _change(
        kit, customer_id, lambda state: domain.retire_contact(state, contact_id, body.reason), expected
    )


@router.post("/customers/{customer_id}/status", summary="Put on hold, reactivate or close, with a reason")
async def change_status(customer_id: str, body: StatusChange, request: Request, kit: KitDep, _: Managers) -> Response:
    """Active, on hold or closed, with the reason (credit managers). A file on hold or closed holds every
    credit check in scoring until it is active again."""
    expected = if_match_version(request)
    return await _change(
        kit, customer_id, lambda state: domain.change_status(state, body.status, body.reason), expected
    )


@router.post(
    "/customers/{customer_id}/statements",
    status_code=201,
    summary="Record a financial statement; refused if the balance sheet does not balance",
)
async def record_statement(
    customer_id: str, body: StatementIn, request: Request, kit: KitDep, caller: Analysts
) -> Response:
    """A balance sheet and income statement for a period. Assets, liabilities and revenue cannot be
    negative, parts cannot exceed their whole, and assets must equal liabilities plus equity within
    0.5 % of total assets (or one unit): else it is refused naming the difference. The answer carries
    the current ratio, debt ratio, working capital and Altman Z″ with its zone."""
    command = domain.RecordStatement(
        body.period_end, body.period_months, body.currency, body.items, body.audited, kit.clock.today()
    )
    return await _record(
        request,
        kit,
        caller,
        customer_id,
        lambda state: domain.record_statement(state, command),
        "statements",
        lambda e: e["period_end"] == body.period_end.isoformat() and e["period_months"] == body.period_months,
    )


@router.put("/customers/{customer_id}/review-date", summary="When the credit file is next to be reviewed")
async def set_review_date(customer_id: str, body: ReviewDate, request: Request, kit: KitDep, _: Analysts) -> Response:
    """The date the file is next to be reviewed; once it has passed, a daily sweep raises CreditReviewDue."""
    expected = if_match_version(request)
    today = kit.clock.today()
    return await _change(kit, customer_id, lambda state: domain.set_review_date(state, body.review_on, today), expected)


@router.post("/customers/{customer_id}/trade-references", status_code=201, summary="Record a trade reference")
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
    return await _record(
        request,
        kit,
        caller,
        customer_id,
        lambda state: domain.record_trade_reference(state, reference),
        "trade_references",
        lambda e: e["reference_id"] == reference.reference_id,
    )


@router.post(
    "/customers/{customer_id}/insurance-covers",
    status_code=201,
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
    today = kit.clock.today()
    return await _record(
        request,
        kit,
        caller,
        customer_id,
        lambda state: domain.record_insurance_cover(state, cover, today),
        "insurance_covers",
        lambda e: (e["insurer"], e["policy_number"]) == (cover.insurer, cover.policy_number),
    )


@router.post("/customers/{customer_id}/bureau-reports", status_code=201, summary="Record a credit bureau report")
async def record_bureau_report(
    customer_id: str, body: BureauReportIn, request: Request, kit: KitDep, caller: Analysts
) -> Response:
    """A credit bureau's report, typed in: its score comes with the provider's scale (`score_range`),
    and adverse records such as lawsuits and tax arrears."""
    return await _record_report(request, kit, caller, customer_id, body.provider, body, body.raw)


@router.post(
    "/customers/{customer_id}/bureau-reports/pull",
    status_code=201,
    summary="Pull the customer's report from the configured credit bureau",
)
async def pull_bureau_report(customer_id: str, request: Request, kit: KitDep, caller: Analysts) -> Response:
    """Ask the configured bureau (CREDO_BUREAU_URL) for the customer's report and record it, with the
    payload kept exactly as received."""
    row = await kit.pool.fetchrow(
        "SELECT scheme, registration_number, country FROM customers WHERE customer_id = $1", customer_id
    )
    if row is None:
        raise Problem(404, "Not found", f"no customer {customer_id}")
    registration = Registration(scheme=row["scheme"], number=row["registration_number"], country=row["country"])
    try:
        async with httpx.AsyncClient() as client:
            fetched = await bureau.HttpBureau(bureau.BureauSettings(), client).fetch(registration)
    except bureau.NoReport as missing:
        raise Problem(404, "No bureau report", str(missing), kind="no-bureau-report") from None
    except bureau.BureauUnavailable as down:
        raise Problem(502, "Bureau unavailable", str(down), kind="bureau-unavailable") from None
    return await _record_report(request, kit, caller, customer_id, fetched.provider, fetched.payload, fetched.raw)


async def _record_report(
    request: Request,
    kit: Kit,
    caller: Principal,
    customer_id: str,
    provider: str,
    content: BureauReportIn | bureau.ReportPayload,
    raw: str | None,
) -> Response:
    """A bureau report, typed in or pulled: what it says, and the payload as received."""
    report = BureauReportRecorded(
        customer_id=customer_id,
        report_id=f"B-{uuid.uuid4().hex[:10].upper()}",
        provider=provider,
        report_date=content.report_date,
        score=content.score,
        score_range=content.scale(),
        rating=content.rating,
        adverse_records=tuple(content.adverse_records),
        raw=raw,
    )
    today = kit.clock.today()
    return await _record(
        request,
        kit,
        caller,
        customer_id,
        lambda state: domain.record_bureau_report(state, report, today),
        "bureau_reports",
        lambda e: e["report_id"] == report.report_id,
    )


async def _record(
    request: Request,
    kit: Kit,
    caller: Principal,
    customer_id: str,
    decide: Decide,
    section: str,
    is_new: Callable[[dict[str, Any]], bool],
) -> Response:
    """Record something in the credit file and answer with the entry as the file now shows it."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        await run(kit, customer_id, decide, scope.conn)
        file = await credit_file(scope.conn, customer_id, kit.clock.today())
        entry = next(e for e in file[section] if is_new(e))
        return scope.keep(JSONResponse(entry, status_code=201, headers={"ETag": etag(file["version"])}))


@router.get("/customers/{customer_id}/bureau-reports/{report_id}/raw", summary="A bureau report as received")
async def bureau_report_raw(customer_id: str, report_id: str, kit: KitDep, _: Readers) -> Response:
    """A bureau report's payload exactly as the bureau sent it."""
    raw = await kit.pool.fetchrow(
        "SELECT raw FROM bureau_reports WHERE customer_id = $1 AND report_id = $2", customer_id, report_id
    )
    if raw is None or raw["raw"] is None:
        raise Problem(404, "Not found", f"no payload kept for report {report_id}")
    return Response(raw["raw"], media_type="application/json")


@router.get("/customers/{customer_id}/timeline", summary="Every change to the credit file, oldest first")
async def timeline(customer_id: str, kit: KitDep, _: Readers) -> list[dict[str, Any]]:
    """Each change with when it was recorded, who made it (a person, a machine client such as the
    ERP, or the service whose event caused it), and what it says."""
    history = await kit.store.load(domain.stream_id(customer_id))
    if not history:
        raise Problem(404, "Not found", f"no customer {customer_id}")
    return [
        {
            "version": r.version,
            "type": r.event_type,
            "occurred_at": r.occurred_at.isoformat(),
            "by": r.actor,
            "correlation_id": r.correlation_id,
            "data": r.event.payload(),
        }
        for r in history
    ]


async def _change(kit: Kit, customer_id: str, decide: Decide, expected: int | None) -> Response:
    async with kit.store.transaction() as conn:
        await run(kit, customer_id, decide, conn, expected_version=expected)
        file = await credit_file(conn, customer_id, kit.clock.today())
    return JSONResponse(file, headers={"ETag": etag(file["version"])})


# -- reading ----------------------------------------------------------------------------------------


_CREDIT_FILE = """
SELECT c.*,
       (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.billing DESC, x.name), '[]') FROM contacts x
         WHERE x.customer_id = c.customer_id AND x.retired_at IS NULL) AS contacts,
       (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.period_end DESC, x.period_months DESC), '[]')
          FROM statements x WHERE x.customer_id = c.customer_id) AS statements,
       (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.recorded_at DESC), '[]')
          FROM trade_references x WHERE x.customer_id = c.customer_id) AS trade_references,
       (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.expires_on DESC), '[]')
          FROM insurance_covers x WHERE x.customer_id = c.customer_id) AS insurance_covers,
       (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'raw' ORDER BY x.report_date DESC, x.recorded_at DESC), '[]')
          FROM bureau_reports x WHERE x.customer_id = c.customer_id) AS bureau_reports,
       cs.customer_id AS cs_customer_id, cs.grade AS cs_grade, cs.score AS cs_score, cs.reasons AS cs_reasons,
       cs.scored_at AS cs_scored_at, cs.limit_amount AS cs_limit_amount, cs.standing_limit AS cs_standing_limit,
       cs.limit_currency AS cs_limit_currency, cs.limit_expires_on AS cs_limit_expires_on,
       cs.credit_days AS cs_credit_days, cs.discount_percent AS cs_discount_percent,
       cs.discount_days AS cs_discount_days, cs.holds AS cs_holds
  FROM customers c LEFT JOIN credit_standing cs ON cs.customer_id = c.customer_id
 WHERE c.customer_id = $1
"""


async def credit_file(conn: Connection, customer_id: str, today: date) -> dict[str, Any]:
    """The whole credit file from the read model in one query, as the API shows it."""
    row = await conn.fetchrow(_CREDIT_FILE, customer_id)
    if row is None:
        raise Problem(404, "Not found", f"no customer {customer_id}")

    def rows(column: str) -> list[dict[str, Any]]:
        loaded: list[dict[str, Any]] = json.loads(row[column], parse_float=Decimal)  # exact, never float
        return loaded

    file: dict[str, Any] = jsonable(
        {
            "customer_id": row["customer_id"],
            "legal_name": row["legal_name"],
            "registration": {"scheme": row["scheme"], "number": row["registration_number"], "country": row["country"]},
            "industry": row["industry"],
            "size": row["size"],
            "address": row["address"],
            "customer_since": row["customer_since"],
            "erp_id": row["erp_id"],
            "status": row["status"],
            "status_reason": row["status_reason"],
            "contacts": [_pick(c, "contact_id", "name", "role", "email", "phone", "billing") for c in rows("contacts")],
            "statements": [
                {
                    **_pick(s, "period_end", "period_months", "currency", "audited", "items", "recorded_at"),
                    "ratios": _pick(s, "current_ratio", "debt_ratio", "working_capital", "altman_z", "altman_zone"),
                }
                for s in rows("statements")
            ],
            "trade_references": [
                {
                    **_pick(
                        r,
                        "reference_id",
                        "supplier",
                        "contact",
                        "trading_since",
                        "payment_experience",
                        "notes",
                        "recorded_at",
                    ),
                    "credit_limit": _money(r, "credit_limit"),
                }
                for r in rows("trade_references")
            ],
            "insurance_covers": [
                {
                    **_pick(c, "insurer", "policy_number", "expires_on"),
                    "insured_limit": _money(c, "insured_limit"),
                    "in_force": date.fromisoformat(c["expires_on"]) >= today,
                }
                for c in rows("insurance_covers")
            ],
            "bureau_reports": [
                _pick(
                    b,
                    "report_id",
                    "provider",
                    "report_date",
                    "score",
                    "score_range",
                    "rating",
                    "recorded_at",
                    "adverse_records",
                )
                for b in rows("bureau_reports")
            ],
            "review_on": row["review_on"],
            "review_overdue": row["review_on"] is not None and row["review_on"] < today,
            # Decided by scoring; an as-of file leaves it empty, as its history is scoring's.
            "credit": credit_standing.render(row),
            "version": row["version"],
            "registered_at": row["registered_at"],
            "updated_at": row["updated_at"],
        }
    )
    return file


def _pick(values: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: values[k] for k in keys}


def _money(values: dict[str, Any], amount: str) -> dict[str, Any] | None:
    if values[amount] is None:
        return None
    return {"amount": to_minor_unit(Decimal(values[amount]), values["currency"]), "currency": values["currency"]}
