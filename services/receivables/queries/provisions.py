"""The provision matrix's history, read from the book as the ledger knew it on a day: what was open at
each month end of the look-back window, invoice by invoice in the base currency and the band of its
oldest open instalment, and what was written off (net of recoveries) in each month between."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

import asyncpg

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


@dataclass(frozen=True)
class Evidence:
    """One matrix's history summed (the whole book's or a segment's): its loss rates, the history
    they came from, what was open at the month end per band, and how many customers it covers."""

    loss_rates: tuple[Decimal, ...]
    history: dict[str, tuple[Decimal, ...]]
    balances: tuple[Decimal, ...]
    customers: int


def _evidence(method: Method, held: Sequence[MonthEnd], lost: Sequence[WrittenOff], billed: Mapping[str, Decimal],
              customers: int) -> Evidence:  # fmt: skip
    if method == "roll_rates":
        rolls = provision.roll_rates(held, lost)
        loss_rates, history = rolls.loss_rates, {"balances": rolls.balances, "rolled": rolls.rolled}
    else:
        found = provision.cohorts(billed, held[1:], lost)
        loss_rates, history = found.loss_rates, {"reached": found.reached, "lost": found.lost}
    balances = [ZERO] * len(BANDS)
    for item in held[-1].values():
        balances[item.band] += item.amount
    return Evidence(loss_rates, history, tuple(balances), customers)


def evidence_folded(
    history: History, method: Method, segment_by: provision.SegmentBy, segment_of: Mapping[str, str]
) -> dict[str, Evidence]:
    """The evidence of the whole book (under "") or of each segment, from the history folded."""
    held, lost, billed = history.held, history.lost, history.billed
    seen = set().union(*held, *({i for i, v in w.items() if v} for w in lost), billed)
    if segment_by == "none":
        return {"": _evidence(method, held, lost, billed, len({history.owner[i] for i in seen}))}
    members: dict[str, set[str]] = defaultdict(set)
    for invoice in seen:
        members[segment_of.get(history.owner[invoice], SEGMENT_DEFAULT[segment_by])].add(invoice)
    found = {}
    for name, invoices in sorted(members.items()):
        only = frozenset(invoices)
        found[name] = _evidence(
            method,
            [provision.restrict(h, only) for h in held],
            [provision.restrict(w, only) for w in lost],
            provision.restrict(billed, only),
            len({history.owner[i] for i in invoices}),
        )
    return found


# Its sorts and windows over every invoice of the window's month ends, in memory.
PROVISION_WORK_MEM = "256MB"
# An invoice's figures and the sums come from one customer's positions, so the customers can be read in
# parts at once, each part one statement on its own connection, all of them in one snapshot.
PROVISION_PARTS = 2

# The invoices of the window's month ends (k from 0), from the positions in force, in their currency,
# each with its customer and its band when open, next to the same invoice at the next month end (when
# it is there) and what the invoice's whole window says: written off less recovered in it (the
# month-on-month changes of what was lost, summed, with an invoice missing at a month end counted as
# nothing lost), what it still held over 90 days at the last month end, and whether what was lost
# changed in any month. One pass over the invoices sorted once, with no self-join; summed per customer
# and currency, priced and added up into segments in Python: every figure of an invoice is in its one
# currency, so pricing the sums is pricing each (no rate: zero, as folded), and a join to the rates or
# to thousands of segments would be planned as a nested loop. $3: the last month end's k; $4: cohorts;
# $5 and $6: the part of the customers read, those whose hash leaves $6 when divided by $5.
_ITEMS = f"""
    WITH v AS (SELECT * FROM ({VERSIONS}) v WHERE mod(abs(hashtext(customer_id)::bigint), $5) = $6),
    d AS (SELECT day, k - 1 AS k FROM unnest($1::date[]) WITH ORDINALITY AS d(day, k)),
    i AS (
        SELECT d.k, i.invoice_id, i.customer_id, i.currency,
               CASE WHEN i.oldest_due IS NOT NULL THEN i.open END AS amount,
               CASE WHEN i.oldest_due IS NULL THEN NULL WHEN i.day - i.oldest_due <= 0 THEN 0
                    ELSE least((i.day - i.oldest_due - 1) / 30 + 1, 4) END AS band,
               i.lost, i.billed
          FROM v JOIN kpi_items i USING (day, customer_id, known_from) JOIN d ON d.day = i.day
    ),
    w AS MATERIALIZED (
        SELECT k, invoice_id, customer_id, currency, amount, band, lost, billed,
               CASE WHEN lead(k) OVER p = k + 1 THEN lead(amount) OVER p END AS next_amount,
               CASE WHEN lead(k) OVER p = k + 1 THEN lead(band) OVER p END AS next_band,
               CASE WHEN lead(k) OVER p = k + 1 THEN lead(lost) OVER p ELSE 0 END AS next_lost,
               coalesce(sum(lost) FILTER (WHERE k = $3) OVER q, 0)
                 - coalesce(sum(lost) FILTER (WHERE k = 0) OVER q, 0)
                 + coalesce(sum(amount) FILTER (WHERE k = $3 AND band = 4) OVER q, 0) AS never_paid,
               max(lost) OVER q <> min(lost) OVER q
                 OR (count(*) OVER q <= $3 AND (max(lost) OVER q <> 0 OR min(lost) OVER q <> 0)) AS lost_moved,
               bool_or(billed IS NOT NULL AND k > 0) OVER q AS billed_in_window
          FROM i
        WINDOW q AS (PARTITION BY invoice_id), p AS (q ORDER BY k)
    )
"""
# Each query answers rows (what, customer_id, band, a, b): "history" rows of the method's two sums
# per band (roll rates: balance, rolled; cohorts: reached, lost), "final" rows of what was open at the
# month end, and a "customers" row for each customer the matrix covers.
_ROLLED = """
    SELECT 'history' AS what, customer_id, currency, band, sum(amount) AS a,
           sum(CASE WHEN band = 4 THEN least(next_lost - lost, amount)
                    WHEN next_band > band THEN least(next_amount, amount) ELSE 0 END) AS b
      FROM w WHERE amount IS NOT NULL AND k < $3
     GROUP BY 2, 3, 4
"""
_COHORTS = """
    , seen AS (
        SELECT customer_id, currency, band, amount, never_paid,
               k = min(k) OVER (PARTITION BY invoice_id, band) AS first
          FROM w WHERE k > 0 AND band > 0 AND billed_in_window
    )
    SELECT 'history' AS what, customer_id, currency, 0 AS band, sum(billed) AS a, sum(least(never_paid, billed)) AS b
      FROM w WHERE billed IS NOT NULL AND k > 0 GROUP BY 2, 3
    UNION ALL
    SELECT 'history', customer_id, currency, band, sum(amount), sum(least(never_paid, amount))
      FROM seen WHERE first GROUP BY 2, 3, 4
"""
_FINAL_AND_CUSTOMERS = """
    UNION ALL
    SELECT 'final', customer_id, currency, band, sum(amount), NULL FROM w WHERE k = $3 AND amount IS NOT NULL
     GROUP BY 2, 3, 4
    UNION ALL
    SELECT DISTINCT 'customers', customer_id, NULL, 0, NULL::numeric, NULL::numeric FROM w
     WHERE amount IS NOT NULL OR (billed IS NOT NULL AND k > 0 AND $4) OR lost_moved
"""


async def evidence_kept(
    store: EventStore,
    pool: asyncpg.Pool,
    base: str,
    days: Sequence[date],
    method: Method,
    known_on: date,
    segment_by: provision.SegmentBy,
    segment_of: Mapping[str, str],
) -> dict[str, Evidence]:
    """The same evidence summed in the database from the month-end positions in force on ``known_on``."""
    query = _ITEMS + (_ROLLED if method == "roll_rates" else _COHORTS) + _FINAL_AND_CUSTOMERS
    arguments = (list(days), known_on, len(days) - 1, method == "cohorts", PROVISION_PARTS)

    async def read(conn: Connection, number: int) -> list[asyncpg.Record]:
        await conn.execute(f"SET LOCAL work_mem = '{PROVISION_WORK_MEM}'")
        return await conn.fetch(query, *arguments, number)

    async def read_in(snapshot: str, conn: Connection, number: int) -> list[asyncpg.Record]:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            return await read(conn, number)

    async with contextlib.AsyncExitStack() as borrowed:
        lead, *others = [await borrowed.enter_async_context(pool.acquire()) for _ in range(PROVISION_PARTS)]
        async with lead.transaction(isolation="repeatable_read", readonly=True):
            rates = await rates_as_of(store, lead, base, days[-1], known_on)
            snapshot = await lead.fetchval("SELECT pg_export_snapshot()")
            async with asyncio.TaskGroup() as parts:
                reads = [parts.create_task(read(lead, 0))]
                reads += [parts.create_task(read_in(snapshot, c, n)) for n, c in enumerate(others, 1)]
    rows = [r for task in reads for r in task.result()]
    priced = {base: Decimal(1), **rates.rates}
    grouped = segment_of if segment_by != "none" else {}

    def zeros() -> list[Decimal]:
        return [ZERO] * len(BANDS)

    first: dict[str, list[Decimal]] = defaultdict(zeros)  # the method's two sums, per band
    second: dict[str, list[Decimal]] = defaultdict(zeros)
    final: dict[str, list[Decimal]] = defaultdict(zeros)
    customers: dict[str, int] = defaultdict(int)
    default = SEGMENT_DEFAULT.get(segment_by, "")
    for r in rows:
        segment, band = grouped.get(r["customer_id"], default), r["band"]
        rate = priced.get(r["currency"], ZERO)  # no rate: nothing, as folded
        if r["what"] == "customers":
            customers[segment] += 1
        elif r["what"] == "final":
            final[segment][band] += (r["a"] or ZERO) * rate
        else:
            first[segment][band] += (r["a"] or ZERO) * rate
            second[segment][band] += (r["b"] or ZERO) * rate
    evidence = {}
    for name, count in customers.items():
        balances = tuple(final[name])
        if method == "roll_rates":
            rolls = provision.roll_rates_of(first[name], second[name])
            history = {"balances": rolls.balances, "rolled": rolls.rolled}
            evidence[name] = Evidence(rolls.loss_rates, history, balances, count)
        else:
            found = provision.cohorts_of(first[name], second[name])
            evidence[name] = Evidence(found.loss_rates, {"reached": found.reached, "lost": found.lost}, balances, count)
    if segment_by == "none" and "" not in evidence:
        return {"": _nothing(method)}
    return dict(sorted(evidence.items()))


@dataclass(frozen=True, slots=True)
class _Derived:
    """One matrix (of the whole book or of a segment): its rates, history and what they give."""

    loss_rates: tuple[Decimal, ...]
    rates: tuple[Decimal, ...]
    history: dict[str, tuple[Decimal, ...]]
    balances: dict[str, Decimal]  # per band, to the minor unit
    expected: dict[str, Decimal]  # per band, to the minor unit
    total: Decimal


def _derive(evidence: Evidence, overlay_percent: Decimal, base: str) -> _Derived:
    rates = provision.with_overlay(evidence.loss_rates, overlay_percent)
    balances = {band: to_minor_unit(amount, base) for band, amount in zip(BANDS, evidence.balances, strict=True)}
    per_band, total = expected_losses(balances, dict(zip(BANDS, rates, strict=True)))
    return _Derived(
        evidence.loss_rates,
        rates,
        {k: tuple(to_minor_unit(v, base) for v in values) for k, values in evidence.history.items()},
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
    evidence: Mapping[str, Evidence],
    *,
    known_on: date,
    base: str,
    matrix_id: str,
    month_end: date,
    method: Method,
    look_back_months: int,
    overlay_percent: Decimal,
    rationale: str,
    by: str,
    today: date,
    segment_by: provision.SegmentBy = "none",
) -> ProvisionMatrixComputed:
    """The matrix of the whole book (``evidence[""]``), or with ``segment_by`` one per segment."""
    segments: list[ProvisionSegment] = []
    if segment_by == "none":
        whole = _derive(evidence[""], overlay_percent, base)
    else:
        derived = []
        for name, part in evidence.items():
            found = _derive(part, overlay_percent, base)
            derived.append(found)
            segments.append(
                ProvisionSegment(
                    segment=name,
                    customers=part.customers,
                    bands=_bands(found, base),
                    expected_loss=Money(amount=found.total, currency=base),
                    history=found.history,
                )
            )
        whole = _summed(derived, base) if derived else _derive(_nothing(method), overlay_percent, base)
    return ProvisionMatrixComputed(
        matrix_id=matrix_id,
        month_end=month_end,
        known_on=known_on,
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


def _nothing(method: Method) -> Evidence:
    """The evidence of a book without history."""
    return _evidence(method, [{}, {}], [{}], {}, 0)


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
