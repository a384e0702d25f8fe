"""The facts scoring keeps, gathered back into a score's inputs and a credit account's exposure.

Balances and invoices stay in their own currency in the read model; they are converted to the base
currency with the latest recorded rate when they are read, so a new rate re-prices every customer
without rewriting anything.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from contracts.scoring import ScoredPayment, ScoreInputs
from libs.events.contracts import Money, to_minor_unit
from libs.events.database import Connection
from services.scoring import domain
from services.scoring.domain.exposure import (
    ZERO,
    Exposure,
    Facts,
    in_base,
    months_between,
    net_of_credit,
    past_due,
    total_in_base,
)

YEAR = timedelta(days=365)


def account_of(row: asyncpg.Record) -> domain.CreditAccount:
    """The part of a credit account that policy holds and checks decide on."""
    currency = row["limit_currency"]

    def money(amount: Decimal | None) -> Money | None:
        return None if amount is None else Money.of(amount, currency)

    temporary = row["limit_expires_on"] is not None
    terms = None
    if row["credit_days"] is not None:
        terms = domain.Terms(row["credit_days"], row["discount_percent"], row["discount_days"])
    return domain.CreditAccount(
        customer_id=row["customer_id"],
        standing_limit=money(row["standing_limit"]),
        temporary_limit=money(row["limit_amount"]) if temporary else None,
        temporary_until=row["limit_expires_on"],
        holds={hold_id: hold["reason"] for hold_id, hold in json.loads(row["holds"]).items()},
        terms=terms,
    )


def latest_rates(on: str) -> str:
    """SQL for each currency's latest rate recorded for a date no later than the parameter ``on``."""
    return (
        f"SELECT DISTINCT ON (currency) currency, rate FROM fx_rates WHERE rate_date <= {on}"
        " ORDER BY currency, rate_date DESC"
    )


async def rates_on(conn: Connection, today: date, base_currency: str) -> dict[str, Decimal]:
    rows = await conn.fetch(latest_rates("$1"), today)
    return {**{r["currency"]: r["rate"] for r in rows}, base_currency: Decimal(1)}


async def gather(
    conn: Connection, customer_ids: Sequence[str], today: date, rates: Mapping[str, Decimal], base: str
) -> dict[str, Facts]:
    """Each customer's facts as of today, read in a few statements for all of them."""
    ids = list(customer_ids)
    since = today - YEAR
    balances, open_items, paid, counts, invoiced, facts, broken = (
        await conn.fetch(
            "SELECT customer_id, b.key AS currency, b.value::numeric AS balance"
            " FROM credit_accounts, jsonb_each_text(balances) AS b WHERE customer_id = ANY($1::text[])",
            ids,
        ),
        await conn.fetch(
            "SELECT customer_id, currency, total, open, schedule FROM invoices"
            " WHERE customer_id = ANY($1::text[]) AND open > 0",
            ids,
        ),
        await conn.fetch(
            "SELECT customer_id, amount, currency, days_beyond_terms, paid_on FROM payment_experiences"
            " WHERE customer_id = ANY($1::text[]) AND paid_on > $2 AND paid_on <= $3 ORDER BY paid_on, invoice_id",
            ids,
            since,
            today,
        ),
        await conn.fetch(
            "SELECT customer_id, count(*) AS n FROM payment_experiences WHERE customer_id = ANY($1::text[]) GROUP BY 1",
            ids,
        ),
        await conn.fetch(
            "SELECT customer_id, currency, sum(total) AS total FROM invoices"
            " WHERE customer_id = ANY($1::text[]) AND issue_date > $2 GROUP BY 1, 2",
            ids,
            since,
        ),
        await conn.fetch("SELECT * FROM credit_facts WHERE customer_id = ANY($1::text[])", ids),
        await conn.fetch(
            "SELECT customer_id, count(*) AS n FROM broken_promises WHERE customer_id = ANY($1::text[])"
            " AND broken_on > $2 AND broken_on <= $3 GROUP BY 1",
            ids,
            since,
            today,
        ),
    )
    found: dict[str, dict[str, list[asyncpg.Record]]] = defaultdict(lambda: defaultdict(list))
    for name, rows in (("balances", balances), ("open", open_items), ("paid", paid), ("invoiced", invoiced)):
        for row in rows:
            found[row["customer_id"]][name].append(row)
    paid_count = {r["customer_id"]: r["n"] for r in counts}
    known = {r["customer_id"]: r for r in facts}
    promises = {r["customer_id"]: r["n"] for r in broken}
    return {
        c: _facts(c, found[c], paid_count.get(c, 0), promises.get(c, 0), known.get(c), today, rates, base) for c in ids
    }


def _facts(
    customer_id: str,
    rows: Mapping[str, list[asyncpg.Record]],
    invoices_paid: int,
    broken_promises: int,
    known: asyncpg.Record | None,
    today: date,
    rates: Mapping[str, Decimal],
    base: str,
) -> Facts:
    balance, unpriced = total_in_base(((r["balance"], r["currency"]) for r in rows["balances"]), rates, base)
    # What the customer has with us in a currency: what is open there beyond its net balance.
    items: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    open_total: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows["open"]:
        schedule = [(date.fromisoformat(d), Decimal(a)) for d, a in json.loads(r["schedule"])]
        items[r["currency"]] += past_due(schedule, r["total"], r["open"], today)
        open_total[r["currency"]] += r["open"]
    net = {r["currency"]: r["balance"] for r in rows["balances"]}
    late: list[tuple[Decimal, str]] = []
    oldest = 0
    for currency, overdue_items in items.items():
        amount, days = net_of_credit(overdue_items, open_total[currency] - net.get(currency, ZERO), today)
        late.append((amount, currency))
        oldest = max(oldest, days)
    overdue, unpriced_late = total_in_base(late, rates, base)
    payments = tuple(
        ScoredPayment(amount=to_minor_unit(paid, base), days_beyond_terms=r["days_beyond_terms"], paid_on=r["paid_on"])
        for r in rows["paid"]
        if (paid := in_base(r["amount"], r["currency"], rates)) is not None
    )
    invoiced, unpriced_invoiced = total_in_base(((r["total"], r["currency"]) for r in rows["invoiced"]), rates, base)
    invoicing = to_minor_unit(invoiced / 12, base)
    facts: Mapping[str, Any] = dict(known) if known else {}
    starts = [d for d in (facts.get("customer_since"), facts.get("first_invoice_on")) if isinstance(d, date)]
    net_worth = _converted(facts, "net_worth", "net_worth_currency", rates, base)
    cover = _converted(facts, "insured_limit", "insured_currency", rates, base)
    insured_until = facts.get("insured_until")
    in_force = cover if isinstance(insured_until, date) and insured_until >= today else None
    has_ledger = bool(rows["balances"])
    inputs = ScoreInputs(
        as_of=today,
        payments=payments,
        balance=balance if has_ledger else None,
        overdue=overdue if has_ledger else None,
        oldest_days_past_due=oldest,
        altman_z=_decimal(facts.get("altman_z")),
        current_ratio=_decimal(facts.get("current_ratio")),
        months_trading=months_between(min(starts), today) if starts else None,
        invoices_paid=invoices_paid,
        bureau_score=facts.get("bureau_score"),
        bureau_provider=facts.get("bureau_provider"),
        bureau_score_min=facts.get("bureau_score_min"),
        bureau_score_max=facts.get("bureau_score_max"),
        adverse_records=facts.get("adverse_records") or 0,
        broken_promises=broken_promises,
    )
    status = facts.get("file_status") or "active"
    file_status = None if status == "active" else (status, facts.get("file_status_reason") or "")
    exposure = Exposure(
        balance, overdue, oldest, tuple(sorted(unpriced | unpriced_late | unpriced_invoiced)), file_status
    )
    return Facts(inputs, exposure, invoicing, net_worth, in_force)


def _decimal(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def _converted(
    facts: Mapping[str, Any], amount: str, currency: str, rates: Mapping[str, Decimal], base: str
) -> Decimal | None:
    value, code = facts.get(amount), facts.get(currency)
    if not isinstance(value, Decimal) or not isinstance(code, str):
        return None
    converted = in_base(value, code, rates)
    return None if converted is None else to_minor_unit(converted, base)
