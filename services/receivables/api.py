"""HTTP API of receivables: the ERP's documents, the credit team's commands, and the ledger's reports."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from libs.events.contracts import DomainEvent, ExactDecimal, Money, is_currency_code
from libs.events.database import Connection
from libs.events.store import ConcurrencyConflict
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import check_version, etag, if_match_version
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.rendering import jsonable
from services.receivables import domain, erp, reports, statements
from services.receivables.accounts import accounts_of
from services.receivables.events import DifferingLine, DisputeOutcome, FxRateRecorded, StatementIssued
from services.receivables.settings import settings

router = APIRouter(tags=["receivables"])

Readers = Annotated[
    Principal, Depends(require("viewer", "credit_analyst", "collector", "credit_manager", "finance_director"))
]
CreditTeam = Annotated[Principal, Depends(require("credit_analyst", "collector", "credit_manager", "finance_director"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]
Finance = Annotated[Principal, Depends(require("finance_director"))]
Erp = Annotated[Principal, Depends(require("admin"))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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


async def _post(request: Request, kit: Kit, caller: Principal, posted: erp.ErpDocument, document: Posted) -> Response:
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        customers = await erp.customers_for(scope.conn, [posted.customer_erp_id])
        if posted.customer_erp_id not in customers:
            unknown = erp.unknown_customer(posted.customer_erp_id)
            raise Problem(422, "Unknown customer", str(unknown), kind="unknown-customer")
        customer_id = customers[posted.customer_erp_id]
        decide = erp.decision(posted, document.document_id, document.revision, kit.clock.today())
        applied = await run(kit, scope.conn, customer_id, decide)
        answer = {
            "document_id": document.document_id,
            "revision": document.revision,
            "customer_id": customer_id,
            "applied": [type(e).__name__ for e in applied],
            "account_version": (await accounts_of(kit.store).load(scope.conn, customer_id)).version,
        }
        return scope.keep(JSONResponse(answer, status_code=201 if applied else 200))


@router.post("/erp/invoices", summary="An ERP invoice (applied once per revision; send an Idempotency-Key)")
async def post_invoice(body: PostedInvoice, request: Request, kit: KitDep, caller: Erp) -> Response:
    return await _post(request, kit, caller, body, body)


@router.post("/erp/payments", summary="An ERP payment, applied to invoices by cash application")
async def post_payment(body: PostedPayment, request: Request, kit: KitDep, caller: Erp) -> Response:
    return await _post(request, kit, caller, body, body)


@router.post("/erp/credit-notes", summary="An ERP credit note")
async def post_credit_note(body: PostedCreditNote, request: Request, kit: KitDep, caller: Erp) -> Response:
    return await _post(request, kit, caller, body, body)


# -- running commands ---------------------------------------------------------------------------------------


Decide = Callable[[domain.Account], list[DomainEvent]]


async def run(
    kit: Kit, conn: Connection, customer_id: str, decide: Decide, *, expected_version: int | None = None
) -> list[DomainEvent]:
    """Load the account, decide, append; retried on a lost race, refusals become problems."""
    if not await conn.fetchval("SELECT true FROM customers WHERE customer_id = $1", customer_id):
        raise Problem(404, "Not found", f"no customer {customer_id}")
    accounts = accounts_of(kit.store)
    for attempt in range(1, 6):
        loaded = await accounts.load(conn, customer_id)
        check_version(expected_version, loaded.version)
        try:
            events = decide(loaded.account)
        except domain.Unknown as unknown:
            raise Problem(404, "Not found", str(unknown)) from None
        except domain.Refused as refused:
            raise Problem(422, "Refused", str(refused), kind="refused") from None
        try:
            await accounts.append(conn, {customer_id: (loaded, events)})
        except ConcurrencyConflict:
            if attempt == 5 or expected_version is not None:
                raise
            continue
        return events
    raise AssertionError("unreachable")


async def _command(
    request: Request, kit: Kit, caller: Principal, customer_id: str, decide: Decide, answer: Callable[..., Any]
) -> Response:
    """A command that creates something: idempotent, answered 201 with what it created."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        expected = if_match_version(request)
        await run(kit, scope.conn, customer_id, decide, expected_version=expected)
        loaded = await accounts_of(kit.store).load(scope.conn, customer_id)
        body = jsonable(await answer(scope.conn))
        return scope.keep(JSONResponse(body, status_code=201, headers={"ETag": etag(loaded.version)}))


class AllocationLine(Body):
    invoice_id: str = Field(min_length=1)
    amount: ExactDecimal = Field(gt=0)


class ManualAllocation(Body):
    source_id: str = Field(min_length=1, description="a payment or credit note with money left to allocate")
    lines: list[AllocationLine] = Field(min_length=1)


@router.post("/customers/{customer_id}/allocations", status_code=201, summary="Allocate unapplied cash by hand")
async def allocate(
    customer_id: str, body: ManualAllocation, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    today = kit.clock.today()
    lines = [(line.invoice_id, line.amount) for line in body.lines]
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.allocate_by_hand(account, body.source_id, lines, caller.subject, today),
        lambda conn: account_summary(conn, customer_id, today),
    )


class Reversal(Body):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/customers/{customer_id}/payments/{payment_id}/reversal", status_code=201, summary="Reverse a payment")
async def reverse_payment(
    customer_id: str, payment_id: str, body: Reversal, request: Request, kit: KitDep, caller: Managers
) -> Response:
    today = kit.clock.today()
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.reverse_payment(account, payment_id, body.reason, today),
        lambda conn: account_summary(conn, customer_id, today),
    )


class Adjustment(Body):
    change: ExactDecimal = Field(description="signed: negative reduces what is owed")
    reason: str = Field(min_length=1, max_length=500)


@router.post("/customers/{customer_id}/invoices/{invoice_id}/adjustments", status_code=201, summary="Adjust an invoice")
async def adjust_invoice(
    customer_id: str, invoice_id: str, body: Adjustment, request: Request, kit: KitDep, caller: Managers
) -> Response:
    today = kit.clock.today()

    def decide(account: domain.Account) -> list[DomainEvent]:
        invoice = account.invoice(invoice_id)
        if body.change == 0 or not domain.in_minor_units(body.change, invoice.currency):
            raise domain.Refused(f"an adjustment is a non-zero amount in {invoice.currency}'s minor units")
        total = domain.money(invoice.total + body.change, invoice.currency)
        return domain.adjust(account, invoice_id, total, None, f"{body.reason} ({caller.subject})", today)

    return await _command(request, kit, caller, customer_id, decide, lambda conn: invoice_view(conn, invoice_id, today))


class NewDispute(Body):
    invoice_id: str = Field(min_length=1)
    amount: ExactDecimal = Field(gt=0)
    reason: str = Field(min_length=1, max_length=1000)
    owner: str = Field(min_length=1, max_length=200, description="who works on resolving it")


@router.post("/customers/{customer_id}/disputes", status_code=201, summary="Open a dispute on an invoice")
async def open_dispute(
    customer_id: str, body: NewDispute, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    today, dispute_id = kit.clock.today(), f"D-{uuid.uuid4().hex[:12].upper()}"
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.open_dispute(
            account, dispute_id, body.invoice_id, body.amount, body.reason, body.owner, today
        ),
        lambda conn: _row(conn, "SELECT * FROM disputes WHERE dispute_id = $1", dispute_id),
    )


class Resolution(Body):
    outcome: DisputeOutcome
    credited: ExactDecimal | None = Field(default=None, gt=0, description="for 'partly': the amount credited")
    note: str | None = Field(default=None, max_length=1000)


@router.post("/customers/{customer_id}/disputes/{dispute_id}/resolution", status_code=201, summary="Resolve a dispute")
async def resolve_dispute(
    customer_id: str, dispute_id: str, body: Resolution, request: Request, kit: KitDep, caller: Managers
) -> Response:
    today = kit.clock.today()
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.resolve_dispute(
            account, dispute_id, body.outcome, body.credited, body.note, caller.subject, today
        ),
        lambda conn: _row(conn, "SELECT * FROM disputes WHERE dispute_id = $1", dispute_id),
    )


class WriteOff(Body):
    amount: ExactDecimal | None = Field(default=None, gt=0, description="all that is open when left out")
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/invoices/{invoice_id}/write-off", status_code=201, summary="Write off")
async def write_off(
    customer_id: str, invoice_id: str, body: WriteOff, request: Request, kit: KitDep, caller: Managers
) -> Response:
    today = kit.clock.today()
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.write_off(account, invoice_id, body.amount, body.reason, caller.subject, today),
        lambda conn: invoice_view(conn, invoice_id, today),
    )


class Recovery(Body):
    amount: ExactDecimal = Field(gt=0)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/invoices/{invoice_id}/recoveries", status_code=201, summary="Record a recovery")
async def recover(
    customer_id: str, invoice_id: str, body: Recovery, request: Request, kit: KitDep, caller: Managers
) -> Response:
    today = kit.clock.today()
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.recover(account, invoice_id, body.amount, body.reason, today),
        lambda conn: invoice_view(conn, invoice_id, today),
    )


class FxRate(Body):
    currency: str = Field(pattern="^[A-Z]{3}$")
    rate: ExactDecimal = Field(gt=0, description="units of the base currency for one unit of this currency")
    rate_date: date


@router.post("/fx-rates", status_code=201, summary="Record an FX rate to the base currency")
async def record_rate(body: FxRate, request: Request, kit: KitDep, caller: Finance) -> Response:
    base = settings().base_currency
    if not is_currency_code(body.currency) or body.currency == base:
        raise Problem(422, "Invalid currency", f"{body.currency} is not an ISO 4217 currency other than {base}")
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        event = FxRateRecorded(
            currency=body.currency,
            base_currency=base,
            rate=body.rate,
            rate_date=body.rate_date,
            recorded_on=kit.clock.today(),
        )
        version = await kit.store.current_version(reports.FX_STREAM, scope.conn)
        await kit.store.append(reports.FX_STREAM, version, [event], customer_id=reports.FX_KEY, conn=scope.conn)
        return scope.keep(JSONResponse(jsonable(event.payload()), status_code=201))


@router.get("/fx-rates", summary="Recorded FX rates, newest first")
async def list_rates(kit: KitDep, _: Readers, currency: str | None = None) -> list[dict[str, Any]]:
    rows = await kit.pool.fetch(
        "SELECT * FROM fx_rates WHERE $1::text IS NULL OR currency = $1 ORDER BY rate_date DESC, currency", currency
    )
    return [jsonable(dict(r)) for r in rows]


# -- statements ------------------------------------------------------------------------------------------


class StatementRequest(Body):
    period_start: date
    period_end: date
    ledger_version: int | None = Field(
        default=None, ge=1, description="the ledger point to pin; the account's current version when left out"
    )


@router.post("/customers/{customer_id}/statements", status_code=201, summary="Issue a statement of account")
async def issue_statement(
    customer_id: str, body: StatementRequest, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    today, statement_id = kit.clock.today(), f"S-{uuid.uuid4().hex[:12].upper()}"
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        name = await scope.conn.fetchval("SELECT legal_name FROM customers WHERE customer_id = $1", customer_id)
        if name is None:
            raise Problem(404, "Not found", f"no customer {customer_id}")
        history = [r.event for r in await kit.store.load(domain.stream_id(customer_id), scope.conn)]
        point = body.ledger_version or len(history)
        if point > len(history):
            raise Problem(422, "Refused", f"the account is at version {len(history)}, not yet {point}", kind="refused")
        document = statements.statement_document(customer_id, name, history, body.period_start, body.period_end, point)
        closing, digest = statements.closing_balances(document), statements.digest(document)
        await run(
            kit,
            scope.conn,
            customer_id,
            lambda account: domain.issue_statement(
                account, statement_id, name, body.period_start, body.period_end, point, closing, digest, today
            ),
        )
        summary = await statement_view(scope.conn, statement_id)
        return scope.keep(
            JSONResponse(
                jsonable(summary),
                status_code=201,
                headers={"Location": f"/customers/{customer_id}/statements/{statement_id}"},
            )
        )


async def _statement(kit: Kit, customer_id: str, statement_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The statement's record and its document, reproduced from the events up to its ledger point."""
    record = await kit.pool.fetchrow(
        "SELECT * FROM statements WHERE statement_id = $1 AND customer_id = $2", statement_id, customer_id
    )
    if record is None:
        raise Problem(404, "Not found", f"customer {customer_id} has no statement {statement_id}")
    history = [r.event for r in await kit.store.load(domain.stream_id(customer_id))]
    issued = next(e for e in history if isinstance(e, StatementIssued) and e.statement_id == statement_id)
    document = statements.statement_document(
        customer_id, issued.customer_name, history, issued.period_start, issued.period_end, issued.ledger_version
    )
    return dict(record), document


@router.get("/customers/{customer_id}/statements", summary="Issued statements, newest first")
async def list_statements(customer_id: str, kit: KitDep, _: Readers) -> list[dict[str, Any]]:
    rows = await kit.pool.fetch(
        "SELECT * FROM statements WHERE customer_id = $1 ORDER BY period_end DESC, issued_on DESC", customer_id
    )
    return [jsonable(_statement_record(r)) for r in rows]


# Before the JSON route, which would otherwise take "S-1.pdf" for a statement id.
@router.get("/customers/{customer_id}/statements/{statement_id}.pdf", summary="A statement as a PDF for the customer")
async def statement_pdf(customer_id: str, statement_id: str, kit: KitDep, _: Readers) -> Response:
    record, document = await _statement(kit, customer_id, statement_id)
    try:
        pdf = statements.render_pdf(document, statement_id, record["issued_on"], settings().statement_font)
    except statements.FontMissing as missing:
        raise Problem(503, "Statement font missing", str(missing)) from None
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{statement_id}.pdf"'},
    )


@router.get("/customers/{customer_id}/statements/{statement_id}", summary="A statement as JSON, exactly as issued")
async def statement_json(customer_id: str, statement_id: str, kit: KitDep, _: Readers) -> Response:
    record, document = await _statement(kit, customer_id, statement_id)
    body = statements.render_json(document)
    return Response(
        body,
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
    today = kit.clock.today()
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.confirm_balance(account, statement_id, body.confirmed_by, body.confirmed_on, today),
        lambda conn: statement_view(conn, statement_id),
    )


class DifferingLineIn(Body):
    reference: str = Field(min_length=1, max_length=128)
    their_amount: Money | None = None
    note: str = Field(min_length=1, max_length=1000)


class BalanceDispute(Body):
    disputed_by: str = Field(min_length=1, max_length=200)
    disputed_on: date
    lines: list[DifferingLineIn] = Field(min_length=1)


@router.post(
    "/customers/{customer_id}/statements/{statement_id}/dispute",
    status_code=201,
    summary="Record that the customer disputes the statement, with the lines that differ",
)
async def dispute_statement(
    customer_id: str, statement_id: str, body: BalanceDispute, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    today = kit.clock.today()
    lines = [DifferingLine(reference=x.reference, their_amount=x.their_amount, note=x.note) for x in body.lines]
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account: domain.dispute_balance(account, statement_id, body.disputed_by, body.disputed_on, lines, today),
        lambda conn: statement_view(conn, statement_id),
    )


# -- reading ---------------------------------------------------------------------------------------------


def _statement_record(row: Any) -> dict[str, Any]:
    record = dict(row)
    record["closing"] = json.loads(record["closing"])
    record["answer"] = json.loads(record["answer"]) if record["answer"] else None
    return record


async def statement_view(conn: Connection, statement_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM statements WHERE statement_id = $1", statement_id)
    if row is None:
        raise Problem(404, "Not found", f"no statement {statement_id}")
    return _statement_record(row)


async def _row(conn: Connection, sql: str, *args: Any) -> dict[str, Any]:
    row = await conn.fetchrow(sql, *args)
    if row is None:
        raise Problem(404, "Not found", f"nothing found for {args[0]}")
    return dict(row)


_SUMMARY = """
WITH inv AS (
    SELECT currency, sum(open) AS balance, sum(disputed) AS disputed FROM invoices
     WHERE customer_id = $1 AND open <> 0 GROUP BY 1),
due AS (
    SELECT currency, sum(open) AS overdue FROM instalments
     WHERE customer_id = $1 AND open > 0 AND due_date < $2 GROUP BY 1),
pay AS (
    SELECT currency,
           sum(unallocated) FILTER (WHERE remainder_as = 'unapplied') AS unapplied,
           sum(unallocated) FILTER (WHERE remainder_as IS DISTINCT FROM 'unapplied') AS credit
      FROM payments WHERE customer_id = $1 AND unallocated > 0 AND NOT reversed GROUP BY 1),
cn AS (
    SELECT currency, sum(unallocated) AS credit FROM credit_notes
     WHERE customer_id = $1 AND unallocated > 0 GROUP BY 1)
SELECT c.currency,
       coalesce(inv.balance, 0) AS balance,
       coalesce(due.overdue, 0) AS overdue,
       coalesce(inv.disputed, 0) AS disputed,
       coalesce(pay.unapplied, 0) AS unapplied_cash,
       coalesce(pay.credit, 0) + coalesce(cn.credit, 0) AS credit_balance
  FROM (SELECT currency FROM inv UNION SELECT currency FROM pay UNION SELECT currency FROM cn) c
  LEFT JOIN inv USING (currency) LEFT JOIN due USING (currency) LEFT JOIN pay USING (currency)
  LEFT JOIN cn USING (currency)
 ORDER BY c.currency
"""


async def account_summary(conn: Connection, customer_id: str, today: date) -> dict[str, Any]:
    customer = await conn.fetchrow("SELECT customer_id, legal_name FROM customers WHERE customer_id = $1", customer_id)
    if customer is None:
        raise Problem(404, "Not found", f"no customer {customer_id}")
    version = await conn.fetchval("SELECT version FROM accounts WHERE customer_id = $1", customer_id) or 0
    balances = []
    for row in await conn.fetch(_SUMMARY, customer_id, today):
        cent = domain.cent(row["currency"])
        line: dict[str, Any] = {k: v.quantize(cent) if isinstance(v, Decimal) else v for k, v in dict(row).items()}
        line["collectable"] = line["balance"] - line["disputed"]
        line["net"] = line["balance"] - line["unapplied_cash"] - line["credit_balance"]
        balances.append(line)
    base = settings().base_currency
    rates = await reports.rates_today(conn, base, today)
    in_base: dict[str, Any] | None = None
    missing: list[str] = []
    try:
        fields = ("balance", "overdue", "disputed", "collectable", "unapplied_cash", "credit_balance", "net")
        in_base = {f: rates.convert({b["currency"]: b[f] for b in balances}) for f in fields}
    except reports.MissingRate as gap:
        missing = gap.currencies
    return {
        "customer_id": customer_id,
        "legal_name": customer["legal_name"],
        "as_of": today,
        "version": version,
        "balances": balances,
        "base_currency": base,
        "in_base_currency": in_base,
        "missing_rates": missing,
    }


@router.get("/customers/{customer_id}/account", summary="Balance, overdue, disputed, unapplied cash, credit balance")
async def get_account(customer_id: str, kit: KitDep, _: Readers) -> Response:
    async with kit.pool.acquire() as conn:
        summary = await account_summary(conn, customer_id, kit.clock.today())
    return JSONResponse(jsonable(summary), headers={"ETag": etag(summary["version"])})


_INVOICE = """
SELECT v.*, (SELECT jsonb_agg(jsonb_build_object('instalment', i.seq, 'due_date', i.due_date, 'amount', i.amount,
                                                 'open', i.open, 'days_past_due', greatest($2::date - i.due_date, 0))
                              ORDER BY i.seq) FROM instalments i WHERE i.invoice_id = v.invoice_id) AS schedule
  FROM invoices v WHERE {where}
"""


def _invoice(row: Any) -> dict[str, Any]:
    invoice = dict(row)
    invoice["collectable"] = invoice["open"] - invoice["disputed"]
    invoice["status"] = "open" if invoice["open"] > 0 else "written_off" if invoice["written_off"] else "settled"
    return invoice


async def invoice_view(conn: Connection, invoice_id: str, today: date) -> dict[str, Any]:
    row = await conn.fetchrow(_INVOICE.format(where="v.invoice_id = $1"), invoice_id, today)
    if row is None:
        raise Problem(404, "Not found", f"no invoice {invoice_id}")
    return _invoice(row)


@router.get("/invoices/{invoice_id}", summary="An invoice with its schedule and what is open")
async def get_invoice(invoice_id: str, kit: KitDep, _: Readers) -> dict[str, Any]:
    async with kit.pool.acquire() as conn:
        return jsonable(await invoice_view(conn, invoice_id, kit.clock.today()))  # type: ignore[no-any-return]


@router.get("/customers/{customer_id}/invoices", summary="A customer's invoices, open items first by due date")
async def list_invoices(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    where = {"open": "v.open > 0", "closed": "v.open <= 0", "all": "true"}[status]
    rows = await kit.pool.fetch(
        _INVOICE.format(where=f"v.customer_id = $1 AND {where}")
        + " ORDER BY v.open > 0 DESC, v.issue_date, v.number LIMIT $3 OFFSET $4",
        customer_id,
        kit.clock.today(),
        limit,
        offset,
    )
    return [jsonable(_invoice(r)) for r in rows]


@router.get("/customers/{customer_id}/payments", summary="A customer's payments, newest first")
async def list_payments(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    rows = await kit.pool.fetch(
        "SELECT * FROM payments WHERE customer_id = $1 ORDER BY value_date DESC, payment_id LIMIT $2 OFFSET $3",
        customer_id,
        limit,
        offset,
    )
    return [jsonable(dict(r)) for r in rows]


@router.get("/customers/{customer_id}/disputes", summary="A customer's disputes")
async def list_disputes(customer_id: str, kit: KitDep, _: Readers) -> list[dict[str, Any]]:
    rows = await kit.pool.fetch(
        "SELECT * FROM disputes WHERE customer_id = $1 ORDER BY opened_on DESC, dispute_id", customer_id
    )
    return [jsonable(dict(r)) for r in rows]


@router.get("/customers/{customer_id}/movements", summary="Every movement of the balance, in ledger order")
async def list_movements(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    after_version: Annotated[int, Query(ge=0, description="continue after this account version")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    rows = await kit.pool.fetch(
        "SELECT * FROM movements WHERE customer_id = $1 AND version > $2 ORDER BY version, line LIMIT $3",
        customer_id,
        after_version,
        limit,
    )
    movements = [jsonable(dict(r)) for r in rows]
    return {"movements": movements, "next_after_version": rows[-1]["version"] if len(rows) == limit else None}


# -- aging -------------------------------------------------------------------------------------------------


AsOf = Annotated[date | None, Query(description="a past date: the report as the ledger knew it then")]
Basis = Annotated[reports.AgingBasis, Query(description="age from the due date or from the invoice date")]
Buckets = Annotated[
    str | None,
    Query(description="bucket boundaries in days, e.g. 0,30,60,90,180 (current, 1-30, ..., over 180)"),
]


def _boundaries(buckets: str | None, basis: reports.AgingBasis) -> tuple[int, ...]:
    try:
        return reports.parse_boundaries(buckets, basis)
    except ValueError as bad:
        raise Problem(422, "Invalid buckets", str(bad), kind="invalid-buckets") from None


def _report(aged: list[reports.AgedAmount], **kwargs: Any) -> dict[str, Any]:
    try:
        return jsonable(reports.aging_report(aged, **kwargs))  # type: ignore[no-any-return]
    except reports.MissingRate as missing:
        raise Problem(
            422, "Missing FX rate", str(missing), kind="missing-fx-rate", currencies=missing.currencies
        ) from None


@router.get("/aging", summary="Aging of the whole book (账龄分析), in the base currency")
async def book_aging(
    kit: KitDep,
    _: Readers,
    as_of: AsOf = None,
    by: Basis = "due_date",
    buckets: Buckets = None,
    by_customer: bool = False,
) -> dict[str, Any]:
    today, boundaries, base = kit.clock.today(), _boundaries(buckets, by), settings().base_currency
    day = as_of or today
    if day > today:
        raise Problem(422, "Invalid date", f"{day} is after today's business date {today}", kind="invalid-date")
    async with kit.pool.acquire() as conn:
        if day == today:
            aged = await reports.aged_today(conn, today, by, boundaries, per_customer=by_customer)
            rates = await reports.rates_today(conn, base, today)
        else:
            accounts = await reports.book_as_of(kit.store, conn, day)
            aged = reports.aged_from_accounts(accounts, day, by, boundaries)
            rates = await reports.rates_as_of(kit.store, conn, base, day)
        names = (
            {r["customer_id"]: r["legal_name"] for r in await conn.fetch("SELECT * FROM customers")}
            if by_customer
            else None
        )
    return _report(aged, as_of=day, basis=by, boundaries=boundaries, rates=rates, by_customer=by_customer, names=names)


@router.get("/customers/{customer_id}/aging", summary="A customer's aging, today or as the ledger knew it on a date")
async def customer_aging(
    customer_id: str, kit: KitDep, _: Readers, as_of: AsOf = None, by: Basis = "due_date", buckets: Buckets = None
) -> dict[str, Any]:
    today, boundaries, base = kit.clock.today(), _boundaries(buckets, by), settings().base_currency
    day = as_of or today
    if day > today:
        raise Problem(422, "Invalid date", f"{day} is after today's business date {today}", kind="invalid-date")
    async with kit.pool.acquire() as conn:
        if not await conn.fetchval("SELECT true FROM customers WHERE customer_id = $1", customer_id):
            raise Problem(404, "Not found", f"no customer {customer_id}")
        if day == today:
            aged = await reports.aged_today(conn, today, by, boundaries, customer_id=customer_id)
            rates = await reports.rates_today(conn, base, today)
        else:
            account = await reports.account_as_of(kit.store, conn, customer_id, day)
            aged = reports.aged_from_accounts([account], day, by, boundaries)
            rates = await reports.rates_as_of(kit.store, conn, base, day)
    report = _report(aged, as_of=day, basis=by, boundaries=boundaries, rates=rates, by_customer=False)
    return {"customer_id": customer_id, **report}
