"""HTTP API of collections: parse, authorise, call a handler or a query, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ConfigDict, Field, model_validator

from contracts.collections import (
    Channel,
    ContactChannel,
    ContactOutcome,
    DunningStepTaken,
    EscalationResult,
    EscalationTo,
    Language,
    PlanInstalment,
    Policy,
)
from libs.events.contracts import AcceptedMoney, BusinessDate
from libs.events.database import Connection
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.views import Body, View, answer
from services.collections import handlers, queries, sweeps
from services.collections.domain.backtest import Basis
from services.collections.domain.dunning import replay
from services.collections.domain.policy import FIRST_POLICY, PolicyInvalid, check, sample_context
from services.collections.domain.templates import TemplateInvalid, render_notice

router = APIRouter(tags=["collections"])

Readers = Annotated[
    Principal, Depends(require("viewer", "credit_analyst", "collector", "credit_manager", "finance_director"))
]
Collectors = Annotated[Principal, Depends(require("collector", "credit_manager"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]


def _parts(kit: Kit) -> handlers.Parts:
    parts: handlers.Parts = kit.parts
    return parts


def _policy_refused(invalid: PolicyInvalid) -> Problem:
    return Problem(
        422,
        "Invalid policy",
        str(invalid),
        kind="invalid-policy",
        errors=[{"field": f"policy.{invalid.field}", "message": str(invalid)}],
    )


# -- the policy ----------------------------------------------------------------------------------------


class PolicyRelease(Body):
    policy: Policy
    reason: str = Field(min_length=1, max_length=500)


@router.get(
    "/policy",
    response_model=queries.PolicyView,
    responses={404: {"description": "no such version"}},
    summary="The dunning policy in force, or a past version",
)
async def get_policy(
    kit: KitDep, _: Readers, version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None
) -> Response:
    """The policy's levels, strategies by grade, templates, minimum amounts and intervals, fees and
    interest, review and escalation rules; version 1 is the policy Credo ships with."""
    async with kit.pool.acquire() as conn:
        book = await handlers.policy_book(_parts(kit), conn)
        found = await queries.policy(conn, version, book.version, FIRST_POLICY)
    if found is None:
        raise Problem(404, "Not found", f"no policy version {version}", kind="not-found")
    return answer(found)


@router.post(
    "/policy", status_code=201, response_model=queries.PolicyView, summary="Release a new version of the policy"
)
async def release_policy(body: PolicyRelease, request: Request, kit: KitDep, caller: Managers) -> Response:
    """The whole policy as the next version, with why; refused with the field named when a level,
    strategy or template does not hold together, or a template does not render."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        try:
            version = await handlers.release_policy(_parts(kit), scope.conn, body.policy, caller.subject, body.reason)
        except PolicyInvalid as invalid:
            raise _policy_refused(invalid) from None
        found = await queries.policy(scope.conn, version, version, FIRST_POLICY)
        assert found is not None
        return scope.keep(answer(found, 201))


class PreviewRequest(Body):
    policy: Policy | None = Field(default=None, description="a proposed policy; none: the one in force")
    template: str = Field(min_length=1, max_length=80)
    language: Language = "zh"


class Preview(View):
    subject: str
    body: str


@router.post("/policy/preview", response_model=Preview, summary="Render a template with a sample notice")
async def preview(body: PreviewRequest, kit: KitDep, _: Collectors) -> Response:
    """A template rendered as a notice would be, before a policy with it is released."""
    async with kit.pool.acquire() as conn:
        policy = body.policy or (await handlers.policy_book(_parts(kit), conn)).current
    if body.policy is not None:
        try:
            check(body.policy)
        except PolicyInvalid as invalid:
            raise _policy_refused(invalid) from None
    template = policy.templates.get(body.template)
    if template is None:
        raise Problem(422, "Invalid template", f"template: no template {body.template!r}", kind="invalid-template")
    try:
        subject, text = render_notice(template, body.language, sample_context(), body.template)
    except TemplateInvalid as invalid:
        raise Problem(422, "Invalid template", str(invalid), kind="invalid-template") from None
    return answer(Preview(subject=subject, body=text))


class WhatIfRequest(Body):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    policy: Policy | None = Field(default=None, description="a proposed policy; none: the one in force")
    from_: BusinessDate = Field(alias="from", description="the first business date reported")
    to: BusinessDate = Field(description="the last business date reported: today at the latest")
    customers: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=1000, description="only these customers; none: every customer with an invoice"
    )
    basis: Basis = Field(
        default="recorded",
        description="recorded: each day sees what had been recorded before it; entry: the documents by their own dates",
    )


@router.post("/policy/what-if", response_model=queries.WhatIfView, summary="Backtest a policy over the history")
async def what_if(body: WhatIfRequest, kit: KitDep, _: Managers) -> Response:
    """The daily runs a proposed policy would have made over the recorded history, side by side with
    the notices actually sent: per day and level, the customers it would have contacted, the
    escalations it would have made and the charges it would have computed. Nothing is changed."""
    async with kit.pool.acquire() as conn:
        policy = body.policy or (await handlers.policy_book(_parts(kit), conn)).current
        try:
            found = await handlers.what_if(_parts(kit), conn, policy, body.from_, body.to, body.customers, body.basis)
        except PolicyInvalid as invalid:
            raise _policy_refused(invalid) from None
        recorded = await queries.recorded_steps(conn, body.from_, body.to, body.customers)
        named = {s.customer_id for s in found.backtest.steps} | {e.customer_id for e in found.backtest.escalations}
        named |= {c for c, _ in found.recorded_escalations}
        names = await queries.legal_names(conn, sorted(named))
    return answer(queries.what_if_view(found, recorded, body.from_, body.to, names))


# -- cases -------------------------------------------------------------------------------------------------


async def _case(kit: Kit, conn: Connection, customer_id: str) -> queries.CaseView:
    parts = _parts(kit)
    facts = (await parts.facts.of(conn, [customer_id])).get(customer_id)
    if facts is None:
        raise Problem(404, "Not found", f"no customer {customer_id}", kind="not-found")
    loaded = await parts.cases.load(conn, customer_id)
    return await queries.case_view(conn, loaded.state, loaded.version, facts, kit.clock.today())


@router.get("/cases/{customer_id}", response_model=queries.CaseView, summary="A customer's collection case")
async def get_case(customer_id: str, kit: KitDep, _: Readers) -> Response:
    """Open items with both clocks (days past due, and dunning days less the paused ones) and why an
    item is paused; the steps taken with their inputs; notices and their delivery; tasks; promises,
    plans, blocks and the escalation."""
    async with kit.pool.acquire() as conn:
        return answer(await _case(kit, conn, customer_id))


async def _record(
    request: Request, kit: KitDep, caller: Principal, customer_id: str, act: Callable[[Connection], Awaitable[object]]
) -> Response:
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        await act(scope.conn)
        await queries.refresh_worklist(scope.conn, [customer_id], kit.clock.today(), kit.settings.base_currency)
        return scope.keep(answer(await _case(kit, scope.conn, customer_id), 201))


class PromiseIn(Body):
    amount: AcceptedMoney
    due_date: BusinessDate
    invoices: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=200)


class DisputeIn(Body):
    invoice_id: str = Field(min_length=1, max_length=64)
    amount: AcceptedMoney
    reason: str = Field(min_length=1, max_length=1000)


class ContactIn(Body):
    channel: ContactChannel
    outcome: ContactOutcome
    note: str | None = Field(default=None, max_length=2000)
    promise: PromiseIn | None = Field(default=None, description="with the outcome promises_to_pay")
    dispute: DisputeIn | None = Field(default=None, description="with the outcome disputes_it: receivables opens it")


@router.post("/cases/{customer_id}/contacts", status_code=201, response_model=queries.CaseView, summary="Log a contact")
async def log_contact(customer_id: str, body: ContactIn, request: Request, kit: KitDep, caller: Collectors) -> Response:
    """A call, email or visit with its outcome; an outcome `promises_to_pay` carries the promise, and
    `disputes_it` the dispute, which receivables opens on the invoice."""
    promise = (
        handlers.MakePromise(
            customer_id, body.promise.amount, body.promise.due_date, tuple(body.promise.invoices), caller.subject
        )
        if body.promise
        else None
    )
    dispute = (
        handlers.RequestDispute(body.dispute.invoice_id, body.dispute.amount, body.dispute.reason)
        if body.dispute
        else None
    )
    command = handlers.LogContact(customer_id, body.channel, body.outcome, body.note, caller.subject, promise, dispute)
    return await _record(
        request, kit, caller, customer_id, lambda conn: handlers.log_contact(_parts(kit), conn, command)
    )


@router.post(
    "/cases/{customer_id}/promises", status_code=201, response_model=queries.CaseView, summary="Record a promise to pay"
)
async def make_promise(
    customer_id: str, body: PromiseIn, request: Request, kit: KitDep, caller: Collectors
) -> Response:
    """An amount the customer promised to pay by a date (today or later), toward named invoices or the
    account; it pauses their dunning clock until it is valued."""
    command = handlers.MakePromise(customer_id, body.amount, body.due_date, tuple(body.invoices), caller.subject)
    return await _record(
        request, kit, caller, customer_id, lambda conn: handlers.make_promise(_parts(kit), conn, command)
    )


class InstalmentIn(Body):
    due_date: BusinessDate
    amount: AcceptedMoney


class PlanIn(Body):
    invoices: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=200)
    instalments: list[InstalmentIn] = Field(min_length=1, max_length=60)


@router.post(
    "/cases/{customer_id}/plans", status_code=201, response_model=queries.CaseView, summary="Agree a payment plan"
)
async def agree_plan(customer_id: str, body: PlanIn, request: Request, kit: KitDep, caller: Collectors) -> Response:
    """Instalments over open invoices of one currency; they must add up to the invoices' open amount."""
    instalments = tuple(PlanInstalment(due_date=i.due_date, amount=i.amount) for i in body.instalments)
    command = handlers.AgreePlan(customer_id, tuple(body.invoices), instalments, caller.subject)
    return await _record(
        request, kit, caller, customer_id, lambda conn: handlers.agree_plan(_parts(kit), conn, command)
    )


class BlockIn(Body):
    invoice_id: str | None = Field(default=None, min_length=1, max_length=64, description="none: every item")
    reason: str = Field(min_length=1, max_length=500)
    until: BusinessDate


@router.post(
    "/cases/{customer_id}/blocks", status_code=201, response_model=queries.CaseView, summary="Stop dunning until a date"
)
async def block(customer_id: str, body: BlockIn, request: Request, kit: KitDep, caller: Collectors) -> Response:
    """The dunning clock of one item (or all) pauses until the day given, included."""
    return await _record(
        request,
        kit,
        caller,
        customer_id,
        lambda conn: handlers.block(
            _parts(kit), conn, customer_id, body.invoice_id, body.reason, body.until, caller.subject
        ),
    )


@router.post(
    "/cases/{customer_id}/blocks/{block_id}/lift", response_model=queries.CaseView, summary="Lift a block early"
)
async def lift_block(customer_id: str, block_id: str, kit: KitDep, caller: Collectors) -> Response:
    async with _parts(kit).store.transaction() as conn:
        await handlers.unblock(_parts(kit), conn, customer_id, block_id, caller.subject)
        return answer(await _case(kit, conn, customer_id))


class EscalationIn(Body):
    to: EscalationTo
    agency: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/cases/{customer_id}/escalation",
    status_code=201,
    response_model=queries.CaseView,
    summary="Hand the case to legal or an agency",
)
async def escalate(customer_id: str, body: EscalationIn, request: Request, kit: KitDep, caller: Managers) -> Response:
    """The case goes with its file (open items, notices, contacts, promises); dunning stops."""
    return await _record(
        request,
        kit,
        caller,
        customer_id,
        lambda conn: handlers.escalate(
            _parts(kit), conn, customer_id, body.to, body.agency, body.reason, caller.subject
        ),
    )


class EscalationReportIn(Body):
    result: EscalationResult
    recovered: AcceptedMoney | None = None
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _recovered_when_recovered(self) -> EscalationReportIn:
        if (self.result != "uncollectable") != (self.recovered is not None):
            raise ValueError("recovered: the amount is given when something was recovered, and only then")
        return self


@router.post(
    "/cases/{customer_id}/escalation/report",
    response_model=queries.CaseView,
    summary="Record what legal or the agency reports",
)
async def report(customer_id: str, body: EscalationReportIn, kit: KitDep, caller: Collectors) -> Response:
    """Recovered, partly recovered or uncollectable; the money itself arrives through receivables."""
    async with _parts(kit).store.transaction() as conn:
        await handlers.report_escalation(
            _parts(kit), conn, customer_id, body.result, body.recovered, body.note, caller.subject
        )
        return answer(await _case(kit, conn, customer_id))


class CollectorIn(Body):
    collector: str = Field(min_length=1, max_length=100)


@router.put("/cases/{customer_id}/collector", response_model=queries.CaseView, summary="Assign the case's collector")
async def assign(customer_id: str, body: CollectorIn, kit: KitDep, caller: Managers) -> Response:
    async with _parts(kit).store.transaction() as conn:
        await handlers.assign_collector(_parts(kit), conn, customer_id, body.collector, caller.subject, "by hand")
        return answer(await _case(kit, conn, customer_id))


class DunningRun(View):
    business_date: date
    customers: int
    events: int


@router.post("/dunning-run", response_model=DunningRun, summary="Run today's dunning again, now")
async def dunning_run(kit: KitDep, _: Collectors) -> Response:
    """The daily run happens by itself once a business day; this runs it again for today, for the
    items and facts that arrived since. A customer already contacted today is left for tomorrow."""
    day = kit.clock.today()
    async with kit.pool.acquire() as conn:
        customers = len(await queries.customers_to_dun(conn))
    events = await sweeps.run_day(kit, day)
    return answer(DunningRun(business_date=day, customers=customers, events=events))


# -- steps, the worklist, letters --------------------------------------------------------------------------


class ReviewIn(Body):
    decision: Literal["approve", "skip"]
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=4)
    note: str | None = Field(default=None, max_length=2000)


@router.get("/steps", response_model=list[queries.StepView], summary="The steps of a day, proposed ones first")
async def list_steps(
    kit: KitDep,
    _: Readers,
    business_date: Annotated[BusinessDate | None, Query(alias="date")] = None,
    status: Literal["proposed", "approved", "skipped", "taken"] | None = None,
) -> Response:
    day = business_date or kit.clock.today()
    async with kit.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, event FROM steps WHERE business_date = $1 AND ($2::text IS NULL OR status = $2)"
            " ORDER BY status <> 'proposed', customer_id",
            day,
            status,
        )
    return answer([queries.step_view(DunningStepTaken.model_validate_json(r["event"]), r["status"]) for r in rows])


@router.post(
    "/steps/{step_id}/review", response_model=queries.CaseView, summary="Approve, edit or skip a proposed step"
)
async def review(step_id: str, body: ReviewIn, kit: KitDep, caller: Collectors) -> Response:
    """Under a policy that asks for review, a day's steps wait here; approved (with its channels
    edited, if need be) its notices go out, skipped nothing is sent."""
    async with _parts(kit).store.transaction() as conn:
        customer_id = await conn.fetchval("SELECT customer_id FROM steps WHERE step_id = $1", step_id)
        if customer_id is None:
            raise Problem(404, "Not found", f"no step {step_id}", kind="not-found")
        channels = tuple(body.channels) if body.channels else None
        await handlers.review_step(
            _parts(kit), conn, customer_id, step_id, body.decision == "approve", channels, body.note, caller.subject
        )
        await queries.refresh_worklist(conn, [customer_id], kit.clock.today(), kit.settings.base_currency)
        case = await _case(kit, conn, customer_id)
    _parts(kit).notices_queued()  # committed: an approved step's notices go out
    return answer(case)


class Replay(View):
    step_id: str
    policy_version: int
    same: bool
    recorded: queries.StepView
    replayed: queries.StepView | None


@router.get("/steps/{step_id}/replay", response_model=Replay, summary="Decide a recorded step again from its inputs")
async def replay_step(step_id: str, kit: KitDep, _: Readers) -> Response:
    """The step's recorded inputs (items, clocks, pauses, grade, hold, last contact, business date)
    run through the policy version it used: the same step comes out."""
    async with kit.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, event FROM steps WHERE step_id = $1", step_id)
        if row is None:
            raise Problem(404, "Not found", f"no step {step_id}", kind="not-found")
        step = DunningStepTaken.model_validate_json(row["event"])
        policy = (await handlers.policy_book(_parts(kit), conn)).versions[step.policy_version]
    again = replay(policy, step)
    return answer(
        Replay(
            step_id=step_id,
            policy_version=step.policy_version,
            same=again == step,
            recorded=queries.step_view(step, row["status"]),
            replayed=queries.step_view(again, row["status"]) if again else None,
        )
    )


@router.get("/worklist", response_model=list[queries.WorklistRow], summary="The collector's ranked customers")
async def worklist(
    kit: KitDep,
    _: Readers,
    collector: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Customers with overdue items, not with legal, ranked by a priority whose parts each row shows; each
    row is computed when the customer's facts change and by every daily run (`as_of` says when)."""
    async with kit.pool.acquire() as conn:
        rows = await queries.worklist(conn, kit.settings.base_currency, collector, limit)
    return answer(rows)


@router.get(
    "/notices/{notice_id}/letter",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the letter as posted"}},
    summary="A notice's letter as PDF",
)
async def letter(notice_id: str, kit: KitDep, _: Readers) -> Response:
    pdf = await _parts(kit).letters(notice_id)
    if pdf is None:
        raise Problem(404, "Not found", f"no letter for notice {notice_id}", kind="not-found")
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{notice_id}.pdf"'}
    )
