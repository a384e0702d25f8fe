"""Aging of the book and of a customer (账龄分析), on any business date as known on any day."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from libs.service.errors import Problem
from libs.service.kit import KitDep
from libs.service.views import answer
from services.receivables.api.base import (
    AsOf,
    KnownOn,
    Readers,
    dates_of,
    parts_of,
    today_of,
)
from services.receivables.queries import aging, ledger
from services.receivables.queries import views as v

router = APIRouter()

# -- aging -------------------------------------------------------------------------------------------------


Basis = Annotated[v.AgingBasis, Query(description="age from the due date or from the invoice date")]
Buckets = Annotated[
    str | None,
    Query(
        max_length=200,
        description="bucket boundaries in days, e.g. 0,30,60,90,180 (current, 1-30, ..., over 180)",
    ),
]


def _boundaries(buckets: str | None, basis: v.AgingBasis) -> tuple[int, ...]:
    try:
        return aging.parse_boundaries(buckets, basis)
    except ValueError as bad:
        raise Problem(422, "Invalid buckets", str(bad), kind="invalid-buckets") from None


@router.get("/aging", response_model=v.AgingReport, summary="Aging of the whole book (账龄分析), in the base currency")
async def book_aging(
    kit: KitDep,
    _: Readers,
    as_of: AsOf = None,
    known_on: KnownOn = None,
    by: Basis = "due_date",
    buckets: Buckets = None,
    by_customer: bool = False,
    top: Annotated[
        int | None,
        Query(ge=1, le=1000, description="with by_customer: only the customers of the largest totals, largest first"),
    ] = None,
) -> Response:
    """What is open at the end of `as_of`, by the documents' own dates, as the ledger had it on `known_on`:
    per bucket in the base currency (the priced part; unpriced currencies are listed) and per currency."""
    if top is not None and not by_customer:
        raise Problem(422, "Invalid query", "top lists customers: it needs by_customer=true", kind="invalid-query")
    day, known = dates_of(kit, as_of, known_on)
    today, boundaries, base = today_of(kit), _boundaries(buckets, by), parts_of(kit).base_currency
    async with kit.pool.acquire() as conn:
        if day == known == today:
            aged = await aging.aged_book_today(
                kit.store, conn, parts_of(kit).ahead, today, by, boundaries, per_customer=by_customer
            )
            rates = await aging.rates_today(conn, base, today)
        else:
            accounts = await aging.book_as_of(kit.store, conn, day, known)
            aged = aging.aged_from_accounts(accounts, day, by, boundaries)
            rates = await aging.rates_as_of(kit.store, conn, base, day, known)
        names = (
            {r["customer_id"]: r["legal_name"] for r in await conn.fetch("SELECT * FROM customers")}
            if by_customer
            else None
        )
    report = aging.aging_report(
        aged,
        as_of=day,
        known_on=known,
        basis=by,
        boundaries=boundaries,
        rates=rates,
        by_customer=by_customer,
        names=names,
        top=top,
    )
    return answer(report)


@router.get(
    "/customers/{customer_id}/aging",
    response_model=v.CustomerAging,
    summary="A customer's aging, on any business date as known on any day",
)
async def customer_aging(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    as_of: AsOf = None,
    known_on: KnownOn = None,
    by: Basis = "due_date",
    buckets: Buckets = None,
) -> Response:
    """The customer's open items at the end of `as_of` as known on `known_on`, by bucket."""
    day, known = dates_of(kit, as_of, known_on)
    today, boundaries, base = today_of(kit), _boundaries(buckets, by), parts_of(kit).base_currency
    async with kit.pool.acquire() as conn:
        await ledger.customer(conn, customer_id)
        if day == known == today and await aging.read_model_is_current(conn, today, customer_id):
            aged = await aging.aged_today(conn, today, by, boundaries, customer_id=customer_id)
            rates = await aging.rates_today(conn, base, today)
        else:
            account = await aging.account_as_of(kit.store, conn, customer_id, day, known)
            aged = aging.aged_from_accounts([account], day, by, boundaries)
            rates = await aging.rates_as_of(kit.store, conn, base, day, known)
    report = aging.aging_report(
        aged, as_of=day, known_on=known, basis=by, boundaries=boundaries, rates=rates, by_customer=False
    )
    return answer(v.CustomerAging(customer_id=customer_id, **report.model_dump()))
