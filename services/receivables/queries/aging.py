"""Balances and aging (账龄分析), on two axes: the business date the figures are for (``as_of``)
and what the ledger had recorded by the end of a day (``known_on``).

Amounts are kept in each invoice's currency and reported in the base currency at the latest
rate dated on or before ``as_of`` among those recorded by ``known_on``. Each figure in the base
currency is the exact sum of its converted parts, rounded half-up to the base currency's minor
unit once, at the end. An amount in a currency without such a rate is not converted: the report
gives the priced part and lists what is unpriced, currency by currency.

Today's figures as known today come from the read model; any other pair of dates is folded
from the events.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from contracts.receivables import FxRateRecorded
from libs.events.contracts import to_minor_unit
from libs.events.database import Connection
from libs.events.store import EventStore, Store
from services.receivables import domain
from services.receivables.queries.views import (
    AgingBasis,
    AgingReport,
    AgingTable,
    CurrencyAging,
    CustomerAgingLine,
    UnpricedAmount,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class Rates:
    base: str
    on: date
    rates: Mapping[str, Decimal]

    def rate_of(self, currency: str) -> Decimal | None:
        """What one unit of ``currency`` is in the base currency; None without a rate."""
        return Decimal(1) if currency == self.base else self.rates.get(currency)

    def priced(self, amounts: Mapping[str, Decimal]) -> tuple[Decimal, dict[str, Decimal]]:
        """The amounts that have a rate, in the base currency (rounded once), and those that have none."""
        total, unpriced = ZERO, dict[str, Decimal]()
        for currency, amount in amounts.items():
            if currency == self.base:
                total += amount
            elif currency in self.rates:
                total += amount * self.rates[currency]
            elif amount:
                unpriced[currency] = amount
        return to_minor_unit(total, self.base), unpriced


async def rates_today(conn: Connection, base: str, on: date) -> Rates:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (currency) currency, rate FROM fx_rates"
        " WHERE base_currency = $1 AND rate_date <= $2 ORDER BY currency, rate_date DESC",
        base,
        on,
    )
    return Rates(base, on, {r["currency"]: r["rate"] for r in rows})


async def rates_as_of(store: Store, conn: Connection, base: str, as_of: date, known_on: date) -> Rates:
    """The rates recorded by ``known_on``, each currency's latest dated on or before ``as_of``."""
    latest: dict[str, tuple[date, Decimal]] = {}
    for recorded in await store.load(domain.FX_STREAM, conn):
        event = recorded.event
        if not isinstance(event, FxRateRecorded):
            continue
        known = event.base_currency == base and event.recorded_on <= known_on and event.rate_date <= as_of
        if known and (event.currency not in latest or event.rate_date >= latest[event.currency][0]):
            latest[event.currency] = (event.rate_date, event.rate)
    return Rates(base, as_of, {c: rate for c, (_, rate) in latest.items()})


def unpriced_list(unpriced: Mapping[str, Decimal]) -> list[UnpricedAmount]:
    return [UnpricedAmount(currency=c, amount=to_minor_unit(a, c)) for c, a in sorted(unpriced.items())]


# -- aging -----------------------------------------------------------------------------------------


def parse_boundaries(text: str | None, basis: AgingBasis) -> tuple[int, ...]:
    """'0,30,60,90,180' -> (0, 30, 60, 90, 180); ascending whole numbers of days. By invoice date
    the default has no 'current' bucket (an invoice's age is never negative): 0-30 ... over 180."""
    if text is None:
        return domain.DEFAULT_BOUNDARIES if basis == "due_date" else domain.DEFAULT_BOUNDARIES[1:]
    try:
        boundaries = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"buckets {text!r} are not whole numbers of days separated by commas") from None
    if not boundaries or list(boundaries) != sorted(set(boundaries)) or boundaries[0] < 0:
        raise ValueError(f"buckets {text!r} must be distinct, ascending and not negative")
    if len(boundaries) > 20 or boundaries[-1] > 36_500:
        raise ValueError(f"buckets {text!r}: at most 20 boundaries, none beyond 36500 days")
    return boundaries


def _aging_sql(*, per_customer: bool, one_customer: bool, excluding: bool = False) -> str:
    """Open instalments summed by currency and bucket (and customer); the bucket of an item is
    how many boundaries lie below its days past due (or since the invoice date)."""
    customer = "customer_id" if per_customer else "NULL::text"
    which = "AND customer_id = $4" if one_customer else "AND customer_id <> ALL($4::text[])" if excluding else ""
    return f"""
        SELECT {customer} AS customer_id, currency,
               width_bucket(($1::date - (CASE WHEN $2 THEN due_date ELSE issue_date END)) - 1, $3::int[]) AS bucket,
               sum(open) AS amount
          FROM instalments
         WHERE open > 0 {which}
         GROUP BY 1, 2, 3
    """


class AgedAmount(NamedTuple):  # a tuple: the book's aging makes one per customer, currency and bucket
    customer_id: str | None
    currency: str
    bucket: int
    amount: Decimal


async def read_model_is_current(conn: Connection, day: date, customer_id: str | None = None) -> bool:
    """Whether the read model holds the figures of ``day`` exactly: nothing counts from later."""
    latest = await conn.fetchval(
        "SELECT max(latest_entry) FROM accounts WHERE $1::text IS NULL OR customer_id = $1", customer_id
    )
    return latest is None or latest <= day


async def aged_today(
    conn: Connection,
    today: date,
    basis: AgingBasis,
    boundaries: Sequence[int],
    *,
    customer_id: str | None = None,
    per_customer: bool = True,
) -> list[AgedAmount]:
    query = _aging_sql(per_customer=per_customer or customer_id is not None, one_customer=customer_id is not None)
    args: list[Any] = [today, basis == "due_date", list(boundaries)]
    rows = await conn.fetch(query, *args, *([customer_id] if customer_id is not None else []))
    return [AgedAmount._make(r) for r in rows]


async def aged_book_today(
    store: EventStore,
    conn: Connection,
    ahead: AheadAccounts,
    today: date,
    basis: AgingBasis,
    boundaries: Sequence[int],
    *,
    per_customer: bool,
) -> list[AgedAmount]:
    """The book's aging today: from the read model, but for the accounts whose ledger holds entries
    dated after today (the read model counts them), which alone are folded from their events."""
    ids = [
        r["customer_id"] for r in await conn.fetch("SELECT customer_id FROM accounts WHERE latest_entry > $1", today)
    ]
    query = _aging_sql(per_customer=per_customer, one_customer=False, excluding=True)
    rows = await conn.fetch(query, today, basis == "due_date", list(boundaries), ids)
    aged = [AgedAmount._make(r) for r in rows]
    folded = await ahead.aged(store, conn, ids, today, basis, tuple(boundaries))
    return aged + (folded if per_customer else [AgedAmount(None, a.currency, a.bucket, a.amount) for a in folded])


@dataclass
class _Ahead:
    head: Any
    account: domain.Account
    aged: dict[tuple[str, tuple[int, ...]], list[AgedAmount]] = field(default_factory=dict)


class AheadAccounts:
    """Today's state of each account holding entries dated after today (which the read model counts
    already), folded from its events and remembered with its stream's head: folded again only when the
    stream moves or the day turns. The fold decodes every event of the account, which the book's
    aging would pay for each such account and the account's summary on every read; the last
    ``capacity`` accounts asked for are kept."""

    def __init__(self, capacity: int = 2_000) -> None:
        self.capacity = capacity
        self._memory: OrderedDict[tuple[str, date], _Ahead] = OrderedDict()

    async def account(self, store: Store, conn: Connection, customer_id: str, today: date) -> domain.Account:
        return (await self._kept(store, conn, [customer_id], today))[0].account

    async def aged(
        self,
        store: Store,
        conn: Connection,
        customer_ids: Sequence[str],
        today: date,
        basis: AgingBasis,
        boundaries: tuple[int, ...],
    ) -> list[AgedAmount]:
        found: list[AgedAmount] = []
        for kept in await self._kept(store, conn, customer_ids, today):
            if (basis, boundaries) not in kept.aged:
                kept.aged[(basis, boundaries)] = aged_from_accounts([kept.account], today, basis, boundaries)
            found += kept.aged[(basis, boundaries)]
        return found

    async def _kept(self, store: Store, conn: Connection, customer_ids: Sequence[str], today: date) -> list[_Ahead]:
        # The heads are read before any stream: a fold newer than its head is only folded once more.
        heads = await store.heads([domain.stream_id(c) for c in customer_ids], conn)
        found = []
        for customer_id in customer_ids:
            key, head = (customer_id, today), heads.get(domain.stream_id(customer_id))
            kept = self._memory.get(key)
            if kept is None or kept.head != head:
                kept = self._memory[key] = _Ahead(head, await account_as_of(store, conn, customer_id, today, today))
                if len(self._memory) > self.capacity:
                    self._memory.popitem(last=False)
            self._memory.move_to_end(key)
            found.append(kept)
        return found


def aged_from_accounts(
    accounts: Iterable[domain.Account], as_of: date, basis: AgingBasis, boundaries: Sequence[int]
) -> list[AgedAmount]:
    result = []
    for account in accounts:
        for currency, buckets in domain.age(domain.open_items(account), as_of, by=basis, boundaries=boundaries).items():
            result += [
                AgedAmount(account.customer_id, currency, index, amount)
                for index, amount in enumerate(buckets.values())
                if amount
            ]
    return result


async def account_as_of(
    store: Store, conn: Connection, customer_id: str, as_of: date, known_on: date
) -> domain.Account:
    history = [r.event for r in await store.load(domain.stream_id(customer_id), conn)]
    return domain.account_as_of(history, customer_id, as_of, known_on)


async def book_as_of(store: EventStore, conn: Connection, as_of: date, known_on: date) -> list[domain.Account]:
    """Every account at the end of ``as_of`` as recorded by ``known_on``, folded from the events."""
    accounts: list[domain.Account] = []
    current: str | None = None
    events: list[Any] = []

    def done() -> None:
        if current is not None:
            accounts.append(domain.account_as_of(events, events[0].customer_id if events else "", as_of, known_on))

    async with conn.transaction():  # a cursor lives in a transaction, which also gives one snapshot
        async for row in conn.cursor(
            "SELECT * FROM events WHERE stream_id LIKE 'account-%' ORDER BY stream_id, version", prefetch=2000
        ):
            if row["stream_id"] != current:
                done()
                current, events = row["stream_id"], []
            events.append(store.decode_row(row).event)
    done()
    return accounts


def aging_report(
    aged: Sequence[AgedAmount],
    *,
    as_of: date,
    known_on: date,
    basis: AgingBasis,
    boundaries: Sequence[int],
    rates: Rates,
    by_customer: bool,
    names: Mapping[str, str] | None = None,
    top: int | None = None,
) -> AgingReport:
    """The book's aging; with ``by_customer`` a line per customer by id, or with ``top`` only the
    ``top`` customers of the largest totals (their priced part), largest first, ties by id."""
    labels = domain.bucket_labels(boundaries)

    def table(amounts: Iterable[AgedAmount]) -> dict[str, Any]:
        per_currency: dict[str, list[Decimal]] = {}
        for a in amounts:
            per_currency.setdefault(a.currency, [ZERO] * len(labels))[a.bucket] += a.amount
        buckets: list[Decimal] = []
        unpriced: dict[str, Decimal] = {}
        for i in range(len(labels)):
            priced, missing = rates.priced({c: v[i] for c, v in per_currency.items()})
            buckets.append(priced)
            for c, amount in missing.items():
                unpriced[c] = unpriced.get(c, ZERO) + amount
        return AgingTable(
            buckets=dict(zip(labels, buckets, strict=True)),
            total=sum(buckets, ZERO),
            unpriced=unpriced_list(unpriced),
            by_currency={
                c: CurrencyAging(
                    buckets={label: to_minor_unit(x, c) for label, x in zip(labels, v, strict=True)},
                    total=to_minor_unit(sum(v, ZERO), c),
                )
                for c, v in sorted(per_currency.items())
            },
        ).model_dump()

    customers = None
    if by_customer:
        groups: dict[str, list[AgedAmount]] = {}
        for a in aged:
            groups.setdefault(a.customer_id or "", []).append(a)
        chosen = sorted(groups)
        if top is not None:  # ranked exactly before the lines are made: only the chosen ones are
            rate = {c: rates.rate_of(c) or ZERO for c in {a.currency for a in aged}}

            def exact(c: str) -> Decimal:
                return sum((a.amount * rate[a.currency] for a in groups[c]), ZERO)

            chosen = sorted(chosen, key=lambda c: (-exact(c), c))[:top]
        customers = [
            CustomerAgingLine(customer_id=c, legal_name=(names or {}).get(c), **table(groups[c])) for c in chosen
        ]
        if top is not None:
            customers.sort(key=lambda line: (-line.total, line.customer_id))
    return AgingReport(
        as_of=as_of,
        known_on=known_on,
        basis=basis,
        base_currency=rates.base,
        rates={c: rates.rates[c] for c in sorted({a.currency for a in aged}) if c in rates.rates},
        customers=customers,
        **table(aged),
    )
