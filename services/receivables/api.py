"""HTTP API of receivables: the ERP's documents, the credit team's commands, and the ledger's reports."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.events import dead_letters
from libs.events.contracts import CurrencyCode, ExactDecimal, Money, in_minor_units
from libs.events.envelope import Envelope, to_kafka
from libs.events.refusals import Refused
from libs.events.store import EventContext
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import etag, if_match_version
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.rendering import jsonable
from services.receivables import domain, erp, handlers, queries, reports, statements
from services.receivables.accounts import accounts_of
from services.receivables.events import DifferingLine, DisputeOutcome, Issuer
from services.receivables.reactions import ERP_CONSUMER
from services.receivables.settings import settings

router = APIRouter(tags=["receivables"])

PEOPLE = ("viewer", "credit_analyst", "collector", "credit_manager", "finance_director")
Readers = Annotated[Principal, Depends(require(*PEOPLE))]
# What the ERP reads besides its own credit checks: balances and invoices.
ReadersAndErp = Annotated[Principal, Depends(require(*PEOPLE, "erp"))]
CreditTeam = Annotated[Principal, Depends(require("credit_analyst", "collector", "credit_manager", "finance_director"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]
Finance = Annotated[Principal, Depends(require("finance_director"))]
Erp = Annotated[Principal, Depends(require("erp"))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _today(kit: Kit) -> date:
    return kit.clock.today()


def _dates(kit: Kit, as_of: date | None, known_on: date | None) -> tuple[date, date]:
    """The two axes of an as-of read: both default to today, neither may be after it."""
    today = _today(kit)
    as_of, known_on = as_of or today, known_on or today
    for name, day in (("as_of", as_of), ("known_on", known_on)):
        if day > today:
            raise Problem(
                422, "Invalid date", f"{name} {day} is after today's business date {today}", kind="invalid-date"
            )
    return as_of, known_on


AsOf = Annotated[date | None, Query(description="the business date the figures are for (default: today)")]
KnownOn = Annotated[
    date | None, Query(description="what the ledger had recorded by the end of this day (default: today)")
]


# -- the ERP over HTTP ----------------------------------------------------------------------------------


class Posted(BaseModel):
    document_id: str = Field(min_length=1, max_length=128, description="the ERP's id of the document")
    revision: int = Field(ge=1, description="1 for the first issue; a correction carries a higher revision")


# Over HTTP a misspelt field is an error, where the topics' tolerant readers would skip it.
STRICT = ConfigDict(frozen=True, extra="forbid")


class PostedInvoice(erp.ErpInvoice, Posted):
    model_config = STRICT


class PostedPayment(erp.ErpPayment, Posted):
    model_config = STRICT


class PostedCreditNote(erp.ErpCreditNote, Posted):
    model_config = STRICT


async def _post(
    request: Request, kit: Kit, caller: Principal, posted: PostedInvoice | PostedPayment | PostedCreditNote
) -> Response:
    """One ERP document through the same handler as the ERP's topics. A document whose customer is not
    registered yet is parked (202) and applied by itself once profiles registers the customer."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        received = handlers.ErpDocumentReceived(posted, posted.document_id, posted.revision, EventContext.current())
        try:
            (applied,) = await handlers.receive_erp_documents(
                scope.conn, accounts_of(kit.store), [received], _today(kit)
            )
        except erp.UnknownCustomer as unknown:
            letter = await _park(kit, scope.conn, posted, str(unknown))
            body = {
                "document_id": posted.document_id,
                "revision": posted.revision,
                "status": "parked",
                "reason": str(unknown),
                "dead_letter_id": letter,
            }
            return scope.keep(JSONResponse(body, status_code=202))
        answer = {
            "document_id": posted.document_id,
            "revision": posted.revision,
            "status": "applied" if applied.events else "already applied",
            "customer_id": applied.customer_id,
            "applied": [type(e).__name__ for e in applied.events],
            "account_version": applied.account_version,
        }
        return scope.keep(JSONResponse(answer, status_code=201 if applied.events else 200))


async def _park(kit: Kit, conn: Any, posted: PostedInvoice | PostedPayment | PostedCreditNote, reason: str) -> int:
    data = posted.model_dump(mode="json", exclude={"document_id", "revision"})
    context = EventContext.current()
    envelope = Envelope(
        id=uuid.uuid4(),
        source="erp",
        type=posted.event_type,
        time=kit.clock.now(),
        subject=posted.document_id,
        stream_version=posted.revision,
        schema_version=posted.schema_version,
        customer_id=posted.customer_erp_id,
        data=data,
        correlation_id=context.correlation_id,
    )
    return await dead_letters.park(
        conn,
        consumer=ERP_CONSUMER,
        topic=kit.settings.topic_name(erp.topic_of(posted)),
        record=to_kafka(envelope),
        event=(posted.event_type, posted.document_id, posted.revision),
        reason=reason,
    )


@router.post(
    "/erp/invoices",
    summary="An ERP invoice (applied once per revision; send an Idempotency-Key)",
    status_code=201,
    responses={202: {"description": "the customer is not registered yet: parked, applied once it is"}},
)
async def post_invoice(body: PostedInvoice, request: Request, kit: KitDep, caller: Erp) -> Response:
    """The ERP's invoice, as on the `erp.invoices` topic, with its document id and revision. A revision
    already applied changes nothing (200); a higher one corrects the invoice."""
    return await _post(request, kit, caller, body)


@router.post(
    "/erp/payments",
    summary="An ERP payment, applied to invoices by cash application",
    status_code=201,
    responses={202: {"description": "the customer is not registered yet: parked, applied once it is"}},
)
async def post_payment(body: PostedPayment, request: Request, kit: KitDep, caller: Erp) -> Response:
    """The ERP's payment, as on the `erp.payments` topic. A later revision with `reversed` set reverses it."""
    return await _post(request, kit, caller, body)


@router.post(
    "/erp/credit-notes",
    summary="An ERP credit note",
    status_code=201,
    responses={202: {"description": "the customer is not registered yet: parked, applied once it is"}},
)
async def post_credit_note(body: PostedCreditNote, request: Request, kit: KitDep, caller: Erp) -> Response:
    """The ERP's credit note, as on the `erp.credit_notes` topic: against one of the customer's invoices
    (its ERP document id), or on account."""
    return await _post(request, kit, caller, body)


# -- commands on an account ---------------------------------------------------------------------------------------


async def _command(
    request: Request,
    kit: Kit,
    caller: Principal,
    customer_id: str,
    decide: handlers.Decide,
    answer: Callable[[Any], Awaitable[Any]],
) -> Response:
    """A command that creates something: idempotent, answered 201 with what it created."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        expected = if_match_version(request)
        accounts = accounts_of(kit.store)
        await handlers.on_account(scope.conn, accounts, customer_id, decide, expected_version=expected)
        loaded = await accounts.load(scope.conn, customer_id)
        body = jsonable(await answer(scope.conn))
        return scope.keep(JSONResponse(body, status_code=201, headers={"ETag": etag(loaded.version)}))


def _summary(kit: Kit, customer_id: str) -> Callable[[Any], Awaitable[Any]]:
    today = _today(kit)
    return lambda conn: queries.account_summary(
        conn, kit.store, customer_id, settings().base_currency, today, today, today
    )


def _minor_units(amount: Any, currency: str, field: str) -> None:
    if not in_minor_units(amount, currency):
        raise Refused(f"{field} {amount} has more decimals than {currency} has minor units")


class AllocationLine(Body):
    invoice_id: str = Field(min_length=1, max_length=128)
    amount: ExactDecimal = Field(gt=0, max_digits=18)


class ManualAllocation(Body):
    source_id: str = Field(min_length=1, max_length=128, description="a payment or credit note with money left")
    lines: list[AllocationLine] = Field(min_length=1, max_length=500)


@router.post("/customers/{customer_id}/allocations", status_code=201, summary="Allocate unapplied cash by hand")
async def allocate(
    customer_id: str, body: ManualAllocation, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Set unapplied cash, a credit balance or an unapplied credit note against invoices. Allocations by
    hand stay as made: cash application never moves them."""
    today = _today(kit)
    lines = [(line.invoice_id, line.amount) for line in body.lines]
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.allocate_by_hand(account, body.source_id, lines, caller.subject, today),
        _summary(kit, customer_id),
    )


class Reversal(Body):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/customers/{customer_id}/payments/{payment_id}/reversal", status_code=201, summary="Reverse a payment")
async def reverse_payment(
    customer_id: str, payment_id: str, body: Reversal, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """A payment that did not stand (a bounced transfer): what it settled is open again."""
    today = _today(kit)
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.reverse_payment(account, payment_id, body.reason, today),
        _summary(kit, customer_id),
    )


class RefundIn(Body):
    source_id: str = Field(min_length=1, max_length=128, description="the payment or credit note refunded from")
    amount: ExactDecimal = Field(gt=0, max_digits=18)
    method: str = Field(min_length=1, max_length=32, description="e.g. bank_transfer")
    reference: str | None = Field(default=None, max_length=256, description="the bank's reference of the refund")


@router.post("/customers/{customer_id}/refunds", status_code=201, summary="Pay back a credit balance")
async def refund(customer_id: str, body: RefundIn, request: Request, kit: KitDep, caller: Managers) -> Response:
    """Record that money the customer had with us (a credit balance, unapplied cash or an unapplied
    credit note) was paid back to them."""
    today, refund_id = _today(kit), f"RF-{uuid.uuid4().hex[:10].upper()}"

    def decide(account: domain.Account) -> list[Any]:
        source = account.payments.get(body.source_id) or account.credit_notes.get(body.source_id)
        if source is not None:
            _minor_units(body.amount, source.currency, "the amount")
        return domain.refund(
            account, refund_id, body.source_id, body.amount, body.method, body.reference, caller.subject, today
        )

    return await _command(request, kit, caller, customer_id, decide, _summary(kit, customer_id))


class Adjustment(Body):
    change: ExactDecimal = Field(description="signed: negative reduces what is owed", max_digits=18)
    reason: str = Field(min_length=1, max_length=500)


@router.post("/customers/{customer_id}/invoices/{invoice_id}/adjustments", status_code=201, summary="Adjust an invoice")
async def adjust_invoice(
    customer_id: str, invoice_id: str, body: Adjustment, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Change what is owed on an invoice, with a reason; it counts from today. The last instalment
    absorbs the change."""
    today = _today(kit)

    def decide(account: domain.Account) -> list[Any]:
        invoice = account.invoice(invoice_id)
        if body.change == 0:
            raise Refused("an adjustment changes what is owed by a non-zero amount")
        _minor_units(body.change, invoice.currency, "the change")
        total = domain.money(invoice.total + body.change, invoice.currency)
        return domain.adjust(account, invoice_id, total, None, body.reason, today)

    return await _command(
        request, kit, caller, customer_id, decide, lambda conn: queries.invoice(conn, invoice_id, today)
    )


class NewDispute(Body):
    invoice_id: str = Field(min_length=1, max_length=128)
    amount: ExactDecimal = Field(gt=0, max_digits=18)
    reason: str = Field(min_length=1, max_length=1000)
    owner: str = Field(min_length=1, max_length=200, description="who works on resolving it")


@router.post("/customers/{customer_id}/disputes", status_code=201, summary="Open a dispute on an invoice")
async def open_dispute(
    customer_id: str, body: NewDispute, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """The customer disputes part of an invoice: cash without remittance leaves the disputed amount alone
    until the dispute is resolved; aging and overdue still count it."""
    today, dispute_id = _today(kit), f"D-{uuid.uuid4().hex[:12].upper()}"

    def decide(account: domain.Account) -> list[Any]:
        _minor_units(body.amount, account.invoice(body.invoice_id).currency, "the amount")
        return domain.open_dispute(account, dispute_id, body.invoice_id, body.amount, body.reason, body.owner, today)

    return await _command(request, kit, caller, customer_id, decide, lambda conn: queries.dispute(conn, dispute_id))


class Resolution(Body):
    outcome: DisputeOutcome
    credited: ExactDecimal | None = Field(
        default=None, gt=0, max_digits=18, description="for 'partly': the amount credited"
    )
    note: str | None = Field(default=None, max_length=1000)


@router.post("/customers/{customer_id}/disputes/{dispute_id}/resolution", status_code=201, summary="Resolve a dispute")
async def resolve_dispute(
    customer_id: str, dispute_id: str, body: Resolution, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Upheld, rejected or partly upheld; what is upheld becomes a credit note on the invoice."""
    today = _today(kit)
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.resolve_dispute(
            account, dispute_id, body.outcome, body.credited, body.note, caller.subject, today
        ),
        lambda conn: queries.dispute(conn, dispute_id),
    )


class WriteOff(Body):
    amount: ExactDecimal | None = Field(default=None, gt=0, max_digits=18, description="all that is open when left out")
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/invoices/{invoice_id}/write-off", status_code=201, summary="Write off")
async def write_off(
    customer_id: str, invoice_id: str, body: WriteOff, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Write off what is open (or part of it); the approver is the caller. Statements to the customer
    still show it as owed."""
    today = _today(kit)
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.write_off(account, invoice_id, body.amount, body.reason, caller.subject, today),
        lambda conn: queries.invoice(conn, invoice_id, today),
    )


class Recovery(Body):
    amount: ExactDecimal = Field(gt=0, max_digits=18)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/invoices/{invoice_id}/recoveries", status_code=201, summary="Record a recovery")
async def recover(
    customer_id: str, invoice_id: str, body: Recovery, request: Request, kit: KitDep, caller: Managers
) -> Response:
    """Money received later for what was written off."""
    today = _today(kit)
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.recover(account, invoice_id, body.amount, body.reason, today),
        lambda conn: queries.invoice(conn, invoice_id, today),
    )


# -- FX rates ----------------------------------------------------------------------------------------------------


class FxRate(Body):
    currency: CurrencyCode
    rate: ExactDecimal = Field(gt=0, max_digits=24, description="units of the base currency for one unit of this one")
    rate_date: date


@router.post(
    "/fx-rates",
    status_code=201,
    summary="Record an FX rate to the base currency",
    responses={202: {"description": "more than 20 % away from the rate in force: proposed, for a second person"}},
)
async def record_rate(body: FxRate, request: Request, kit: KitDep, caller: Finance) -> Response:
    """A rate from its date on. One more than 20 % away from the latest rate of its currency is only
    proposed (202) until another finance director confirms it."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        event = await handlers.record_fx_rate(
            scope.conn,
            kit.store,
            body.currency,
            settings().base_currency,
            body.rate,
            body.rate_date,
            caller.subject,
            _today(kit),
        )
        status = 201 if event.event_type == "receivables.FxRateRecorded" else 202
        return scope.keep(JSONResponse(jsonable(event.payload()), status_code=status))


@router.get("/fx-rates", summary="Recorded FX rates, newest first")
async def list_rates(kit: KitDep, _: Readers, currency: CurrencyCode | None = None) -> Any:
    """Every rate to the base currency, with who recorded and who confirmed it."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.fx_rates(conn, currency))


@router.get("/fx-rates/proposals", summary="Rates waiting for a second person's confirmation")
async def list_proposals(kit: KitDep, _: Readers, status: Literal["waiting", "confirmed"] | None = "waiting") -> Any:
    """Rates far from the one in force, proposed by one finance director and waiting for another."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.fx_proposals(conn, status))


@router.post("/fx-rates/proposals/{proposal_id}/confirmation", status_code=201, summary="Confirm a proposed rate")
async def confirm_rate(proposal_id: str, request: Request, kit: KitDep, caller: Finance) -> Response:
    """A second finance director confirms a proposed rate: from now on it is the rate of its date."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        event = await handlers.confirm_fx_rate(scope.conn, kit.store, proposal_id, caller.subject, _today(kit))
        return scope.keep(JSONResponse(jsonable(event.payload()), status_code=201))


# -- statements ------------------------------------------------------------------------------------------


class StatementRequest(Body):
    period_start: date
    period_end: date
    ledger_version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="the ledger point to pin; the account's current version when left out",
    )
    known_on: date | None = Field(
        default=None, description="pin the ledger as it was at the end of this day instead (not with ledger_version)"
    )

    @model_validator(mode="after")
    def _one_pin(self) -> StatementRequest:
        if self.ledger_version is not None and self.known_on is not None:
            raise ValueError("pin a statement by ledger_version or by known_on, not both")
        return self


def issuer(kit: Kit) -> Issuer:
    found = kit.settings
    if not found.company_name:
        raise Problem(
            503,
            "Company not configured",
            "statements come from the company: set CREDO_COMPANY_NAME (and its address and bank account)",
            kind="company-not-configured",
        )
    return Issuer(
        name=found.company_name,
        address=found.company_address,
        phone=found.company_phone,
        bank_name=found.company_bank_name,
        bank_account=found.company_bank_account,
        tax_id=found.company_tax_id,
    )


@router.post("/customers/{customer_id}/statements", status_code=201, summary="Issue a statement of account")
async def issue_statement(
    customer_id: str, body: StatementRequest, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """A statement of account (对账函) for a period, pinned to a ledger point, ready to send: from the
    company (CREDO_COMPANY_*) to the customer's address, with its lines, open items, aging and a reply slip."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        statement_id = await handlers.issue_statement(
            scope.conn,
            kit.store,
            accounts_of(kit.store),
            customer_id,
            (body.period_start, body.period_end),
            body.ledger_version,
            body.known_on,
            issuer(kit),
            _today(kit),
        )
        record = await queries.statement(scope.conn, customer_id, statement_id)
        headers = {"Location": f"/customers/{customer_id}/statements/{statement_id}"}
        return scope.keep(JSONResponse(jsonable(record), status_code=201, headers=headers))


@router.get("/customers/{customer_id}/statements", summary="Issued statements, newest first")
async def list_statements(customer_id: str, kit: KitDep, _: Readers) -> Any:
    """Every statement issued to the customer, with its closing balances and the customer's answer."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.statements(conn, customer_id))


# Before the JSON route, which would otherwise take "S-1.pdf" for a statement id.
@router.get(
    "/customers/{customer_id}/statements/{statement_id}.pdf",
    summary="A statement as a PDF for the customer",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the statement, A4, CJK font embedded"}},
)
async def statement_pdf(customer_id: str, statement_id: str, kit: KitDep, _: Readers) -> Response:
    """The statement as the customer receives it: rendered once, then the same bytes every time."""
    async with kit.pool.acquire() as conn:
        await queries.statement(conn, customer_id, statement_id)
        pdf = await queries.kept_pdf(conn, statement_id)
        if pdf is None:
            issued, document = await handlers.statement_document(kit.store, conn, customer_id, statement_id)
            try:
                pdf = statements.render_pdf(document, statement_id, issued.recorded_on, settings().statement_font)
            except statements.FontMissing as missing:
                raise Problem(503, "Statement font missing", str(missing), kind="font-missing") from None
            await queries.keep_pdf(conn, statement_id, pdf)
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{statement_id}.pdf"'}
    )


@router.get(
    "/customers/{customer_id}/statements/{statement_id}",
    summary="A statement as JSON, exactly as issued",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "the statement's canonical bytes"}},
)
async def statement_json(customer_id: str, statement_id: str, kit: KitDep, _: Readers) -> Response:
    """The statement's document, reproduced from the ledger point it was pinned to: the same bytes as
    when issued (their SHA-256 is in the `Digest` header and the StatementIssued event)."""
    async with kit.pool.acquire() as conn:
        record = await queries.statement(conn, customer_id, statement_id)
        _issued, document = await handlers.statement_document(kit.store, conn, customer_id, statement_id)
    return Response(
        statements.render_json(document),
        media_type="application/json",
        headers={"Digest": f"sha-256={record['digest']}", "X-Statement-Status": record["status"]},
    )


class Confirmation(Body):
    confirmed_by: str = Field(min_length=1, max_length=200, description="who confirmed, at the customer")
    confirmed_on: date


@router.post(
    "/customers/{customer_id}/statements/{statement_id}/confirmation",
    status_code=201,
    summary="Record the customer's confirmation of the balance (对账确认)",
)
async def confirm_statement(
    customer_id: str, statement_id: str, body: Confirmation, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """The customer returned the reply slip confirming the balance; dated no earlier than the statement."""
    today = _today(kit)
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.confirm_balance(account, statement_id, body.confirmed_by, body.confirmed_on, today),
        lambda conn: queries.statement(conn, customer_id, statement_id),
    )


class DifferingLineIn(Body):
    reference: str = Field(min_length=1, max_length=128)
    their_amount: Money | None = None
    note: str = Field(min_length=1, max_length=1000)


class BalanceDispute(Body):
    disputed_by: str = Field(min_length=1, max_length=200)
    disputed_on: date
    lines: list[DifferingLineIn] = Field(min_length=1, max_length=500)


@router.post(
    "/customers/{customer_id}/statements/{statement_id}/dispute",
    status_code=201,
    summary="Record that the customer disputes the statement, with the lines that differ",
)
async def dispute_statement(
    customer_id: str, statement_id: str, body: BalanceDispute, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """The customer's books differ: the lines where, and what they show."""
    today = _today(kit)
    lines = [DifferingLine(reference=x.reference, their_amount=x.their_amount, note=x.note) for x in body.lines]
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.dispute_balance(account, statement_id, body.disputed_by, body.disputed_on, lines, today),
        lambda conn: queries.statement(conn, customer_id, statement_id),
    )


# -- reading ---------------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/account", summary="Balance, overdue, disputed, unapplied cash, credit balance")
async def get_account(
    customer_id: str, kit: KitDep, _: ReadersAndErp, as_of: AsOf = None, known_on: KnownOn = None
) -> Response:
    """Per currency and in the base currency: what the customer owes, what of it is overdue and disputed,
    their unapplied cash and credit balance, and the net, at the end of `as_of` as known on `known_on`."""
    day, known = _dates(kit, as_of, known_on)
    async with kit.pool.acquire() as conn:
        summary = await queries.account_summary(
            conn, kit.store, customer_id, settings().base_currency, day, known, _today(kit)
        )
    return JSONResponse(jsonable(summary), headers={"ETag": etag(summary["version"])})


@router.get("/invoices/{invoice_id}", summary="An invoice with its schedule and what is open")
async def get_invoice(invoice_id: str, kit: KitDep, _: ReadersAndErp) -> Any:
    """An invoice with its terms, its instalments (each with what is open and, while open, its days past
    due), and what paid, credited, discounted or wrote off the rest."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.invoice(conn, invoice_id, _today(kit)))


@router.get("/customers/{customer_id}/invoices", summary="A customer's invoices, open ones first by due date")
async def list_invoices(
    customer_id: str,
    kit: KitDep,
    _: ReadersAndErp,
    status: Literal["open", "closed", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Open invoices first, by the due date of what is open on them; then settled ones, newest first."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.invoices(conn, customer_id, status, _today(kit), limit, offset))


@router.get("/customers/{customer_id}/payments", summary="A customer's payments with their allocations, newest first")
async def list_payments(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Each payment, what is left of it and why (unapplied cash or a credit balance), and the invoices
    it pays, each allocation with the business date it counts from."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.payments(conn, customer_id, limit, offset))


@router.get("/customers/{customer_id}/disputes", summary="A customer's disputes")
async def list_disputes(customer_id: str, kit: KitDep, _: Readers) -> Any:
    """Open and resolved disputes, newest first."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.disputes(conn, customer_id))


@router.get("/customers/{customer_id}/refunds", summary="A customer's refunds")
async def list_refunds(customer_id: str, kit: KitDep, _: Readers) -> Any:
    """What was paid back to the customer, newest first."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.refunds(conn, customer_id))


@router.get("/customers/{customer_id}/movements", summary="Every movement of the balance, in ledger order")
async def list_movements(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    after_version: Annotated[int, Query(ge=0, le=2**31 - 1, description="continue after this account version")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    """The internal ledger of the account: every line that changed the balance, write-offs included."""
    async with kit.pool.acquire() as conn:
        return jsonable(await queries.movements(conn, customer_id, after_version, limit))


# -- aging -------------------------------------------------------------------------------------------------


Basis = Annotated[reports.AgingBasis, Query(description="age from the due date or from the invoice date")]
Buckets = Annotated[
    str | None,
    Query(
        max_length=200,
        description="bucket boundaries in days, e.g. 0,30,60,90,180 (current, 1-30, ..., over 180)",
    ),
]


def _boundaries(buckets: str | None, basis: reports.AgingBasis) -> tuple[int, ...]:
    try:
        return reports.parse_boundaries(buckets, basis)
    except ValueError as bad:
        raise Problem(422, "Invalid buckets", str(bad), kind="invalid-buckets") from None


@router.get("/aging", summary="Aging of the whole book (账龄分析), in the base currency")
async def book_aging(
    kit: KitDep,
    _: Readers,
    as_of: AsOf = None,
    known_on: KnownOn = None,
    by: Basis = "due_date",
    buckets: Buckets = None,
    by_customer: bool = False,
) -> Any:
    """What is open at the end of `as_of`, by the documents' own dates, as the ledger had it on `known_on`:
    per bucket in the base currency (the priced part; unpriced currencies are listed) and per currency."""
    day, known = _dates(kit, as_of, known_on)
    today, boundaries, base = _today(kit), _boundaries(buckets, by), settings().base_currency
    async with kit.pool.acquire() as conn:
        if day == known == today and await reports.read_model_is_current(conn, today):
            aged = await reports.aged_today(conn, today, by, boundaries, per_customer=by_customer)
            rates = await reports.rates_today(conn, base, today)
        else:
            accounts = await reports.book_as_of(kit.store, conn, day, known)
            aged = reports.aged_from_accounts(accounts, day, by, boundaries)
            rates = await reports.rates_as_of(kit.store, conn, base, day, known)
        names = (
            {r["customer_id"]: r["legal_name"] for r in await conn.fetch("SELECT * FROM customers")}
            if by_customer
            else None
        )
    report = reports.aging_report(
        aged,
        as_of=day,
        known_on=known,
        basis=by,
        boundaries=boundaries,
        rates=rates,
        by_customer=by_customer,
        names=names,
    )
    return jsonable(report)


@router.get("/customers/{customer_id}/aging", summary="A customer's aging, on any business date as known on any day")
async def customer_aging(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    as_of: AsOf = None,
    known_on: KnownOn = None,
    by: Basis = "due_date",
    buckets: Buckets = None,
) -> Any:
    """The customer's open items at the end of `as_of` as known on `known_on`, by bucket."""
    day, known = _dates(kit, as_of, known_on)
    today, boundaries, base = _today(kit), _boundaries(buckets, by), settings().base_currency
    async with kit.pool.acquire() as conn:
        await queries.customer(conn, customer_id)
        if day == known == today and await reports.read_model_is_current(conn, today, customer_id):
            aged = await reports.aged_today(conn, today, by, boundaries, customer_id=customer_id)
            rates = await reports.rates_today(conn, base, today)
        else:
            account = await reports.account_as_of(kit.store, conn, customer_id, day, known)
            aged = reports.aged_from_accounts([account], day, by, boundaries)
            rates = await reports.rates_as_of(kit.store, conn, base, day, known)
    report = reports.aging_report(
        aged, as_of=day, known_on=known, basis=by, boundaries=boundaries, rates=rates, by_customer=False
    )
    return jsonable({"customer_id": customer_id, **report})
