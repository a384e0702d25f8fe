"""The provision matrix's history, read from the book as the ledger knew it on a day: what was open at
each month end of the look-back window, invoice by invoice in the base currency and the band of its
oldest open instalment, and what was written off (net of recoveries) in each month between."""

from __future__ import annotations

import calendar
import itertools
import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from contracts.receivables import InvoiceWrittenOff, ProvisionBand, ProvisionMatrixComputed, WriteOffRecovered
from libs.events.contracts import Money, to_minor_unit
from libs.events.database import Connection
from services.receivables.domain import provision
from services.receivables.domain.kpis import provision as expected_losses
from services.receivables.domain.provision import BANDS, MonthEnd, Open, WrittenOff
from services.receivables.queries.kpis import Ledger

Method = Literal["roll_rates", "cohorts"]


def month_ends(last: date, months: int) -> list[date]:
    """The ``months`` + 1 month ends up to ``last`` (itself a month end), oldest first."""
    found = [last]
    for _ in range(months):
        first = found[-1].replace(day=1)
        found.append(first - timedelta(days=1))
    return found[::-1]


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def open_at(ledger: Ledger, day: date) -> MonthEnd:
    held: dict[str, Open] = {}
    for account in ledger.accounts(day):
        for invoice in account.invoices.values():
            if invoice.invoice_id in ledger.book.charges:
                continue
            instalments = invoice.open_instalments()
            if not instalments:
                continue
            amount = sum((a for _, _, a in instalments), Decimal(0))
            oldest_due = min(due for _, due, _ in instalments)
            held[invoice.invoice_id] = Open(
                provision.band_of((day - oldest_due).days), ledger.priced(amount, invoice.currency)
            )
    return held


def written_off_between(ledger: Ledger, after: date, through: date) -> WrittenOff:
    """Written off less recovered, by invoice, with an entry date in (after, through], as recorded by
    the ledger's knowledge date."""
    lost: dict[str, Decimal] = defaultdict(Decimal)
    for events in ledger.book.events.values():
        for event in events:
            if not isinstance(event, InvoiceWrittenOff | WriteOffRecovered) or event.recorded_on > ledger.known_on:
                continue
            if after < event.entry_date <= through:
                sign = 1 if isinstance(event, InvoiceWrittenOff) else -1
                lost[event.invoice_id] += sign * ledger.priced(event.amount.amount, event.amount.currency)
    return dict(lost)


def billed_in(ledger: Ledger, after: date, through: date) -> dict[str, Decimal]:
    billed: dict[str, Decimal] = {}
    for account in ledger.accounts(through):
        for invoice in account.invoices.values():
            if invoice.invoice_id not in ledger.book.charges and after < invoice.issue_date <= through:
                billed[invoice.invoice_id] = ledger.priced(invoice.total, invoice.currency)
    return billed


def compute(
    ledger: Ledger,
    *,
    matrix_id: str,
    month_end: date,
    method: Method,
    look_back_months: int,
    overlay_percent: Decimal,
    rationale: str,
    by: str,
    today: date,
) -> ProvisionMatrixComputed:
    days = month_ends(month_end, look_back_months)
    held = [open_at(ledger, d) for d in days]
    lost = [written_off_between(ledger, a, b) for a, b in itertools.pairwise(days)]
    history: dict[str, tuple[Decimal, ...]]
    if method == "roll_rates":
        rolls = provision.roll_rates(held, lost)
        loss_rates, history = rolls.loss_rates, {"balances": rolls.balances, "rolled": rolls.rolled}
    else:
        found = provision.cohorts(billed_in(ledger, days[0], days[-1]), held[1:], lost)
        loss_rates, history = found.loss_rates, {"reached": found.reached, "lost": found.lost}
    rates = provision.with_overlay(loss_rates, overlay_percent)
    base = ledger.rates.base
    balances = {band: Decimal(0) for band in BANDS}
    for item in held[-1].values():
        balances[BANDS[item.band]] += item.amount
    balances = {band: to_minor_unit(amount, base) for band, amount in balances.items()}
    per_band, total = expected_losses(balances, dict(zip(BANDS, rates, strict=True)))
    return ProvisionMatrixComputed(
        matrix_id=matrix_id,
        month_end=month_end,
        known_on=ledger.known_on,
        method=method,
        look_back_months=look_back_months,
        overlay_percent=overlay_percent,
        rationale=rationale,
        base_currency=base,
        bands=tuple(
            ProvisionBand(
                band=band,
                loss_rate=loss_rate,
                rate=applied,
                balance=Money(amount=balances[band], currency=base),
                expected_loss=Money(amount=to_minor_unit(per_band[band], base), currency=base),
            )
            for band, loss_rate, applied in zip(BANDS, loss_rates, rates, strict=True)
        ),
        expected_loss=Money(amount=to_minor_unit(total, base), currency=base),
        history={k: tuple(to_minor_unit(v, base) for v in values) for k, values in history.items()},
        computed_by=by,
        computed_on=today,
    )


async def matrix(conn: Connection, matrix_id: str) -> dict[str, Any] | None:
    found = await conn.fetchval("SELECT data::text FROM provision_matrices WHERE matrix_id = $1", matrix_id)
    return None if found is None else dict(json.loads(found))


async def matrices(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT data::text AS data FROM provision_matrices ORDER BY month_end DESC, computed_at DESC"
    )
    return [json.loads(r["data"]) for r in rows]
