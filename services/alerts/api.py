"""HTTP API of alerts: parse, authorise, call a handler or a query, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from contracts.alerts import Rule, Severity
from libs.events.database import Connection
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.views import Body, answer
from services.alerts import handlers, queries
from services.alerts.domain.alert import NotAssignee
from services.alerts.domain.rules import RulesInvalid

router = APIRouter(tags=["alerts"])

Readers = Annotated[
    Principal, Depends(require("viewer", "credit_analyst", "collector", "credit_manager", "finance_director"))
]
People = Annotated[Principal, Depends(require("credit_analyst", "collector", "credit_manager", "finance_director"))]
Managers = Annotated[Principal, Depends(require("credit_manager", "finance_director"))]


def _parts(kit: Kit) -> handlers.Parts:
    parts: handlers.Parts = kit.parts
    return parts


# -- the rules ---------------------------------------------------------------------------------------------


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
            raise Problem(
                422,
                "Invalid rules",
                str(invalid),
                kind="invalid-rules",
                errors=[{"field": f"body.{invalid.field}", "message": str(invalid)}],
            ) from None
        found = await queries.rule_set(scope.conn, version)
        assert found is not None
        return scope.keep(answer(found, 201))


# -- alerts ------------------------------------------------------------------------------------------------


@router.get("/alerts", response_model=list[queries.AlertView], summary="Alerts, most severe first")
async def list_alerts(
    kit: KitDep,
    _: Readers,
    status: Literal["open", "closed", "all"] = "open",
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Open alerts (or closed, or all), most severe first, then the most recently seen."""
    async with kit.pool.acquire() as conn:
        return answer(await queries.alerts(conn, status, customer_id, severity, limit, offset))


async def _found(conn: Connection, alert_id: str) -> queries.AlertView:
    found = await queries.alert(conn, alert_id)
    if found is None:
        raise Problem(404, "Not found", f"no alert {alert_id}", kind="not-found")
    return found


@router.get("/alerts/{alert_id}", response_model=queries.AlertView, summary="An alert, why it fired, its history")
async def get_alert(alert_id: str, kit: KitDep, _: Readers) -> Response:
    """The rule and its version, the facts that met it with the ids of the events that carried them,
    how often it was met, and everything that happened to it since."""
    async with kit.pool.acquire() as conn:
        return answer(await _found(conn, alert_id))


async def _act(
    request: Request, kit: Kit, caller: Principal, alert_id: str, act: Callable[[Connection, str], Awaitable[None]]
) -> Response:
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        customer_id = await queries.customer_of(scope.conn, alert_id)
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
