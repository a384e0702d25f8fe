"""The ledger as receivables answers it: accounts, invoices, payments, disputes, movements, refunds
and statements, from the read model, or folded from the events for any other pair of dates."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from libs.events.contracts import to_minor_unit
from libs.events.database import Connection
from libs.events.refusals import NotFound
from libs.events.store import Store
from services.receivables import domain
from services.receivables.queries import aging
from services.receivables.queries.views import (
    AccountSummary,
    BalanceLine,
    DisputeView,
    InvoiceView,
    MovementPage,
    MovementView,
    PaymentView,
    RefundView,
    StatementRecord,
    UnpricedAmount,
)

ZERO = Decimal(0)
Row = Mapping[str, Any] | asyncpg.Record
BALANCE_FIELDS = ("balance", "overdue", "disputed", "collectable", "unapplied_cash", "credit_balance", "net")


def money_fields(row: Row, currency: str, *fields: str) -> dict[str, Any]:
    """The row with the named amounts rendered to the currency's minor unit."""
    found = dict(row)
    for name in fields:
        if found.get(name) is not None:
            found[name] = to_minor_unit(found[name], currency)
    return found


async def customer(conn: Connection, customer_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM customers WHERE customer_id = $1", customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return dict(row)


# -- the account -----------------------------------------------------------------------------------------

_SUMMARY = """
WITH inv AS (
    SELECT currency, sum(open) AS balance, sum(disputed) AS disputed FROM invoices
     WHERE customer_id = $1 AND open <> 0 GROUP BY 1),
due AS (
    SELECT currency, sum(open) AS overdue FROM instalments
     WHERE customer_id = $1 AND open > 0 AND due_date < $2 GROUP BY 1),
pay AS (
    SELECT currency,
           sum(unallocated) FILTER (WHERE remainder_as = 'unapplied') AS unapplied,
           sum(unallocated) FILTER (WHERE remainder_as IS DISTINCT FROM 'unapplied') AS credit
      FROM payments WHERE customer_id = $1 AND unallocated > 0 AND NOT reversed GROUP BY 1),
cn AS (
    SELECT currency, sum(unallocated) AS credit FROM credit_notes
     WHERE customer_id = $1 AND unallocated > 0 GROUP BY 1)
SELECT c.currency,
       coalesce(inv.balance, 0) AS balance,
       coalesce(due.overdue, 0) AS overdue,
       coalesce(inv.disputed, 0) AS disputed,
       coalesce(pay.unapplied, 0) AS unapplied_cash,
       coalesce(pay.credit, 0) + coalesce(cn.credit, 0) AS credit_balance
  FROM (SELECT currency FROM inv UNION SELECT currency FROM pay UNION SELECT currency FROM cn) c
  LEFT JOIN inv USING (currency) LEFT JOIN due USING (currency) LEFT JOIN pay USING (currency)
  LEFT JOIN cn USING (currency)
 ORDER BY c.currency
"""


def balances_of(account: domain.Account, as_of: date) -> list[dict[str, Any]]:
    """Per currency, what the account holds at the end of ``as_of``: as ``_SUMMARY`` reads it."""
    lines: dict[str, dict[str, Decimal]] = {}

    def line(currency: str) -> dict[str, Decimal]:
        return lines.setdefault(
            currency,
            dict.fromkeys(("balance", "overdue", "disputed", "unapplied_cash"), ZERO) | {"credit_balance": ZERO},
        )

    for invoice in account.invoices.values():
        if invoice.open != 0:
            found = line(invoice.currency)
            found["balance"] += invoice.open
            found["disputed"] += invoice.disputed
            found["overdue"] += sum((a for _, due, a in invoice.open_instalments() if due < as_of), ZERO)
    for payment in account.payments.values():
        if payment.unallocated > 0 and not payment.reversed:
            kind = "unapplied_cash" if payment.remainder_as == "unapplied" else "credit_balance"
            line(payment.currency)[kind] += payment.unallocated
    for note in account.credit_notes.values():
        if note.unallocated > 0:
            line(note.currency)["credit_balance"] += note.unallocated
    return [{"currency": c, **values} for c, values in sorted(lines.items())]


def _complete(balances: Iterable[Row]) -> list[dict[str, Any]]:
    result = []
    for row in balances:
        line = dict(row)
        line["collectable"] = line["balance"] - line["disputed"]
        line["net"] = line["balance"] - line["unapplied_cash"] - line["credit_balance"]
        result.append(money_fields(line, line["currency"], *BALANCE_FIELDS))
    return result


async def account_summary(
    conn: Connection,
    store: Store,
    ahead: aging.AheadAccounts,
    customer_id: str,
    base: str,
    as_of: date,
    known_on: date,
    today: date,
) -> AccountSummary:
    """Per currency: balance, overdue, disputed, collectable, unapplied cash, credit balance and net;
    and in the base currency, the priced part with what is unpriced listed."""
    found = await customer(conn, customer_id)
    version = await conn.fetchval("SELECT version FROM accounts WHERE customer_id = $1", customer_id) or 0
    now = as_of == known_on == today
    if now and await aging.read_model_is_current(conn, today, customer_id):
        balances = _complete(await conn.fetch(_SUMMARY, customer_id, today))
        rates = await aging.rates_today(conn, base, today)
    else:
        account = (
            await ahead.account(store, conn, customer_id, today)
            if now
            else await aging.account_as_of(store, conn, customer_id, as_of, known_on)
        )
        balances = _complete(balances_of(account, as_of))
        rates = await aging.rates_as_of(store, conn, base, as_of, known_on)
    in_base: dict[str, Decimal] = {}
    unpriced: dict[str, list[UnpricedAmount]] = {}
    for name in BALANCE_FIELDS:
        priced, missing = rates.priced({b["currency"]: b[name] for b in balances})
        in_base[name] = priced
        if missing:
            unpriced[name] = aging.unpriced_list(missing)
    return AccountSummary(
        customer_id=customer_id,
        legal_name=found["legal_name"],
        as_of=as_of,
        known_on=known_on,
        version=version,
        balances=[BalanceLine(**b) for b in balances],
        base_currency=base,
        in_base_currency=in_base,
        unpriced=unpriced,
        missing_rates=sorted({u.currency for items in unpriced.values() for u in items}),
    )


# -- invoices, payments, disputes, movements ------------------------------------------------------------

_INVOICE = """
SELECT v.*,
       (SELECT min(i.due_date) FROM instalments i WHERE i.invoice_id = v.invoice_id AND i.open > 0) AS next_due,
       (SELECT jsonb_agg(jsonb_build_object('instalment', i.seq, 'due_date', i.due_date, 'amount', i.amount::text,
                                            'open', i.open::text,
                                            'days_past_due', CASE WHEN i.open > 0
                                                                  THEN greatest($2::date - i.due_date, 0) END)
                         ORDER BY i.seq) FROM instalments i WHERE i.invoice_id = v.invoice_id) AS schedule
  FROM invoices v WHERE {where}
"""
_INVOICE_AMOUNTS = (
    "net",
    "tax",
    "total",
    "paid",
    "credited",
    "discounted",
    "written_off",
    "recovered",
    "disputed",
    "open",
)


def invoice_view(row: Row) -> InvoiceView:
    currency = row["currency"]
    invoice = money_fields(row, currency, *_INVOICE_AMOUNTS)
    invoice["collectable"] = invoice["open"] - invoice["disputed"]
    invoice["status"] = "open" if row["open"] > 0 else "written_off" if row["written_off"] else "settled"
    invoice["terms"] = json.loads(row["terms"])
    invoice["charge"] = json.loads(row["charge"]) if row["charge"] else None
    invoice["schedule"] = [
        {
            **i,
            "amount": to_minor_unit(Decimal(i["amount"]), currency),
            "open": to_minor_unit(Decimal(i["open"]), currency),
        }
        for i in json.loads(row["schedule"] or "[]")
    ]
    invoice["days_past_due"] = max((i["days_past_due"] or 0 for i in invoice["schedule"]), default=0)
    return InvoiceView(**invoice)


async def invoice(conn: Connection, invoice_id: str, today: date) -> InvoiceView:
    row = await conn.fetchrow(_INVOICE.format(where="v.invoice_id = $1"), invoice_id, today)
    if row is None:
        raise NotFound(f"no invoice {invoice_id}")
    return invoice_view(row)


async def invoices(
    conn: Connection, customer_id: str, status: str, today: date, limit: int, offset: int
) -> list[InvoiceView]:
    """Open invoices first, by the due date of what is open on them; then the others, newest first."""
    where = {"open": "v.open > 0", "closed": "v.open <= 0", "all": "true"}[status]
    rows = await conn.fetch(
        _INVOICE.format(where=f"v.customer_id = $1 AND {where}")
        + " ORDER BY v.open > 0 DESC, next_due NULLS LAST, v.issue_date DESC, v.number LIMIT $3 OFFSET $4",
        customer_id,
        today,
        limit,
        offset,
    )
    return [invoice_view(r) for r in rows]


async def payments(conn: Connection, customer_id: str, limit: int, offset: int) -> list[PaymentView]:
    rows = await conn.fetch(
        "SELECT p.*, (SELECT coalesce(jsonb_agg(jsonb_build_object('invoice_id', a.invoice_id, 'number', v.number,"
        " 'amount', a.amount::text, 'discount', a.discount::text, 'counts_from', a.entry_date, 'by_hand', a.by_hand)"
        " ORDER BY a.entry_date, a.invoice_id), '[]') FROM allocations a LEFT JOIN invoices v USING (invoice_id)"
        " WHERE a.source_id = p.payment_id) AS allocations"
        " FROM payments p WHERE p.customer_id = $1 ORDER BY p.value_date DESC, p.payment_id LIMIT $2 OFFSET $3",
        customer_id,
        limit,
        offset,
    )
    result = []
    for r in rows:
        currency = r["currency"]
        payment = money_fields(r, currency, "amount", "unallocated", "refunded")
        payment["allocations"] = [
            {
                **a,
                "amount": to_minor_unit(Decimal(a["amount"]), currency),
                "discount": to_minor_unit(Decimal(a["discount"]), currency),
            }
            for a in json.loads(r["allocations"])
        ]
        result.append(PaymentView(**payment))
    return result


async def dispute(conn: Connection, dispute_id: str) -> DisputeView:
    row = await conn.fetchrow("SELECT * FROM disputes WHERE dispute_id = $1", dispute_id)
    if row is None:
        raise NotFound(f"no dispute {dispute_id}")
    return DisputeView(**money_fields(row, row["currency"], "amount", "credited"))


async def disputes(conn: Connection, customer_id: str) -> list[DisputeView]:
    rows = await conn.fetch(
        "SELECT * FROM disputes WHERE customer_id = $1 ORDER BY opened_on DESC, dispute_id", customer_id
    )
    return [DisputeView(**money_fields(r, r["currency"], "amount", "credited")) for r in rows]


async def movements(conn: Connection, customer_id: str, after_version: int, limit: int) -> MovementPage:
    rows = await conn.fetch(
        "SELECT * FROM movements WHERE customer_id = $1 AND version > $2 ORDER BY version, line LIMIT $3",
        customer_id,
        after_version,
        limit,
    )
    return MovementPage(
        movements=[MovementView(**money_fields(r, r["currency"], "amount")) for r in rows],
        next_after_version=rows[-1]["version"] if len(rows) == limit else None,
    )


async def refunds(conn: Connection, customer_id: str) -> list[RefundView]:
    rows = await conn.fetch("SELECT * FROM refunds WHERE customer_id = $1 ORDER BY entry_date DESC", customer_id)
    return [RefundView(**money_fields(r, r["currency"], "amount")) for r in rows]


# -- statements ----------------------------------------------------------------------------------------------


def statement_record(row: Row) -> StatementRecord:
    record = dict(row)
    record["closing"] = json.loads(record["closing"])
    record["answer"] = json.loads(record["answer"]) if record["answer"] else None
    return StatementRecord(**record)


async def statement(conn: Connection, customer_id: str, statement_id: str) -> StatementRecord:
    row = await conn.fetchrow(
        "SELECT * FROM statements WHERE statement_id = $1 AND customer_id = $2", statement_id, customer_id
    )
    if row is None:
        raise NotFound(f"customer {customer_id} has no statement {statement_id}")
    return statement_record(row)


async def statements(conn: Connection, customer_id: str) -> list[StatementRecord]:
    rows = await conn.fetch(
        "SELECT * FROM statements WHERE customer_id = $1 ORDER BY period_end DESC, issued_on DESC", customer_id
    )
    return [statement_record(r) for r in rows]


async def kept_pdf(conn: Connection, statement_id: str) -> bytes | None:
    pdf: bytes | None = await conn.fetchval("SELECT pdf FROM statement_pdfs WHERE statement_id = $1", statement_id)
    return pdf


async def keep_pdf(conn: Connection, statement_id: str, pdf: bytes) -> None:
    await conn.execute(
        "INSERT INTO statement_pdfs (statement_id, pdf) VALUES ($1, $2) ON CONFLICT DO NOTHING", statement_id, pdf
    )
