"""The facts scoring decides on, projected from profiles.events and receivables.events, and
gathered back into a score's inputs and a credit account's exposure.

Balances and invoices stay in their own currency here; they are converted to the base
currency with the latest recorded rate when they are read, so a new rate re-prices every
customer without rewriting anything.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from libs.events.consumer import Delivery
from libs.events.contracts import to_minor_unit
from libs.events.database import Connection
from services.profiles.events import (
    BureauReportRecorded,
    CustomerRegistered,
    CustomerStatusChanged,
    FinancialStatementRecorded,
    InsuranceCoverRecorded,
)
from services.profiles.financials import ratios
from services.receivables.domain import movements
from services.receivables.events import (
    Allocation,
    AllocationsWithdrawn,
    CreditBalanceRefunded,
    CreditNoteApplied,
    FxRateRecorded,
    InvoiceAdjusted,
    InvoiceFellOverdue,
    InvoiceIssued,
    InvoiceReopened,
    InvoiceSettled,
    InvoiceWrittenOff,
    PaymentAllocated,
    PaymentReceived,
    PaymentReversed,
)
from services.scoring.events import ScoredPayment, ScoreInputs
from services.scoring.projections import ensure_accounts

ZERO = Decimal(0)
YEAR = timedelta(days=365)

# The events after which a customer is scored again: payments, overdue, statements, bureau
# reports and what the history and balance are made of.
RESCORING = (
    InvoiceIssued,
    InvoiceAdjusted,
    PaymentAllocated,
    AllocationsWithdrawn,
    CreditBalanceRefunded,
    PaymentReversed,
    CreditNoteApplied,
    InvoiceSettled,
    InvoiceReopened,
    InvoiceWrittenOff,
    InvoiceFellOverdue,
    FinancialStatementRecorded,
    BureauReportRecorded,
    CustomerRegistered,
)
# After these only exposure or the file's status changes, so only the policy's holds are looked at again.
REHOLDING = (PaymentReceived, InsuranceCoverRecorded, CustomerStatusChanged)


# -- pure ---------------------------------------------------------------------------------------------


def past_due(
    schedule: Sequence[tuple[date, Decimal]], total: Decimal, open_: Decimal, today: date
) -> list[tuple[date, Decimal]]:
    """What of an invoice is past due today, instalment by instalment (due date, amount); what
    was paid settles the earliest instalments first."""
    paid = total - open_
    items = []
    for due, amount in schedule:
        covered = min(max(paid, ZERO), amount)
        paid -= covered
        if amount - covered > 0 and due < today:
            items.append((due, amount - covered))
    return items


def overdue_of(
    schedule: Sequence[tuple[date, Decimal]], total: Decimal, open_: Decimal, today: date
) -> tuple[Decimal, int]:
    """What of an invoice is past due today, and the days past due of its oldest unpaid instalment."""
    items = past_due(schedule, total, open_, today)
    return sum((a for _, a in items), ZERO), max(((today - due).days for due, _ in items), default=0)


def net_of_credit(items: Sequence[tuple[date, Decimal]], credit: Decimal, today: date) -> tuple[Decimal, int]:
    """Overdue items less the customer's unapplied cash and credit balance in their currency, taken
    off the oldest first: what is overdue then, and the days past due of the oldest left."""
    left, oldest, overdue = max(credit, ZERO), 0, ZERO
    for due, amount in sorted(items):
        taken = min(left, amount)
        left -= taken
        if amount > taken:
            overdue += amount - taken
            oldest = max(oldest, (today - due).days)
    return overdue, oldest


@dataclass(frozen=True)
class Exposure:
    """A customer's receivables in the base currency; amounts in currencies without a rate are
    not counted, and named in ``unpriced``."""

    balance: Decimal
    overdue: Decimal  # net of unapplied cash and credit balance
    oldest_days_past_due: int
    unpriced: tuple[str, ...] = ()
    file_status: tuple[str, str] | None = None  # the credit file's status and why, when not active


@dataclass(frozen=True)
class Facts:
    inputs: ScoreInputs
    exposure: Exposure
    monthly_invoicing: Decimal  # the last twelve months' invoicing in the base currency, a month
    net_worth: Decimal | None  # tangible net worth from the latest statement, in the base currency
    insured_cover: Decimal | None  # credit-insurance cover in force, in the base currency


def in_base(amount: Decimal, currency: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    """One amount in the base currency (exact: round a figure once, when it is complete)."""
    rate = rates.get(currency)
    return None if rate is None else amount * rate


def total_in_base(
    amounts: Iterable[tuple[Decimal, str]], rates: Mapping[str, Decimal], base: str
) -> tuple[Decimal, set[str]]:
    """The amounts added up in the base currency, exactly, then rounded half-up to its minor unit
    once; and the currencies left out for want of a rate."""
    total, unpriced = ZERO, set()
    for amount, currency in amounts:
        converted = in_base(amount, currency, rates)
        if converted is None:
            unpriced.add(currency)
        else:
            total += converted
    return to_minor_unit(total, base), unpriced


def months_between(start: date, end: date) -> int:
    return max((end.year - start.year) * 12 + end.month - start.month - (end.day < start.day), 0)


# -- projecting others' events ------------------------------------------------------------------------


@dataclass
class _Batch:
    invoices: list[tuple[object, ...]] = field(default_factory=list)
    adjusted: dict[tuple[str, str], tuple[Decimal, str, date]] = field(default_factory=dict)
    open_change: dict[tuple[str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    cash: dict[tuple[str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # paid by payments
    cash_on: dict[tuple[str, str], date] = field(default_factory=dict)  # the latest payment's date
    written_off: set[tuple[str, str]] = field(default_factory=set)
    balance_change: dict[tuple[str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    settled: dict[tuple[str, str], date | None] = field(default_factory=dict)  # None: reopened
    invoiced_orders: list[tuple[str, str, str, date]] = field(default_factory=list)
    first_invoice: dict[str, date] = field(default_factory=dict)
    rates: dict[tuple[str, date], Decimal] = field(default_factory=dict)

    def allocate(
        self, customer_id: str, allocations: Iterable[Allocation], sign: int, *, cash_on: date | None = None
    ) -> None:
        """Allocations (``sign`` -1 for their reversal) reduce what is open; those of payments, with
        ``cash_on``, are cash paid."""
        for a in allocations:
            discount = a.discount.amount if a.discount else ZERO
            key = (customer_id, a.invoice_id)
            self.open_change[key] -= sign * (a.amount.amount + discount)
            if cash_on is not None:
                self.cash[key] += sign * a.amount.amount
                if sign > 0:
                    self.cash_on[key] = max(cash_on, self.cash_on.get(key, cash_on))


def _schedule(event: InvoiceIssued | InvoiceAdjusted) -> tuple[str, date]:
    pairs = [(i.due_date.isoformat(), str(i.amount.amount)) for i in event.schedule]
    return json.dumps(pairs), max(i.due_date for i in event.schedule)


@dataclass
class Reconsider:
    """The customers to look at again: to score (with the last event that asks for it), and
    whose policy holds to check."""

    scores: dict[str, str] = field(default_factory=dict)
    holds: set[str] = field(default_factory=set)


async def project(conn: Connection, deliveries: Sequence[Delivery], base_currency: str) -> Reconsider:
    """Write the facts these events carry; answer whom to look at again."""
    batch = _Batch()
    again = Reconsider()
    for delivery in deliveries:
        event, customer_id = delivery.event, delivery.customer_id
        for line in movements(event):
            batch.balance_change[customer_id, line.currency] += line.amount
        match event:
            case InvoiceIssued():
                schedule, final_due = _schedule(event)
                total = event.total
                batch.invoices.append(
                    (customer_id, event.invoice_id, total.currency, total.amount, event.issue_date, schedule, final_due)
                )
                if event.order_ref:
                    batch.invoiced_orders.append((customer_id, event.order_ref, event.number, event.recorded_on))
                first = batch.first_invoice.get(customer_id)
                batch.first_invoice[customer_id] = min(first, event.issue_date) if first else event.issue_date
            case InvoiceAdjusted():
                schedule, final_due = _schedule(event)
                batch.adjusted[customer_id, event.invoice_id] = (event.total.amount, schedule, final_due)
                batch.open_change[customer_id, event.invoice_id] += event.change.amount
            case PaymentAllocated():
                batch.allocate(customer_id, event.allocations, +1, cash_on=event.entry_date)
            case PaymentReversed():
                batch.allocate(customer_id, event.reversed_allocations, -1, cash_on=event.entry_date)
            case AllocationsWithdrawn():
                plain = [
                    Allocation(invoice_id=a.invoice_id, amount=a.amount, discount=a.discount) for a in event.allocations
                ]
                on = event.recorded_on if event.source == "payment" else None
                batch.allocate(customer_id, plain, -1, cash_on=on)
            case CreditNoteApplied():
                batch.allocate(customer_id, event.allocations, +1)
            case InvoiceWrittenOff():
                batch.open_change[customer_id, event.invoice_id] -= event.amount.amount
                batch.written_off.add((customer_id, event.invoice_id))
            case InvoiceSettled():
                batch.settled[customer_id, event.invoice_id] = event.settled_on
            case InvoiceReopened():
                batch.settled[customer_id, event.invoice_id] = None
            case FxRateRecorded() if event.base_currency == base_currency:
                batch.rates[event.currency, event.rate_date] = event.rate
            case CustomerRegistered():
                await _upsert_facts(conn, customer_id, customer_since=event.customer_since)
            case CustomerStatusChanged():
                await _upsert_facts(conn, customer_id, file_status=event.status, file_status_reason=event.reason)
            case FinancialStatementRecorded():
                await _statement(conn, event)
            case BureauReportRecorded():
                await _bureau(conn, event)
            case InsuranceCoverRecorded():
                cover = event.insured_limit
                await _upsert_facts(
                    conn,
                    customer_id,
                    insured_limit=cover.amount,
                    insured_currency=cover.currency,
                    insured_until=event.expires_on,
                )
        if isinstance(event, RESCORING):
            again.scores[customer_id] = event.event_type
        if isinstance(event, RESCORING + REHOLDING):
            again.holds.add(customer_id)
    await _write(conn, batch)
    return again


# Balances are decimal strings per currency, so that no amount passes through a float.
_ADD_TO_BALANCES = """
UPDATE credit_accounts SET balances = balances || (
    SELECT jsonb_object_agg(d.key, (coalesce((balances->>d.key)::numeric, 0) + d.value::numeric)::text)
      FROM jsonb_each_text($2::jsonb) AS d)
 WHERE customer_id = $1
"""
_RELEASE_ORDER = """
UPDATE credit_accounts SET reservations = coalesce(
    (SELECT jsonb_object_agg(key, value) FROM jsonb_each(reservations) WHERE value->>0 <> $2), '{}')
 WHERE customer_id = $1
"""


async def _write(conn: Connection, batch: _Batch) -> None:
    if batch.invoices:
        await conn.executemany(
            "INSERT INTO invoices (customer_id, invoice_id, currency, total, open, issue_date, schedule, final_due)"
            " VALUES ($1, $2, $3, $4, $4, $5, $6::jsonb, $7) ON CONFLICT DO NOTHING",
            batch.invoices,
        )
    if batch.adjusted:
        await conn.executemany(
            "UPDATE invoices SET total = $3, schedule = $4::jsonb, final_due = $5"
            " WHERE customer_id = $1 AND invoice_id = $2",
            [(*key, *values) for key, values in batch.adjusted.items()],
        )
    if batch.open_change:
        await conn.executemany(
            "UPDATE invoices SET open = open + $3, written_off = written_off OR $4, paid_cash = paid_cash + $5,"
            " last_paid_on = greatest(last_paid_on, $6) WHERE customer_id = $1 AND invoice_id = $2",
            [
                (*key, change, key in batch.written_off, batch.cash.get(key, ZERO), batch.cash_on.get(key))
                for key, change in batch.open_change.items()
            ],
        )
    if batch.balance_change:
        changes: dict[str, dict[str, str]] = defaultdict(dict)
        for (customer_id, currency), change in batch.balance_change.items():
            changes[customer_id][currency] = str(change)
        await ensure_accounts(conn, sorted(changes))
        await conn.executemany(_ADD_TO_BALANCES, [(c, json.dumps(d)) for c, d in changes.items()])
    reopened = [key for key, on in batch.settled.items() if on is None]
    if reopened:
        await conn.executemany("DELETE FROM payment_experiences WHERE customer_id = $1 AND invoice_id = $2", reopened)
    settled = [(*key, on) for key, on in batch.settled.items() if on is not None]
    if settled:
        # Only cash is a payment: an experience weighs what payments paid, dated by the last of them;
        # an invoice settled by credit notes alone, or written off, is no experience of paying.
        await conn.executemany(
            "DELETE FROM payment_experiences WHERE customer_id = $1 AND invoice_id = $2",
            [key for *key, _ in settled],
        )
        await conn.executemany(
            "INSERT INTO payment_experiences (customer_id, invoice_id, amount, currency, days_beyond_terms, paid_on)"
            " SELECT customer_id, invoice_id, paid_cash, currency, last_paid_on - final_due, last_paid_on FROM invoices"
            " WHERE customer_id = $1 AND invoice_id = $2 AND NOT written_off AND paid_cash > 0"
            " AND last_paid_on IS NOT NULL",
            [key for *key, _ in settled],
        )
    if batch.invoiced_orders:  # the order is invoiced: its approved check reserves nothing more
        await conn.executemany(
            "UPDATE credit_checks SET released_on = $4, released_reason = 'invoice ' || $3 || ' issued'"
            " WHERE customer_id = $1 AND order_ref = $2 AND outcome = 'approve' AND released_on IS NULL",
            batch.invoiced_orders,
        )
        await conn.executemany(_RELEASE_ORDER, [(c, order) for c, order, _, _ in batch.invoiced_orders])
    if batch.first_invoice:
        await conn.executemany(
            "INSERT INTO credit_facts (customer_id, first_invoice_on) VALUES ($1, $2) ON CONFLICT (customer_id)"
            " DO UPDATE SET first_invoice_on = least(credit_facts.first_invoice_on, excluded.first_invoice_on)",
            list(batch.first_invoice.items()),
        )
    if batch.rates:
        await conn.executemany(
            "INSERT INTO fx_rates (currency, rate_date, rate) VALUES ($1, $2, $3)"
            " ON CONFLICT (currency, rate_date) DO UPDATE SET rate = excluded.rate",
            [(*key, rate) for key, rate in batch.rates.items()],
        )


async def _upsert_facts(conn: Connection, customer_id: str, **values: object) -> None:
    # The column names come from this module, never from input.
    columns = list(values)
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns)
    placeholders = ", ".join(f"${i}" for i in range(2, len(columns) + 2))
    await conn.execute(
        f"INSERT INTO credit_facts (customer_id, {', '.join(columns)}) VALUES ($1, {placeholders})"
        f" ON CONFLICT (customer_id) DO UPDATE SET {assignments}",
        customer_id,
        *values.values(),
    )


async def _statement(conn: Connection, event: FinancialStatementRecorded) -> None:
    latest = await conn.fetchval("SELECT statement_period FROM credit_facts WHERE customer_id = $1", event.customer_id)
    if latest is not None and latest > event.period_end:
        return  # an older statement recorded late does not replace the latest
    found = ratios(event.items)
    await _upsert_facts(
        conn,
        event.customer_id,
        statement_period=event.period_end,
        altman_z=found.altman_z,
        current_ratio=found.current_ratio,
        net_worth=event.items.equity,
        net_worth_currency=event.currency,
    )


async def _bureau(conn: Connection, event: BureauReportRecorded) -> None:
    latest = await conn.fetchval("SELECT bureau_date FROM credit_facts WHERE customer_id = $1", event.customer_id)
    if latest is not None and latest > event.report_date:
        return
    scale = event.score_range
    await _upsert_facts(
        conn,
        event.customer_id,
        bureau_date=event.report_date,
        bureau_score=event.score,
        bureau_provider=event.provider,
        bureau_score_min=scale.min if scale else None,
        bureau_score_max=scale.max if scale else None,
        adverse_records=len(event.adverse_records),
    )


# -- gathering them back ---------------------------------------------------------------------------


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
    balances, open_items, paid, counts, invoiced, facts = (
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
    )
    found: dict[str, dict[str, list[asyncpg.Record]]] = defaultdict(lambda: defaultdict(list))
    for name, rows in (("balances", balances), ("open", open_items), ("paid", paid), ("invoiced", invoiced)):
        for row in rows:
            found[row["customer_id"]][name].append(row)
    paid_count = {r["customer_id"]: r["n"] for r in counts}
    known = {r["customer_id"]: r for r in facts}
    return {c: _facts(c, found[c], paid_count.get(c, 0), known.get(c), today, rates, base) for c in ids}


def _facts(
    customer_id: str,
    rows: Mapping[str, list[asyncpg.Record]],
    invoices_paid: int,
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
