"""A whole simulated book through the ERP topics: every customer's net position adds up to
invoices less credit notes, payments and discounts, computed from the documents alone."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from functools import partial

import asyncpg
import httpx

from libs.events.database import create_pool
from libs.events.dead_letters import list_dead_letters
from libs.infra.provision import BrokerHandle
from services.receivables.app import spec as receivables
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.serving import bearer, serving, settings_for
from tools import erp_simulator


async def test_a_simulated_book_adds_up(new_database: NewDatabase, broker: BrokerHandle) -> None:
    book = erp_simulator.generate(seed=11, customers=12, invoices=600)
    assert {c.behaviour for c in book.customers} == {"prompt", "slow", "deteriorating", "defaulting", "disputing"}
    dsn = await new_database()
    settings = settings_for(receivables, dsn, broker.bootstrap_servers, business_date="2026-01-31")
    async with serving(receivables, settings) as url, httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
        pool = await create_pool(dsn, min_size=1, max_size=2)
        prefix = settings.topic_prefix
        await erp_simulator.publish(
            settings.kafka_bootstrap_servers, erp_simulator.customer_records(book, True), prefix
        )
        await eventually(lambda: _count(pool, "customers", len(book.customers)), what="the customers known")
        await erp_simulator.publish(settings.kafka_bootstrap_servers, erp_simulator.document_records(book), prefix)

        async def consumed() -> bool:
            done = await pool.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_positions WHERE consumer = $1",
                "receivables.erp-documents",
            )
            return int(done) == len(book.documents)

        await eventually(consumed, within=120, what="every document consumed")
        assert await list_dead_letters(pool) == []

        net: defaultdict[str, Decimal] = defaultdict(Decimal)
        for customer in book.customers:
            account = (await http.get(f"/customers/{customer.customer_id}/account")).json()
            for line in account["balances"]:
                net[line["currency"]] += Decimal(line["net"])
                assert Decimal(line["net"]) == (
                    Decimal(line["balance"]) - Decimal(line["unapplied_cash"]) - Decimal(line["credit_balance"])
                )
        assert dict(net) == book.expected
        counts = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE event_type = 'receivables.InvoiceIssued') AS invoices,"
            " count(*) FILTER (WHERE event_type = 'receivables.InvoiceAdjusted') AS corrections,"
            " count(*) FILTER (WHERE event_type = 'receivables.PaymentReversed') AS reversals FROM events"
        )
        assert counts is not None
        documents = book.counts()
        revised = sum(1 for d in book.documents if d.topic == erp_simulator.INVOICES and d.revision == 2)
        assert counts["invoices"] + revised == documents[erp_simulator.INVOICES]
        assert counts["corrections"] == revised
        await pool.close()


async def _count(pool: asyncpg.Pool, table: str, expected: int) -> bool:
    return bool(await pool.fetchval(f"SELECT count(*) = $1 FROM {table}", expected))


READ_MODEL = {
    "invoices": "SELECT invoice_id, total, open, paid, credited, discounted, written_off, settled_on FROM invoices",
    "instalments": "SELECT invoice_id, seq, open FROM instalments",
    "payments": "SELECT payment_id, unallocated, remainder_as, reversed FROM payments",
    "credit_notes": "SELECT credit_note_id, unallocated FROM credit_notes",
    "allocations": "SELECT source_id, invoice_id, entry_date, by_hand, amount, discount FROM allocations",
}


async def test_one_book_in_three_orders_gives_one_ledger(new_database: NewDatabase, broker: BrokerHandle) -> None:
    """The ERP's topics are not ordered with one another: here one ledger receives the book as the
    ERP sends it, one every payment and credit note before any invoice, one newest first."""
    book = erp_simulator.generate(seed=5, customers=8, invoices=320)
    records = list(erp_simulator.document_records(book))
    # Each order in waves, a wave consumed before the next is sent: late documents land in later batches.
    invoices = [r for r in records if r[0] == erp_simulator.INVOICES]
    payments_and_notes = [r for r in records if r[0] != erp_simulator.INVOICES]
    half = len(records) // 2
    orders = {
        "as sent": [records],
        "payments first": [payments_and_notes, invoices],
        "newest first, in halves": [list(reversed(records[half:])), list(reversed(records[:half]))],
    }
    found: dict[str, dict[str, list[tuple[object, ...]]]] = {}
    reports: dict[str, dict[str, object]] = {}
    made_again: dict[str, int] = {}
    for name, order in orders.items():
        dsn = await new_database()
        settings = settings_for(receivables, dsn, broker.bootstrap_servers, business_date="2026-01-31")
        async with (
            serving(receivables, settings) as url,
            httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http,
        ):
            pool = await create_pool(dsn, min_size=1, max_size=2)
            prefix = settings.topic_prefix
            customers = erp_simulator.customer_records(book, True)
            await erp_simulator.publish(settings.kafka_bootstrap_servers, customers, prefix)
            await eventually(partial(_count, pool, "customers", len(book.customers)), what="the customers")
            sent = 0
            for wave in order:
                await erp_simulator.publish(settings.kafka_bootstrap_servers, iter(wave), prefix)
                sent += len(wave)

                async def consumed(pool: asyncpg.Pool = pool, sent: int = sent) -> bool:
                    done = await pool.fetchval(
                        "SELECT coalesce(sum(next_offset), 0) FROM consumer_positions WHERE consumer = $1",
                        "receivables.erp-documents",
                    )
                    return int(done) == sent

                await eventually(consumed, within=120, what=f"the documents consumed ({name})")
            assert await list_dead_letters(pool) == []
            found[name] = {table: sorted(tuple(r) for r in await pool.fetch(sql)) for table, sql in READ_MODEL.items()}
            reports[name] = {
                day: (await http.get("/aging", params={"as_of": day, "by_customer": "true"})).json()
                for day in ("2025-03-31", "2025-06-30", "2025-12-31", "2026-01-31")
            }
            made_again[name] = await pool.fetchval(
                "SELECT count(*) FROM events WHERE event_type = 'receivables.AllocationsWithdrawn'"
            )
            await pool.close()
    assert sum(made_again.values()), "no order made an allocation again: the test shows nothing"
    first, *later = found
    for other in later:
        for table in READ_MODEL:
            assert found[other][table] == found[first][table], f"{table} differ when {other}"
        assert reports[other] == reports[first]
