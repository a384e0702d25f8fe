"""Reading the ledger: the account on two axes, invoices, payments, disputes, refunds and movements."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from libs.service.etag import etag
from libs.service.kit import KitDep
from libs.service.views import answer
from services.receivables.api.base import (
    AsOf,
    KnownOn,
    Readers,
    ReadersAndErp,
    dates_of,
    parts_of,
    today_of,
)
from services.receivables.queries import ledger
from services.receivables.queries import views as v

router = APIRouter()

# -- reading ---------------------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/account",
    response_model=v.AccountSummary,
    summary="Balance, overdue, disputed, unapplied cash, credit balance",
)
async def get_account(
    customer_id: str, kit: KitDep, _: ReadersAndErp, as_of: AsOf = None, known_on: KnownOn = None
) -> Response:
    """Per currency and in the base currency: what the customer owes, what of it is overdue and disputed,
    their unapplied cash and credit balance, and the net, at the end of `as_of` as known on `known_on`."""
    day, known = dates_of(kit, as_of, known_on)
    async with kit.pool.acquire() as conn:
        summary = await ledger.account_summary(
            conn, kit.store, parts_of(kit).ahead, customer_id, parts_of(kit).base_currency, day, known, today_of(kit)
        )
    return answer(summary, headers={"ETag": etag(summary.version)})


@router.get(
    "/invoices/{invoice_id}", response_model=v.InvoiceView, summary="An invoice with its schedule and what is open"
)
async def get_invoice(invoice_id: str, kit: KitDep, _: ReadersAndErp) -> Response:
    """An invoice with its terms, its instalments (each with what is open and, while open, its days past
    due), and what paid, credited, discounted or wrote off the rest."""
    async with kit.pool.acquire() as conn:
        return answer(await ledger.invoice(conn, invoice_id, today_of(kit)))


@router.get(
    "/customers/{customer_id}/invoices",
    response_model=list[v.InvoiceView],
    summary="A customer's invoices, open ones first by due date",
)
async def list_invoices(
    customer_id: str,
    kit: KitDep,
    _: ReadersAndErp,
    status: Literal["open", "closed", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Open invoices first, by the due date of what is open on them; then settled ones, newest first."""
    async with kit.pool.acquire() as conn:
        return answer(await ledger.invoices(conn, customer_id, status, today_of(kit), limit, offset))


@router.get(
    "/customers/{customer_id}/payments",
    response_model=list[v.PaymentView],
    summary="A customer's payments with their allocations, newest first",
)
async def list_payments(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Each payment, what is left of it and why (unapplied cash or a credit balance), and the invoices
    it pays, each allocation with the business date it counts from."""
    async with kit.pool.acquire() as conn:
        return answer(await ledger.payments(conn, customer_id, limit, offset))


@router.get("/customers/{customer_id}/disputes", response_model=list[v.DisputeView], summary="A customer's disputes")
async def list_disputes(customer_id: str, kit: KitDep, _: Readers) -> Response:
    """Open and resolved disputes, newest first."""
    async with kit.pool.acquire() as conn:
        return answer(await ledger.disputes(conn, customer_id))


@router.get("/customers/{customer_id}/refunds", response_model=list[v.RefundView], summary="A customer's refunds")
async def list_refunds(customer_id: str, kit: KitDep, _: Readers) -> Response:
    """What was paid back to the customer, newest first."""
    async with kit.pool.acquire() as conn:
        return answer(await ledger.refunds(conn, customer_id))


@router.get(
    "/customers/{customer_id}/movements",
    response_model=v.MovementPage,
    summary="Every movement of the balance, in ledger order",
)
async def list_movements(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    after_version: Annotated[int, Query(ge=0, le=2**31 - 1, description="continue after this account version")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """The internal ledger of the account: every line that changed the balance, write-offs included."""
    async with kit.pool.acquire() as conn:
        return answer(await ledger.movements(conn, customer_id, after_version, limit))
