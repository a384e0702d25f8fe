"""The console's pages. Each gathers what it shows from the services at once, as the signed-in user,
and renders it on the server; forms post back here, and the services decide whether they may."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException

from services.console.backends import Refused
from services.console.deps import Console, ConsoleDep, PostedSession, SessionDep, new_form_key
from services.console.i18n import helpers
from services.console.sessions import Session
from services.console.timeline import whole_timeline

router = APIRouter()

# Who may do what, as the services decide it; the console only hides what a user cannot do.
TEAM = ("credit_analyst", "collector", "credit_manager", "finance_director")
DECIDERS = ("credit_analyst", "credit_manager", "finance_director")
COLLECTORS = ("collector", "credit_manager")
MANAGERS = ("credit_manager", "finance_director")
ACTIONS = {
    "log_contact": COLLECTORS,
    "request_limit": DECIDERS,
    "request_terms": DECIDERS,
    "decide_request": DECIDERS,
    "acknowledge_alert": TEAM,
    "resolve_alert": TEAM,
    "assign_alert": MANAGERS,
    "what_if": MANAGERS,
}
PAGE = 25  # rows of a list page
KPI_FIGURES = ("dso_simple", "best_possible_dso", "add_dso", "cei_s_over_n")


def actions_of(session: Session) -> dict[str, bool]:
    return {name: session.may(roles) for name, roles in ACTIONS.items()}


def _chart(**option: Any) -> str:
    """An ECharts option as the data-chart attribute console.js draws from."""
    return json.dumps(option, ensure_ascii=False)


def month_start(day: date, back: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - back, 12)
    return date(year, month + 1, 1)


# -- portfolio --------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def portfolio(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    api, say = console.backends, helpers(console.locale_of(request))
    t = say["t"]
    aging, provisions, alerts, forecast, credit = await asyncio.gather(
        api.get(session, "receivables", "/aging", by_customer="true", top=10),
        api.get(session, "receivables", "/provisions"),
        api.get(session, "alerts", "/alerts", status="open", limit=10),
        api.maybe(session, "scoring", "/cash-forecast"),
        api.get(session, "scoring", "/portfolio"),
    )
    grades = credit["by_grade"]
    grade_chart = _chart(
        tooltip={},
        xAxis={"type": "category", "data": [g["grade"] or t("unrated") for g in grades]},
        yAxis={"type": "value"},
        series=[{"name": t("exposure"), "type": "bar", "data": [g["exposure"]["amount"] for g in grades]}],
    )
    bands = list(aging["buckets"])
    aging_chart = _chart(
        xAxis={"type": "category", "data": [say["band"](b) for b in bands]},
        yAxis={"type": "value"},
        series=[{"type": "bar", "data": [aging["buckets"][b] for b in bands]}],
        tooltip={},
    )
    weeks = (forecast or {}).get("weeks", [])
    forecast_chart = _chart(
        tooltip={"trigger": "axis"},
        legend={"data": [t("predicted"), t("promised")]},
        xAxis={"type": "category", "data": [w["week_start"][5:] for w in weeks]},
        yAxis={"type": "value"},
        series=[
            {"name": t("predicted"), "type": "bar", "stack": "in", "data": [w["predicted"] for w in weeks]},
            {"name": t("promised"), "type": "bar", "stack": "in", "data": [w["promised"] for w in weeks]},
        ],
    )
    top = aging["customers"] or []  # the ten largest, largest first
    book = Decimal(aging["total"]) or Decimal(1)
    top_share = sum((Decimal(c["total"]) for c in top), Decimal(0)) / book * 100
    latest = provisions[0] if provisions else None  # newest month end first
    return console.render(
        request,
        "portfolio.html",
        session,
        aging=aging,
        aging_chart=aging_chart,
        top=top,
        book=book,
        top_share=top_share,
        provision=latest,
        alerts=alerts,
        forecast=forecast,
        forecast_chart=forecast_chart,
        credit=credit,
        grade_chart=grade_chart,
        actions=actions_of(session),
    )


@router.get("/portfolio/kpis", response_class=HTMLResponse)
async def portfolio_kpis(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    """The KPI trend of the twelve months ended at the last month end, a card the portfolio page loads
    after it shows: receivables answers month ends from its month-end positions at once, but folds
    the ledger while those positions are still being kept (after a large load)."""
    t = helpers(console.locale_of(request))["t"]
    aging = await console.backends.get(session, "receivables", "/aging")
    last_month_end = month_start(date.fromisoformat(aging["as_of"]), 0) - timedelta(days=1)
    twelve = {"from": month_start(last_month_end, 11), "to": last_month_end}
    kpis = await console.backends.get(session, "receivables", "/kpis", by="month", **twelve)
    rows = kpis["rows"]
    kpi_chart = _chart(
        legend={"data": [t(f) for f in KPI_FIGURES]},
        tooltip={"trigger": "axis"},
        xAxis={"type": "category", "data": [r["key"] for r in rows]},
        yAxis={"type": "value"},
        series=[{"name": t(f), "type": "line", "data": [r["as_known_now"][f] for r in rows]} for f in KPI_FIGURES],
    )
    return console.render(request, "_kpi_card.html", session, kpis=kpis, kpi_chart=kpi_chart)


# -- customers --------------------------------------------------------------------------------------------


@router.get("/customers", response_class=HTMLResponse)
async def customers(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    query = q.strip() if q else None
    found = await console.backends.get(
        session, "profiles", "/customers", q=query if query and len(query) >= 2 else None, cursor=cursor, limit=PAGE
    )
    return console.render(request, "customers.html", session, found=found, q=query or "")


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer(
    request: Request,
    customer_id: str,
    console: ConsoleDep,
    session: SessionDep,
    as_of: Annotated[date | None, Query()] = None,
) -> Response:
    api, t = console.backends, helpers(console.locale_of(request))["t"]
    on = {"as_of": as_of.isoformat()} if as_of else {}
    profile = await api.get(session, "profiles", f"/customers/{customer_id}", **on)
    credit, scores, account, invoices, movements, statements, case, alerts, timeline = await asyncio.gather(
        api.maybe(session, "scoring", f"/customers/{customer_id}/credit"),
        api.maybe(session, "scoring", f"/customers/{customer_id}/scores", limit=24, inputs="false"),
        api.maybe(session, "receivables", f"/customers/{customer_id}/account", **on),
        api.maybe(session, "receivables", f"/customers/{customer_id}/invoices", status="open", limit=50),
        api.maybe(session, "receivables", f"/customers/{customer_id}/movements", limit=1000),
        api.maybe(session, "receivables", f"/customers/{customer_id}/statements"),
        api.maybe(session, "collections", f"/cases/{customer_id}"),
        api.get(session, "alerts", "/alerts", customer_id=customer_id, status="all", limit=20),
        api.get(session, "profiles", f"/customers/{customer_id}/timeline", limit=100),
    )
    history = list(reversed((scores or {}).get("scores", [])))
    score_chart = _chart(
        tooltip={"trigger": "axis"},
        xAxis={"type": "category", "data": [f"v{s['version']}" for s in history]},
        yAxis={"type": "value", "min": 0, "max": 100},
        series=[{"name": t("score"), "type": "line", "data": [s["score"] for s in history]}],
    )
    lines = (movements or {}).get("movements", [])
    return console.render(
        request,
        "customer.html",
        session,
        profile=profile,
        credit=credit,
        scores=list(reversed(history))[:8],
        score_chart=score_chart,
        account=account,
        invoices=invoices or [],
        movements=list(reversed(lines[-20:])),
        statements=statements or [],
        case=case,
        alerts=alerts,
        timeline=whole_timeline(timeline, lines, history, case, alerts, helpers(console.locale_of(request))),
        as_of=as_of,
        actions=actions_of(session),
        form_key=new_form_key,
    )


@router.post("/customers/{customer_id}/limit-requests", response_class=HTMLResponse)
async def request_limit(
    request: Request,
    customer_id: str,
    console: ConsoleDep,
    session: PostedSession,
    amount: Annotated[str, Form(max_length=30)],
    currency: Annotated[str, Form(max_length=3)],
    reason: Annotated[str, Form(min_length=1, max_length=1000)],
    form_key: Annotated[str, Form(max_length=64)],
) -> Response:
    body = {"kind": "new", "amount": amount.strip(), "currency": currency, "reason": reason}
    await console.backends.post(session, "scoring", f"/customers/{customer_id}/limit-requests", body, form_key)
    return console.render(request, "_done.html", session, message="recorded")


@router.post("/customers/{customer_id}/terms-requests", response_class=HTMLResponse)
async def request_terms(
    request: Request,
    customer_id: str,
    console: ConsoleDep,
    session: PostedSession,
    credit_days: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(min_length=1, max_length=1000)],
    form_key: Annotated[str, Form(max_length=64)],
    discount_percent: Annotated[str, Form(max_length=10)] = "",
    discount_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Credit days and a cash discount, as scoring's approval chain decides them; what scoring refuses
    (a discount above 10 %, days out of range) comes back with its reason."""
    body = {
        "credit_days": credit_days.strip(),
        "discount_percent": discount_percent.strip() or None,
        "discount_days": discount_days.strip() or None,
        "reason": reason,
    }
    await console.backends.post(session, "scoring", f"/customers/{customer_id}/terms-requests", body, form_key)
    return console.render(request, "_done.html", session, message="recorded")


@router.get("/customers/{customer_id}/statements/{statement_id}.pdf")
async def statement_pdf(customer_id: str, statement_id: str, console: ConsoleDep, session: SessionDep) -> Response:
    """The statement of account's PDF, as receivables renders it for this user."""
    path = f"/customers/{customer_id}/statements/{statement_id}.pdf"
    content, media_type = await console.backends.document(session, "receivables", path)
    disposition = f'inline; filename="{statement_id}.pdf"'
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


# -- worklist ---------------------------------------------------------------------------------------------


@router.get("/worklist", response_class=HTMLResponse)
async def worklist(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
) -> Response:
    rows = await console.backends.get(
        session, "collections", "/worklist", collector=session.identity.subject if mine else None, limit=limit
    )
    return console.render(
        request,
        "worklist.html",
        session,
        rows=rows,
        mine=mine,
        limit=limit,
        more=len(rows) == limit,
        actions=actions_of(session),
        form_key=new_form_key,
        channels=("call", "email", "visit", "letter", "sms"),
        outcomes=(
            "promises_to_pay",
            "payment_sent",
            "disputes_it",
            "invoice_not_received",
            "voicemail",
            "unreachable",
            "refuses",
        ),
    )


async def invoice_ids(console: Console, session: Session, customer_id: str, named: list[str]) -> list[str]:
    """Invoices as the collector names them, by number (as printed) or by id, as their ids."""
    case = await console.backends.maybe(session, "collections", f"/cases/{customer_id}")
    by_number = {i["number"]: i["invoice_id"] for i in (case or {}).get("items", [])}
    return [by_number.get(name, name) for name in named]


@router.post("/worklist/{customer_id}/contacts", response_class=HTMLResponse)
async def log_contact(
    request: Request,
    customer_id: str,
    console: ConsoleDep,
    session: PostedSession,
    channel: Annotated[str, Form(max_length=20)],
    outcome: Annotated[str, Form(max_length=40)],
    form_key: Annotated[str, Form(max_length=64)],
    currency: Annotated[str, Form(max_length=3)] = "CNY",
    note: Annotated[str, Form(max_length=2000)] = "",
    promise_amount: Annotated[str, Form(max_length=30)] = "",
    promise_date: Annotated[str, Form(max_length=10)] = "",
    dispute_invoice: Annotated[str, Form(max_length=64)] = "",
    dispute_amount: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    body: dict[str, Any] = {"channel": channel, "outcome": outcome, "note": note.strip() or None}
    if outcome == "disputes_it" and dispute_invoice.strip():
        (dispute_invoice,) = await invoice_ids(console, session, customer_id, [dispute_invoice.strip()])
    if outcome == "promises_to_pay":
        body["promise"] = {"amount": {"amount": promise_amount.strip(), "currency": currency}, "due_date": promise_date}
    if outcome == "disputes_it":
        body["dispute"] = {
            "invoice_id": dispute_invoice.strip(),
            "amount": {"amount": dispute_amount.strip(), "currency": currency},
            "reason": note.strip() or "disputed in a call",
        }
    case = await console.backends.post(session, "collections", f"/cases/{customer_id}/contacts", body, form_key)
    return console.render(request, "_contact_logged.html", session, case=case)


@router.post("/worklist/{customer_id}/plans", response_class=HTMLResponse)
async def agree_plan(
    request: Request,
    customer_id: str,
    console: ConsoleDep,
    session: PostedSession,
    form_key: Annotated[str, Form(max_length=64)],
    invoices: Annotated[str, Form(min_length=1, max_length=2000)],
    instalments: Annotated[str, Form(min_length=1, max_length=4000)],
    currency: Annotated[str, Form(max_length=3)] = "CNY",
) -> Response:
    """A payment plan: invoice ids separated by commas or spaces, one instalment a line as
    ``YYYY-MM-DD amount``; collections checks that they add up to what is open."""
    lines = [line.split() for line in instalments.splitlines() if line.strip()]
    if any(len(parts) != 2 for parts in lines):
        raise HTTPException(422, "each instalment is one line: a date and an amount, e.g. 2026-05-31 5000.00")
    named = [i for i in invoices.replace(",", " ").split() if i]
    body = {
        "invoices": await invoice_ids(console, session, customer_id, named),
        "instalments": [{"due_date": d, "amount": {"amount": a, "currency": currency}} for d, a in lines],
    }
    case = await console.backends.post(session, "collections", f"/cases/{customer_id}/plans", body, form_key)
    return console.render(request, "_contact_logged.html", session, case=case)


# -- approvals --------------------------------------------------------------------------------------------


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    api = console.backends
    waiting = (await api.get(session, "scoring", "/requests"))["requests"][:PAGE]
    credits = await asyncio.gather(
        *(api.maybe(session, "scoring", f"/customers/{r['customer_id']}/credit") for r in waiting)
    )
    names = await asyncio.gather(*(api.maybe(session, "profiles", f"/customers/{r['customer_id']}") for r in waiting))
    queue = [
        {"request": r, "credit": c, "legal_name": (n or {}).get("legal_name", r["customer_id"])}
        for r, c, n in zip(waiting, credits, names, strict=True)
    ]
    return console.render(
        request, "approvals.html", session, queue=queue, actions=actions_of(session), form_key=new_form_key
    )


@router.post("/approvals/{customer_id}/{request_id}/{decision}", response_class=HTMLResponse)
async def decide(
    request: Request,
    customer_id: str,
    request_id: str,
    decision: str,
    console: ConsoleDep,
    session: PostedSession,
    form_key: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    path = f"/customers/{customer_id}/requests/{request_id}"
    if decision == "approval":
        body: dict[str, Any] = {"note": note.strip() or None}
    elif decision == "rejection":
        if not note.strip():
            raise HTTPException(422, "a rejection needs its reason")
        body = {"reason": note.strip()}
    else:
        raise HTTPException(404, "a request is approved or rejected")
    answer = await console.backends.post(session, "scoring", f"{path}/{decision}", body, form_key)
    return console.render(request, "_decided.html", session, answer=answer, decision=decision)


# -- alerts -----------------------------------------------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    severity: Annotated[str | None, Query(pattern="^(critical|warning|info)$")] = None,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    found = await console.backends.get(
        session, "alerts", "/alerts", status=status, severity=severity, limit=PAGE, offset=offset
    )
    return console.render(
        request,
        "alerts.html",
        session,
        alerts=found,
        severity=severity,
        status=status,
        offset=offset,
        more=len(found) == PAGE,
        actions=actions_of(session),
    )


@router.post("/alerts/{alert_id}/{step}", response_class=HTMLResponse)
async def work_alert(
    request: Request,
    alert_id: str,
    step: str,
    console: ConsoleDep,
    session: PostedSession,
    note: Annotated[str, Form(max_length=1000)] = "",
    to: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    bodies: dict[str, dict[str, Any]] = {
        "acknowledgement": {"note": note.strip() or None},
        "assignment": {"to": to.strip()},
        "resolution": {"note": note.strip() or None},
    }
    if step not in bodies:
        raise HTTPException(404, "an alert is acknowledged, assigned or resolved")
    alert = await console.backends.post(session, "alerts", f"/alerts/{alert_id}/{step}", bodies[step])
    return console.render(request, "_alert_row.html", session, alert=alert, actions=actions_of(session))


@router.get("/live/alerts")
async def live_alerts(request: Request, console: ConsoleDep, session: SessionDep) -> EventSourceResponse:
    """The alerts service's stream, relayed with the user's own token, each alert rendered as a row."""
    template = console.templates.get_template("_alert_item.html")
    context = helpers(console.locale_of(request))

    async def relayed() -> AsyncIterator[ServerSentEvent]:
        async with console.backends.stream(session, "/alerts/stream", request.headers.get("Last-Event-ID")) as up:
            if up.status_code != 200:
                raise Refused(up.status_code, {"detail": "the alerts stream was refused"})
            async for event_id, kind, data in _sse_messages(up.aiter_lines()):
                alert = json.loads(data)
                html = template.render(alert=alert, kind=kind, **context).replace("\n", " ")
                yield ServerSentEvent(data=html, event="alert", id=event_id)

    return EventSourceResponse(relayed(), ping=15)


async def _sse_messages(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str, str]]:
    """(id, event, data) of each message of a text/event-stream."""
    event_id, kind, data = None, "message", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield event_id, kind, "\n".join(data)
            kind, data = "message", []
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            event_id = value
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)


# -- policy -----------------------------------------------------------------------------------------------


@router.get("/policy", response_class=HTMLResponse)
async def policy(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    api = console.backends
    scoring, dunning, rules = await asyncio.gather(
        api.get(session, "scoring", "/policy"),
        api.get(session, "collections", "/policy"),
        api.get(session, "alerts", "/rules"),
    )
    return console.render(
        request, "policy.html", session, scoring=scoring, dunning=dunning, rules=rules, actions=actions_of(session)
    )


@router.post("/policy/dunning/what-if", response_class=HTMLResponse)
async def dunning_what_if(
    request: Request,
    console: ConsoleDep,
    session: PostedSession,
    start: Annotated[date, Form(alias="from")],
    end: Annotated[date, Form(alias="to")],
    minimum_days_between_contacts: Annotated[int, Form(ge=0, le=365)],
) -> Response:
    """The policy in force and the same with one setting changed, replayed over the same history."""
    api = console.backends
    if end < start or end - start > timedelta(days=366):
        raise HTTPException(422, "the period runs forwards and for a year at most")
    in_force = (await api.get(session, "collections", "/policy"))["policy"]
    changed = {**in_force, "minimum_days_between_contacts": minimum_days_between_contacts}
    period = {"from": start.isoformat(), "to": end.isoformat(), "basis": "entry"}
    before, after = await asyncio.gather(
        api.post(session, "collections", "/policy/what-if", {**period, "policy": in_force}),
        api.post(session, "collections", "/policy/what-if", {**period, "policy": changed}),
    )
    return console.render(request, "_what_if.html", session, before=before, after=after)


@router.post("/policy/scoring/what-if", response_class=HTMLResponse)
async def scoring_what_if(
    request: Request,
    console: ConsoleDep,
    session: PostedSession,
    floor_a: Annotated[Decimal, Form(ge=0, le=100)],
    floor_b: Annotated[Decimal, Form(ge=0, le=100)],
    floor_c: Annotated[Decimal, Form(ge=0, le=100)],
    floor_d: Annotated[Decimal, Form(ge=0, le=100)],
) -> Response:
    """Every recorded score replayed with other grade floors: grades now beside what they would be."""
    floors = {"A": str(floor_a), "B": str(floor_b), "C": str(floor_c), "D": str(floor_d)}
    report = await console.backends.post(session, "scoring", "/policy/what-if", {"grade_floors": floors})
    return console.render(request, "_scoring_what_if.html", session, report=report)


@router.post("/policy/rules/what-if", response_class=HTMLResponse)
async def rules_what_if(
    request: Request,
    console: ConsoleDep,
    session: PostedSession,
    start: Annotated[date, Form(alias="from")],
    end: Annotated[date, Form(alias="to")],
    overdue_days: Annotated[int, Form(ge=1, le=3650)],
) -> Response:
    """The alert rules in force with another threshold for the overdue item rule, replayed over the
    period: what each rule would have raised beside what it raised."""
    rules = (await console.backends.get(session, "alerts", "/rules"))["rules"]
    changed = [{**r, "days": overdue_days} if r["kind"] == "item_overdue" else r for r in rules]
    body = {"from": start.isoformat(), "to": end.isoformat(), "rules": changed}
    report = await console.backends.post(session, "alerts", "/rules/what-if", body)
    return console.render(request, "_rules_what_if.html", session, report=report)


@router.get("/signed-out", response_class=HTMLResponse)
async def signed_out(request: Request, console: ConsoleDep) -> Response:
    return console.render(request, "signed_out.html", None)


@router.get("/favicon.ico")
async def favicon() -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=308)
