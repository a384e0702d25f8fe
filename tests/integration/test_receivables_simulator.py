"""A whole simulated book through the ERP topics: every customer's net position adds up to
invoices less credit notes, payments and discounts, computed from the documents alone."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

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
