"""Statements of account: issued, rendered for the customer, and the customer's answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from pydantic import Field, model_validator

from contracts.receivables import DifferingLine
from libs.events.contracts import AcceptedMoney, BusinessDate
from libs.service.errors import Problem
from libs.service.etag import if_match_version
from libs.service.idempotency import idempotent
from libs.service.kit import KitDep
from libs.service.views import Body, answer
from services.receivables import domain, handlers, rendering
from services.receivables.api.base import (
    CreditTeam,
    Readers,
    account_command,
    parts_of,
)
from services.receivables.queries import ledger
from services.receivables.queries import views as v

router = APIRouter()

# -- statements ------------------------------------------------------------------------------------------


class StatementRequest(Body):
    period_start: BusinessDate
    period_end: BusinessDate
    ledger_version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="the ledger point to pin; the account's current version when left out",
    )
    known_on: BusinessDate | None = Field(
        default=None, description="pin the ledger as it was at the end of this day instead (not with ledger_version)"
    )

    @model_validator(mode="after")
    def _one_pin(self) -> StatementRequest:
        if self.ledger_version is not None and self.known_on is not None:
            raise ValueError("pin a statement by ledger_version or by known_on, not both")
        return self


@router.post(
    "/customers/{customer_id}/statements",
    status_code=201,
    response_model=v.StatementRecord,
    summary="Issue a statement of account",
)
async def issue_statement(
    customer_id: str, body: StatementRequest, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """A statement of account (对账函) for a period, pinned to a ledger point, ready to send: from the
    company (CREDO_COMPANY_*) to the customer's address, with its lines, open items, aging and a reply slip."""
    statement_id = f"S-{uuid.uuid4().hex[:12].upper()}"
    command = handlers.IssueStatement(
        customer_id, statement_id, (body.period_start, body.period_end), body.ledger_version, body.known_on
    )
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        try:
            await handlers.issue_statement(parts_of(kit), scope.conn, command)
        except handlers.CompanyNotConfigured as missing:
            raise Problem(503, "Company not configured", str(missing), kind="company-not-configured") from None
        record = await ledger.statement(scope.conn, customer_id, statement_id)
        headers = {"Location": f"/customers/{customer_id}/statements/{statement_id}"}
        return scope.keep(answer(record, 201, headers))


@router.get(
    "/customers/{customer_id}/statements",
    response_model=list[v.StatementRecord],
    summary="Issued statements, newest first",
)
async def list_statements(customer_id: str, kit: KitDep, _: Readers) -> Response:
    """Every statement issued to the customer, with its closing balances and the customer's answer."""
    async with kit.pool.acquire() as conn:
        return answer(await ledger.statements(conn, customer_id))


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
        await ledger.statement(conn, customer_id, statement_id)
        pdf = await ledger.kept_pdf(conn, statement_id)
        if pdf is None:
            issued, document = await handlers.statement_document(parts_of(kit), conn, customer_id, statement_id)
            try:
                font = parts_of(kit).statement_font
                pdf = rendering.render_pdf(document, statement_id, issued.recorded_on, font)
            except rendering.FontMissing as missing:
                raise Problem(503, "Statement font missing", str(missing), kind="font-missing") from None
            await ledger.keep_pdf(conn, statement_id, pdf)
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{statement_id}.pdf"'}
    )


@router.get(
    "/customers/{customer_id}/statements/{statement_id}",
    summary="A statement as JSON, exactly as issued",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["issuer", "customer", "period", "ledger_version", "currencies"],
                    }
                }
            },
            "description": "the statement's canonical bytes: whom it is from and to, its period and ledger point,"
            " and per currency its lines, open items, aging and closing balance",
        }
    },
)
async def statement_json(customer_id: str, statement_id: str, kit: KitDep, _: Readers) -> Response:
    """The statement's document, reproduced from the ledger point it was pinned to: the same bytes as
    when issued (their SHA-256 is in the `Digest` header and the StatementIssued event)."""
    async with kit.pool.acquire() as conn:
        record = await ledger.statement(conn, customer_id, statement_id)
        _issued, document = await handlers.statement_document(parts_of(kit), conn, customer_id, statement_id)
    return Response(
        domain.render_json(document),
        media_type="application/json",
        headers={"Digest": f"sha-256={record.digest}", "X-Statement-Status": record.status},
    )


class Confirmation(Body):
    confirmed_by: str = Field(min_length=1, max_length=200, description="who confirmed, at the customer")
    confirmed_on: BusinessDate


@router.post(
    "/customers/{customer_id}/statements/{statement_id}/confirmation",
    status_code=201,
    response_model=v.StatementRecord,
    summary="Record the customer's confirmation of the balance (对账确认)",
)
async def confirm_statement(
    customer_id: str, statement_id: str, body: Confirmation, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """The customer returned the reply slip confirming the balance; dated no earlier than the statement."""
    command = handlers.ConfirmBalance(
        customer_id, statement_id, body.confirmed_by, body.confirmed_on, if_match_version(request)
    )
    return await account_command(
        request, kit, caller, command, lambda conn: ledger.statement(conn, customer_id, statement_id)
    )


class DifferingLineIn(Body):
    reference: str = Field(min_length=1, max_length=128)
    their_amount: AcceptedMoney | None = None
    note: str = Field(min_length=1, max_length=1000)


class BalanceDispute(Body):
    disputed_by: str = Field(min_length=1, max_length=200)
    disputed_on: BusinessDate
    lines: list[DifferingLineIn] = Field(min_length=1, max_length=500)


@router.post(
    "/customers/{customer_id}/statements/{statement_id}/dispute",
    status_code=201,
    response_model=v.StatementRecord,
    summary="Record that the customer disputes the statement, with the lines that differ",
)
async def dispute_statement(
    customer_id: str, statement_id: str, body: BalanceDispute, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """The customer's books differ: the lines where, and what they show."""
    lines = [DifferingLine(reference=x.reference, their_amount=x.their_amount, note=x.note) for x in body.lines]
    command = handlers.DisputeBalance(
        customer_id, statement_id, body.disputed_by, body.disputed_on, lines, if_match_version(request)
    )
    return await account_command(
        request, kit, caller, command, lambda conn: ledger.statement(conn, customer_id, statement_id)
    )
