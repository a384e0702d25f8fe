"""The KPIs read from the month-end positions are the KPIs of the folded book, figure for figure, as
reported on any day after the period and as known now, on a simulated book whose documents were
recorded days and months late and some of its invoices written off; so is the provision matrix's
history; and the positions are kept as the book grows, not only built once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from libs.events.clock import SettableClock
from libs.events.database import Connection, create_pool, prepare_service_database
from libs.events.store import EventStore
from services.receivables import domain, positions, projections
from services.receivables.app import spec as receivables
from services.receivables.domain.positions import position_days
from services.receivables.queries import kpis, provisions
from services.receivables.queries import positions as read
from tests.conftest import NewDatabase
from tests.support.late_book import late_book
from tools import erp_simulator

BOOK = erp_simulator.generate(5, 8, 480, start=date(2025, 1, 1))
BASE = "CNY"
BOOK_BUILT = Path(projections.__file__).parent / "migrations" / "008_kpi_book.sql"


async def _both(
    store: EventStore, conn: Connection, start: date, end: date, by: kpis.By, reported: date, today: date
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report folded from the book, and read from the positions (which must be readable)."""
    names: dict[str, str] = {}
    book = await kpis.load_book(store, conn)
    rows = kpis.rows_of(start, end, by, book.events, names)
    folded = kpis.report(
        await kpis.ledger_on(store, conn, book, BASE, end, reported),
        await kpis.ledger_on(store, conn, book, BASE, end, today),
        start,
        end,
        by,
        rows,
        "ledger",
    )
    assert await read.readable(conn, start, end, by, today, (reported, today)), (start, end, reported)
    kept = kpis.report(
        await read.positions_on(store, conn, BASE, start, end, by, rows, reported),
        await read.positions_on(store, conn, BASE, start, end, by, rows, today),
        start,
        end,
        by,
        rows,
        "month_end_positions",
    )
    return (
        folded.model_dump(mode="json", exclude={"computed_from"}),
        kept.model_dump(mode="json", exclude={"computed_from"}),
    )


async def test_the_positions_give_the_folded_books_kpis_as_reported_and_as_known_now(new_database: NewDatabase) -> None:
    dsn = await new_database()
    pool = await create_pool(dsn)
    async with pool.acquire() as conn:
        await prepare_service_database(conn, receivables.read_model)
    store = EventStore(
        pool,
        source="receivables",
        topic="receivables.events",
        registry=receivables.registry,
        clock=SettableClock(date(2026, 1, 10)),
        projection=projections.project,
    )
    book = late_book(BOOK, write_offs=True)
    cut = date(2025, 7, 15)
    for customer, events in book.items():  # what was recorded by mid-July
        first = [e for e in events if domain.recorded_on(e) <= cut]
        await store.append(domain.stream_id(customer), 0, first, customer_id=customer)
    # While a consumer catches up, the keeper folds one round and leaves the rest for later.
    assert await positions.catch_up(pool, store, date(2025, 7, 16), settled=0, busy=lambda: True, customers=3) > 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(DISTINCT customer_id) FROM kpi_marks") == len(book) - 3
    assert await positions.catch_up(pool, store, date(2025, 7, 16), settled=0) > 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM kpi_marks") == 0
        folded, kept = await _both(store, conn, date(2025, 4, 1), date(2025, 6, 30), "month", date(2025, 7, 1), cut)
        assert kept == folded

    # The rest, months of it, some of it back-dated, in two halves folded as they come before the days
    # since mid-July are marked as passed: so the positions of a day are written after later ones
    # (folded first), and the half's last day is folded again when the other half brings more of it.
    rest = {c: events[len([e for e in events if domain.recorded_on(e) <= cut]) :] for c, events in book.items()}
    for half in (0, 1):
        for customer, events in rest.items():
            split = len(events) // 2
            await store.append(
                domain.stream_id(customer),
                len(book[customer]) - len(events) + half * split,
                events[split:] if half else events[:split],
                customer_id=customer,
            )
        while await positions.fold_marked(pool, store, settled=0):
            pass
    assert await positions.catch_up(pool, store, date(2026, 1, 10), settled=0) > 0
    today = date(2026, 1, 10)
    restated = at_risk = 0
    async with pool.acquire() as conn:
        for start, end, by, reported in [
            (date(2025, 1, 1), date(2025, 12, 31), "month", date(2025, 12, 31)),
            (date(2025, 4, 1), date(2025, 6, 30), "month", date(2025, 7, 1)),
            (date(2025, 4, 1), date(2025, 6, 30), "total", date(2025, 10, 15)),
            (date(2025, 7, 1), date(2025, 9, 30), "customer", date(2025, 9, 30)),
            (date(2025, 2, 1), date(2025, 2, 28), "total", date(2025, 3, 3)),
        ]:
            folded, kept = await _both(store, conn, start, end, by, reported, today)  # type: ignore[arg-type]
            assert kept == folded, (start, end, by, reported)
            for found in [folded["total"], *folded["rows"]]:
                restated += any(v not in (None, "0.00") for v in found["difference"].values())
                at_risk += found["as_known_now"]["at_risk_rate"] is not None
        # Periods the positions do not hold are answered by folding.
        assert not await read.readable(conn, date(2025, 4, 2), date(2025, 6, 30), "total", today, (today,))
        assert not await read.readable(conn, date(2025, 4, 1), date(2025, 6, 30), "total", today, (date(2025, 6, 1),))
        # The provision matrix's history, read from the positions, is the folded book's.
        written_off = 0
        for month_end, months, known_on in [
            (date(2025, 12, 31), 12, today),
            (date(2025, 9, 30), 6, date(2025, 10, 20)),
        ]:
            days = provisions.month_ends(month_end, months)
            assert await read.month_ends_readable(conn, days, today, known_on)
            ledger = await kpis.ledger_on(store, conn, await kpis.load_book(store, conn), BASE, month_end, known_on)
            for method in ("roll_rates", "cohorts"):
                history = provisions.folded(ledger, days, method)
                written_off += sum(any(w.values()) for w in history.lost)
                for segment_by in ("none", "grade"):
                    segment_of = {c: "A" if n % 2 else "B" for n, c in enumerate(sorted(book))}
                    matrices = [
                        provisions.compute(
                            evidence,
                            known_on=known_on,
                            base=BASE,
                            matrix_id="PM-1",
                            month_end=month_end,
                            method=method,
                            look_back_months=months,
                            overlay_percent=Decimal(0),
                            rationale="",
                            by="wang",
                            today=today,
                            segment_by=segment_by,
                        ).model_dump(mode="json")
                        for evidence in (
                            provisions.evidence_folded(history, method, segment_by, segment_of),
                            await provisions.evidence_kept(
                                store, pool, BASE, days, method, known_on, segment_by, segment_of
                            ),
                        )
                    ]
                    assert matrices[0] == matrices[1], (month_end, method, segment_by)
        # The whole book's rows, kept as the versions came (some inserted before later ones), sum to
        # the accounts' versions in force on each knowledge date; so do the rows the migration
        # builds from the versions already kept.
        kept_days = set(position_days(date(2025, 1, 1), date(2025, 12, 31)))
        everyone = {c: read.EVERYONE for c in book}
        knowledge = [date(2025, 3, 3), date(2025, 7, 1), date(2025, 9, 30), date(2025, 12, 31), today]
        wanted = [await read.sums(conn, k, kept_days, everyone, date(2024, 1, 1)) for k in knowledge]
        assert [await read.book_sums(conn, k, kept_days, date(2024, 1, 1)) for k in knowledge] == wanted
        await conn.execute("DROP TABLE kpi_book_open, kpi_book_flows")
        await conn.execute(BOOK_BUILT.read_text(encoding="utf-8"), timeout=60)
        assert [await read.book_sums(conn, k, kept_days, date(2024, 1, 1)) for k in knowledge] == wanted
    assert restated >= 5  # the late postings restate the figures: the comparison has something to find
    assert at_risk >= 5
    assert written_off >= 3  # months with write-offs, so the comparison covers them
    await pool.close()
