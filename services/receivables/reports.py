"""Balances and aging (账龄分析): today's from the read model, a past date's from the events.

Amounts are kept in each invoice's currency and reported in the base currency at the rate
recorded for the report date (the latest rate dated on or before it). A report as of a past
date folds only the events recorded by then, rates included, so it shows what was known then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from libs.events.database import Connection
from libs.events.store import EventStore
from services.receivables import domain
from services.receivables.events import FxRateRecorded

AgingBasis = Literal["due_date", "invoice_date"]
FX_STREAM = "fx-rates"
FX_KEY = "fx-rates"  # the partition key of rate events, which belong to no customer


class MissingRate(LookupError):
    def __init__(self, currencies: Sequence[str], base: str, on: date) -> None:
        self.currencies = list(currencies)
        super().__init__(
            f"no FX rate to {base} dated on or before {on.isoformat()} for {', '.join(self.currencies)};"
            " record one with POST /fx-rates"
        )


@dataclass(frozen=True)
class Rates:
    base: str
    on: date
    rates: Mapping[str, Decimal]

    def convert(self, amounts: Mapping[str, Decimal]) -> Decimal:
        missing = sorted(c for c in amounts if c != self.base and c not in self.rates)
        if missing:
            raise MissingRate(missing, self.base, self.on)
        total = sum((a if c == self.base else a * self.rates[c] for c, a in amounts.items()), Decimal(0))
        return total.quantize(domain.cent(self.base), ROUND_HALF_UP)


async def rates_today(conn: Connection, base: str, on: date) -> Rates:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (currency) currency, rate FROM fx_rates"
        " WHERE base_currency = $1 AND rate_date <= $2 ORDER BY currency, rate_date DESC",
        base,
        on,
    )
    return Rates(base, on, {r["currency"]: r["rate"] for r in rows})


async def rates_as_of(store: EventStore, conn: Connection, base: str, on: date) -> Rates:
    """The rates known at the end of ``on``, each the latest dated on or before it."""
    latest: dict[str, tuple[date, Decimal]] = {}
    for recorded in await store.load(FX_STREAM, conn):
        event = recorded.event
        assert isinstance(event, FxRateRecorded)
        known = event.base_currency == base and event.recorded_on <= on and event.rate_date <= on
        if known and (event.currency not in latest or event.rate_date >= latest[event.currency][0]):
            latest[event.currency] = (event.rate_date, event.rate)
    return Rates(base, on, {c: rate for c, (_, rate) in latest.items()})


# -- aging -----------------------------------------------------------------------------------------


def parse_boundaries(text: str | None, basis: AgingBasis) -> tuple[int, ...]:
    """'0,30,60,90,180' -> (0, 30, 60, 90, 180); ascending whole numbers of days."""
    if text is None:
        return domain.DEFAULT_BOUNDARIES if basis == "due_date" else domain.DEFAULT_BOUNDARIES[1:]
    try:
        boundaries = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"buckets {text!r} are not whole numbers of days separated by commas") from None
    if not boundaries or list(boundaries) != sorted(set(boundaries)) or boundaries[0] < 0:
        raise ValueError(f"buckets {text!r} must be distinct, ascending and not negative")
    return boundaries


def _aging_sql(*, per_customer: bool, one_customer: bool) -> str:
    """Open instalments summed by currency and bucket (and customer); the bucket of an item is
    how many boundaries lie below its days past due (or since the invoice date)."""
    customer = "customer_id" if per_customer else "NULL::text"
    return f"""
        SELECT {customer} AS customer_id, currency,
               width_bucket(($1::date - (CASE WHEN $2 THEN due_date ELSE issue_date END)) - 1, $3::int[]) AS bucket,
               sum(open) AS amount
          FROM instalments
         WHERE open > 0 {"AND customer_id = $4" if one_customer else ""}
         GROUP BY 1, 2, 3
    """


@dataclass(frozen=True)
class AgedAmount:
    customer_id: str | None
    currency: str
    bucket: int
    amount: Decimal


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
    return [AgedAmount(r["customer_id"], r["currency"], r["bucket"], r["amount"]) for r in rows]


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


async def account_as_of(store: EventStore, conn: Connection, customer_id: str, as_of: date) -> domain.Account:
    history = await store.load(domain.stream_id(customer_id), conn)
    return domain.fold(domain.recorded_by((r.event for r in history), as_of), domain.Account(customer_id=customer_id))


async def book_as_of(store: EventStore, conn: Connection, as_of: date) -> list[domain.Account]:
    """Every account as it stood at the end of ``as_of``, folded from the events."""
    accounts: list[domain.Account] = []
    current: str | None = None
    account = domain.Account()
    async with conn.transaction():  # a cursor lives in a transaction, which also gives one snapshot
        async for row in conn.cursor(
            "SELECT * FROM events WHERE stream_id LIKE 'account-%' ORDER BY stream_id, version", prefetch=2000
        ):
            if row["stream_id"] != current:
                if current is not None:
                    accounts.append(account)
                current, account = row["stream_id"], domain.Account(customer_id=row["customer_id"])
            event = store.decode_row(row).event
            if domain.recorded_on(event) <= as_of:
                account = domain.evolve(account, event)
    if current is not None:
        accounts.append(account)
    return accounts


def aging_report(
    aged: Sequence[AgedAmount],
    *,
    as_of: date,
    basis: AgingBasis,
    boundaries: Sequence[int],
    rates: Rates,
    by_customer: bool,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    labels = domain.bucket_labels(boundaries)

    def table(amounts: Iterable[AgedAmount]) -> dict[str, Any]:
        per_currency: dict[str, list[Decimal]] = {}
        for a in amounts:
            per_currency.setdefault(a.currency, [Decimal(0)] * len(labels))[a.bucket] += a.amount
        base = [rates.convert({c: v[i] for c, v in per_currency.items()}) for i in range(len(labels))]
        return {
            "buckets": dict(zip(labels, base, strict=True)),
            "total": sum(base, Decimal(0)),
            "by_currency": {
                c: {"buckets": dict(zip(labels, v, strict=True)), "total": sum(v, Decimal(0))}
                for c, v in sorted(per_currency.items())
            },
        }

    book = table(aged)  # raises MissingRate before anything else is reported
    report: dict[str, Any] = {
        "as_of": as_of,
        "basis": basis,
        "base_currency": rates.base,
        "rates": {c: rates.rates[c] for c in sorted({a.currency for a in aged}) if c != rates.base},
        **book,
    }
    if by_customer:
        groups: dict[str, list[AgedAmount]] = {}
        for a in aged:
            groups.setdefault(a.customer_id or "", []).append(a)
        report["customers"] = [
            {"customer_id": c, "legal_name": (names or {}).get(c), **table(groups[c])} for c in sorted(groups)
        ]
    return report
