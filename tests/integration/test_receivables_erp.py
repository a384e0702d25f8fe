"""ERP documents on erp.invoices, erp.payments and erp.credit_notes: applied once, corrected once,
dead-lettered once with the reason, and re-driven by themselves once their customer exists."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from contracts import erp
from libs.events.database import create_pool
from libs.events.dead_letters import list_dead_letters
from libs.infra.provision import BrokerHandle
from services.receivables.app import spec as receivables
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.ledger import customer_registered, document, invoice_data, money, send
from tests.support.serving import bearer, serving, settings_for


async def test_documents_applied_once_corrected_once_dead_lettered_once(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    dsn = await new_database()
    settings = settings_for(receivables, dsn, broker.bootstrap_servers, business_date="2026-03-01")
    async with serving(receivables, settings) as url, httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
        pool = await create_pool(dsn, max_size=2)
        await send(
            settings,
            "profiles.events",
            customer_registered("C-1", "K-1", "华信贸易有限公司"),
            customer_registered("C-2", "K-2", "Two Ltd"),
        )
        await eventually(lambda: _known(pool, "K-2"), what="the customers in the directory")

        first = document(erp.ErpInvoice, "INV-D1", 1, "K-1", **invoice_data("F-1", "1000.00", "2026-02-01"))
        correction = document(
            erp.ErpInvoice, "INV-D1", 2, "K-1", **invoice_data("F-1", "1000.00", "2026-02-01", tax="130.00")
        )
        float_amount = {**invoice_data("F-2", "5.00", "2026-02-01"), "net": {"amount": 5.5, "currency": "CNY"}}
        broken = document(erp.ErpInvoice, "INV-D2", 1, "K-2", **float_amount)
        behind = document(erp.ErpInvoice, "INV-D4", 1, "K-2", **invoice_data("F-4", "9.00", "2026-02-01"))
        stranger = document(erp.ErpInvoice, "INV-D3", 1, "K-9", **invoice_data("F-3", "700.00", "2026-02-10"))
        await send(settings, erp.INVOICES, first, first, correction, first, broken, behind, stranger)

        async def types() -> list[str]:
            rows = await pool.fetch("SELECT event_type FROM events WHERE customer_id = 'C-1' ORDER BY version")
            return [r["event_type"].split(".")[1] for r in rows]

        async def corrected() -> bool:
            return "InvoiceAdjusted" in await types()

        # The payment goes after the invoice is in: the ERP's topics are not ordered with one another.
        await eventually(corrected, what="the invoice and its correction applied")
        payment = document(
            erp.ErpPayment,
            "PAY-1",
            1,
            "K-1",
            amount=money("1130.00"),
            value_date="2026-02-20",
            method="bank_transfer",
            payer_reference="F-1",
        )
        await send(settings, erp.PAYMENTS, payment, payment)

        async def settled() -> bool:
            return "InvoiceSettled" in await types() and len(await list_dead_letters(pool)) == 3

        await eventually(settled, what="the documents handled")
        assert await types() == [
            "InvoiceIssued",
            "InvoiceAdjusted",
            "PaymentReceived",
            "PaymentAllocated",
            "InvoiceSettled",
        ]
        causes = await pool.fetch("SELECT causation_id FROM events WHERE customer_id = 'C-1' ORDER BY version")
        assert [r["causation_id"] for r in causes[:2]] == [_ce_id(first), _ce_id(correction)]  # each names its document
        invoice = (await http.get("/invoices/INV-D1")).json()
        assert (invoice["total"], invoice["open"], invoice["revision"], invoice["status"]) == (
            "1130.00",
            "0.00",
            2,
            "settled",
        )

        letters = {(d.customer_id, d.status): d for d in await list_dead_letters(pool)}
        assert "net.amount: Value error, money amounts are decimal strings" in letters["K-2", "dead"].reason
        assert letters["K-2", "waiting"].stream_id == "INV-D4"  # the same customer's next document waits
        assert "no customer with ERP id K-9 is registered" in letters["K-9", "dead"].reason

        # The customer arrives: its waiting invoice is re-driven by itself.
        await send(settings, "profiles.events", customer_registered("C-9", "K-9", "Nine GmbH"))

        async def redriven() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM invoices WHERE invoice_id = 'INV-D3'"))

        await eventually(redriven, what="the waiting document applied")
        account = (await http.get("/customers/C-9/account")).json()
        assert account["balances"] == [
            {
                "currency": "CNY",
                "balance": "700.00",
                "overdue": "0.00",
                "disputed": "0.00",
                "unapplied_cash": "0.00",
                "credit_balance": "0.00",
                "collectable": "700.00",
                "net": "700.00",
            }
        ]
        assert [d.status for d in await list_dead_letters(pool) if d.customer_id == "K-9"] == []
        await pool.close()


async def _known(pool: asyncpg.Pool, erp_id: str) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM customers WHERE erp_id = $1", erp_id))


def _ce_id(record: Any) -> str:
    return str(dict(record.headers)["ce_id"].decode())
