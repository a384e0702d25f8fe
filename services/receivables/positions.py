"""The month-end positions' keeper: the projection's deferred half.

The projection marks, in the transaction of each event, the positions the event changes: the
account's position days from the first its effect counts on up to the day before it was recorded,
as known on that day (one mark per account and day recorded, widened to cover every event of it).
Once a position day has passed, every account is marked for it as known at the end of that day.
The keeper folds what is marked, each account from its own events as known on the mark's day, and
writes the versions, once an account's marks have settled (a load is folded when it ends, not after
each batch); a mark renewed while it was being folded stays for the next round. While a consumer
of the service is catching up a backlog the keeper waits, at most ``DEFER_SECONDS`` at a time, so
that the load has the process to itself. Nothing here decides anything: a read model, rebuilt like
the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import astuple
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

import asyncpg
import structlog

from libs.events.clock import BusinessClock
from libs.events.database import Connection, advisory_key
from libs.events.store import EventStore
from services.receivables import domain
from services.receivables.domain.account import ZERO
from services.receivables.domain.positions import (
    Amounts,
    Position,
    book_changes,
    charges_of,
    position,
    position_days,
)

log = structlog.get_logger(__name__)

CUSTOMERS_PER_ROUND = 20
IDLE_SECONDS = 5.0
# An account still receiving events (a load, a day's feed) is folded once they stop, not after each batch.
SETTLE_SECONDS = 10.0
# While a consumer catches up, its accounts change on: the keeper waits for the load, up to this.
DEFER_SECONDS = 60.0


async def mark_passed_days(pool: asyncpg.Pool, today: date) -> int:
    """Mark every account for each position day before today not yet marked; answers the days."""
    first = await pool.fetchval("SELECT min(entry_date) FROM movements")
    if first is None:
        return 0
    done = {r["day"] for r in await pool.fetch("SELECT day FROM kpi_position_days")}
    days = [d for d in position_days(first, today - timedelta(days=1)) if d not in done]
    for day in days:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO kpi_marks (customer_id, known_on, since, until) SELECT customer_id, $1, $1, $1"
                " FROM accounts ON CONFLICT (customer_id, known_on) DO UPDATE SET"
                " since = least(kpi_marks.since, $1), until = greatest(kpi_marks.until, $1), seq = excluded.seq,"
                " marked_at = excluded.marked_at",
                day,
            )
            await conn.execute("INSERT INTO kpi_position_days VALUES ($1) ON CONFLICT DO NOTHING", day)
    return len(days)


async def fold_marked(
    pool: asyncpg.Pool, store: EventStore, settled: float = SETTLE_SECONDS, customers: int = CUSTOMERS_PER_ROUND
) -> int:
    """Fold the marks of the next ``customers`` accounts whose marks have not been renewed for
    ``settled`` seconds; answers the marks folded. The events are read after the marks, so a mark
    renewed by an event this round did not see keeps its new seq and stays."""
    marks = await pool.fetch(
        "SELECT customer_id, known_on, since, until, seq FROM kpi_marks WHERE customer_id IN"
        " (SELECT customer_id FROM kpi_marks GROUP BY 1"
        "  HAVING max(marked_at) < clock_timestamp() - make_interval(secs => $2) ORDER BY 1 LIMIT $1)",
        customers,
        settled,
    )
    if not marks:
        return 0
    by_customer: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for mark in marks:
        by_customer[mark["customer_id"]].append(mark)
    events = defaultdict(list)
    for row in await pool.fetch(
        "SELECT * FROM events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version",
        [domain.stream_id(c) for c in by_customer],
    ):
        events[row["customer_id"]].append(store.decode_row(row).event)
    versions, opened, flows, items = [], [], [], []
    for customer, its in by_customer.items():
        history = domain.AccountHistory(events[customer], customer, date.max)
        charges = charges_of(events[customer])
        for mark in its:
            known = mark["known_on"]
            for day in position_days(mark["since"], mark["until"]):
                found = position(history.at(day, known), day, charges)
                versions.append((customer, day, known))
                opened += _open_rows(customer, known, found)
                flows += _flow_rows(customer, known, found)
                items += [(customer, day, known, *astuple(i)) for i in found.items]
        await asyncio.sleep(0)  # one account at a time: requests and consumers go on between them
    async with pool.acquire() as conn, conn.transaction():
        if versions:
            await _keep_book(conn, versions, opened, flows)
            keys = list(zip(*versions, strict=True))
            for table in ("kpi_versions", "kpi_open", "kpi_flows", "kpi_items"):
                await conn.execute(
                    f"DELETE FROM {table} t USING unnest($1::text[], $2::date[], $3::date[]) AS m(c, d, k)"
                    " WHERE t.customer_id = m.c AND t.day = m.d AND t.known_from = m.k",
                    *keys,
                )
            await conn.copy_records_to_table("kpi_versions", records=versions)
            await conn.copy_records_to_table("kpi_open", records=opened)
            await conn.copy_records_to_table("kpi_flows", records=flows)
            await conn.copy_records_to_table("kpi_items", records=items)
        await conn.execute(
            "DELETE FROM kpi_marks m USING unnest($1::text[], $2::date[], $3::bigint[]) AS t(c, k, s)"
            " WHERE m.customer_id = t.c AND m.known_on = t.k AND m.seq = t.s",
            *zip(*[(m["customer_id"], m["known_on"], m["seq"]) for m in marks], strict=True),
        )
    return len(marks)


# (table, its key columns after customer_id, day and known_from, its amount columns)
_BOOK = (
    ("open", ("currency",), ("receivables", "current", "over_90", "past_due", "past_due_days")),
    ("flows", ("currency", "month"), ("sales", "collected", "fell_due", "unpaid")),
)


async def _keep_book(
    conn: Connection, versions: list[tuple[str, date, date]], *written: list[tuple[object, ...]]
) -> None:
    """Add to the whole book's rows what the versions about to be written change, read against the
    accounts' versions of those days as kept so far (in the keeper's transaction, before they go)."""
    pairs = sorted({(c, d) for c, d, _ in versions})
    for (name, keys, amounts), rows in zip(_BOOK, written, strict=True):
        width = len(keys)
        old: dict[tuple[str, date], dict[date, dict[Hashable, Amounts]]] = defaultdict(dict)
        for r in await conn.fetch(
            f"SELECT v.customer_id, v.day, v.known_from, {', '.join(f't.{c}' for c in keys + amounts)}"
            " FROM kpi_versions v JOIN unnest($1::text[], $2::date[]) AS p(customer_id, day) USING (customer_id, day)"
            f" LEFT JOIN kpi_{name} t USING (customer_id, day, known_from)",
            *zip(*pairs, strict=True),
        ):
            versions_of = old[(r["customer_id"], r["day"])].setdefault(r["known_from"], {})
            if r[keys[0]] is not None:
                versions_of[tuple(r[k] for k in keys)] = tuple(r[a] for a in amounts)
        new = {pair: dict(chain) for pair, chain in old.items()}
        for customer, day, known in versions:
            new.setdefault((customer, day), {})[known] = {}
        for row in rows:
            new[(row[0], row[1])][row[2]][row[3 : 3 + width]] = cast(Amounts, row[3 + width :])  # type: ignore[index]
        added: dict[tuple[object, ...], list[Decimal]] = {}
        for pair, chain in new.items():
            for (known, key), change in book_changes(old.get(pair, {}), chain).items():
                into = added.setdefault((pair[1], known, *key), [ZERO] * len(amounts))  # type: ignore[misc]
                for i, x in enumerate(change):
                    into[i] += x
        if added:
            types = (
                "date",
                "date",
                *("text" if k == "currency" else "date" for k in keys),
                *("numeric",) * len(amounts),
            )
            await conn.execute(
                f"INSERT INTO kpi_book_{name} AS b SELECT * FROM unnest("
                + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
                + f") ON CONFLICT (day, known_from, {', '.join(keys)}) DO UPDATE SET "
                + ", ".join(f"{a} = b.{a} + excluded.{a}" for a in amounts),
                *zip(*[(*at, *sums) for at, sums in added.items()], strict=True),
            )


def _open_rows(customer: str, known: date, found: Position) -> list[tuple[object, ...]]:
    return [
        (customer, found.day, known, currency, o.receivables, o.current, o.over_90, o.past_due, o.past_due_days)
        for currency, o in sorted(found.open.items())
    ]


def _flow_rows(customer: str, known: date, found: Position) -> list[tuple[object, ...]]:
    return [
        (customer, found.day, known, currency, month, f.sales, f.collected, f.fell_due, f.unpaid)
        for (currency, month), f in sorted(found.flows.items())
    ]


def _never() -> bool:
    return False


async def catch_up(
    pool: asyncpg.Pool,
    store: EventStore,
    today: date,
    settled: float = SETTLE_SECONDS,
    busy: Callable[[], bool] = _never,
    customers: int = CUSTOMERS_PER_ROUND,
) -> int:
    """Mark the days passed, then fold ``customers`` accounts a round until nothing settled is
    marked, or, after the first round, until ``busy()``; answers the marks folded."""
    days = await mark_passed_days(pool, today)
    folded = 0
    pending = await pool.fetchval("SELECT count(*) FROM kpi_marks")
    while found := await fold_marked(pool, store, settled, customers):
        folded += found
        if pending >= 10_000 and folded % 10_000 < found:  # show progress on a long catch-up
            log.info("kpi_positions.folding", folded=folded, pending=max(pending - folded, 0))
        if busy():
            break
    if folded or days:
        log.info("kpi_positions.caught_up", position_days=days, folded=folded)
    return folded


def keeper(
    pool: asyncpg.Pool, store: EventStore, clock: BusinessClock, busy: Callable[[], bool] = _never
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """The loop kept beside the relay: one replica at a time catches up, then rests a while; while
    ``busy()`` (a consumer catching up) it waits, and folds one round at least every ``DEFER_SECONDS``."""

    async def run(stop: asyncio.Event) -> None:
        key = advisory_key("kpi-positions")
        last_round = time.monotonic()
        while not stop.is_set():
            if not busy() or time.monotonic() - last_round >= DEFER_SECONDS:
                try:
                    async with pool.acquire() as conn:
                        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                            try:
                                await catch_up(pool, store, clock.today(), busy=busy)
                            finally:
                                await conn.execute("SELECT pg_advisory_unlock($1)", key)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("kpi_positions.unavailable", error=str(exc))
                last_round = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_SECONDS)

    return run
