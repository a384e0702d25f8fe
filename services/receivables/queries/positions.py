"""A report's periods read from the month-end positions instead of the folded book.

A period qualifies when it runs from the first of a month to the end of a month at most FLOW_MONTHS
later, ends before today, and both knowledge dates are on or after its end; and, for each knowledge
date, every position day it reads has been marked for every account and has nothing left to fold
as known by then. Each account counts with its position version in force on the knowledge date (the
latest known from that day or before); the sums per currency are priced at the rates of the
period's end, as the folded book's are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from libs.events.database import Connection
from libs.events.store import EventStore
from services.receivables.domain.kpis import AT_RISK_DAYS, ZERO, MonthSales, Period, Snapshot, months_spanned
from services.receivables.domain.positions import FLOW_MONTHS, Flow, Open, first_of, month_end, months_back
from services.receivables.queries.aging import Rates, rates_as_of
from services.receivables.queries.kpis import COUNT_BACK_MONTHS, By, Promised, RowSpec, promises_made

T = TypeVar("T")
EVERYONE = "*"  # the one group of a report without rows of customers

VERSIONS = """
    SELECT DISTINCT ON (day, customer_id) day, customer_id, known_from
      FROM kpi_versions WHERE day = ANY($1::date[]) AND known_from <= $2
     ORDER BY day, customer_id, known_from DESC
"""
_GROUP = " LEFT JOIN unnest($3::text[], $4::text[]) AS g(customer_id, key) ON g.customer_id = v.customer_id"


def qualifies(start: date, end: date, today: date, known: Sequence[date]) -> bool:
    return (
        start == first_of(start)
        and end == month_end(end)
        and months_spanned(start, end) <= FLOW_MONTHS
        and end < today
        and all(k >= end for k in known)
    )


def days_read(start: date, end: date, months: bool) -> tuple[set[date], set[date]]:
    """The position days a period reads, (open and flows, unpaid), with its months' own when ``months``."""
    ends = {end}
    if months:
        first = start
        while first <= end:
            ends.add(month_end(first))
            first = month_end(first) + timedelta(days=1)
    opened = ends | {first_of(e) - timedelta(days=1) for e in ends} | {start - timedelta(days=1)}
    return opened, {e + timedelta(days=AT_RISK_DAYS) for e in ends}


async def readable(conn: Connection, start: date, end: date, by: By, today: date, known: Sequence[date]) -> bool:
    """Whether the period's figures on each knowledge date can be read from the positions."""
    if not qualifies(start, end, today, known):
        return False
    opened, unpaid = days_read(start, end, by == "month")
    return all([await ready(conn, opened | unpaid, k) for k in sorted(set(known))])


async def month_ends_readable(conn: Connection, days: Sequence[date], today: date, known_on: date) -> bool:
    """Whether the provision's month ends (the last before today, ``known_on`` not before it) can be
    read from the positions."""
    return days[-1] < today and known_on >= days[-1] and await ready(conn, set(days), known_on)


async def positions_on(
    store: EventStore,
    conn: Connection,
    base: str,
    start: date,
    end: date,
    by: By,
    rows: Sequence[RowSpec],
    known_on: date,
) -> Positions:
    """The positions in force on ``known_on`` that the report's rows read, priced at ``end``'s rates."""
    group_of = {c: spec.key for spec in rows if spec.customers is not None for c in spec.customers}
    opened, unpaid = days_read(start, end, by == "month")
    found = await sums(conn, known_on, opened | unpaid, group_of, months_back(start, COUNT_BACK_MONTHS - 1))
    rates = await rates_as_of(store, conn, base, end, known_on)
    return Positions(known_on, rates, found, await promises_made(conn), group_of)


async def ready(conn: Connection, days: set[date], known_on: date) -> bool:
    """Every position day marked for every account, and nothing left to fold as known by ``known_on``."""
    first = await conn.fetchval("SELECT min(entry_date) FROM movements")
    wanted = sorted(d for d in days if d <= known_on and (first is None or d >= first))  # before: nothing open
    marked = await conn.fetchval("SELECT count(*) FROM kpi_position_days WHERE day = ANY($1::date[])", wanted)
    if marked < len(wanted):
        return False
    pending = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM kpi_marks m JOIN unnest($1::date[]) AS d(day)"
        " ON d.day BETWEEN m.since AND m.until WHERE m.known_on <= $2)",
        wanted,
        known_on,
    )
    return not pending


@dataclass
class Sums:
    """Positions summed by group: what was open, and each month's flows, by currency."""

    open: dict[date, dict[str, dict[str, Open]]] = field(default_factory=dict)  # day, group, currency
    flows: dict[date, dict[str, dict[tuple[str, date], Flow]]] = field(default_factory=dict)  # (currency, month)


async def sums(conn: Connection, known_on: date, days: set[date], group_of: Mapping[str, str], since: date) -> Sums:
    """The positions of ``days`` in force on ``known_on``, summed by each customer's group (every
    customer in EVERYONE's when ``group_of`` is empty), with the flows of the months from ``since``."""
    if not group_of:
        return await book_sums(conn, known_on, days, since)
    found = Sums()
    wanted = sorted(d for d in days if d <= known_on)
    args = (wanted, known_on, list(group_of), list(group_of.values()), EVERYONE)
    for r in await conn.fetch(
        "SELECT coalesce(g.key, $5) AS key, o.day, o.currency, sum(o.receivables) AS receivables,"
        " sum(o.current) AS current, sum(o.over_90) AS over_90, sum(o.past_due) AS past_due,"
        " sum(o.past_due_days) AS past_due_days"
        f" FROM ({VERSIONS}) v JOIN kpi_open o USING (day, customer_id, known_from){_GROUP} GROUP BY 1, 2, 3",
        *args,
    ):
        found.open.setdefault(r["day"], defaultdict(dict))[r["key"]][r["currency"]] = Open(
            r["receivables"], r["current"], r["over_90"], r["past_due"], r["past_due_days"]
        )
    for r in await conn.fetch(
        "SELECT coalesce(g.key, $5) AS key, f.day, f.currency, f.month, sum(f.sales) AS sales,"
        " sum(f.collected) AS collected, sum(f.fell_due) AS fell_due, sum(f.unpaid) AS unpaid"
        f" FROM ({VERSIONS}) v JOIN kpi_flows f USING (day, customer_id, known_from){_GROUP}"
        " WHERE f.month >= $6 GROUP BY 1, 2, 3, 4",
        *args,
        since,
    ):
        found.flows.setdefault(r["day"], defaultdict(dict))[r["key"]][(r["currency"], r["month"])] = Flow(
            r["sales"], r["collected"], r["fell_due"], r["unpaid"]
        )
    return found


async def book_sums(conn: Connection, known_on: date, days: set[date], since: date) -> Sums:
    """The whole book's positions of ``days`` in force on ``known_on``, in EVERYONE's group: the sum
    of what each knowledge date up to it changed (a currency or month summing to nothing is left out)."""
    found = Sums()
    wanted = sorted(d for d in days if d <= known_on)
    for r in await conn.fetch(
        "SELECT day, currency, sum(receivables) AS receivables, sum(current) AS current, sum(over_90) AS over_90,"
        " sum(past_due) AS past_due, sum(past_due_days) AS past_due_days FROM kpi_book_open"
        " WHERE day = ANY($1::date[]) AND known_from <= $2 GROUP BY 1, 2"
        " HAVING sum(receivables) <> 0 OR sum(current) <> 0 OR sum(over_90) <> 0 OR sum(past_due) <> 0"
        " OR sum(past_due_days) <> 0",
        wanted,
        known_on,
    ):
        found.open.setdefault(r["day"], defaultdict(dict))[EVERYONE][r["currency"]] = Open(
            r["receivables"], r["current"], r["over_90"], r["past_due"], r["past_due_days"]
        )
    for r in await conn.fetch(
        "SELECT day, currency, month, sum(sales) AS sales, sum(collected) AS collected, sum(fell_due) AS fell_due,"
        " sum(unpaid) AS unpaid FROM kpi_book_flows"
        " WHERE day = ANY($1::date[]) AND known_from <= $2 AND month >= $3 GROUP BY 1, 2, 3"
        " HAVING sum(sales) <> 0 OR sum(collected) <> 0 OR sum(fell_due) <> 0 OR sum(unpaid) <> 0",
        wanted,
        known_on,
        since,
    ):
        found.flows.setdefault(r["day"], defaultdict(dict))[EVERYONE][(r["currency"], r["month"])] = Flow(
            r["sales"], r["collected"], r["fell_due"], r["unpaid"]
        )
    return found


@dataclass
class Positions:
    """A report's periods from the positions in force on one knowledge date (a ``PeriodSource``)."""

    known_on: date
    rates: Rates
    found: Sums
    promises: tuple[Promised, ...]
    group_of: Mapping[str, str]
    unpriced: set[str] = field(default_factory=set)

    def period_of(self, row: RowSpec) -> Period:
        keys = None if row.customers is None else {row.key}
        start, end = row.start, row.end
        flows = self._flows(end, keys)
        months = {m for _, m in flows}

        def summed(name: str, first: date, last: date) -> Decimal:
            return sum((self._priced(getattr(f, name), c) for (c, m), f in flows.items() if first <= m <= last), ZERO)

        later = end + timedelta(days=AT_RISK_DAYS)
        unpaid = self._flows(later, keys) if later <= self.known_on else None
        counted = [months_back(end, n) for n in range(COUNT_BACK_MONTHS)]
        return Period(
            start=start,
            end=end,
            months=months_spanned(start, end),
            beginning=self._snapshot(start - timedelta(days=1), keys),
            ending=self._snapshot(end, keys),
            sales=summed("sales", start, end),
            monthly_sales=tuple(
                MonthSales(summed("sales", m, m) if m in months else ZERO, (month_end(m) - m).days + 1) for m in counted
            ),
            collected=summed("collected", start, end),
            fell_due=summed("fell_due", start, end),
            unpaid_later=None
            if unpaid is None
            else sum((self._priced(f.unpaid, c) for (c, m), f in unpaid.items() if start <= m <= end), ZERO),
            promised=sum(
                (
                    self._priced(p.amount, p.currency)
                    for p in self.promises
                    if start <= p.made_on <= end
                    and p.recorded_on <= self.known_on
                    and (keys is None or self.group_of.get(p.customer_id) in keys)
                ),
                ZERO,
            ),
        )

    def _flows(self, day: date, keys: set[str] | None) -> dict[tuple[str, date], Flow]:
        merged: dict[tuple[str, date], Flow] = {}
        for group in _of(self.found.flows.get(day, {}), keys):
            for at, f in group.items():
                into = merged.setdefault(at, Flow())
                into.sales += f.sales
                into.collected += f.collected
                into.fell_due += f.fell_due
                into.unpaid += f.unpaid
        return merged

    def _snapshot(self, day: date, keys: set[str] | None) -> Snapshot:
        total = current = over_90 = past_due = past_due_days = ZERO
        for group in _of(self.found.open.get(day, {}), keys):
            for currency, o in group.items():
                rate = self._rate(currency)
                if rate is None:
                    continue
                total += o.receivables * rate
                current += o.current * rate
                over_90 += o.over_90 * rate
                past_due += o.past_due * rate
                past_due_days += o.past_due_days * rate
        return Snapshot(day, total, current, over_90, past_due, past_due_days)

    def _rate(self, currency: str) -> Decimal | None:
        rate = self.rates.rate_of(currency)
        if rate is None:
            self.unpriced.add(currency)
        return rate

    def _priced(self, amount: Decimal, currency: str) -> Decimal:
        rate = self._rate(currency)
        return ZERO if rate is None else amount * rate


def _of(groups: Mapping[str, T], keys: set[str] | None) -> list[T]:
    return list(groups.values()) if keys is None else [groups[k] for k in keys if k in groups]
