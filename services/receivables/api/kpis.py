"""The credit manager's KPIs of a period, as reported then and as known now, and the items behind them."""

from __future__ import annotations

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


@router.get("/kpis", response_model=kpis.KpiReport, summary="DSO, ADD, CEI and the book's shares, as reported and now")
async def get_kpis(
    kit: KitDep,
    _: Readers,
    from_: Annotated[BusinessDate, Query(alias="from", description="the period's first business date")],
    to: Annotated[BusinessDate, Query(description="its last: today at the latest")],
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
    for name, day in (("to", to), ("reported_on", reported)):
        if day > today:
            raise Problem(
                422, "Invalid date", f"{name} {day} is after today's business date {today}", kind="invalid-date"
            )
    if from_ > to:
        raise Problem(422, "Invalid period", f"from {from_} is after to {to}", kind="invalid-date")
    if (to - from_).days >= MAX_DAYS:
        raise Problem(422, "Invalid period", f"at most {MAX_DAYS} days from {from_}", kind="invalid-date")
    base = parts_of(kit).base_currency
    async with kit.pool.acquire() as conn:
        book = await kpis.load_book(kit.store, conn)
        then = await kpis.ledger_on(kit.store, conn, book, base, to, reported)
        now = await kpis.ledger_on(kit.store, conn, book, base, to, today)
        names = {r["customer_id"]: r["legal_name"] for r in await conn.fetch("SELECT * FROM customers")}
    return answer(kpis.report(then, now, from_, to, by, names))
