"""HTTP API of scoring: the credit account (score, limit, terms, holds), limit and terms requests
through the approval chain, the ERP's credit check, and the policy with its what-if."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, model_validator

from contracts.scoring import RequestKind
from libs.events.contracts import AcceptedCurrency, BoundedDecimal, BusinessDate, Money, accepted_amount
from libs.events.database import Connection
from libs.events.store import EventContext
from libs.service import hot, idempotency
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import etag
from libs.service.hot import HotRoute
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.views import Body, answer
from services.scoring import domain, handlers
from services.scoring.domain.policy import changed, describe
from services.scoring.queries import accounts
from services.scoring.queries import views as v
from services.scoring.queries import what_if as replay
from services.scoring.queries.portfolio import portfolio_view

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


def parts_of(kit: Kit) -> handlers.Parts:
    parts: handlers.Parts = kit.parts
    return parts


async def _summary(conn: Connection, kit: Kit, customer_id: str) -> v.CreditSummary:
    parts = parts_of(kit)
    return await accounts.credit_summary(conn, customer_id, kit.clock.today(), parts.policies, parts.base_currency)


# -- reading ---------------------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/credit",
    response_model=v.CreditSummary,
    summary="Score, grade, limit, terms, holds and exposure",
)
async def get_credit(customer_id: str, kit: KitDep, _: ReadersAndErp) -> Response:
    """The customer's credit standing: score, grade (with why it is not the plain grade, if so), reasons and
    components, the limit in force, terms, holds, exposure and available credit (which may be below
    zero), the recommended limit with its calculation, and pending requests."""
    async with kit.pool.acquire() as conn:
        summary = await _summary(conn, kit, customer_id)
    return answer(summary, headers={"ETag": etag(summary.version)})


@router.get(
    "/customers/{customer_id}/scores",
    response_model=v.ScoreHistory,
    summary="The customer's scores, newest first, each with its inputs",
)
async def get_scores(
    customer_id: str,
    kit: KitDep,
    _: Readers,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    inputs: Annotated[bool, Query(description="false: each score without its inputs (null)")] = True,
) -> Response:
    """Every score the customer was given, newest first, each with its inputs, the grade it replaced and
    the policy version: the same inputs, previous grade and policy give the same score again."""
    async with kit.pool.acquire() as conn:
        return answer(await accounts.scores(conn, customer_id, limit, with_inputs=inputs))


@router.get(
    "/customers/{customer_id}/requests",
    response_model=v.CustomerRequests,
    summary="The customer's limit and terms requests, newest first",
)
async def get_requests(customer_id: str, kit: KitDep, _: Readers) -> Response:
    """The customer's limit and terms requests with every step of the approval chain."""
    async with kit.pool.acquire() as conn:
        return answer(await accounts.customer_requests(conn, customer_id))


@router.get(
    "/requests",
    response_model=v.WaitingRequests,
    summary="Requests waiting for approval, oldest first; filter by the tier they wait for",
)
async def waiting_requests(
    kit: KitDep, _: Readers, waiting_for: Annotated[str | None, Query(description="a role of the matrix")] = None
) -> Response:
    """The approver's queue: pending requests, oldest first, optionally those waiting for one tier."""
    tiers = [name for name, _ in parts_of(kit).policies.limits.authority]
    if waiting_for is not None and waiting_for not in tiers:
        raise Problem(422, "Unknown tier", f"waiting_for must be one of {', '.join(tiers)}", kind="invalid-query")
    async with kit.pool.acquire() as conn:
        return answer(await accounts.waiting_requests(conn, waiting_for))


@router.get(
    "/portfolio",
    response_model=v.PortfolioView,
    summary="The book by grade and against its limits, today, in the base currency",
)
async def get_portfolio(kit: KitDep, _: Readers) -> Response:
    """Per grade (A to E, then not rated) the customers, their exposure and their limits in force; and
    against the limits: how many have one, how many are over it (and by how much in all), how many use
    80 % of it or more, and how many are exposed without one. Exposure is what the credit check counts."""
    async with kit.pool.acquire() as conn:
        return answer(await portfolio_view(conn, kit.clock.today(), parts_of(kit).base_currency))


# -- commands on the credit account --------------------------------------------------------------------------


async def _command(request: Request, kit: Kit, caller: Principal, command: handlers.AccountCommand) -> Response:
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        ran = await handlers.on_account(parts_of(kit), scope.conn, command)
        summary = await _summary(scope.conn, kit, command.customer_id)
        body = v.CommandAnswer(**summary.model_dump(), recorded=[e.event_type for e in ran.events])
        return scope.keep(answer(body, 201, {"ETag": etag(body.version)}))


class LimitRequest(Body):
    kind: RequestKind
    amount: BoundedDecimal = Field(gt=0, description="in the base currency")
    currency: AcceptedCurrency
    expires_on: BusinessDate | None = Field(default=None, description="temporary limits only: the day it ends")
    reason: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _in_minor_units(self) -> LimitRequest:
        accepted_amount(self.amount, self.currency)
        return self


@router.post(
    "/customers/{customer_id}/limit-requests",
    status_code=201,
    response_model=v.CommandAnswer,
    summary="Request a new or changed limit",
)
async def request_limit(
    customer_id: str, body: LimitRequest, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """A new, increased, decreased or temporary limit (with its expiry), in the base currency; it starts at
    the first tier of the authority matrix."""
    base = parts_of(kit).base_currency
    if body.currency != base:
        raise Problem(422, "Wrong currency", f"limits are set in the base currency {base}", kind="invalid-currency")
    command = handlers.RequestLimit(
        customer_id,
        f"LR-{uuid.uuid4().hex[:12]}",
        body.kind,
        Money.of(body.amount, base),
        body.expires_on,
        caller.subject,
        body.reason,
    )
    return await _command(request, kit, caller, command)


class TermsRequest(Body):
    credit_days: int = Field(ge=0, le=365)
    discount_percent: BoundedDecimal | None = Field(default=None, gt=0, lt=100)
    discount_days: int | None = Field(default=None, ge=0, le=365)
    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/customers/{customer_id}/terms-requests",
    status_code=201,
    response_model=v.CommandAnswer,
    summary="Request credit terms",
)
async def request_terms(
    customer_id: str, body: TermsRequest, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Credit days and a cash discount. Within the grade's default days and a discount of up to 2 % the
    first tier decides; more needs a credit manager; a discount above 10 % is refused."""
    terms = domain.Terms(body.credit_days, body.discount_percent, body.discount_days)
    command = handlers.RequestTerms(customer_id, f"TR-{uuid.uuid4().hex[:12]}", terms, caller.subject, body.reason)
    return await _command(request, kit, caller, command)


class Approval(Body):
    note: str | None = Field(default=None, max_length=1000)


@router.post(
    "/customers/{customer_id}/requests/{request_id}/approval",
    status_code=201,
    response_model=v.CommandAnswer,
    summary="Approve within your authority, or endorse it up to the next tier",
)
async def approve(
    customer_id: str, request_id: str, body: Approval, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Approve within your authority, or endorse the request up to the next tier. Nobody approves their
    own request (however their name is written)."""
    command = handlers.Approve(customer_id, request_id, caller.subject, sorted(caller.roles), body.note)
    return await _command(request, kit, caller, command)


class Rejection(Body):
    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/customers/{customer_id}/requests/{request_id}/rejection",
    status_code=201,
    response_model=v.CommandAnswer,
    summary="Reject a request",
)
async def reject(
    customer_id: str, request_id: str, body: Rejection, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Reject a request, with a reason: by someone with the authority of the tier it waits for, or
    withdrawn by the person who made it."""
    command = handlers.Reject(customer_id, request_id, caller.subject, sorted(caller.roles), body.reason)
    return await _command(request, kit, caller, command)


class Hold(Body):
    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/customers/{customer_id}/holds",
    status_code=201,
    response_model=v.CommandAnswer,
    summary="Place a credit hold by hand",
)
async def place_hold(customer_id: str, body: Hold, request: Request, kit: KitDep, caller: CreditTeam) -> Response:
    """A hold by hand, with a reason: every credit check answers hold until it is released."""
    command = handlers.PlaceHold(customer_id, f"manual-{uuid.uuid4().hex[:8]}", body.reason, caller.subject)
    return await _command(request, kit, caller, command)


@router.post(
    "/customers/{customer_id}/holds/{hold_id}/release",
    status_code=201,
    response_model=v.CommandAnswer,
    summary="Release a credit hold",
)
async def release_hold(
    customer_id: str, hold_id: str, body: Hold, request: Request, kit: KitDep, caller: CreditTeam
) -> Response:
    """Release a hold, with a reason. A hold placed by policy (over limit, overdue, the credit file's
    status) is released by policy, or by a credit manager; it comes back at the next look if its
    cause remains."""
    command = handlers.ReleaseHold(customer_id, hold_id, body.reason, caller.subject, sorted(caller.roles))
    return await _command(request, kit, caller, command)


@router.post(
    "/customers/{customer_id}/rescore",
    status_code=201,
    response_model=v.CommandAnswer,
    summary="Score the customer again now",
)
async def rescore(customer_id: str, request: Request, kit: KitDep, caller: CreditTeam) -> Response:
    """Score the customer again now from the facts in hand; nothing is recorded if nothing changed."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        events = await handlers.rescore(parts_of(kit), scope.conn, customer_id, caller.subject)
        summary = await _summary(scope.conn, kit, customer_id)
        body = v.CommandAnswer(**summary.model_dump(), recorded=[e.event_type for e in events])
        return scope.keep(answer(body, 201))


# -- the credit check ----------------------------------------------------------------------------------------------


class CreditCheck(Body):
    customer_id: str = Field(min_length=1, max_length=128)
    amount: BoundedDecimal = Field(gt=0)
    currency: AcceptedCurrency
    order_ref: str = Field(
        min_length=1, max_length=128, description="the ERP's order; its invoice releases the reservation"
    )

    @model_validator(mode="after")
    def _in_minor_units(self) -> CreditCheck:
        accepted_amount(self.amount, self.currency)
        return self


@router.post(
    "/credit-checks",
    status_code=201,
    response_model=v.CheckAnswer,
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
    check = handlers.CheckRequest(
        customer_id=body.customer_id,
        amount=body.amount,
        currency=body.currency,
        order_ref=body.order_ref,
        checked_by=caller.subject,
        claim=await idempotency.claim_of(request, caller),
        context=EventContext.current(),
    )
    return await parts_of(kit).desk.check(check)


HOT_ROUTES = [HotRoute("POST", "/credit-checks", hot_credit_check)]


@router.get(
    "/credit-checks/{decision_id}",
    response_model=v.CheckView,
    summary="A credit check's decision, and whether it still reserves",
)
async def get_check(decision_id: str, kit: KitDep, _: ReadersAndErp) -> Response:
    """A credit check's decision, and whether its reservation still stands."""
    async with kit.pool.acquire() as conn:
        return answer(await accounts.credit_check(conn, decision_id, kit.clock.today(), parts_of(kit).base_currency))


# -- policy ----------------------------------------------------------------------------------------------------------


@router.get(
    "/policy",
    response_model=v.PolicyView,
    summary="The policy in force: scorecard, limit rules, authority, checks and holds",
)
async def get_policy(kit: KitDep, _: Readers) -> Response:
    """The policy in force: the scorecard's weights, grade floors, band and evidence rule, bureau scales,
    the limit rules and authority matrix, the check and the holds."""
    parts = parts_of(kit)
    return answer(v.PolicyView(**describe(parts.policies, parts.base_currency)))


class WhatIf(Body):
    version: str = Field(default="what-if", max_length=64)
    weights: (
        dict[Literal["payment_behaviour", "delinquency", "financial_strength", "history", "bureau"], BoundedDecimal]
        | None
    ) = None
    grade_floors: dict[Literal["A", "B", "C", "D"], BoundedDecimal] | None = None
    needs_multiple: dict[Literal["A", "B", "C", "D", "E"], BoundedDecimal] | None = None
    net_worth_share: dict[Literal["A", "B", "C", "D", "E"], BoundedDecimal] | None = None
    cap_at_insured_cover: bool | None = None
    hold_overdue_days: int | None = Field(default=None, ge=0, le=3650)


@router.post(
    "/policy/what-if",
    response_model=v.WhatIfReport,
    summary="How grades, limits and holds would differ under a changed policy; changes nothing",
)
async def what_if(body: WhatIf, kit: KitDep, _: Managers) -> Response:
    """Replay every recorded score under a changed policy and report how grades, recommended limits and
    overdue holds would differ; nothing live changes (credit managers)."""
    parts = parts_of(kit)
    try:
        proposed = changed(parts.policies, **body.model_dump(exclude_none=True))
    except ValueError as invalid:
        raise Problem(422, "Invalid policy", str(invalid), kind="invalid-policy") from None
    async with kit.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        report = await replay.run(conn, parts.policies, proposed, kit.clock.today(), parts.base_currency)
    return answer(report)
