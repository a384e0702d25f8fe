"""What profiles answers: read-side SQL over its read model, returning typed views."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from contracts.profiles import AdverseKind, CompanySize, CustomerRegistered, PaymentExperience, Registration, Status
from libs.events.database import READ_MODEL_SCHEMA, Connection
from libs.events.refusals import NotFound, Refused
from libs.events.store import Store
from libs.service.views import Amount, MoneyView, View
from services.profiles import domain, projections

# -- views ------------------------------------------------------------------------------------------


class RegistrationView(View):
    scheme: str
    number: str
    country: str


class ContactView(View):
    contact_id: str
    name: str
    role: str | None
    email: str | None
    phone: str | None
    billing: bool


class Ratios(View):
    current_ratio: Amount | None
    debt_ratio: Amount | None
    working_capital: Amount
    altman_z: Amount | None
    altman_zone: str | None


class StatementView(View):
    period_end: date
    period_months: int
    currency: str
    audited: bool
    items: dict[str, Amount]
    recorded_at: datetime
    ratios: Ratios


class TradeReferenceView(View):
    reference_id: str
    supplier: str
    contact: str | None
    trading_since: date | None
    payment_experience: PaymentExperience
    notes: str | None
    recorded_at: datetime
    credit_limit: MoneyView | None


class InsuranceCoverView(View):
    insurer: str
    policy_number: str
    expires_on: date
    insured_limit: MoneyView
    in_force: bool = Field(description="not expired, and not cancelled on or before the date")
    cancelled_on: date | None = None
    cancellation_reason: str | None = None


class ScoreRangeView(View):
    min: int
    max: int


class AdverseRecordView(View):
    kind: AdverseKind
    date: date
    amount: MoneyView | None = None
    description: str | None = None


class BureauReportView(View):
    report_id: str
    provider: str
    report_date: date
    score: int | None
    score_range: ScoreRangeView | None
    rating: str | None
    recorded_at: datetime
    adverse_records: list[AdverseRecordView]


class LimitView(View):
    in_force: MoneyView
    standing: MoneyView
    temporary_until: date | None


class TermsView(View):
    credit_days: int
    discount_percent: Amount | None
    discount_days: int | None


class HoldView(View):
    hold_id: str
    reason: str
    by: str
    placed_at: datetime


class CreditStanding(View):
    """What scoring decided, as profiles has heard it: empty in a file as of a past date."""

    grade: str | None = None
    score: Amount | None = None
    reasons: list[str] = []
    scored_at: datetime | None = None
    limit: LimitView | None = None
    terms: TermsView | None = None
    holds: list[HoldView] = []


class CreditFileView(View):
    customer_id: str
    legal_name: str
    registration: RegistrationView
    industry: str | None
    size: CompanySize | None
    address: str | None
    customer_since: date | None
    erp_id: str | None
    status: Status
    status_reason: str | None
    contacts: list[ContactView]
    statements: list[StatementView]
    trade_references: list[TradeReferenceView]
    insurance_covers: list[InsuranceCoverView]
    bureau_reports: list[BureauReportView]
    review_on: date | None
    review_overdue: bool
    credit: CreditStanding
    version: int
    registered_at: datetime
    updated_at: datetime | None


class CustomerSummary(View):
    customer_id: str
    legal_name: str
    registration_number: str
    country: str
    industry: str | None
    status: Status
    review_on: date | None
    review_overdue: bool
    version: int


class CustomerPage(View):
    items: list[CustomerSummary]
    next_cursor: str | None


class TimelineEntry(View):
    version: int
    type: str
    occurred_at: datetime
    by: str | None
    correlation_id: str | None
    data: dict[str, Any]


# -- the credit file --------------------------------------------------------------------------------

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
       to_jsonb(cs) AS standing
  FROM customers c LEFT JOIN credit_standing cs ON cs.customer_id = c.customer_id
 WHERE c.customer_id = $1
"""


async def credit_file(conn: Connection, customer_id: str, today: date) -> CreditFileView:
    """The whole credit file from the read model in one query."""
    row = await conn.fetchrow(_CREDIT_FILE, customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id}")

    def rows(column: str) -> list[dict[str, Any]]:
        loaded: list[dict[str, Any]] = json.loads(row[column], parse_float=Decimal)  # exact, never float
        return loaded

    return CreditFileView(
        customer_id=row["customer_id"],
        legal_name=row["legal_name"],
        registration=RegistrationView(scheme=row["scheme"], number=row["registration_number"], country=row["country"]),
        industry=row["industry"],
        size=row["size"],
        address=row["address"],
        customer_since=row["customer_since"],
        erp_id=row["erp_id"],
        status=row["status"],
        status_reason=row["status_reason"],
        contacts=[ContactView(**_contact(c)) for c in rows("contacts")],
        statements=[_statement(s) for s in rows("statements")],
        trade_references=[_trade_reference(r) for r in rows("trade_references")],
        insurance_covers=[_cover(c, today) for c in rows("insurance_covers")],
        bureau_reports=[_bureau_report(b) for b in rows("bureau_reports")],
        review_on=row["review_on"],
        review_overdue=row["review_on"] is not None and row["review_on"] < today,
        credit=standing(json.loads(row["standing"], parse_float=Decimal) if row["standing"] else None),
        version=row["version"],
        registered_at=row["registered_at"],
        updated_at=row["updated_at"],
    )


def _contact(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("contact_id", "name", "role", "email", "phone", "billing")}


def _statement(s: dict[str, Any]) -> StatementView:
    ratios = {k: s[k] for k in ("current_ratio", "debt_ratio", "working_capital", "altman_z", "altman_zone")}
    return StatementView(
        period_end=s["period_end"],
        period_months=s["period_months"],
        currency=s["currency"],
        audited=s["audited"],
        items={k: Decimal(v) for k, v in s["items"].items()},
        recorded_at=s["recorded_at"],
        ratios=Ratios(**ratios),
    )


def _trade_reference(r: dict[str, Any]) -> TradeReferenceView:
    return TradeReferenceView(
        reference_id=r["reference_id"],
        supplier=r["supplier"],
        contact=r["contact"],
        trading_since=r["trading_since"],
        payment_experience=r["payment_experience"],
        notes=r["notes"],
        recorded_at=r["recorded_at"],
        credit_limit=MoneyView.maybe(r["credit_limit"], r["currency"]),
    )


def _cover(c: dict[str, Any], today: date) -> InsuranceCoverView:
    expires_on = date.fromisoformat(c["expires_on"])
    cancelled_on = date.fromisoformat(c["cancelled_on"]) if c.get("cancelled_on") else None
    return InsuranceCoverView(
        insurer=c["insurer"],
        policy_number=c["policy_number"],
        expires_on=expires_on,
        insured_limit=MoneyView.of(c["insured_limit"], c["currency"]),
        in_force=expires_on >= today and (cancelled_on is None or cancelled_on > today),
        cancelled_on=cancelled_on,
        cancellation_reason=c.get("cancellation_reason"),
    )


def _bureau_report(b: dict[str, Any]) -> BureauReportView:
    return BureauReportView(
        report_id=b["report_id"],
        provider=b["provider"],
        report_date=b["report_date"],
        score=b["score"],
        score_range=b["score_range"],
        rating=b["rating"],
        recorded_at=b["recorded_at"],
        adverse_records=[
            AdverseRecordView(
                kind=a["kind"],
                date=a["date"],
                amount=MoneyView.of(Decimal(a["amount"]["amount"]), a["amount"]["currency"])
                if a.get("amount")
                else None,
                description=a.get("description"),
            )
            for a in b["adverse_records"]
        ],
    )


def _money(found: dict[str, Any] | None) -> MoneyView | None:
    return None if found is None else MoneyView.of(Decimal(found["amount"]), found["currency"])


def standing(cs: dict[str, Any] | None) -> CreditStanding:
    """The credit file's ``credit`` section from its credit_standing row."""
    if cs is None:
        return CreditStanding()
    currency = cs["limit_currency"]
    limit = None
    if cs["limit_amount"] is not None:
        limit = LimitView(
            in_force=MoneyView.of(cs["limit_amount"], currency),
            standing=MoneyView.of(cs["standing_limit"], currency),
            temporary_until=cs["limit_expires_on"],
        )
    terms = None
    if cs["credit_days"] is not None:
        terms = TermsView(
            credit_days=cs["credit_days"], discount_percent=cs["discount_percent"], discount_days=cs["discount_days"]
        )
    return CreditStanding(
        grade=cs["grade"],
        score=cs["score"],
        reasons=cs["reasons"],
        scored_at=cs["scored_at"],
        limit=limit,
        terms=terms,
        holds=[HoldView(hold_id=k, **v) for k, v in cs["holds"].items()],
    )


AS_OF_TABLES = (
    "customers",
    "contacts",
    "statements",
    "trade_references",
    "insurance_covers",
    "bureau_reports",
    "credit_standing",
)


async def credit_file_as_of(
    store: Store, conn: Connection, customer_id: str, as_of: date, known_on: date
) -> CreditFileView:
    """Replay what had been recorded by ``known_on`` and counts by ``as_of`` into temporary tables
    shaped like the read model, and read them as the file is read: the file as it was. Scoring's
    decisions are its own history, so the ``credit`` section is left empty."""
    history = [
        r
        for r in await store.load(domain.stream_id(customer_id), conn)
        if r.occurred_at.date() <= known_on and domain.counts_from(r.event, r.occurred_at.date()) <= as_of
    ]
    if not any(isinstance(r.event, CustomerRegistered) for r in history):
        raise NotFound(f"customer {customer_id} had no credit file on {as_of} as known on {known_on}")
    async with conn.transaction():
        for table in AS_OF_TABLES:
            await conn.execute(
                f"CREATE TEMP TABLE {table} (LIKE {READ_MODEL_SCHEMA}.{table} INCLUDING DEFAULTS INCLUDING INDEXES)"
                " ON COMMIT DROP"
            )
        await conn.execute(f"SET LOCAL search_path TO pg_temp, {READ_MODEL_SCHEMA}, public")
        await projections.project(conn, history)
        return await credit_file(conn, customer_id, as_of)


# -- searching --------------------------------------------------------------------------------------


async def search(
    conn: Connection,
    today: date,
    *,
    text: str | None,
    industry: str | None,
    status: Status | None,
    review_overdue: bool | None,
    limit: int,
    cursor: str | None,
) -> CustomerPage:
    """Credit files whose name or registration number contains ``text``, by name, a page at a time."""
    after = _decode_cursor(cursor) if cursor else None
    rows = await conn.fetch(
        "SELECT customer_id, legal_name, registration_number, country, industry, status, review_on, version"
        " FROM customers WHERE ($1::text IS NULL OR lower(legal_name) LIKE '%' || lower($1) || '%'"
        "   OR registration_number ILIKE '%' || $1 || '%')"
        " AND ($2::text IS NULL OR industry = $2) AND ($3::text IS NULL OR status = $3)"
        " AND ($4::boolean IS NULL OR (review_on IS NOT NULL AND review_on < $5) = $4)"
        " AND ($6::text IS NULL OR (lower(legal_name), customer_id) > ($6, $7))"
        " ORDER BY lower(legal_name), customer_id LIMIT $8",
        _like_safe(text),
        industry,
        status,
        review_overdue,
        today,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    page = rows[:limit]
    return CustomerPage(
        items=[
            CustomerSummary(**dict(r), review_overdue=r["review_on"] is not None and r["review_on"] < today)
            for r in page
        ],
        next_cursor=_encode_cursor(page[-1]["legal_name"].lower(), page[-1]["customer_id"])
        if len(rows) > limit
        else None,
    )


class InvalidCursor(Refused):
    """A cursor that is not one this service gave."""


def _like_safe(text: str | None) -> str | None:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if text else None


def _encode_cursor(name: str, customer_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, customer_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        name, customer_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(name), str(customer_id)
    except (ValueError, TypeError):
        raise InvalidCursor("pass back the next_cursor of the previous page unchanged") from None


# -- history and payloads ---------------------------------------------------------------------------


async def timeline(store: Store, customer_id: str) -> list[TimelineEntry]:
    history = await store.load(domain.stream_id(customer_id))
    if not history:
        raise NotFound(f"no customer {customer_id}")
    return [
        TimelineEntry(
            version=r.version,
            type=r.event_type,
            occurred_at=r.occurred_at,
            by=r.actor,
            correlation_id=r.correlation_id,
            data=r.event.payload(),
        )
        for r in history
    ]


async def bureau_report_raw(conn: Connection, customer_id: str, report_id: str) -> str:
    raw = await conn.fetchval(
        "SELECT raw FROM bureau_reports WHERE customer_id = $1 AND report_id = $2", customer_id, report_id
    )
    if raw is None:
        raise NotFound(f"no payload kept for report {report_id}")
    return str(raw)


# -- who holds a registration -----------------------------------------------------------------------


class ReadModelRegistrations:
    """``handlers.Registrations`` answered from the read model, in the caller's transaction."""

    async def holder(self, conn: Connection, registration: Registration) -> str | None:
        found: str | None = await conn.fetchval(
            "SELECT customer_id FROM customers WHERE scheme = $1 AND country = $2 AND registration_number = $3",
            registration.scheme,
            registration.country,
            domain.normalise(registration.scheme, registration.number),
        )
        return found

    async def erp_link(
        self, conn: Connection, erp_id: str, registration: Registration
    ) -> tuple[str, str | None] | None:
        row = await conn.fetchrow(
            "SELECT customer_id, erp_id FROM customers WHERE erp_id = $1"
            " OR (scheme = $2 AND country = $3 AND registration_number = $4) ORDER BY erp_id = $1 DESC LIMIT 1",
            erp_id,
            registration.scheme,
            registration.country,
            domain.normalise(registration.scheme, registration.number),
        )
        return None if row is None else (row["customer_id"], row["erp_id"])
