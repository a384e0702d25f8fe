"""The credit account as scoring answers it: score, limit, terms, holds, exposure, requests and checks."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from libs.events.database import Connection
from libs.events.refusals import NotFound
from libs.service.views import MoneyView
from services.scoring import domain
from services.scoring.domain import limits
from services.scoring.domain.policy import Policies
from services.scoring.projections import reserved_total
from services.scoring.queries import facts
from services.scoring.queries.views import (
    CheckView,
    CreditSummary,
    CustomerRequests,
    ExposureView,
    HoldView,
    LimitInForce,
    RecommendedLimit,
    RequestView,
    ScoreHistory,
    ScoreView,
    TermsInForce,
    WaitingRequests,
)


async def known(conn: Connection, customer_id: str) -> None:
    if not await conn.fetchval("SELECT true FROM customers WHERE customer_id = $1", customer_id):
        raise NotFound(f"no customer {customer_id}")


async def credit_summary(conn: Connection, customer_id: str, today: date, policy: Policies, base: str) -> CreditSummary:
    """The credit account as the credit team reads it: score, limit, terms, holds and exposure."""
    await known(conn, customer_id)
    row = await conn.fetchrow("SELECT * FROM credit_accounts WHERE customer_id = $1", customer_id)
    rates = await facts.rates_on(conn, today, base)
    found = (await facts.gather(conn, [customer_id], today, rates, base))[customer_id]
    reserved = reserved_total(row["reservations"], today) if row else Decimal(0)
    account = facts.account_of(row) if row else domain.CreditAccount(customer_id=customer_id)
    grade = row["grade"] if row else None
    limit = account.limit_on(today)
    exposure = found.exposure.balance + reserved
    days = account.terms.credit_days if account.terms else limits.default_terms(grade, policy.limits)
    recommendation = limits.recommend(
        grade or "C", found.monthly_invoicing, days, found.net_worth, found.insured_cover, policy.limits, base
    )
    pending = await conn.fetch(
        "SELECT * FROM limit_requests WHERE customer_id = $1 AND status = 'pending' ORDER BY requested_at",
        customer_id,
    )

    def money(amount: Decimal) -> MoneyView:
        return MoneyView.of(amount, base)

    return CreditSummary(
        customer_id=customer_id,
        score=row["score"] if row else None,
        grade=grade,
        reasons=json.loads(row["reasons"]) if row else [],
        components=json.loads(row["components"]) if row else {},
        left_out=json.loads(row["left_out"]) if row else [],
        notes=json.loads(row["notes"]) if row else [],
        policy_version=row["policy_version"] if row else None,
        scored_at=row["scored_at"] if row else None,
        limit=LimitInForce(
            in_force=money(limit.amount) if limit else None,
            standing=money(account.standing_limit.amount) if account.standing_limit else None,
            temporary_until=account.temporary_until,
            reason=row["limit_reason"] if row else None,
        ),
        terms=TermsInForce(
            credit_days=days,
            discount_percent=account.terms.discount_percent if account.terms else None,
            discount_days=account.terms.discount_days if account.terms else None,
            source="set" if account.terms else f"default for grade {grade or 'C'}",
        ),
        holds=[HoldView(hold_id=k, **v) for k, v in (json.loads(row["holds"]) if row else {}).items()],
        exposure=ExposureView(
            open_receivables=money(found.exposure.balance),
            overdue=money(found.exposure.overdue),
            oldest_days_past_due=found.exposure.oldest_days_past_due,
            reserved=money(reserved),
            total=money(exposure),
            available=money(limit.amount - exposure) if limit else None,
            unpriced_currencies=list(found.exposure.unpriced),
        ),
        recommended_limit=RecommendedLimit(
            amount=money(recommendation.amount), calculation=list(recommendation.calculation)
        ),
        pending_requests=[request_view(r) for r in pending],
        version=row["account_version"] if row else 0,
    )


def request_view(row: asyncpg.Record) -> RequestView:
    found: dict[str, Any] = dict(row)
    return RequestView(
        request_id=found["request_id"],
        customer_id=found["customer_id"],
        kind=found["kind"],
        amount=MoneyView.maybe(found["amount"], found["currency"]),
        expires_on=found["expires_on"],
        terms=None
        if found["credit_days"] is None
        else {k: found[k] for k in ("credit_days", "discount_percent", "discount_days")},
        requested_by=found["requested_by"],
        reason=found["reason"],
        status=found["status"],
        waiting_for=found["waiting_for"] if found["status"] == "pending" else None,
        steps=json.loads(found["steps"]),
        requested_at=found["requested_at"],
        decided_at=found["decided_at"],
    )


async def scores(conn: Connection, customer_id: str, limit: int, with_inputs: bool = True) -> ScoreHistory:
    """Every score the customer was given, newest first, each with its inputs unless ``with_inputs``
    is false (a customer's inputs hold every payment it made: a history chart needs none of them)."""
    await known(conn, customer_id)
    inputs = "inputs" if with_inputs else "'null' AS inputs"
    rows = await conn.fetch(
        "SELECT version, score, grade, previous_grade, policy_version, cause, reasons, components, weights,"
        f" left_out, {inputs}, notes, scored_at FROM score_history WHERE customer_id = $1"
        " ORDER BY version DESC LIMIT $2",
        customer_id,
        limit,
    )
    return ScoreHistory(
        customer_id=customer_id,
        scores=[
            ScoreView(
                **{k: r[k] for k in ("version", "score", "grade", "previous_grade", "policy_version", "cause")},
                **{k: json.loads(r[k]) for k in ("reasons", "components", "weights", "left_out", "inputs", "notes")},
                scored_at=r["scored_at"],
            )
            for r in rows
        ],
    )


async def customer_requests(conn: Connection, customer_id: str) -> CustomerRequests:
    await known(conn, customer_id)
    rows = await conn.fetch(
        "SELECT * FROM limit_requests WHERE customer_id = $1 ORDER BY requested_at DESC", customer_id
    )
    return CustomerRequests(customer_id=customer_id, requests=[request_view(r) for r in rows])


async def waiting_requests(conn: Connection, waiting_for: str | None) -> WaitingRequests:
    rows = await conn.fetch(
        "SELECT * FROM limit_requests WHERE status = 'pending' AND ($1::text IS NULL OR waiting_for = $1)"
        " ORDER BY requested_at LIMIT 500",
        waiting_for,
    )
    return WaitingRequests(requests=[request_view(r) for r in rows])


async def credit_check(conn: Connection, decision_id: str, today: date, base: str) -> CheckView:
    """A credit check's decision, and whether its reservation still stands."""
    row = await conn.fetchrow("SELECT * FROM credit_checks WHERE decision_id = $1", decision_id)
    if row is None:
        raise NotFound(f"no credit check {decision_id}")
    found = dict(row)
    for name, currency in (("amount", found["currency"]), ("amount_in_base", base), ("available", base)):
        found[name] = MoneyView.of(found[name], currency).amount
    found["reasons"] = json.loads(found["reasons"])
    found["reserving"] = (
        found["outcome"] == "approve" and found["released_on"] is None and found["reserved_until"] >= today
    )
    return CheckView(**found)
