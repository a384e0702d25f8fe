"""What scoring does when profiles', receivables' and collections' events arrive: it keeps the facts
it scores on in its read model (broken promises to pay among them), scores the customers they
concern again, and keeps the holds its policy places or releases.

What each ledger event changes in a customer's balance is receivables' published rule
(``contracts.receivables.movements``); a financial statement carries its ratios.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from contracts.collections import PlanAgreed, PlanChanged, PromiseMade, PromiseValued
from contracts.profiles import (
    BureauReportRecorded,
    CustomerRegistered,
    CustomerStatusChanged,
    FinancialStatementRecorded,
    InsuranceCoverCancelled,
    InsuranceCoverRecorded,
    directory_entry,
)
from contracts.receivables import (
    Allocation,
    AllocationsWithdrawn,
    CreditBalanceRefunded,
    CreditNoteApplied,
    DisputeOpened,
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
    movements,
)
from libs.events.consumer import BatchHandler, Delivery
from libs.events.database import Connection
from libs.events.store import EventContext
from libs.service.directory import Directory
from services.scoring import handlers
from services.scoring.handlers import Reconsider
from services.scoring.projections import ensure_accounts

ZERO = Decimal(0)


def facts_and_scores(parts: handlers.Parts) -> BatchHandler:
    directory = Directory(directory_entry)

    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        await directory.project(conn, deliveries)
        again = await project_facts(conn, deliveries, parts.base_currency)
        contexts = {d.customer_id: EventContext.caused_by(d.envelope) for d in deliveries}  # the last of each
        await handlers.reconsider(parts, conn, again, contexts)

    return react


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
    PromiseValued,
)
# After these only exposure or the file's status changes, so only the policy's holds are looked at again.
REHOLDING = (PaymentReceived, InsuranceCoverRecorded, InsuranceCoverCancelled, CustomerStatusChanged)


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


async def project_facts(conn: Connection, deliveries: Sequence[Delivery], base_currency: str) -> Reconsider:
    """Write the facts these events carry; answer whom to look at again."""
    batch = _Batch()
    again = Reconsider()
    for delivery in deliveries:
        event, customer_id = delivery.event, delivery.customer_id
        for line in movements(event):
            batch.balance_change[customer_id, line.currency] += line.amount
        match event:
            case InvoiceIssued(charge=None):  # a dunning fee or interest counts in exposure, not in payment history
                schedule, final_due = _schedule(event)
                total = event.total
                discount = event.terms.discount is not None
                row = (customer_id, event.invoice_id, total.currency, total.amount, event.issue_date, schedule)
                batch.invoices.append((*row, final_due, discount))
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
            case DisputeOpened():
                await conn.execute(
                    "UPDATE invoices SET disputed_on = least(coalesce(disputed_on, $3), $3)"
                    " WHERE customer_id = $1 AND invoice_id = $2",
                    customer_id,
                    event.invoice_id,
                    event.opened_on,
                )
            case PaymentReceived():
                await conn.execute(
                    "INSERT INTO cash_received (customer_id, payment_id, received_on, amount, currency)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id, payment_id) DO UPDATE"
                    " SET received_on = excluded.received_on, amount = excluded.amount, currency = excluded.currency",
                    customer_id,
                    event.payment_id,
                    event.value_date,
                    event.amount.amount,
                    event.amount.currency,
                )
            case PromiseMade() | PlanAgreed() | PlanChanged():
                await _expected_receipts(conn, event)
            case PromiseValued(outcome="broken"):
                await conn.execute(
                    "INSERT INTO broken_promises (customer_id, promise_id, broken_on) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
                    customer_id,
                    event.promise_id,
                    event.valued_on,
                )
            case PromiseValued():  # kept after all, or reopened: no longer broken
                await conn.execute(
                    "DELETE FROM broken_promises WHERE customer_id = $1 AND promise_id = $2",
                    customer_id,
                    event.promise_id,
                )
            case InsuranceCoverCancelled():  # the customer's cover ends the day before it was cancelled
                await _upsert_facts(conn, customer_id, insured_until=event.cancelled_on - timedelta(days=1))
            case InsuranceCoverRecorded():
                cover = event.insured_limit
                await _upsert_facts(
                    conn,
                    customer_id,
                    insured_limit=cover.amount,
                    insured_currency=cover.currency,
                    insured_until=event.expires_on,
                )
        await _cash_and_promises(conn, event, customer_id)
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
            "INSERT INTO invoices (customer_id, invoice_id, currency, total, open, issue_date, schedule, final_due,"
            " cash_discount) VALUES ($1, $2, $3, $4, $4, $5, $6::jsonb, $7, $8) ON CONFLICT DO NOTHING",
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
    if batch.settled:
        await conn.executemany(
            "UPDATE invoices SET settled_on = $3 WHERE customer_id = $1 AND invoice_id = $2",
            [(*key, on) for key, on in batch.settled.items()],
        )
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


async def _cash_and_promises(conn: Connection, event: object, customer_id: str) -> None:
    """What the payment-date model and the cash-in forecast read besides the facts scores use: a
    reversed payment is no cash; a valued promise counts in the customer's reliability and is no
    longer expected."""
    match event:
        case PaymentReversed():
            await conn.execute(
                "UPDATE cash_received SET reversed = true WHERE customer_id = $1 AND payment_id = $2",
                customer_id,
                event.payment_id,
            )
        case PromiseValued(outcome="reopened"):
            await conn.execute(
                "DELETE FROM promise_outcomes WHERE customer_id = $1 AND promise_id = $2",
                customer_id,
                event.promise_id,
            )
        case PromiseValued():
            await conn.execute(
                "INSERT INTO promise_outcomes (customer_id, promise_id, kept, valued_on) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (customer_id, promise_id) DO UPDATE SET kept = excluded.kept,"
                " valued_on = excluded.valued_on",
                customer_id,
                event.promise_id,
                event.outcome == "kept",
                event.valued_on,
            )
            await conn.execute(
                "DELETE FROM expected_receipts WHERE source = 'promise' AND reference = $1", event.promise_id
            )


async def _expected_receipts(conn: Connection, event: PromiseMade | PlanAgreed | PlanChanged) -> None:
    """A promise or a plan's instalments are expected until valued, completed or defaulted."""
    match event:
        case PromiseMade():
            rows = [(event.promise_id, 0, event.due_date, event.amount, event.invoices, "promise")]
        case PlanAgreed():
            rows = [
                (event.plan_id, n, i.due_date, i.amount, event.invoices, "plan")
                for n, i in enumerate(event.instalments, start=1)
            ]
        case PlanChanged(change="completed" | "defaulted"):
            await conn.execute("DELETE FROM expected_receipts WHERE source = 'plan' AND reference = $1", event.plan_id)
            return
        case _:
            return
    await conn.executemany(
        "INSERT INTO expected_receipts (source, reference, seq, customer_id, due_date, amount, currency, invoices)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT DO NOTHING",
        [
            (source, ref, n, event.customer_id, due, money.amount, money.currency, json.dumps(list(invoices)))
            for ref, n, due, money, invoices, source in rows
        ],
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
    found = event.ratios
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
