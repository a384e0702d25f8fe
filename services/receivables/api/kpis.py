"""The credit manager's KPIs of a period, as reported then and as known now, and the items behind
them; the provision matrix, computed from the book's history and recorded."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from contracts.receivables import ProvisionMatrixComputed
from libs.events.contracts import BusinessDate
from libs.service.errors import Problem
from libs.service.idempotency import idempotent
from libs.service.kit import KitDep
from libs.service.views import Body, answer
from services.receivables import handlers
from services.receivables.api.base import Managers, Readers, parts_of, today_of
from services.receivables.domain.positions import is_month_end
from services.receivables.domain.provision import SegmentBy
from services.receivables.queries import kpis, positions, provisions

router = APIRouter()

MAX_DAYS = 731
From = Annotated[BusinessDate, Query(alias="from", description="the period's first business date")]
To = Annotated[BusinessDate, Query(description="its last: today at the latest")]


def _check(start: date, end: date, known: tuple[str, date], today: date) -> None:
    """The period in order, at most MAX_DAYS, and neither its end nor the knowledge date after today."""
    for name, day in (("to", end), known):
        if day > today:
            raise Problem(
                422, "Invalid date", f"{name} {day} is after today's business date {today}", kind="invalid-date"
            )
    if start > end:
        raise Problem(422, "Invalid period", f"from {start} is after to {end}", kind="invalid-date")
    if (end - start).days >= MAX_DAYS:
        raise Problem(422, "Invalid period", f"at most {MAX_DAYS} days from {start}", kind="invalid-date")


@router.get("/kpis", response_model=kpis.KpiReport, summary="DSO, ADD, CEI and the book's shares, as reported and now")
async def get_kpis(
    kit: KitDep,
    _: Readers,
    from_: From,
    to: To,
    reported_on: Annotated[
        BusinessDate | None,
        Query(description="the figures as the ledger knew them at the end of this day (default: the period's end)"),
    ] = None,
    by: kpis.By = "total",
) -> Response:
    """Each figure of the period twice, as the ledger knew it at the end of ``reported_on`` and as it
    knows it today, with the difference later postings made; ``by=month`` adds a row per calendar
    month, ``by=customer`` one per customer, ``by=grade`` and ``by=collector`` one per grade or
    collector the customers had at the period's end. Definitions and rounding are in the README."""
    today = today_of(kit)
    reported = reported_on or to
    _check(from_, to, ("reported_on", reported), today)
    base = parts_of(kit).base_currency
    async with kit.pool.acquire() as conn:
        names = {r["customer_id"]: r["legal_name"] for r in await conn.fetch("SELECT * FROM customers")}
        segments = await kpis.segments_on(conn, by, to)
        if await positions.readable(conn, from_, to, by, today, (reported, today)):
            customers = [r["customer_id"] for r in await conn.fetch("SELECT customer_id FROM accounts")]
            rows = kpis.rows_of(from_, to, by, customers, names, segments)
            then = await positions.positions_on(kit.store, conn, base, from_, to, by, rows, reported)
            now = await positions.positions_on(kit.store, conn, base, from_, to, by, rows, today)
            return answer(kpis.report(then, now, from_, to, by, rows, "month_end_positions"))
        book = await kpis.load_book(kit.store, conn)
        rows = kpis.rows_of(from_, to, by, book.events, names, segments)
        as_reported = await kpis.ledger_on(kit.store, conn, book, base, to, reported)
        as_now = await kpis.ledger_on(kit.store, conn, book, base, to, today)
    return answer(kpis.report(as_reported, as_now, from_, to, by, rows, "ledger"))


@router.get("/kpis/invoices", response_model=kpis.KpiItems, summary="The documents behind a period's KPIs")
async def get_kpi_items(
    kit: KitDep,
    _: Readers,
    from_: From,
    to: To,
    known_on: Annotated[
        BusinessDate | None, Query(description="as the ledger knew them at the end of this day (default: today)")
    ] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> Response:
    """The invoices issued in the period (credit sales), what is open at its end (receivables, each
    with its days past due), the payments by value date and the instalments that fell due: each in
    its currency and in the base currency, so every KPI can be recomputed by hand."""
    today = today_of(kit)
    known = known_on or today
    _check(from_, to, ("known_on", known), today)
    async with kit.pool.acquire() as conn:
        book = await kpis.load_book(kit.store, conn)
        ledger = await kpis.ledger_on(kit.store, conn, book, parts_of(kit).base_currency, to, known)
    return answer(kpis.items(ledger, from_, to, customer_id))


# -- the provision matrix -----------------------------------------------------------------------------------


class ProvisionRequest(Body):
    month_end: BusinessDate = Field(description="the last day of a month, up to today: the matrix's date")
    method: provisions.Method = Field(description="roll_rates: month-on-month migration; cohorts: payment cohorts")
    look_back_months: int = Field(default=12, ge=1, le=36, description="months of history before the month end")
    overlay_percent: Decimal = Field(
        default=Decimal(0), ge=-100, le=1000, decimal_places=4, description="each rate raised by this share of itself"
    )
    rationale: str = Field(default="", max_length=2000, description="why the overlay: required with one")
    known_on: BusinessDate | None = Field(
        default=None, description="the history as the ledger knew it at the end of this day (default: today)"
    )
    segment_by: SegmentBy = Field(
        default="none",
        description="grade: a matrix per grade (unrated without one); insurance: insured and uninsured;"
        " each customer in the segment it had at the month end",
    )


@router.post(
    "/provisions",
    status_code=201,
    response_model=ProvisionMatrixComputed,
    summary="Compute and record a provision matrix (坏账准备) from the book's history",
)
async def compute_provision(body: ProvisionRequest, request: Request, kit: KitDep, caller: Managers) -> Response:
    """Loss rates per aging band from the history of the ``look_back_months`` to ``month_end``, as the
    ledger knew it on ``known_on``, by roll rates or payment cohorts, with the overlay; applied to what
    was open at the month end; with ``segment_by``, a matrix per segment from its own customers.
    Recorded as an event with its inputs: the same request gives the same matrix however much history
    arrives later."""
    today = today_of(kit)
    known = body.known_on or today
    if not is_month_end(body.month_end):
        raise Problem(
            422, "Invalid date", f"month_end {body.month_end} is not the last day of its month", kind="invalid-date"
        )
    if body.month_end > today or known > today:
        raise Problem(
            422, "Invalid date", f"month_end and known_on must be today ({today}) at the latest", kind="invalid-date"
        )
    if body.overlay_percent and not body.rationale.strip():
        errors = [{"field": "body.rationale", "message": "required with an overlay"}]
        raise Problem(422, "Rationale required", "an overlay needs its rationale", kind="validation", errors=errors)
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        base, days = parts_of(kit).base_currency, provisions.month_ends(body.month_end, body.look_back_months)
        segment_of = await provisions.segments_at(scope.conn, body.segment_by, body.month_end, known)
        if await positions.month_ends_readable(scope.conn, days, today, known):
            evidence = await provisions.evidence_kept(
                kit.store, kit.pool, base, days, body.method, known, body.segment_by, segment_of
            )
        else:
            book = await kpis.load_book(kit.store, scope.conn)
            ledger = await kpis.ledger_on(kit.store, scope.conn, book, base, body.month_end, known)
            history = provisions.folded(ledger, days, body.method)
            evidence = provisions.evidence_folded(history, body.method, body.segment_by, segment_of)
        matrix = provisions.compute(
            evidence,
            known_on=known,
            base=base,
            matrix_id=f"PM-{uuid.uuid4().hex[:12].upper()}",
            month_end=body.month_end,
            method=body.method,
            look_back_months=body.look_back_months,
            overlay_percent=body.overlay_percent,
            rationale=body.rationale,
            by=caller.subject,
            today=today,
            segment_by=body.segment_by,
        )
        await handlers.record_provision(parts_of(kit), scope.conn, matrix)
        found = await provisions.matrix(scope.conn, matrix.matrix_id)
        return scope.keep(JSONResponse(found, status_code=201))


@router.get("/provisions", response_model=list[ProvisionMatrixComputed], summary="The provision matrices recorded")
async def list_provisions(kit: KitDep, _: Readers) -> Response:
    """Newest month end first, each exactly as it was recorded."""
    async with kit.pool.acquire() as conn:
        return JSONResponse(await provisions.matrices(conn))


@router.get(
    "/provisions/{matrix_id}",
    response_model=ProvisionMatrixComputed,
    responses={404: {"description": "no such matrix"}},
    summary="A provision matrix, exactly as recorded",
)
async def get_provision(matrix_id: str, kit: KitDep, _: Readers) -> Response:
    async with kit.pool.acquire() as conn:
        found = await provisions.matrix(conn, matrix_id)
    if found is None:
        raise Problem(404, "Not found", f"no provision matrix {matrix_id}", kind="not-found")
    return JSONResponse(found)
