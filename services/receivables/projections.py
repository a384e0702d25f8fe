"""receivables' own read model, written in the same transaction as its events.

A group of events becomes a list of writes, each in a phase: rows are inserted before they
are updated, amounts (which commute) before the flags that depend on them. Within a phase,
writes of the same statement keep their event order and go in one ``executemany``, so a
batch of a thousand ERP documents costs a handful of round trips.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from itertools import groupby
from pathlib import Path
from typing import Any

from contracts.receivables import (
    Allocation,
    AllocationsWithdrawn,
    BalanceConfirmed,
    BalanceDisputed,
    CreditBalanceRefunded,
    CreditNoteApplied,
    CreditNoteIssued,
    DisputeOpened,
    DisputeResolved,
    FxRateProposed,
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
    ProvisionMatrixComputed,
    StatementIssued,
    WriteOffRecovered,
)
from libs.events.contracts import DomainEvent
from libs.events.database import Connection, migrations_in
from libs.events.store import RecordedEvent
from services.receivables.domain import bucket_index, counts_from, movements, recorded_on
from services.receivables.domain.positions import stale_since

READ_MODEL = migrations_in(Path(__file__).parent / "migrations")

Write = tuple[int, str, tuple[Any, ...]]  # phase, statement, arguments
INSERT, AMOUNTS, REMAINDERS, REVERSALS, FLAGS = range(5)

_REDUCE = (
    "UPDATE invoices SET {column} = {column} + $2, discounted = discounted + $3, open = open - $2 - $3"
    " WHERE invoice_id = $1"
)
_SCHEDULES = """
    SELECT i.invoice_id, i.seq, i.amount, i.open, v.total - v.open AS reduced
      FROM unnest($1::text[]) AS t(invoice_id)
      JOIN invoices v ON v.invoice_id = t.invoice_id
      JOIN instalments i ON i.invoice_id = t.invoice_id
     ORDER BY i.invoice_id, i.seq
"""


async def project(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    writes: list[Write] = []
    touched: set[str] = set()
    schedules: dict[str, InvoiceIssued | InvoiceAdjusted] = {}
    accounts: dict[str, RecordedEvent] = {}
    latest: dict[str, date] = {}
    stale: dict[tuple[str, date], date] = {}  # (customer, recorded on): the month-end positions from then on
    for recorded in events:
        event = recorded.event
        if isinstance(event, ProvisionMatrixComputed):
            await conn.execute(
                "INSERT INTO provision_matrices VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING",
                event.matrix_id,
                event.month_end,
                event.method,
                recorded.occurred_at,
                json.dumps(recorded.data, ensure_ascii=False),
            )
            continue
        writes += _writes(event, touched)
        if isinstance(event, InvoiceIssued | InvoiceAdjusted):
            schedules[event.invoice_id] = event  # the last schedule of the group is the one that stands
            touched.add(event.invoice_id)
        writes += [
            (
                INSERT,
                "INSERT INTO movements VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                (
                    recorded.customer_id,
                    recorded.version,
                    line,
                    m.entry_date,
                    recorded_on(recorded.event),
                    m.kind,
                    m.reference,
                    m.invoice_id,
                    m.currency,
                    m.amount,
                    m.description,
                ),
            )
            for line, m in enumerate(movements(recorded.event), start=1)
        ]
        if not isinstance(recorded.event, FxRateRecorded | FxRateProposed):
            accounts[recorded.customer_id] = recorded
            known_on = recorded_on(event)
            if (since := stale_since(event, known_on)) is not None:
                at = (recorded.customer_id, known_on)
                stale[at] = min(since, stale.get(at, since))
            if not isinstance(event, AllocationsWithdrawn | InvoiceFellOverdue):
                day = counts_from(event)
                latest[recorded.customer_id] = max(day, latest.get(recorded.customer_id, day))
    writes.sort(key=lambda write: (write[0], write[1]))  # stable: event order within a statement
    await _run(conn, [w for w in writes if w[0] == INSERT])
    if schedules:  # the instalments need their invoices' rows
        await _schedules(conn, list(schedules.values()))
    await _run(conn, [w for w in writes if w[0] != INSERT])
    if touched:
        await _instalments_open(conn, sorted(touched))
    if accounts:
        await conn.executemany(
            "INSERT INTO accounts (customer_id, version, updated_at, latest_entry) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (customer_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,"
            " latest_entry = greatest(accounts.latest_entry, excluded.latest_entry)",
            [(r.customer_id, r.version, r.occurred_at, latest.get(r.customer_id)) for r in accounts.values()],
        )
    if stale:
        await conn.executemany(
            "INSERT INTO kpi_marks (customer_id, known_on, since, until) VALUES ($1, $2::date, $3, $2::date - 1)"
            " ON CONFLICT (customer_id, known_on) DO UPDATE SET since = least(kpi_marks.since, excluded.since),"
            " until = greatest(kpi_marks.until, excluded.until), seq = excluded.seq,"
            " marked_at = excluded.marked_at",
            [(c, known_on, since) for (c, known_on), since in sorted(stale.items())],
        )
    await conn.execute(
        "DELETE FROM allocations WHERE amount = 0 AND discount = 0 AND customer_id = ANY($1::text[])", list(accounts)
    )


async def _instalments_open(conn: Connection, invoice_ids: list[str]) -> None:
    """Reductions (payments, credits, discounts, write-offs) settle an invoice's earliest instalments first."""
    changed = []
    for _, rows in groupby(await conn.fetch(_SCHEDULES, invoice_ids), key=lambda row: row["invoice_id"]):
        reduced = None
        for row in rows:
            reduced = row["reduced"] if reduced is None else reduced
            open_ = max(row["amount"] - max(reduced, 0), 0)
            reduced -= row["amount"]
            if open_ != row["open"]:
                changed.append((row["invoice_id"], row["seq"], open_))
    if changed:
        await conn.executemany("UPDATE instalments SET open = $3 WHERE invoice_id = $1 AND seq = $2", changed)


async def _run(conn: Connection, writes: Sequence[Write]) -> None:
    for (_, sql), run in groupby(writes, key=lambda write: (write[0], write[1])):
        rows = [args for _, _, args in run]
        if len(rows) == 1:
            await conn.execute(sql, *rows[0])
        else:
            await conn.executemany(sql, rows)


_ALLOCATION = (
    "INSERT INTO allocations (customer_id, source_id, source, invoice_id, entry_date, by_hand, currency, amount,"
    " discount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source_id, invoice_id, entry_date, by_hand)"
    " DO UPDATE SET amount = allocations.amount + excluded.amount, discount = allocations.discount + excluded.discount"
)


def _allocations(
    customer_id: str, source_id: str, source: str, lines: Sequence[tuple[Allocation, date]], by_hand: bool, sign: int
) -> list[Write]:
    return [
        (
            AMOUNTS,
            _ALLOCATION,
            (
                customer_id,
                source_id,
                source,
                a.invoice_id,
                on,
                by_hand,
                a.amount.currency,
                sign * a.amount.amount,
                sign * (a.discount.amount if a.discount else 0),
            ),
        )
        for a, on in lines
    ]


def _reductions(column: str, allocations: Sequence[Allocation], sign: int, touched: set[str]) -> list[Write]:
    touched.update(a.invoice_id for a in allocations)
    return [
        (
            AMOUNTS,
            _REDUCE.format(column=column),
            (a.invoice_id, sign * a.amount.amount, sign * (a.discount.amount if a.discount else 0)),
        )
        for a in allocations
    ]


def _writes(event: DomainEvent, touched: set[str]) -> list[Write]:
    match event:
        case InvoiceIssued():
            total = event.total
            return [
                (
                    INSERT,
                    "INSERT INTO invoices (invoice_id, customer_id, number, currency, net, tax, total, issue_date,"
                    " terms, order_ref, erp_reference, revision, open, recorded_on, charge)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $7, $13, $14::jsonb)",
                    (
                        event.invoice_id,
                        event.customer_id,
                        event.number,
                        total.currency,
                        event.net.amount,
                        event.tax.amount,
                        total.amount,
                        event.issue_date,
                        json.dumps(event.terms.model_dump(mode="json")),
                        event.order_ref,
                        event.erp_reference,
                        event.revision,
                        event.recorded_on,
                        event.charge.model_dump_json() if event.charge else None,
                    ),
                )
            ]
        case InvoiceAdjusted():
            return [
                (
                    AMOUNTS,
                    "UPDATE invoices SET total = $2, open = open + $3, revision = coalesce($4, revision)"
                    " WHERE invoice_id = $1",
                    (event.invoice_id, event.total.amount, event.change.amount, event.revision),
                )
            ]
        case InvoiceSettled() | InvoiceReopened():
            settled_on = event.settled_on if isinstance(event, InvoiceSettled) else None
            return [
                (FLAGS, "UPDATE invoices SET settled_on = $2 WHERE invoice_id = $1", (event.invoice_id, settled_on))
            ]
        case PaymentReceived():
            amount = event.amount
            return [
                (
                    INSERT,
                    "INSERT INTO payments (payment_id, customer_id, currency, amount, value_date, method,"
                    " payer_reference, unallocated, recorded_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $4, $8)",
                    (
                        event.payment_id,
                        event.customer_id,
                        amount.currency,
                        amount.amount,
                        event.value_date,
                        event.method,
                        event.payer_reference,
                        event.recorded_on,
                    ),
                )
            ]
        case PaymentAllocated():
            allocated = sum(a.amount.amount for a in event.allocations)
            remainder: Write = (
                REMAINDERS,
                "UPDATE payments SET unallocated = unallocated - $2, remainder_as = $3 WHERE payment_id = $1",
                (event.payment_id, allocated, event.remainder_as),
            )
            lines = [(a, event.entry_date) for a in event.allocations]
            return [
                remainder,
                *_reductions("paid", event.allocations, +1, touched),
                *_allocations(event.customer_id, event.payment_id, "payment", lines, event.basis == "manual", +1),
            ]
        case PaymentReversed():
            reversal: Write = (
                REVERSALS,
                "UPDATE payments SET reversed = true, unallocated = 0, remainder_as = NULL WHERE payment_id = $1",
                (event.payment_id,),
            )
            gone: Write = (REVERSALS, "DELETE FROM allocations WHERE source_id = $1", (event.payment_id,))
            return [reversal, gone, *_reductions("paid", event.reversed_allocations, -1, touched)]
        case AllocationsWithdrawn():
            withdrawn = sum(a.amount.amount for a in event.allocations)
            table, key, column = (
                ("payments", "payment_id", "paid")
                if event.source == "payment"
                else ("credit_notes", "credit_note_id", "credited")
            )
            plain = [
                Allocation(invoice_id=a.invoice_id, amount=a.amount, discount=a.discount) for a in event.allocations
            ]
            back: Write = (
                REMAINDERS,
                f"UPDATE {table} SET unallocated = unallocated + $2 WHERE {key} = $1",
                (event.source_id, withdrawn),
            )
            lines = [
                (Allocation(invoice_id=a.invoice_id, amount=a.amount, discount=a.discount), a.entry_date)
                for a in event.allocations
            ]
            return [
                back,
                *_reductions(column, plain, -1, touched),
                *_allocations(event.customer_id, event.source_id, event.source, lines, False, -1),
            ]
        case CreditBalanceRefunded():
            amount = event.amount
            refunded: list[Write] = [
                (
                    INSERT,
                    "INSERT INTO refunds VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    (
                        event.refund_id,
                        event.customer_id,
                        event.source_id,
                        amount.currency,
                        amount.amount,
                        event.method,
                        event.reference,
                        event.refunded_by,
                        event.entry_date,
                    ),
                ),
                (
                    REMAINDERS,
                    "UPDATE payments SET unallocated = unallocated - $2, refunded = refunded + $2,"
                    " remainder_as = CASE WHEN unallocated = $2 THEN NULL ELSE remainder_as END WHERE payment_id = $1",
                    (event.source_id, amount.amount),
                ),
                (
                    REMAINDERS,
                    "UPDATE credit_notes SET unallocated = unallocated - $2, refunded = refunded + $2"
                    " WHERE credit_note_id = $1",
                    (event.source_id, amount.amount),
                ),
            ]
            return refunded
        case CreditNoteIssued():
            amount = event.amount
            return [
                (
                    INSERT,
                    "INSERT INTO credit_notes (credit_note_id, customer_id, number, currency, amount, unallocated,"
                    " reason, invoice_id, issue_date, dispute_id) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
                    (
                        event.credit_note_id,
                        event.customer_id,
                        event.number,
                        amount.currency,
                        amount.amount,
                        event.reason,
                        event.invoice_id,
                        event.issue_date,
                        event.dispute_id,
                    ),
                )
            ]
        case CreditNoteApplied():
            applied = sum(a.amount.amount for a in event.allocations)
            note: Write = (
                REMAINDERS,
                "UPDATE credit_notes SET unallocated = unallocated - $2 WHERE credit_note_id = $1",
                (event.credit_note_id, applied),
            )
            lines = [(a, event.entry_date) for a in event.allocations]
            by_hand = event.allocated_by is not None
            return [
                note,
                *_reductions("credited", event.allocations, +1, touched),
                *_allocations(event.customer_id, event.credit_note_id, "credit_note", lines, by_hand, +1),
            ]
        case DisputeOpened():
            amount = event.amount
            return [
                (
                    INSERT,
                    "INSERT INTO disputes (dispute_id, customer_id, invoice_id, currency, amount, reason, owner,"
                    " opened_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    (
                        event.dispute_id,
                        event.customer_id,
                        event.invoice_id,
                        amount.currency,
                        amount.amount,
                        event.reason,
                        event.owner,
                        event.opened_on,
                    ),
                ),
                (
                    AMOUNTS,
                    "UPDATE invoices SET disputed = disputed + $2 WHERE invoice_id = $1",
                    (event.invoice_id, amount.amount),
                ),
            ]
        case DisputeResolved():
            return [
                (
                    AMOUNTS,
                    "UPDATE invoices SET disputed = disputed - d.amount FROM disputes d"
                    " WHERE d.dispute_id = $1 AND invoices.invoice_id = d.invoice_id",
                    (event.dispute_id,),
                ),
                (
                    FLAGS,
                    "UPDATE disputes SET outcome = $2, credited = $3, note = $4, resolved_by = $5, resolved_on = $6"
                    " WHERE dispute_id = $1",
                    (
                        event.dispute_id,
                        event.outcome,
                        event.credited.amount,
                        event.note,
                        event.resolved_by,
                        event.resolved_on,
                    ),
                ),
            ]
        case InvoiceWrittenOff():
            touched.add(event.invoice_id)
            return [
                (
                    AMOUNTS,
                    "UPDATE invoices SET written_off = written_off + $2, open = open - $2 WHERE invoice_id = $1",
                    (event.invoice_id, event.amount.amount),
                )
            ]
        case WriteOffRecovered():
            return [
                (
                    AMOUNTS,
                    "UPDATE invoices SET recovered = recovered + $2 WHERE invoice_id = $1",
                    (event.invoice_id, event.amount.amount),
                )
            ]
        case InvoiceFellOverdue():
            return [
                (
                    FLAGS,
                    "UPDATE instalments SET overdue_bucket = greatest(overdue_bucket, $3)"
                    " WHERE invoice_id = $1 AND seq = $2",
                    (event.invoice_id, event.instalment, bucket_index(event.days_past_due)),
                )
            ]
        case StatementIssued():
            closing = json.dumps([m.model_dump(mode="json") for m in event.closing])
            return [
                (
                    INSERT,
                    "INSERT INTO statements (statement_id, customer_id, period_start, period_end, ledger_version,"
                    " closing, digest, issued_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    (
                        event.statement_id,
                        event.customer_id,
                        event.period_start,
                        event.period_end,
                        event.ledger_version,
                        closing,
                        event.digest,
                        event.recorded_on,
                    ),
                )
            ]
        case BalanceConfirmed() | BalanceDisputed():
            status = "confirmed" if isinstance(event, BalanceConfirmed) else "disputed"
            answer = json.dumps(event.model_dump(mode="json", exclude={"customer_id", "statement_id"}))
            return [
                (
                    FLAGS,
                    "UPDATE statements SET status = $2, answer = $3 WHERE statement_id = $1",
                    (event.statement_id, status, answer),
                )
            ]
        case FxRateRecorded():
            recorded: list[Write] = [
                (
                    INSERT,
                    "INSERT INTO fx_rates VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (currency, rate_date)"
                    " DO UPDATE SET rate = excluded.rate, base_currency = excluded.base_currency,"
                    " recorded_on = excluded.recorded_on, recorded_by = excluded.recorded_by,"
                    " confirmed_by = excluded.confirmed_by",
                    (
                        event.currency,
                        event.rate_date,
                        event.base_currency,
                        event.rate,
                        event.recorded_on,
                        event.recorded_by,
                        event.confirmed_by,
                    ),
                )
            ]
            if event.proposal_id is not None:
                recorded.append(
                    (
                        FLAGS,
                        "UPDATE fx_rate_proposals SET status = 'confirmed', confirmed_by = $2 WHERE proposal_id = $1",
                        (event.proposal_id, event.confirmed_by),
                    )
                )
            return recorded
        case FxRateProposed():
            return [
                (
                    INSERT,
                    "INSERT INTO fx_rate_proposals (proposal_id, currency, base_currency, rate, rate_date,"
                    " previous_rate, change_percent, proposed_by, proposed_on) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                    " $8, $9)",
                    (
                        event.proposal_id,
                        event.currency,
                        event.base_currency,
                        event.rate,
                        event.rate_date,
                        event.previous_rate,
                        event.change_percent,
                        event.proposed_by,
                        event.recorded_on,
                    ),
                )
            ]
    return []


async def _schedules(conn: Connection, events: Sequence[InvoiceIssued | InvoiceAdjusted]) -> None:
    """Invoices' due dates; a changed schedule keeps each instalment's overdue mark."""
    await conn.executemany(
        "INSERT INTO instalments (invoice_id, seq, customer_id, currency, issue_date, due_date, amount, open)"
        " SELECT $1, $2, v.customer_id, v.currency, v.issue_date, $3, $4, $4 FROM invoices v WHERE v.invoice_id = $1"
        " ON CONFLICT (invoice_id, seq) DO UPDATE SET due_date = excluded.due_date, amount = excluded.amount",
        [
            (event.invoice_id, seq, i.due_date, i.amount.amount)
            for event in events
            for seq, i in enumerate(event.schedule, start=1)
        ],
    )
    shortened = [(e.invoice_id, len(e.schedule)) for e in events if isinstance(e, InvoiceAdjusted)]
    if shortened:
        await conn.executemany("DELETE FROM instalments WHERE invoice_id = $1 AND seq > $2", shortened)
