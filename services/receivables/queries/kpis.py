"""The KPIs of a period as the ledger knew them then and as it knows them now: each figure from the
book folded at the period's start and end on both knowledge dates, in the base currency at the
rates recorded for the period's end."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import Field

from contracts.receivables import InvoiceIssued
from libs.events.contracts import DomainEvent, to_minor_unit
from libs.events.database import Connection
from libs.events.store import EventStore
from libs.service.views import View
from services.receivables import domain
from services.receivables.domain.kpis import (
    AT_RISK_DAYS,
    ZERO,
    Figures,
    MonthSales,
    OpenAmount,
    Period,
    Snapshot,
    figures,
    months_spanned,
)
from services.receivables.domain.provision import UNRATED
from services.receivables.queries.aging import Rates, rates_as_of

By = Literal["total", "month", "customer", "grade", "collector"]
Source = Literal["month_end_positions", "ledger"]
SEGMENTS = {"grade": UNRATED, "collector": "unassigned"}  # the row of customers without one
COUNT_BACK_MONTHS = 12


@dataclass(frozen=True, slots=True)
class Promised:
    """A promise to pay collections recorded: its amount, the day made and the day receivables learnt of it."""

    customer_id: str
    amount: Decimal
    currency: str
    made_on: date
    recorded_on: date


@dataclass(frozen=True)
class Book:
    """Every account's events, in the order recorded, and the invoices that are charges."""

    events: Mapping[str, Sequence[DomainEvent]]  # by customer
    charges: frozenset[str]
    promises: tuple[Promised, ...] = ()


async def load_book(store: EventStore, conn: Connection) -> Book:
    events: dict[str, list[DomainEvent]] = defaultdict(list)
    charges: set[str] = set()
    async with conn.transaction():  # a cursor lives in a transaction, which also gives one snapshot
        async for row in conn.cursor(
            "SELECT * FROM events WHERE stream_id LIKE 'account-%' ORDER BY stream_id, version", prefetch=2000
        ):
            event = store.decode_row(row).event
            events[row["customer_id"]].append(event)
            if isinstance(event, InvoiceIssued) and event.charge is not None:
                charges.add(event.invoice_id)
    return Book(events, frozenset(charges), await promises_made(conn))


async def promises_made(conn: Connection) -> tuple[Promised, ...]:
    return tuple(
        Promised(r["customer_id"], r["amount"], r["currency"], r["made_on"], r["recorded_on"])
        for r in await conn.fetch("SELECT * FROM promises_made ORDER BY customer_id, promise_id")
    )


def _in_base(amount: Decimal, currency: str, rates: Rates) -> Decimal | None:
    if currency == rates.base:
        return amount
    rate = rates.rates.get(currency)
    return None if rate is None else amount * rate


@dataclass(frozen=True)
class RowSpec:
    """A row of a report: its key, its period and its customers (None: the whole book)."""

    key: str
    start: date
    end: date
    customers: frozenset[str] | None = None
    name: str | None = None


class PeriodSource(Protocol):
    """Where a report's periods come from: the book folded (``Ledger``) or its month-end positions."""

    known_on: date
    rates: Rates
    unpriced: set[str]

    def period_of(self, row: RowSpec) -> Period: ...


@dataclass
class Ledger:
    """The book on one knowledge date, folded at the days asked for (each once)."""

    book: Book
    known_on: date
    rates: Rates
    _folded: dict[date, dict[str, domain.Account]]
    unpriced: set[str]
    _histories: dict[str, domain.AccountHistory] = field(default_factory=dict)

    def accounts(self, day: date, customers: set[str] | None = None) -> Iterable[domain.Account]:
        """The accounts at the end of ``day`` (only ``customers``', if given)."""
        if day not in self._folded:
            if not self._histories:
                self._histories = {c: domain.AccountHistory(e, c, self.known_on) for c, e in self.book.events.items()}
            self._folded[day] = {c: history.at(day) for c, history in self._histories.items()}
        folded = self._folded[day]
        return folded.values() if customers is None else (folded[c] for c in sorted(customers) if c in folded)

    def snapshot(self, day: date, customers: set[str] | None) -> Snapshot:
        items = []
        for account in self.accounts(day, customers):
            for item in domain.open_items(account):
                amount = _in_base(item.amount, item.currency, self.rates)
                if amount is None:
                    self.unpriced.add(item.currency)
                    continue
                items.append(
                    OpenAmount(
                        item.customer_id,
                        item.invoice_id,
                        item.number,
                        amount,
                        item.due_date,
                        (day - item.due_date).days,
                    )
                )
        return Snapshot.of(day, items)

    def flows(
        self, start: date, end: date, customers: set[str] | None, at: date | None = None
    ) -> tuple[Decimal, Decimal, Decimal]:
        """Credit sales (invoices issued, charges excluded), cash collected (payments by value date,
        reversed ones excluded) and what fell due (instalments by due date, as scheduled), from
        start to end, of the accounts as they stand at the end of ``at`` (default: ``end``)."""
        sales = collected = fell_due = ZERO
        for account in self.accounts(at or end, customers):
            for invoice in account.invoices.values():
                if invoice.invoice_id in self.book.charges:
                    continue
                if start <= invoice.issue_date <= end:
                    sales += self.priced(invoice.total, invoice.currency)
                for due, amount in invoice.schedule:
                    if start <= due <= end:
                        fell_due += self.priced(amount, invoice.currency)
            for payment in account.payments.values():
                if not payment.reversed and start <= payment.value_date <= end:
                    collected += self.priced(payment.amount, payment.currency)
        return sales, collected, fell_due

    def priced(self, amount: Decimal, currency: str) -> Decimal:
        """In the base currency; zero, and the currency noted as unpriced, when it has no rate."""
        found = _in_base(amount, currency, self.rates)
        if found is None:
            self.unpriced.add(currency)
            return ZERO
        return found

    def period_of(self, row: RowSpec) -> Period:
        return self.period(row.start, row.end, None if row.customers is None else set(row.customers))

    def period(self, start: date, end: date, customers: set[str] | None = None) -> Period:
        sales, collected, fell_due = self.flows(start, end, customers)
        return Period(
            start=start,
            end=end,
            months=months_spanned(start, end),
            beginning=self.snapshot(start - timedelta(days=1), customers),
            ending=self.snapshot(end, customers),
            sales=sales,
            monthly_sales=tuple(self._monthly(end, customers)),
            collected=collected,
            fell_due=fell_due,
            unpaid_later=self._unpaid_later(start, end, customers),
            promised=sum(
                (
                    self.priced(p.amount, p.currency)
                    for p in self.book.promises
                    if start <= p.made_on <= end
                    and p.recorded_on <= self.known_on
                    and (customers is None or p.customer_id in customers)
                ),
                ZERO,
            ),
        )

    def _unpaid_later(self, start: date, end: date, customers: set[str] | None) -> Decimal | None:
        """Of the invoices issued in the period, what was still unpaid (open or written off) at the end
        of the day AT_RISK_DAYS after it; None while the ledger's knowledge date has not reached it."""
        later = end + timedelta(days=AT_RISK_DAYS)
        if later > self.known_on:
            return None
        unpaid = ZERO
        for account in self.accounts(later, customers):
            for invoice in account.invoices.values():
                if invoice.invoice_id not in self.book.charges and start <= invoice.issue_date <= end:
                    unpaid += self.priced(invoice.open + invoice.written_off - invoice.recovered, invoice.currency)
        return unpaid

    def _monthly(self, end: date, customers: set[str] | None) -> Iterable[MonthSales]:
        """Count-back's months, latest first: the month of ``end`` up to it, then whole months."""
        last = end
        for _ in range(COUNT_BACK_MONTHS):
            first = last.replace(day=1)
            sales, _, _ = self.flows(first, last, customers, at=end)
            yield MonthSales(sales, (last - first).days + 1)
            last = first - timedelta(days=1)


async def segments_on(conn: Connection, kind: str, day: date) -> dict[str, str]:
    """Each customer's grade or collector (``kind``) last recorded on or before ``day``."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (customer_id) customer_id, value FROM customer_segments"
        " WHERE kind = $1 AND since <= $2 ORDER BY customer_id, since DESC",
        kind,
        day,
    )
    return {r["customer_id"]: r["value"] for r in rows}


async def ledger_on(store: EventStore, conn: Connection, book: Book, base: str, end: date, known_on: date) -> Ledger:
    return Ledger(book, known_on, await rates_as_of(store, conn, base, end, known_on), {}, set())


def month_ranges(start: date, end: date) -> list[tuple[date, date]]:
    """The calendar months of the period, the first and last clipped to it."""
    found, first = [], start
    while first <= end:
        last = min(first.replace(day=calendar.monthrange(first.year, first.month)[1]), end)
        found.append((first, last))
        first = last + timedelta(days=1)
    return found


# -- views ---------------------------------------------------------------------------------------------------


class FiguresView(View):
    receivables: Decimal = Field(description="open at the period's end")
    current: Decimal = Field(description="of which not yet due")
    credit_sales: Decimal = Field(description="invoices issued in the period, charges excluded")
    dso_simple: Decimal | None = Field(description="receivables / credit sales x days of the period")
    dso_count_back: Decimal | None = Field(description="months walked back until their sales exhaust receivables")
    count_back_exhausted: bool = Field(description="false: a month without sales stopped the walk")
    best_possible_dso: Decimal | None = Field(description="current receivables / credit sales x days")
    add_dso: Decimal | None = Field(description="ADD, DSO variant: simple DSO - best possible DSO")
    add_weighted: Decimal | None = Field(description="ADD, invoice-weighted: sum(past due x days) / sum(past due)")
    cei_s_over_n: Decimal | None = Field(description="CEI % with S/N: (B + S/N - ET) / (B + S/N - EC) x 100")
    cei_s_whole: Decimal | None = Field(description="CEI % with S in place of S/N")
    percent_current: Decimal | None
    percent_over_90: Decimal | None = Field(description="share of receivables more than 90 days past due")
    cash_collected: Decimal = Field(description="payments with a value date in the period")
    fell_due: Decimal = Field(description="instalments due in the period, as scheduled")
    collected_to_fell_due: Decimal | None = Field(description="cash collected / fell due x 100")
    at_risk_rate: Decimal | None = Field(
        description="of the period's billing, the share unpaid 90 days after its end; null until that day"
    )
    promised: Decimal = Field(description="promises to pay made in the period")
    collection_progress: Decimal | None = Field(description="promised / past due at the period's end x 100")


MONEY_FIELDS = ("receivables", "current", "credit_sales", "cash_collected", "fell_due", "promised")


def figures_view(found: Figures, base: str) -> FiguresView:
    def money(value: Decimal) -> Decimal:
        return to_minor_unit(value, base)

    return FiguresView(
        receivables=money(found.receivables),
        current=money(found.current),
        credit_sales=money(found.sales),
        dso_simple=found.dso,
        dso_count_back=found.count_back_dso,
        count_back_exhausted=found.count_back_exhausted,
        best_possible_dso=found.best_possible_dso,
        add_dso=found.add,
        add_weighted=found.weighted_days_past_due,
        cei_s_over_n=found.cei,
        cei_s_whole=found.cei_undivided,
        percent_current=found.percent_current,
        percent_over_90=found.percent_over_90,
        cash_collected=money(found.collected),
        fell_due=money(found.fell_due),
        collected_to_fell_due=found.collected_to_fell_due,
        at_risk_rate=found.at_risk_rate,
        promised=money(found.promised),
        collection_progress=found.collection_progress,
    )


def difference(now: FiguresView, then: FiguresView) -> dict[str, Decimal | None]:
    """What later postings changed: known now less as reported, for each number."""
    found: dict[str, Decimal | None] = {}
    for name in FiguresView.model_fields:
        a, b = getattr(now, name), getattr(then, name)
        if isinstance(a, bool) or isinstance(b, bool):
            continue
        found[name] = None if a is None or b is None else a - b
    return found


class KpiRow(View):
    key: str = Field(description="the month (yyyy-mm), the customer's id, the grade, the collector, or total")
    legal_name: str | None = None
    start: date
    end: date
    as_reported: FiguresView
    as_known_now: FiguresView
    difference: dict[str, Decimal | None]


class KpiReport(View):
    from_: date = Field(alias="from")
    to: date
    by: By
    reported_on: date = Field(description="the figures as the ledger knew them at the end of this day")
    known_now_on: date = Field(description="today: the figures as the ledger knows them now")
    base_currency: str
    unpriced_currencies: list[str] = Field(description="open or billed in these, without a rate: left out")
    computed_from: Source = Field(
        description="month_end_positions: read from the positions kept for month ends;"
        " ledger: the book folded at the period's dates (any other period, or positions still being kept)"
    )
    total: KpiRow
    rows: list[KpiRow]


def row(spec: RowSpec, then: PeriodSource, now: PeriodSource) -> KpiRow:
    base = then.rates.base
    reported = figures_view(figures(then.period_of(spec)), base)
    known = figures_view(figures(now.period_of(spec)), base)
    return KpiRow(
        key=spec.key,
        legal_name=spec.name,
        start=spec.start,
        end=spec.end,
        as_reported=reported,
        as_known_now=known,
        difference=difference(known, reported),
    )


def rows_of(
    start: date,
    end: date,
    by: By,
    customers: Iterable[str],
    names: Mapping[str, str],
    segments: Mapping[str, str] | None = None,
) -> list[RowSpec]:
    """The rows ``by`` asks for; ``segments`` gives each customer's grade or collector for
    ``by=grade|collector`` (a customer without one is in SEGMENTS' row)."""
    if by == "month":
        return [RowSpec(f"{a:%Y-%m}", a, b) for a, b in month_ranges(start, end)]
    if by == "customer":
        return [RowSpec(c, start, end, frozenset({c}), names.get(c)) for c in sorted(set(customers))]
    if by in SEGMENTS:
        groups: dict[str, set[str]] = {}
        for c in set(customers):
            groups.setdefault((segments or {}).get(c, SEGMENTS[by]), set()).add(c)
        return [RowSpec(key, start, end, frozenset(members)) for key, members in sorted(groups.items())]
    return []


def report(
    then: PeriodSource, now: PeriodSource, start: date, end: date, by: By, rows: Sequence[RowSpec], source: Source
) -> KpiReport:
    total = row(RowSpec("total", start, end), then, now)
    return KpiReport.model_validate(
        {
            "from": start,
            "to": end,
            "by": by,
            "reported_on": then.known_on,
            "known_now_on": now.known_on,
            "base_currency": then.rates.base,
            "unpriced_currencies": sorted(then.unpriced | now.unpriced),
            "computed_from": source,
            "total": total,
            "rows": [row(spec, then, now) for spec in rows],
        }
    )


# -- the drill-down -----------------------------------------------------------------------------------------


class BehindLine(View):
    customer_id: str
    document_id: str = Field(description="the invoice's or payment's id")
    number: str | None = None
    day: date = Field(description="the issue, due or value date that puts it in the figure")
    currency: str
    amount: Decimal
    in_base: Decimal | None = Field(description="in the base currency; none: the currency has no rate")
    days_past_due: int | None = None


class KpiItems(View):
    from_: date = Field(alias="from")
    to: date
    known_on: date
    base_currency: str
    credit_sales: list[BehindLine] = Field(description="the invoices issued in the period")
    open_at_end: list[BehindLine] = Field(description="what is open at the end of `to`: receivables")
    cash_collected: list[BehindLine] = Field(description="payments with a value date in the period")
    fell_due: list[BehindLine] = Field(description="instalments due in the period, as scheduled")


def items(ledger: Ledger, start: date, end: date, customer_id: str | None) -> KpiItems:
    """The documents behind each figure of the period, as the ledger knew them on its knowledge date."""
    customers = None if customer_id is None else {customer_id}
    rates, base = ledger.rates, ledger.rates.base

    def line(
        customer: str, doc: str, number: str | None, day: date, currency: str, amount: Decimal, **kw: int
    ) -> BehindLine:
        priced = _in_base(amount, currency, rates)
        return BehindLine(
            customer_id=customer,
            document_id=doc,
            number=number,
            day=day,
            currency=currency,
            amount=to_minor_unit(amount, currency),
            in_base=None if priced is None else to_minor_unit(priced, base),
            **kw,
        )

    sales, collected, fell_due, open_at_end = [], [], [], []
    for account in ledger.accounts(end, customers):
        c = account.customer_id
        for invoice in account.invoices.values():
            if invoice.invoice_id in ledger.book.charges:
                continue
            if start <= invoice.issue_date <= end:
                sales.append(
                    line(c, invoice.invoice_id, invoice.number, invoice.issue_date, invoice.currency, invoice.total)
                )
            fell_due += [
                line(c, invoice.invoice_id, invoice.number, due, invoice.currency, amount)
                for due, amount in invoice.schedule
                if start <= due <= end
            ]
        collected += [
            line(c, p.payment_id, None, p.value_date, p.currency, p.amount)
            for p in account.payments.values()
            if not p.reversed and start <= p.value_date <= end
        ]
        open_at_end += [
            line(c, i.invoice_id, i.number, i.due_date, i.currency, i.amount, days_past_due=(end - i.due_date).days)
            for i in domain.open_items(account)
        ]
    return KpiItems.model_validate(
        {
            "from": start,
            "to": end,
            "known_on": ledger.known_on,
            "base_currency": base,
            "credit_sales": sorted(sales, key=lambda x: (x.day, x.document_id)),
            "open_at_end": sorted(open_at_end, key=lambda x: (x.day, x.document_id)),
            "cash_collected": sorted(collected, key=lambda x: (x.day, x.document_id)),
            "fell_due": sorted(fell_due, key=lambda x: (x.day, x.document_id)),
        }
    )
