"""HTTP API of scoring: the credit account (score, limit, terms, holds), limit and terms requests
through the approval chain, the ERP's credit check, and the policy with its what-if."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from libs.events.contracts import CurrencyCode, DomainEvent, ExactDecimal, Money, to_minor_unit
from libs.events.database import Connection
from libs.events.store import EventContext
from libs.service import hot, idempotency
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import etag
from libs.service.hot import HotRoute
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.rendering import jsonable
from services.scoring import domain, facts, limits, policy_what_if
from services.scoring.checkdesk import CheckRequest, desk_of
from services.scoring.events import RequestKind
from services.scoring.projections import reserved_total
from services.scoring.reactions import Decide, account_of, command, reconsider
from services.scoring.settings import policies, settings

router = APIRouter(tags=["scoring"])

PEOPLE = ("viewer", "credit_analyst", "collector", "credit_manager", "finance_director")
Readers = Annotated[Principal, Depends(require(*PEOPLE))]
# What the ERP reads besides posting its documents: a customer's credit standing and its checks.
ReadersAndErp = Annotated[Principal, Depends(require(*PEOPLE, "erp"))]
# The credit team: who requests, approves and holds, and may check an order by hand.
CREDIT_TEAM = ("credit_analyst", "credit_manager", "finance_director")
CreditTeam = Annotated[Principal, Depends(require(*CREDIT_TEAM))]
# Who may ask the credit check: the ERP before every shipment, and the credit team by hand.
CHECKERS = (*CREDIT_TEAM, "erp")
Checkers = Annotated[Principal, Depends(require(*CHECKERS))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


async def _known(conn: Connection, customer_id: str) -> None:
    if not await conn.fetchval("SELECT true FROM customers WHERE customer_id = $1", customer_id):
        raise Problem(404, "Not found", f"no customer {customer_id}")


def _base_money(amount: Decimal | None) -> dict[str, Any] | None:
    base = settings().base_currency
    return None if amount is None else {"amount": to_minor_unit(amount, base), "currency": base}


# -- reading ---------------------------------------------------------------------------------------------


async def credit_summary(conn: Connection, kit: Kit, customer_id: str) -> dict[str, Any]:
    """The credit account as the credit team reads it: score, limit, terms, holds and exposure."""
    await _known(conn, customer_id)
    row = await conn.fetchrow("SELECT * FROM credit_accounts WHERE customer_id = $1", customer_id)
    today, policy = kit.clock.today(), policies()
    rates = await facts.rates_on(conn, today, settings().base_currency)
    known = (await facts.gather(conn, [customer_id], today, rates, settings().base_currency))[customer_id]
    reserved = reserved_total(row["reservations"], today) if row else Decimal(0)
    account = account_of(row) if row else domain.CreditAccount(customer_id=customer_id)
    grade = row["grade"] if row else None
    limit = account.limit_on(today)
    exposure = known.exposure.balance + reserved
    days = account.terms.credit_days if account.terms else limits.default_terms(grade, policy.limits)
    recommendation = limits.recommend(
        grade or "C",
        known.monthly_invoicing,
        days,
        known.net_worth,
        known.insured_cover,
        policy.limits,
        settings().base_currency,
    )
    pending = await conn.fetch(
        "SELECT * FROM limit_requests WHERE customer_id = $1 AND status = 'pending' ORDER BY requested_at",
        customer_id,
    )
    summary: dict[str, Any] = jsonable(
        {
            "customer_id": customer_id,
            "score": row["score"] if row else None,
            "grade": grade,
            "reasons": json.loads(row["reasons"]) if row else [],
            "components": json.loads(row["components"]) if row else {},
            "left_out": json.loads(row["left_out"]) if row else [],
            "notes": json.loads(row["notes"]) if row else [],
            "policy_version": row["policy_version"] if row else None,
            "scored_at": row["scored_at"] if row else None,
            "limit": {
                "in_force": _base_money(limit.amount if limit else None),
                "standing": _base_money(account.standing_limit.amount if account.standing_limit else None),
                "temporary_until": account.temporary_until,
                "reason": row["limit_reason"] if row else None,
            },
            "terms": {
                "credit_days": days,
                "discount_percent": account.terms.discount_percent if account.terms else None,
                "discount_days": account.terms.discount_days if account.terms else None,
                "source": "set" if account.terms else f"default for grade {grade or 'C'}",
            },
            "holds": [
                {"hold_id": hold_id, **hold} for hold_id, hold in (json.loads(row["holds"]) if row else {}).items()
            ],
            "exposure": {
                "open_receivables": _base_money(known.exposure.balance),
                "overdue": _base_money(known.exposure.overdue),
                "oldest_days_past_due": known.exposure.oldest_days_past_due,
                "reserved": _base_money(reserved),
                "total": _base_money(exposure),
                "available": _base_money(limit.amount - exposure if limit else None),
                "unpriced_currencies": known.exposure.unpriced,
            },
            "recommended_limit": {
                "amount": _base_money(recommendation.amount),
                "calculation": recommendation.calculation,
            },
            "pending_requests": [_request(r) for r in pending],
            "version": row["account_version"] if row else 0,
        }
    )
    return summary


def _request(row: asyncpg.Record) -> dict[str, Any]:
    found = dict(row)
    return {
        "request_id": found["request_id"],
        "customer_id": found["customer_id"],
        "kind": found["kind"],
        "amount": None
        if found["amount"] is None
        else {"amount": to_minor_unit(found["amount"], found["currency"]), "currency": found["currency"]},
        "expires_on": found["expires_on"],
        "terms": None
        if found["credit_days"] is None
        else {k: found[k] for k in ("credit_days", "discount_percent", "discount_days")},
        "requested_by": found["requested_by"],
        "reason": found["reason"],
        "status": found["status"],
        "waiting_for": found["waiting_for"] if found["status"] == "pending" else None,
        "steps": json.loads(found["steps"]),
        "requested_at": found["requested_at"],
        "decided_at": found["decided_at"],
    }


@router.get("/customers/{customer_id}/credit", summary="Score, grade, limit, terms, holds and exposure")
async def get_credit(customer_id: str, kit: KitDep, _: ReadersAndErp) -> JSONResponse:
    """The customer's credit standing: score, grade (with why it is not the plain grade, if so), reasons and
    components, the limit in force, terms, holds, exposure and available credit (which may be below
    zero), the recommended limit with its calculation, and pending requests."""
    async with kit.pool.acquire() as conn:
        summary = await credit_summary(conn, kit, customer_id)
    return JSONResponse(summary, headers={"ETag": etag(summary["version"])})


@router.get("/customers/{customer_id}/scores", summary="The customer's scores, newest first, each with its inputs")
async def get_scores(customer_id: str, kit: KitDep, _: Readers, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
    """Every score the customer was given, newest first, each with its inputs, the grade it replaced and
    the policy version: the same inputs, previous grade and policy give the same score again."""
    async with kit.pool.acquire() as conn:
        await _known(conn, customer_id)
        rows = await conn.fetch(
            "SELECT * FROM score_history WHERE customer_id = $1 ORDER BY version DESC LIMIT $2", customer_id, limit
        )
    return jsonable(
        {
            "customer_id": customer_id,
            "scores": [
                {
                    **{k: r[k] for k in ("version", "score", "grade", "previous_grade", "policy_version", "cause")},
                    **{
                        k: json.loads(r[k]) for k in ("reasons", "components", "weights", "left_out", "inputs", "notes")
                    },
                    "scored_at": r["scored_at"],
                }
                for r in rows
            ],
        }
    )


@router.get("/customers/{customer_id}/requests", summary="The customer's limit and terms requests, newest first")
async def get_requests(customer_id: str, kit: KitDep, _: Readers) -> Any:
    """The customer's limit and terms requests with every step of the approval chain."""
    async with kit.pool.acquire() as conn:
        await _known(conn, customer_id)
        rows = await conn.fetch(
            "SELECT * FROM limit_requests WHERE customer_id = $1 ORDER BY requested_at DESC", customer_id
        )
    return jsonable({"customer_id": customer_id, "requests": [_request(r) for r in rows]})


@router.get("/requests", summary="Requests waiting for approval, oldest first; filter by the tier they wait for")
async def waiting_requests(
    kit: KitDep, _: Readers, waiting_for: Annotated[str | None, Query(description="a role of the matrix")] = None
) -> Any:
    """The approver's queue: pending requests, oldest first, optionally those waiting for one tier."""
    tiers = [name for name, _ in policies().limits.authority]
    if waiting_for is not None and waiting_for not in tiers:
        raise Problem(422, "Unknown tier", f"waiting_for must be one of {', '.join(tiers)}", kind="invalid-query")
    rows = await kit.pool.fetch(
        "SELECT * FROM limit_requests WHERE status = 'pending' AND ($1::text IS NULL OR waiting_for = $1)"
        " ORDER BY requested_at LIMIT 500",
        waiting_for,
    )
    return jsonable({"requests": [_request(r) for r in rows]})


# -- commands on the credit account --------------------------------------------------------------------------


async def run(kit: Kit, conn: Connection, customer_id: str, decide: Decide) -> list[DomainEvent]:
    await _known(conn, customer_id)
    try:
        return await command(kit.store, conn, customer_id, decide, kit.clock.today())
    except domain.Refused as refused:
        raise Problem(422, "Refused", str(refused), kind="refused") from None


async def _command(request: Request, kit: Kit, caller: Principal, customer_id: str, decide: Decide) -> Response:
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        events = await run(kit, scope.conn, customer_id, decide)
        body = await credit_summary(scope.conn, kit, customer_id)
        body["recorded"] = [e.event_type for e in events]
        return scope.keep(JSONResponse(body, status_code=201, headers={"ETag": etag(body["version"])}))


class LimitRequest(Body):
    kind: RequestKind
    amount: ExactDecimal = Field(gt=0, description="in the base currency")
    currency: CurrencyCode
    expires_on: date | None = Field(default=None, description="temporary limits only: the day it ends")
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/limit-requests", status_code=201, summary="Request a new or changed limit")
async def request_limit(
    customer_id: str, body: LimitRequest, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """A new, increased, decreased or temporary limit (with its expiry), in the base currency; it starts at
    the first tier of the authority matrix."""
    base = settings().base_currency
    if body.currency != base:
        raise Problem(422, "Wrong currency", f"limits are set in the base currency {base}", kind="invalid-currency")
    request_id = f"LR-{uuid.uuid4().hex[:12]}"

    def decide(account: domain.CreditAccount, _: asyncpg.Record) -> list[DomainEvent]:
        return domain.request_limit(
            account,
            customer_id,
            request_id,
            body.kind,
            Money.of(body.amount, base),
            body.expires_on,
            caller.subject,
            body.reason,
            kit.clock.today(),
            policies().limits,
        )

    return await _command(request, kit, caller, customer_id, decide)


class TermsRequest(Body):
    credit_days: int = Field(ge=0, le=365)
    discount_percent: ExactDecimal | None = Field(default=None, gt=0, lt=100)
    discount_days: int | None = Field(default=None, ge=0, le=365)
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/terms-requests", status_code=201, summary="Request credit terms")
async def request_terms(
    customer_id: str, body: TermsRequest, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Credit days and a cash discount. Within the grade's default days and a discount of up to 2 % the
    first tier decides; more needs a credit manager; a discount above 10 % is refused."""
    request_id = f"TR-{uuid.uuid4().hex[:12]}"
    terms = domain.Terms(body.credit_days, body.discount_percent, body.discount_days)

    def decide(account: domain.CreditAccount, row: asyncpg.Record) -> list[DomainEvent]:
        grade = row["grade"]
        return domain.request_terms(
            account, customer_id, request_id, terms, grade, caller.subject, body.reason, policies().limits
        )

    return await _command(request, kit, caller, customer_id, decide)


class Approval(Body):
    note: str | None = Field(default=None, max_length=1000)


@router.post(
    "/customers/{customer_id}/requests/{request_id}/approval",
    status_code=201,
    summary="Approve within your authority, or endorse it up to the next tier",
)
async def approve(
    customer_id: str, request_id: str, body: Approval, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Approve within your authority, or endorse the request up to the next tier. Nobody approves their
    own request (however their name is written)."""
    roles = sorted(caller.roles)
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account, _: domain.approve(account, request_id, caller.subject, roles, body.note, policies().limits),
    )


class Rejection(Body):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/requests/{request_id}/rejection", status_code=201, summary="Reject a request")
async def reject(
    customer_id: str, request_id: str, body: Rejection, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Reject a request, with a reason: by someone with the authority of the tier it waits for, or
    withdrawn by the person who made it."""
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account, _: domain.reject(
            account, request_id, caller.subject, sorted(caller.roles), body.reason, policies().limits
        ),
    )


class Hold(Body):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/customers/{customer_id}/holds", status_code=201, summary="Place a credit hold by hand")
async def place_hold(customer_id: str, body: Hold, request: Request, kit: KitDep, caller: CreditTeam) -> Response:
    """A hold by hand, with a reason: every credit check answers hold until it is released."""
    hold_id = f"manual-{uuid.uuid4().hex[:8]}"
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account, _: domain.place_hold(account, customer_id, hold_id, body.reason, caller.subject),
    )


@router.post("/customers/{customer_id}/holds/{hold_id}/release", status_code=201, summary="Release a credit hold")
async def release_hold(
    customer_id: str, hold_id: str, body: Hold, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Release a hold, with a reason. A hold placed by policy (over limit, overdue, the credit file's
    status) is released by policy, or by a credit manager; it comes back at the next look if its
    cause remains."""
    return await _command(
        request,
        kit,
        caller,
        customer_id,
        lambda account, _: domain.release_hold(account, hold_id, body.reason, caller.subject, sorted(caller.roles)),
    )


@router.post("/customers/{customer_id}/rescore", status_code=201, summary="Score the customer again now")
async def rescore(customer_id: str, request: Request, kit: KitDep, caller: CreditTeam) -> Response:
    """Score the customer again now from the facts in hand; nothing is recorded if nothing changed."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        await _known(scope.conn, customer_id)
        again = facts.Reconsider(scores={customer_id: f"asked by {caller.subject}"}, holds={customer_id})
        events = await reconsider(kit.store, scope.conn, again, {}, kit.clock.today(), policies())
        body = await credit_summary(scope.conn, kit, customer_id)
        body["recorded"] = [e.event_type for e in events]
        return scope.keep(JSONResponse(body, status_code=201))


# -- the credit check ----------------------------------------------------------------------------------------------


class CreditCheck(Body):
    customer_id: str = Field(min_length=1, max_length=128)
    amount: ExactDecimal = Field(gt=0)
    currency: CurrencyCode
    order_ref: str = Field(
        min_length=1, max_length=128, description="the ERP's order; its invoice releases the reservation"
    )


@router.post(
    "/credit-checks",
    status_code=201,
    summary="May this order ship? approve, review or hold, with the available credit; send an Idempotency-Key",
)
async def credit_check(body: CreditCheck, request: Request, caller: Checkers) -> Response:
    # Declared for the OpenAPI document; the hot route below answers it first.
    """The ERP's question before it ships: approve, review or hold, with the available credit and the
    reasons. An approved check reserves its amount until the order's invoice arrives or the
    reservation lapses. Answered ahead of FastAPI's routing (a hot route), exactly as declared here."""
    return await _checked(request, body, caller)


async def hot_credit_check(request: Request) -> Response:
    """POST /credit-checks without FastAPI's routing and dependencies: the ERP waits on it."""
    caller = hot.caller(request, *CHECKERS)
    return await _checked(request, await hot.body_of(request, CreditCheck), caller)


async def _checked(request: Request, body: CreditCheck, caller: Principal) -> Response:
    kit: Kit = request.app.state.kit
    check = CheckRequest(
        customer_id=body.customer_id,
        amount=body.amount,
        currency=body.currency,
        order_ref=body.order_ref,
        checked_by=caller.subject,
        claim=await idempotency.claim_of(request, caller),
        context=EventContext.current(),
    )
    return await desk_of(kit.store).check(check)


HOT_ROUTES = [HotRoute("POST", "/credit-checks", hot_credit_check)]


@router.get("/credit-checks/{decision_id}", summary="A credit check's decision, and whether it still reserves")
async def get_check(decision_id: str, kit: KitDep, _: ReadersAndErp) -> Any:
    """A credit check's decision, and whether its reservation still stands."""
    row = await kit.pool.fetchrow("SELECT * FROM credit_checks WHERE decision_id = $1", decision_id)
    base = settings().base_currency
    if row is None:
        raise Problem(404, "Not found", f"no credit check {decision_id}")
    found = dict(row)
    for name, currency in (("amount", found["currency"]), ("amount_in_base", base), ("available", base)):
        found[name] = to_minor_unit(found[name], currency)
    found["reasons"] = json.loads(found["reasons"])
    found["reserving"] = (
        found["outcome"] == "approve" and found["released_on"] is None and found["reserved_until"] >= kit.clock.today()
    )
    return jsonable(found)


# -- policy ----------------------------------------------------------------------------------------------------------


@router.get("/policy", summary="The policy in force: scorecard, limit rules, authority, checks and holds")
async def get_policy(_: Readers) -> Any:
    """The policy in force: the scorecard's weights, grade floors, band and evidence rule, bureau scales,
    the limit rules and authority matrix, the check and the holds."""
    return jsonable(policy_what_if.describe(policies()))


class WhatIf(Body):
    version: str = Field(default="what-if", max_length=64)
    weights: (
        dict[Literal["payment_behaviour", "delinquency", "financial_strength", "history", "bureau"], ExactDecimal]
        | None
    ) = None
    grade_floors: dict[Literal["A", "B", "C", "D"], ExactDecimal] | None = None
    needs_multiple: dict[Literal["A", "B", "C", "D", "E"], ExactDecimal] | None = None
    net_worth_share: dict[Literal["A", "B", "C", "D", "E"], ExactDecimal] | None = None
    cap_at_insured_cover: bool | None = None
    hold_overdue_days: int | None = Field(default=None, ge=0)


@router.post(
    "/policy/what-if", summary="How grades, limits and holds would differ under a changed policy; changes nothing"
)
async def what_if(body: WhatIf, kit: KitDep, _: Managers) -> Any:
    """Replay every recorded score under a changed policy and report how grades, recommended limits and
    overdue holds would differ; nothing live changes (credit managers)."""
    try:
        changed = policy_what_if.changed(policies(), **body.model_dump(exclude_none=True))
    except ValueError as invalid:
        raise Problem(422, "Invalid policy", str(invalid), kind="invalid-policy") from None
    async with kit.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        report = await policy_what_if.run(conn, policies(), changed, kit.clock.today())
    return jsonable(report)
