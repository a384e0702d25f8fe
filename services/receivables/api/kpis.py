"""The credit manager's KPIs of a period, as reported then and as known now, and the items behind them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from libs.events.contracts import BusinessDate
from libs.service.errors import Problem
from libs.service.kit import KitDep
from libs.service.views import answer
from services.receivables.api.base import Readers, parts_of, today_of
from services.receivables.queries import kpis

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
    month, ``by=customer`` one per customer. Definitions and rounding are in the README."""
    today = today_of(kit)
    reported = reported_on or to
    _check(from_, to, ("reported_on", reported), today)
    base = parts_of(kit).base_currency
    async with kit.pool.acquire() as conn:
        book = await kpis.load_book(kit.store, conn)
        then = await kpis.ledger_on(kit.store, conn, book, base, to, reported)
        now = await kpis.ledger_on(kit.store, conn, book, base, to, today)
        names = {r["customer_id"]: r["legal_name"] for r in await conn.fetch("SELECT * FROM customers")}
    return answer(kpis.report(then, now, from_, to, by, names))


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
