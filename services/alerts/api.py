"""HTTP API of alerts: parse, authorise, call a handler or a query, answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import ConfigDict, EmailStr, Field, HttpUrl
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts.alerts import Audience, Rule, Severity
from libs.events.contracts import BusinessDate
from libs.events.database import Connection
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.views import Body, answer
from services.alerts import handlers, queries
from services.alerts.delivery import secret_of
from services.alerts.domain.alert import NotAssignee
from services.alerts.domain.rules import RulesInvalid
from services.alerts.live import Hub

router = APIRouter(tags=["alerts"])

Readers = Annotated[
    Principal, Depends(require("viewer", "credit_analyst", "collector", "credit_manager", "finance_director"))
]
People = Annotated[Principal, Depends(require("credit_analyst", "collector", "credit_manager", "finance_director"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]


def _parts(kit: Kit) -> handlers.Parts:
    parts: handlers.Parts = kit.parts
    return parts


BOOK_WIDE = ("viewer", "credit_analyst", "credit_manager", "finance_director")


def portfolio_of(caller: Principal) -> str | None:
    """Whose portfolio limits what the caller sees: a collector's own (the customers whose collector
    they are), or nobody's for the roles that see the whole book."""
    return None if caller.may(*BOOK_WIDE) else caller.subject


# -- the rules ---------------------------------------------------------------------------------------------


def _rules_refused(invalid: RulesInvalid) -> Problem:
    field = f"body.{invalid.field}"
    return Problem(
        422, "Invalid rules", str(invalid), kind="invalid-rules", errors=[{"field": field, "message": str(invalid)}]
    )


class RulesRelease(Body):
    rules: list[Rule] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)


@router.get(
    "/rules",
    response_model=queries.RuleSetView,
    responses={404: {"description": "no such version"}},
    summary="The alert rules in force, or a past version",
)
async def get_rules(
    kit: KitDep, _: Readers, version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None
) -> Response:
    """Each rule with its kind, severity and parameters; version 1 is the set Credo ships with."""
    async with kit.pool.acquire() as conn:
        book = await handlers.rule_book(_parts(kit), conn)
        found = await queries.rule_set(conn, version or book.version)
    if found is None:
        raise Problem(404, "Not found", f"no rule set version {version}", kind="not-found")
    return answer(found)


@router.post("/rules", status_code=201, response_model=queries.RuleSetView, summary="Release a new rule set")
async def release_rules(body: RulesRelease, request: Request, kit: KitDep, caller: Managers) -> Response:
    """The whole rule set as the next version, with why; refused with the field named when a rule has
    an unknown parameter, an impossible threshold or an id another rule has."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        try:
            version = await handlers.release_rules(_parts(kit), scope.conn, body.rules, caller.subject, body.reason)
        except RulesInvalid as invalid:
            raise _rules_refused(invalid) from None
        found = await queries.rule_set(scope.conn, version)
        assert found is not None
        return scope.keep(answer(found, 201))


class RulesWhatIf(Body):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    rules: list[Rule] | None = Field(default=None, max_length=200, description="a proposed rule set; none: in force")
    from_: BusinessDate = Field(alias="from", description="the first business date replayed")
    to: BusinessDate = Field(description="the last business date replayed: today at the latest")
    customers: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=1000, description="only alerts on these subjects; none: every one"
    )


@router.post("/rules/what-if", response_model=queries.RulesWhatIfView, summary="Backtest a rule set over the history")
async def rules_what_if(body: RulesWhatIf, kit: KitDep, _: Managers) -> Response:
    """The alerts a proposed rule set (or the one in force) would have raised from ``from`` to ``to``
    over the events alerts observed: per rule beside those actually raised, per week, and each
    alert with its subject and facts. Nothing is changed."""
    async with kit.pool.acquire() as conn:
        rules = body.rules or list((await handlers.rule_book(_parts(kit), conn)).current)
        try:
            found = await handlers.what_if(
                _parts(kit), conn, kit.spec.registry, rules, body.from_, body.to, body.customers
            )
        except RulesInvalid as invalid:
            raise _rules_refused(invalid) from None
        return answer(await queries.rules_what_if_view(conn, rules, found, body.from_, body.to))


# -- alerts ------------------------------------------------------------------------------------------------


@router.get("/alerts", response_model=list[queries.AlertView], summary="Alerts, most severe first")
async def list_alerts(
    kit: KitDep,
    caller: Readers,
    status: Literal["open", "closed", "all"] = "open",
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Open alerts (or closed, or all), most severe first, then the most recently seen; a collector
    sees only those of their own portfolio."""
    async with kit.pool.acquire() as conn:
        found = await queries.alerts(conn, status, customer_id, severity, limit, offset, portfolio_of(caller))
        return answer(found)


@router.get(
    "/alerts/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    summary="Alert events as they happen (Server-Sent Events)",
)
async def stream(
    request: Request,
    kit: KitDep,
    caller: Readers,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, description="as Last-Event-ID, for clients that cannot set it")] = None,
) -> EventSourceResponse:
    """Each alert event (raised, repeated, escalated, acknowledged, assigned, resolved, suppressed) as
    an SSE message: ``id`` its position (resume with ``Last-Event-ID`` to get only what came after),
    ``event`` its type, ``data`` the alert as it stands. Without a position it starts from now. A
    collector receives only alerts of their own portfolio."""
    if last_event_id is not None and not last_event_id.isdigit():
        raise Problem(422, "Invalid Last-Event-ID", "Last-Event-ID is a position this stream sent", kind="validation")
    portfolio, hub = portfolio_of(caller), _hub(kit)
    async with kit.pool.acquire() as conn:
        start = int(last_event_id) if last_event_id else after
        position = start if start is not None else await queries.latest_position(conn)

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal position
        while True:
            async with kit.pool.acquire() as conn:
                found = await queries.stream_after(conn, position, portfolio)
            for streamed in found:
                position = streamed.position
                yield ServerSentEvent(
                    data=streamed.alert.model_dump_json(by_alias=True), event=streamed.event, id=str(position)
                )
            if not found:
                await hub.changed(within=5.0)

    return EventSourceResponse(events(), ping=15, send_timeout=30)


def _hub(kit: Kit) -> Hub:
    hub: Hub = kit.parts.hub
    return hub


async def _found(conn: Connection, alert_id: str, portfolio: str | None = None) -> queries.AlertView:
    found = await queries.alert(conn, alert_id, portfolio)
    if found is None:
        raise Problem(404, "Not found", f"no alert {alert_id}", kind="not-found")
    return found


@router.get("/alerts/{alert_id}", response_model=queries.AlertView, summary="An alert, why it fired, its history")
async def get_alert(alert_id: str, kit: KitDep, caller: Readers) -> Response:
    """The rule and its version, the facts that met it with the ids of the events that carried them,
    how often it was met, and everything that happened to it since."""
    async with kit.pool.acquire() as conn:
        return answer(await _found(conn, alert_id, portfolio_of(caller)))


async def _act(
    request: Request, kit: Kit, caller: Principal, alert_id: str, act: Callable[[Connection, str], Awaitable[None]]
) -> Response:
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        customer_id = await queries.customer_of(scope.conn, alert_id, portfolio_of(caller))
        if customer_id is None:
            raise Problem(404, "Not found", f"no alert {alert_id}", kind="not-found")
        try:
            await act(scope.conn, customer_id)
        except NotAssignee as refused:
            raise Problem(403, "Forbidden", str(refused), kind="not-the-assignee") from None
        return scope.keep(answer(await _found(scope.conn, alert_id)))


class Acknowledgement(Body):
    note: str | None = Field(default=None, max_length=2000)


class Assignment(Body):
    to: str = Field(min_length=1, max_length=100)


class Resolution(Body):
    note: str = Field(min_length=1, max_length=2000)


class Suppression(Body):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/alerts/{alert_id}/acknowledgement", response_model=queries.AlertView, summary="Acknowledge an alert")
async def acknowledge(alert_id: str, body: Acknowledgement, request: Request, kit: KitDep, caller: People) -> Response:
    """Someone has seen it; acknowledging it again changes nothing."""
    return await _act(
        request,
        kit,
        caller,
        alert_id,
        lambda conn, c: handlers.acknowledge(_parts(kit), conn, c, alert_id, caller.subject, body.note),
    )


@router.post("/alerts/{alert_id}/assignment", response_model=queries.AlertView, summary="Assign an alert")
async def assign(alert_id: str, body: Assignment, request: Request, kit: KitDep, caller: Managers) -> Response:
    """The person who is to deal with it (credit managers and finance directors assign)."""
    return await _act(
        request,
        kit,
        caller,
        alert_id,
        lambda conn, c: handlers.assign(_parts(kit), conn, c, alert_id, body.to, caller.subject),
    )


@router.post(
    "/alerts/{alert_id}/resolution",
    response_model=queries.AlertView,
    responses={403: {"description": "the caller is not the assignee, nor a credit manager"}},
    summary="Resolve an alert",
)
async def resolve(alert_id: str, body: Resolution, request: Request, kit: KitDep, caller: People) -> Response:
    """Closed with what was done; only its assignee or a credit manager (or finance director) resolves it."""
    may_any = caller.may("credit_manager", "finance_director")
    return await _act(
        request,
        kit,
        caller,
        alert_id,
        lambda conn, c: handlers.resolve(_parts(kit), conn, c, alert_id, caller.subject, body.note, may_any),
    )


@router.post("/alerts/{alert_id}/suppression", response_model=queries.AlertView, summary="Suppress an alert")
async def suppress(alert_id: str, body: Suppression, request: Request, kit: KitDep, caller: Managers) -> Response:
    """Closed as not to be acted on, with why."""
    return await _act(
        request,
        kit,
        caller,
        alert_id,
        lambda conn, c: handlers.suppress(_parts(kit), conn, c, alert_id, caller.subject, body.reason),
    )


# -- subscriptions ------------------------------------------------------------------------------------------


class EmailSubscription(Body):
    channel: Literal["email"]
    address: EmailStr


class WebhookSubscription(Body):
    channel: Literal["webhook"]
    address: HttpUrl = Field(description="an http or https URL that answers 2xx when it has the delivery")


class SubscriptionRequest(Body):
    to: Annotated[EmailSubscription | WebhookSubscription, Field(discriminator="channel")]
    audience: Audience = Audience()
    severities: list[Severity] = Field(default=["info", "warning", "critical"], min_length=1)
    rules: list[str] = Field(default=[], max_length=200, description="rule ids; none: every rule")


class Cancellation(Body):
    reason: str = Field(min_length=1, max_length=500)


def _may_subscribe(caller: Principal, body: SubscriptionRequest) -> None:
    """Credit managers and finance directors subscribe anyone and any webhook; anyone else only their
    own email to their own alerts (assigned to them, or of their portfolio)."""
    if caller.may("credit_manager", "finance_director"):
        return
    own = body.audience.person == caller.subject or body.audience.portfolio == caller.subject
    if body.to.channel != "email" or not own or body.audience.role is not None:
        raise Problem(
            403,
            "Forbidden",
            "only a credit manager subscribes webhooks, roles or others; you may subscribe an email address to"
            f" alerts assigned to you (audience.person {caller.subject}) or of your portfolio (audience.portfolio)",
            kind="forbidden",
        )


async def _subscription_found(conn: Connection, subscription_id: str) -> queries.SubscriptionView:
    found = await queries.subscription(conn, subscription_id)
    if found is None:
        raise Problem(404, "Not found", f"no subscription {subscription_id}", kind="not-found")
    return found


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=queries.SubscriptionView,
    summary="Deliver matching alerts to an email address or a webhook",
)
async def subscribe(body: SubscriptionRequest, request: Request, kit: KitDep, caller: People) -> Response:
    """Every alert event whose alert (as it stands after the event) matches the audience, a listed
    severity and, if any are listed, a listed rule is delivered. A webhook's answer carries its
    signing secret (also at ``GET /subscriptions/{id}/secret``)."""
    _may_subscribe(caller, body)
    known = {rule.rule_id for version in (await _rule_versions(kit)) for rule in version}
    unknown = sorted(set(body.rules) - known)
    if unknown:
        raise Problem(
            422,
            "Unknown rules",
            f"no rule {', '.join(unknown)} in any version of the rule set",
            kind="validation",
            errors=[{"field": "body.rules", "message": f"unknown rule {r}"} for r in unknown],
        )
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        subscription_id = await handlers.subscribe(
            _parts(kit),
            scope.conn,
            channel=body.to.channel,
            address=str(body.to.address),
            audience=body.audience,
            severities=body.severities,
            rules=body.rules,
            by=caller.subject,
        )
        found = await _subscription_found(scope.conn, subscription_id)
        if found.channel == "webhook":
            found = found.model_copy(update={"secret": secret_of(_parts(kit).settings, subscription_id)})
        return scope.keep(answer(found, 201))


async def _rule_versions(kit: Kit) -> list[tuple[Rule, ...]]:
    async with kit.pool.acquire() as conn:
        return list((await handlers.rule_book(_parts(kit), conn)).versions.values())


@router.get("/subscriptions", response_model=list[queries.SubscriptionView], summary="Subscriptions and their state")
async def list_subscriptions(kit: KitDep, _: Managers) -> Response:
    """Each with whether it is active, paused (its receiver kept failing) or cancelled, and what waits."""
    async with kit.pool.acquire() as conn:
        return answer(await queries.subscriptions(conn))


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=queries.SubscriptionView,
    summary="A subscription with its latest delivery attempts",
)
async def get_subscription(subscription_id: str, kit: KitDep, _: Managers) -> Response:
    async with kit.pool.acquire() as conn:
        return answer(await _subscription_found(conn, subscription_id))


@router.get(
    "/subscriptions/{subscription_id}/secret",
    responses={409: {"description": "the subscription sends email: it has no secret"}},
    summary="A webhook's signing secret",
)
async def get_secret(subscription_id: str, kit: KitDep, _: Managers) -> dict[str, str]:
    async with kit.pool.acquire() as conn:
        found = await _subscription_found(conn, subscription_id)
    if found.channel != "webhook":
        raise Problem(409, "Not a webhook", f"subscription {subscription_id} sends email", kind="conflict")
    return {"subscription_id": subscription_id, "secret": secret_of(_parts(kit).settings, subscription_id)}


@router.post(
    "/subscriptions/{subscription_id}/resumption",
    response_model=queries.SubscriptionView,
    summary="Resume a paused receiver",
)
async def resume(subscription_id: str, request: Request, kit: KitDep, caller: Managers) -> Response:
    """What waited for it is tried again at once."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        await handlers.resume(_parts(kit), scope.conn, subscription_id, caller.subject)
        return scope.keep(answer(await _subscription_found(scope.conn, subscription_id)))


@router.post(
    "/subscriptions/{subscription_id}/cancellation",
    response_model=queries.SubscriptionView,
    summary="Cancel a subscription",
)
async def cancel(subscription_id: str, body: Cancellation, request: Request, kit: KitDep, caller: Managers) -> Response:
    """Nothing more is delivered to it, including what waited."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        await handlers.unsubscribe(_parts(kit), scope.conn, subscription_id, caller.subject, body.reason)
        return scope.keep(answer(await _subscription_found(scope.conn, subscription_id)))
