"""The provision matrix's history, read from the book as the ledger knew it on a day: what was open at
each month end of the look-back window, invoice by invoice in the base currency and the band of its
oldest open instalment, and what was written off (net of recoveries) in each month between."""

from __future__ import annotations

import bisect
import calendar
import itertools
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from contracts.receivables import (
    InvoiceWrittenOff,
    ProvisionBand,
    ProvisionMatrixComputed,
    ProvisionSegment,
    WriteOffRecovered,
)
from libs.events.contracts import Money, to_minor_unit
from libs.events.database import Connection
from libs.events.store import EventStore
from services.receivables.domain import provision
from services.receivables.domain.kpis import provision as expected_losses
from services.receivables.domain.provision import BANDS, ZERO, MonthEnd, Open, WrittenOff
from services.receivables.queries.aging import rates_as_of
from services.receivables.queries.kpis import Ledger, segments_on
from services.receivables.queries.positions import VERSIONS

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


@dataclass(frozen=True)
class History:
    """What a matrix is derived from, in the base currency, as the ledger knew it on ``known_on``:
    what was open at each month end of the window, invoice by invoice in the band of its oldest open
    instalment; what was written off less recovered in each month between; for cohorts, the invoices
    issued in the window at their totals at the end of their month; and each invoice's customer."""

    known_on: date
    base: str
    held: Sequence[MonthEnd]
    lost: Sequence[WrittenOff]
    billed: Mapping[str, Decimal]
    owner: Mapping[str, str]


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


def written_off_by_month(ledger: Ledger, days: Sequence[date]) -> list[WrittenOff]:
    """Written off less recovered, by invoice (charges excluded), with an entry date in each
    (days[k], days[k + 1]], as recorded by the ledger's knowledge date."""
    lost: list[dict[str, Decimal]] = [defaultdict(Decimal) for _ in days[1:]]
    for events in ledger.book.events.values():
        for event in events:
            if not isinstance(event, InvoiceWrittenOff | WriteOffRecovered) or event.recorded_on > ledger.known_on:
                continue
            if event.invoice_id in ledger.book.charges:
                continue
            month = bisect.bisect_left(days, event.entry_date) - 1
            if 0 <= month < len(lost):
                sign = 1 if isinstance(event, InvoiceWrittenOff) else -1
                lost[month][event.invoice_id] += sign * ledger.priced(event.amount.amount, event.amount.currency)
    return [dict(month) for month in lost]


def billed_in(ledger: Ledger, days: Sequence[date]) -> dict[str, Decimal]:
    """The invoices issued after the first month end and by the last, each at its total at the end of
    the month it was issued in."""
    billed: dict[str, Decimal] = {}
    for after, through in itertools.pairwise(days):
        for account in ledger.accounts(through):
            for invoice in account.invoices.values():
                if invoice.invoice_id not in ledger.book.charges and after < invoice.issue_date <= through:
                    billed[invoice.invoice_id] = ledger.priced(invoice.total, invoice.currency)
    return billed


def folded(ledger: Ledger, days: Sequence[date], method: Method) -> History:
    """The history folded from the book."""
    return History(
        ledger.known_on,
        ledger.rates.base,
        [open_at(ledger, d) for d in days],
        written_off_by_month(ledger, days),
        billed_in(ledger, days) if method == "cohorts" else {},
        {invoice_id: account.customer_id for account in ledger.accounts(days[-1]) for invoice_id in account.invoices},
    )


async def kept(
    store: EventStore, conn: Connection, base: str, days: Sequence[date], method: Method, known_on: date
) -> History:
    """The same history read from the month-end positions in force on ``known_on``."""
    rates = await rates_as_of(store, conn, base, days[-1], known_on)
    held: dict[date, dict[str, Open]] = {d: {} for d in days}
    to_date: dict[date, dict[str, Decimal]] = {d: {} for d in days}  # written off less recovered by then
    billed: dict[str, Decimal] = {}
    owner: dict[str, str] = {}
    for r in await conn.fetch(
        "SELECT i.day, i.customer_id, i.invoice_id, i.currency, i.open, i.oldest_due, i.lost, i.billed"
        f" FROM ({VERSIONS}) v JOIN kpi_items i USING (day, customer_id, known_from)",
        list(days),
        known_on,
    ):
        day, invoice = r["day"], r["invoice_id"]
        rate = rates.rate_of(r["currency"]) or ZERO  # without a rate it counts zero, as when folded
        owner[invoice] = r["customer_id"]
        if r["oldest_due"] is not None:
            held[day][invoice] = Open(provision.band_of((day - r["oldest_due"]).days), r["open"] * rate)
        if r["lost"]:
            to_date[day][invoice] = r["lost"] * rate
        if method == "cohorts" and r["billed"] is not None and day != days[0]:
            billed[invoice] = r["billed"] * rate
    lost = []
    for before, after in itertools.pairwise(days):
        then, now = to_date[before], to_date[after]
        lost.append({i: now.get(i, ZERO) - then.get(i, ZERO) for i in now.keys() | then.keys()})
    return History(known_on, base, [held[d] for d in days], lost, billed, owner)


@dataclass(frozen=True, slots=True)
class _Derived:
    """One matrix (of the whole book or of a segment): its rates, history and what they give."""

    loss_rates: tuple[Decimal, ...]
    rates: tuple[Decimal, ...]
    history: dict[str, tuple[Decimal, ...]]
    balances: dict[str, Decimal]  # per band, to the minor unit
    expected: dict[str, Decimal]  # per band, to the minor unit
    total: Decimal


def _derive(
    method: Method,
    held: Sequence[MonthEnd],
    lost: Sequence[WrittenOff],
    billed: Mapping[str, Decimal],
    overlay_percent: Decimal,
    base: str,
) -> _Derived:
    history: dict[str, tuple[Decimal, ...]]
    if method == "roll_rates":
        rolls = provision.roll_rates(held, lost)
        loss_rates, history = rolls.loss_rates, {"balances": rolls.balances, "rolled": rolls.rolled}
    else:
        found = provision.cohorts(billed, held[1:], lost)
        loss_rates, history = found.loss_rates, {"reached": found.reached, "lost": found.lost}
    rates = provision.with_overlay(loss_rates, overlay_percent)
    balances = {band: Decimal(0) for band in BANDS}
    for item in held[-1].values():
        balances[BANDS[item.band]] += item.amount
    balances = {band: to_minor_unit(amount, base) for band, amount in balances.items()}
    per_band, total = expected_losses(balances, dict(zip(BANDS, rates, strict=True)))
    return _Derived(
        loss_rates,
        rates,
        {k: tuple(to_minor_unit(v, base) for v in values) for k, values in history.items()},
        balances,
        {band: to_minor_unit(amount, base) for band, amount in per_band.items()},
        to_minor_unit(total, base),
    )


def _bands(derived: _Derived, base: str) -> tuple[ProvisionBand, ...]:
    return tuple(
        ProvisionBand(
            band=band,
            loss_rate=loss_rate,
            rate=applied,
            balance=Money(amount=derived.balances[band], currency=base),
            expected_loss=Money(amount=derived.expected[band], currency=base),
        )
        for band, loss_rate, applied in zip(BANDS, derived.loss_rates, derived.rates, strict=True)
    )


def _summed(parts: Sequence[_Derived], base: str) -> _Derived:
    """The segments' sums per band; the rates the effective ones, expected loss ÷ balance."""
    balances = {band: sum((p.balances[band] for p in parts), Decimal(0)) for band in BANDS}
    expected = {band: sum((p.expected[band] for p in parts), Decimal(0)) for band in BANDS}
    effective = tuple(provision.rate(expected[band], balances[band]) for band in BANDS)
    keys = parts[0].history.keys() if parts else ()
    history = {k: tuple(sum(values) for values in zip(*(p.history[k] for p in parts), strict=True)) for k in keys}
    return _Derived(effective, effective, history, balances, expected, sum(expected.values(), Decimal(0)))


def compute(
    history: History,
    *,
    matrix_id: str,
    month_end: date,
    method: Method,
    look_back_months: int,
    overlay_percent: Decimal,
    rationale: str,
    by: str,
    today: date,
    segment_by: provision.SegmentBy = "none",
    segment_of: Mapping[str, str] | None = None,
) -> ProvisionMatrixComputed:
    """The matrix of the whole book, or with ``segment_by`` one per segment (``segment_of``: each
    customer's segment at the month end; a customer without one is SEGMENT_DEFAULT's)."""
    held, lost, billed, base = history.held, history.lost, history.billed, history.base
    segments: list[ProvisionSegment] = []
    if segment_by == "none":
        whole = _derive(method, held, lost, billed, overlay_percent, base)
    else:
        seen = set().union(*held, *lost, billed)
        owner = history.owner
        members: dict[str, set[str]] = defaultdict(set)
        for invoice in seen:
            customer = owner[invoice]
            members[(segment_of or {}).get(customer, SEGMENT_DEFAULT[segment_by])].add(invoice)
        derived = []
        for name in sorted(members):
            invoices = frozenset(members[name])
            part = _derive(
                method,
                [provision.restrict(h, invoices) for h in held],
                [provision.restrict(w, invoices) for w in lost],
                provision.restrict(billed, invoices),
                overlay_percent,
                base,
            )
            derived.append(part)
            segments.append(
                ProvisionSegment(
                    segment=name,
                    customers=len({owner[i] for i in invoices}),
                    bands=_bands(part, base),
                    expected_loss=Money(amount=part.total, currency=base),
                    history=part.history,
                )
            )
        whole = _summed(derived, base) if derived else _derive(method, held, lost, billed, overlay_percent, base)
    return ProvisionMatrixComputed(
        matrix_id=matrix_id,
        month_end=month_end,
        known_on=history.known_on,
        method=method,
        look_back_months=look_back_months,
        overlay_percent=overlay_percent,
        rationale=rationale,
        base_currency=base,
        bands=_bands(whole, base),
        expected_loss=Money(amount=whole.total, currency=base),
        history=whole.history,
        computed_by=by,
        computed_on=today,
        segment_by=segment_by,
        segments=tuple(segments),
    )


SEGMENT_DEFAULT = {"grade": provision.UNRATED, "insurance": provision.UNINSURED}


async def segments_at(conn: Connection, segment_by: provision.SegmentBy, day: date, known_on: date) -> dict[str, str]:
    """Each customer's segment at the end of ``day`` as receivables knew it at the end of
    ``known_on``: its grade then, or whether a cover was in force."""
    if segment_by == "grade":
        return await segments_on(conn, "grade", min(day, known_on))
    if segment_by == "insurance":
        changes = [
            provision.CoverChange(
                r["customer_id"], r["policy_number"], r["recorded_on"], r["expires_on"], r["cancelled_on"]
            )
            for r in await conn.fetch("SELECT * FROM insurance_covers WHERE recorded_on <= $1", known_on)
        ]
        return dict.fromkeys(provision.insured(changes, day, known_on), provision.INSURED)
    return {}


async def matrix(conn: Connection, matrix_id: str) -> dict[str, Any] | None:
    found = await conn.fetchval("SELECT data::text FROM provision_matrices WHERE matrix_id = $1", matrix_id)
    return None if found is None else dict(json.loads(found))


async def matrices(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT data::text AS data FROM provision_matrices ORDER BY month_end DESC, computed_at DESC"
    )
    return [json.loads(r["data"]) for r in rows]
