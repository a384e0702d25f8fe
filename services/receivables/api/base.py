"""What every route of receivables shares: roles, the request body base, the business date's two
axes, and the answer of a command on an account."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from libs.events.contracts import BusinessDate
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import etag
from libs.service.idempotency import idempotent
from libs.service.kit import Kit
from libs.service.views import answer
from services.receivables import handlers
from services.receivables.queries import ledger

PEOPLE = ("viewer", "credit_analyst", "collector", "credit_manager", "finance_director")
Readers = Annotated[Principal, Depends(require(*PEOPLE))]
# What the ERP reads besides its own credit checks: balances and invoices.
ReadersAndErp = Annotated[Principal, Depends(require(*PEOPLE, "erp"))]
CreditTeam = Annotated[Principal, Depends(require("credit_analyst", "collector", "credit_manager", "finance_director"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]
Finance = Annotated[Principal, Depends(require("finance_director"))]
Erp = Annotated[Principal, Depends(require("erp"))]


def today_of(kit: Kit) -> date:
    return kit.clock.today()


def parts_of(kit: Kit) -> handlers.Parts:
    parts: handlers.Parts = kit.parts
    return parts


def dates_of(kit: Kit, as_of: date | None, known_on: date | None) -> tuple[date, date]:
    """The two axes of an as-of read: both default to today, neither may be after it."""
    today = today_of(kit)
    as_of, known_on = as_of or today, known_on or today
    for name, day in (("as_of", as_of), ("known_on", known_on)):
        if day > today:
            raise Problem(
                422, "Invalid date", f"{name} {day} is after today's business date {today}", kind="invalid-date"
            )
    return as_of, known_on


AsOf = Annotated[BusinessDate | None, Query(description="the business date the figures are for (default: today)")]
KnownOn = Annotated[
    BusinessDate | None, Query(description="what the ledger had recorded by the end of this day (default: today)")
]


Answer = Callable[[Any], Awaitable[BaseModel]]


async def account_command(request: Request, kit: Kit, caller: Principal, command: Any, answer_with: Answer) -> Response:
    """A command on an account: idempotent, answered 201 with what it made or changed."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        ran = await handlers.on_account(parts_of(kit), scope.conn, command)
        body = await answer_with(scope.conn)
        return scope.keep(answer(body, 201, {"ETag": etag(ran.after.version)}))


def summary_of(kit: Kit, customer_id: str) -> Answer:
    today = today_of(kit)
    return lambda conn: ledger.account_summary(
        conn, kit.store, parts_of(kit).ahead, customer_id, parts_of(kit).base_currency, today, today, today
    )


def invoice_of(kit: Kit, invoice_id: str) -> Answer:
    today = today_of(kit)
    return lambda conn: ledger.invoice(conn, invoice_id, today)
