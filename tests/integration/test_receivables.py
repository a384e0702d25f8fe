"""The receivables ledger through its HTTP API: ERP documents posted over HTTP, the credit team's
commands, statements of account, aging as of a past date, FX and the overdue sweep."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pypdf

from libs.events.clock import SettableClock
from libs.events.database import create_pool
from libs.events.envelope import Envelope, to_kafka
from libs.infra.provision import BrokerHandle
from libs.service.kit import Kit
from services.receivables import domain
from services.receivables.app import spec as receivables
from services.receivables.queries import aging
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.ledger import Record, customer_registered, invoice_data, money, send
from tests.support.serving import ERP_KEY, bearer, serving_kit, settings_for

NAME = "福州华信贸易有限公司"


@contextlib.asynccontextmanager
async def ledger(new_database: NewDatabase, broker: BrokerHandle) -> AsyncIterator[tuple[httpx.AsyncClient, Kit]]:
    """receivables on 1 March 2026 with customer C-1 (ERP id K-1) in its directory; a client as the ERP."""
    dsn = await new_database()
    settings = settings_for(receivables, dsn, broker.bootstrap_servers, business_date="2026-03-01")
    async with serving_kit(receivables, settings) as (url, kit):
        await send(settings, "profiles.events", customer_registered("C-1", "K-1", NAME))
        pool = await create_pool(dsn, min_size=1, max_size=1)

        async def known() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM customers"))

        await eventually(known, what="the customer in the directory")
        await pool.close()
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": ERP_KEY}) as http:
            yield http, kit


def clock(kit: Kit) -> SettableClock:
    assert isinstance(kit.clock, SettableClock)
    return kit.clock


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any], key: str | None = None, **kw: Any) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    response = await http.post(path, json=body, headers={**headers, **kw.pop("headers", {})}, **kw)
    assert response.status_code in (200, 201), response.text
    return response.json()


def invoice(doc_id: str, number: str, net: str, issued: str, **kw: Any) -> dict[str, Any]:
    return {"document_id": doc_id, "revision": 1, "customer_erp_id": "K-1", **invoice_data(number, net, issued, **kw)}


def payment(doc_id: str, amount: str, value_date: str, **kw: Any) -> dict[str, Any]:
    return {
        "document_id": doc_id,
        "revision": 1,
        "customer_erp_id": "K-1",
        "amount": money(amount, kw.pop("currency", "CNY")),
        "value_date": value_date,
        "method": "bank_transfer",
        **kw,
    }


async def balances(http: httpx.AsyncClient) -> dict[str, str]:
    account = (await http.get("/customers/C-1/account", headers=bearer("viewer"))).json()
    (cny,) = [b for b in account["balances"] if b["currency"] == "CNY"]
    return {k: v for k, v in cny.items() if k != "currency"}


async def test_cash_application_disputes_and_write_off_over_http(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with ledger(new_database, broker) as (http, kit):
        first = await post(http, "/erp/invoices", invoice("D-1", "F-1", "1000.00", "2026-01-01", tax="130.00"), "k1")
        assert first["applied"] == ["InvoiceIssued"]
        assert (
            await post(http, "/erp/invoices", invoice("D-1", "F-1", "1000.00", "2026-01-01", tax="130.00"), "k1")
            == first
        )
        again = await http.post("/erp/invoices", json=invoice("D-1", "F-1", "1000.00", "2026-01-01", tax="130.00"))
        assert (again.status_code, again.json()["applied"]) == (200, [])  # the same revision once more: nothing new
        await post(http, "/erp/invoices", invoice("D-2", "F-2", "800.00", "2026-02-01"), "k2")

        # A customer profiles has not registered yet: the invoice is parked, and applied once it is.
        early = await http.post(
            "/erp/invoices", json={**invoice("D-3", "F-3", "1.00", "2026-02-01"), "customer_erp_id": "K-7"}
        )
        assert (early.status_code, early.json()["status"]) == (202, "parked")
        assert "no customer with ERP id K-7" in early.json()["reason"]
        typo = await http.post("/erp/invoices", json={**invoice("D-4", "F-4", "1.00", "2026-02-01"), "order_rf": "x"})
        assert typo.status_code == 422
        assert "order_rf" in typo.text
        bad = await http.post("/erp/payments", json={**payment("P-0", "1.00", "2026-02-01"), "amount": money("1.001")})
        assert bad.status_code == 422
        assert "more decimals than CNY has minor units" in bad.text

        # 1,500.00 with no detail: the oldest due first (F-1 1,130.00 settled), the rest on F-2.
        paid = await post(http, "/erp/payments", payment("P-1", "1500.00", "2026-02-20"), "p1")
        assert paid["applied"] == ["PaymentReceived", "PaymentAllocated", "InvoiceSettled"]
        assert await balances(http) == {
            "balance": "430.00",
            "overdue": "0.00",
            "disputed": "0.00",
            "collectable": "430.00",
            "unapplied_cash": "0.00",
            "credit_balance": "0.00",
            "net": "430.00",
        }
        team = bearer("credit_manager", subject="wang")
        dispute = (
            await http.post(
                "/customers/C-1/disputes",
                json={"invoice_id": "D-2", "amount": "200.00", "reason": "short delivery", "owner": "li"},
                headers=team,
            )
        ).json()
        assert (await balances(http))["collectable"] == "230.00"
        resolved = await http.post(
            f"/customers/C-1/disputes/{dispute['dispute_id']}/resolution",
            json={"outcome": "partly", "credited": "75.50", "note": "half a pallet"},
            headers=team,
        )
        assert resolved.json()["credited"] == "75.50"
        assert (await balances(http))["balance"] == "354.50"

        # A payment naming an invoice nobody knows is unapplied cash, allocated later by hand.
        lost = payment("P-2", "100.00", "2026-02-25", remittance=[{"invoice_number": "F-99"}])
        await post(http, "/erp/payments", lost, "p2")
        assert (await balances(http))["unapplied_cash"] == "100.00"
        too_much = await http.post(
            "/customers/C-1/allocations",
            json={"source_id": "P-2", "lines": [{"invoice_id": "D-2", "amount": "100.01"}]},
            headers=team,
        )
        assert too_much.status_code == 422
        assert "has 100.00 CNY left to allocate, not 100.01" in too_much.text
        await http.post(
            "/customers/C-1/allocations",
            json={"source_id": "P-2", "lines": [{"invoice_id": "D-2", "amount": "100.00"}]},
            headers=team,
        )
        after = await balances(http)
        assert (after["balance"], after["unapplied_cash"]) == ("254.50", "0.00")

        # The first payment bounces: F-1 is open again and F-2 owes what P-1 had paid on it.
        await http.post("/customers/C-1/payments/P-1/reversal", json={"reason": "bounced"}, headers=team)
        assert (await balances(http))["balance"] == "1754.50"
        written = await http.post(
            "/customers/C-1/invoices/D-2/write-off", json={"reason": "customer insolvent"}, headers=team
        )
        assert (written.json()["written_off"], written.json()["status"]) == ("624.50", "written_off")
        assert (await balances(http))["balance"] == "1130.00"
        viewer = await http.post(
            "/customers/C-1/invoices/D-1/write-off", json={"reason": "x"}, headers=bearer("viewer")
        )
        assert viewer.status_code == 403

        # Every movement of the balance adds up to what is owed, net of unapplied cash and credits.
        movements = (await http.get("/customers/C-1/movements", headers=bearer("viewer"))).json()["movements"]
        assert [m["kind"] for m in movements] == [
            "invoice", "invoice", "payment", "credit_note", "payment", "payment_reversal", "write_off",
        ]  # fmt: skip
        assert sum(Decimal(m["amount"]) for m in movements) == Decimal("1130.00")

        settings = kit.settings
        await send(settings, "profiles.events", customer_registered("C-7", "K-7", "福州后到贸易有限公司"))

        async def parked_invoice_applied() -> bool:
            found = await http.get("/customers/C-7/invoices", headers=bearer("viewer"))
            return [i["number"] for i in found.json()] == ["F-3"]

        await eventually(parked_invoice_applied, what="the parked invoice applied once its customer arrived")


async def test_statements_are_reproducible_pinned_to_a_ledger_point(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with ledger(new_database, broker) as (http, _):
        team = bearer("credit_analyst", subject="zhao")
        await post(http, "/erp/invoices", invoice("D-1", "F-1", "1000.00", "2026-01-05"))
        await post(http, "/erp/payments", payment("P-1", "600.00", "2026-01-20"))
        await post(http, "/erp/invoices", invoice("D-2", "F-2", "500.00", "2026-02-03"))
        february = {"period_start": "2026-02-01", "period_end": "2026-02-28"}

        first = await post(http, "/customers/C-1/statements", february, headers=team)
        point = first["ledger_version"]
        await post(http, "/erp/invoices", invoice("D-3", "F-3", "70.00", "2026-02-10"))
        again = await post(http, "/customers/C-1/statements", {**february, "ledger_version": point}, headers=team)
        latest = await post(http, "/customers/C-1/statements", february, headers=team)
        known = await post(http, "/customers/C-1/statements", {**february, "known_on": "2026-03-01"}, headers=team)
        # Everything was recorded on 1 March: the latest statement's ledger point, and that statement.
        assert (known["ledger_version"], known["closing"]) == (latest["ledger_version"] + 1, latest["closing"])
        early = await http.post("/customers/C-1/statements", json={**february, "known_on": "2026-02-28"}, headers=team)
        assert "nothing was recorded on the account by 2026-02-28" in early.json()["detail"]

        async def document(statement: dict[str, Any]) -> httpx.Response:
            return await http.get(f"/customers/C-1/statements/{statement['statement_id']}", headers=team)

        one, two, three = await document(first), await document(again), await document(latest)
        assert one.content == two.content
        assert first["digest"] == again["digest"] == hashlib.sha256(one.content).hexdigest()
        assert one.headers["Digest"] == f"sha-256={first['digest']}"
        (section,) = one.json()["currencies"]
        assert (section["opening_balance"], section["closing_balance"]) == ("400.00", "900.00")
        assert [(x["reference"], x["debit"], x["balance"]) for x in section["lines"]] == [("F-2", "500.00", "900.00")]
        assert [(i["invoice"], i["due_date"], i["open"], i["days_overdue"]) for i in section["open_items"]] == [
            ("F-1", "2026-02-04", "400.00", 24),
            ("F-2", "2026-03-05", "500.00", 0),
        ]
        assert section["aging"]["1-30"] == "400.00"
        assert one.json()["issuer"]["name"] == "福州闽江供应链有限公司"
        assert three.json()["currencies"][0]["closing_balance"] == "970.00"

        pdf = await http.get(f"/customers/C-1/statements/{first['statement_id']}.pdf", headers=team)
        assert pdf.headers["content-type"] == "application/pdf"
        reader = pypdf.PdfReader(io.BytesIO(pdf.content))
        text = reader.pages[0].extract_text()
        assert NAME in text
        assert "900.00" in text
        assert "福州闽江供应链有限公司" in text  # from the company, with its reply slip
        assert "Reply slip" in reader.pages[-1].extract_text()
        resources: Any = reader.pages[0]["/Resources"]
        fonts = resources["/Font"]
        descendants = [d.get_object() for f in fonts.values() for d in f.get_object()["/DescendantFonts"]]
        assert descendants
        assert all("/FontFile2" in d["/FontDescriptor"] for d in descendants)  # the CJK font travels with the file

        confirm = {"confirmed_by": "财务 刘女士", "confirmed_on": "2026-03-01"}
        confirmed = await post(
            http, f"/customers/C-1/statements/{first['statement_id']}/confirmation", confirm, headers=team
        )
        assert (confirmed["status"], confirmed["answer"]["confirmed_by"]) == ("confirmed", "财务 刘女士")
        twice = await http.post(
            f"/customers/C-1/statements/{first['statement_id']}/confirmation", json=confirm, headers=team
        )
        assert twice.status_code == 422
        assert "already been confirmed or disputed" in twice.text
        differs = {
            "disputed_by": "Liu",
            "disputed_on": "2026-03-01",
            "lines": [{"reference": "F-3", "their_amount": money("0.00"), "note": "never received"}],
        }
        disputed = await post(
            http, f"/customers/C-1/statements/{latest['statement_id']}/dispute", differs, headers=team
        )
        assert (disputed["status"], disputed["answer"]["lines"][0]["reference"]) == ("disputed", "F-3")


async def test_aging_as_of_a_past_date_fx_and_the_overdue_sweep(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with ledger(new_database, broker) as (http, kit):
        viewer, finance = bearer("viewer"), bearer("finance_director")
        await post(http, "/erp/invoices", invoice("D-1", "F-1", "1000.00", "2026-01-01"))  # due 31 January
        await post(http, "/erp/invoices", invoice("D-2", "U-1", "100.00", "2026-02-15", currency="USD"))  # due 17 March
        # Without a USD rate: the priced part, and what is unpriced.
        missing = (await http.get("/aging", headers=viewer)).json()
        assert (missing["total"], missing["unpriced"]) == ("1000.00", [{"currency": "USD", "amount": "100.00"}])
        await post(http, "/fx-rates", {"currency": "USD", "rate": "7.10", "rate_date": "2026-02-28"}, headers=finance)

        today = (await http.get("/aging", headers=viewer)).json()
        assert (today["buckets"]["current"], today["buckets"]["1-30"], today["total"]) == (
            "710.00",
            "1000.00",
            "1710.00",
        )

        clock(kit).set(date(2026, 3, 10))
        await post(http, "/erp/payments", payment("P-1", "400.00", "2026-03-09"))
        await post(http, "/fx-rates", {"currency": "USD", "rate": "7.20", "rate_date": "2026-03-01"}, headers=finance)
        assert kit.sweeper is not None
        assert await kit.sweeper.run_due() == {"receivables.invoices-fall-overdue": 2}
        overdue = await kit.pool.fetch(
            "SELECT data FROM events WHERE event_type = 'receivables.InvoiceFellOverdue' ORDER BY position"
        )
        steps = [(json.loads(r["data"])["days_past_due"], json.loads(r["data"])["bucket"]) for r in overdue]
        assert steps == [(30, "1-30"), (31, "31-60")]  # swept 2 and 3 March, once each

        # At 5 March as the ledger knew it then: no payment yet, USD at the rate then known.
        reported = {"as_of": "2026-03-05", "known_on": "2026-03-05"}
        then = (await http.get("/customers/C-1/aging", params=reported, headers=viewer)).json()
        assert then["buckets"]["31-60"] == "1000.00"
        assert then["rates"] == {"USD": "7.10"}
        assert then["total"] == "1710.00"
        # At 5 March as known now: the rate of 1 March recorded later restates it; the payment is of 9 March.
        restated = (await http.get("/customers/C-1/aging", params={"as_of": "2026-03-05"}, headers=viewer)).json()
        assert (restated["rates"], restated["total"]) == ({"USD": "7.20"}, "1720.00")
        now = (await http.get("/customers/C-1/aging", headers=viewer)).json()
        assert (now["buckets"]["31-60"], now["buckets"]["current"], now["rates"]) == (
            "600.00",
            "720.00",
            {"USD": "7.20"},
        )
        by_invoice_date = (
            await http.get(
                "/aging", params={"by": "invoice_date", "buckets": "30,60", "by_customer": "true"}, headers=viewer
            )
        ).json()
        assert by_invoice_date["customers"][0]["buckets"] == {"0-30": "720.00", "31-60": "0.00", "over 60": "600.00"}
        bad = await http.get("/aging", params={"buckets": "30,10"}, headers=viewer)
        assert bad.status_code == 422

        # Today's report from the read model and one folded from the events agree.
        async with kit.pool.acquire() as conn:
            from_read_model = await aging.aged_today(conn, date(2026, 3, 10), "due_date", domain.DEFAULT_BOUNDARIES)
            folded = await aging.book_as_of(kit.store, conn, date(2026, 3, 10), date(2026, 3, 10))
        from_events = aging.aged_from_accounts(folded, date(2026, 3, 10), "due_date", domain.DEFAULT_BOUNDARIES)
        assert sorted(from_read_model, key=str) == sorted(from_events, key=str)

        # A payment the ERP dates ten days ahead counts from its day: today's aging leaves it out, the
        # account folded from its events while the rest of the book still comes from the read model.
        async def net() -> Decimal:  # what the customer owes, less their cash and credit, in the base currency
            summary = await http.get("/customers/C-1/account", headers=viewer)
            return Decimal(summary.json()["in_base_currency"]["net"])

        before = (await http.get("/aging", params={"by_customer": "true"}, headers=viewer)).json()
        owed = await net()
        await post(http, "/erp/payments", payment("P-2", "100.00", "2026-03-20"))
        assert await net() == owed
        after = (await http.get("/aging", params={"by_customer": "true"}, headers=viewer)).json()
        assert (after["total"], after["buckets"], after["customers"]) == (
            before["total"],
            before["buckets"],
            before["customers"],
        )
        top = (await http.get("/aging", params={"by_customer": "true", "top": "1"}, headers=viewer)).json()
        assert top["customers"] == after["customers"][:1]  # the one customer, the largest
        assert top["total"] == after["total"]  # the book's figures are the whole book's still
        alone = await http.get("/aging", params={"top": "1"}, headers=viewer)
        assert alone.status_code == 422
        # The account dated ahead is folded again once its ledger moves: a payment of today counts.
        await post(http, "/erp/payments", payment("P-3", "50.00", "2026-03-10"))
        moved = (await http.get("/aging", headers=viewer)).json()
        assert Decimal(moved["total"]) == Decimal(before["total"]) - Decimal("50.00")
        assert await net() == owed - Decimal("50.00")
        clock(kit).set(date(2026, 3, 20))
        on_its_day = (await http.get("/aging", headers=viewer)).json()
        assert Decimal(on_its_day["total"]) == Decimal(before["total"]) - Decimal("150.00")
        assert await net() == owed - Decimal("150.00")


async def test_what_the_ledger_answers_is_shaped_for_people_and_machines(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with ledger(new_database, broker) as (http, _):
        viewer = bearer("viewer")
        schedule = [
            {"due_date": "2026-02-01", "amount": money("400.00")},
            {"due_date": "2026-03-15", "amount": money("600.00")},
        ]
        await post(http, "/erp/invoices", invoice("D-1", "F-1", "1000.00", "2026-01-05", instalments=schedule))
        await post(http, "/erp/invoices", invoice("D-2", "F-2", "297296.00", "2026-01-20"))
        await post(
            http, "/erp/payments", payment("P-1", "400.00", "2026-02-01", remittance=[{"invoice_number": "F-1"}])
        )

        # Terms and schedule are objects, every amount in minor units, open items by their due date.
        listed = (await http.get("/customers/C-1/invoices", headers=viewer)).json()
        assert [i["number"] for i in listed] == ["F-2", "F-1"]  # F-2 due 19 February, F-1's rest 15 March
        first = next(i for i in listed if i["number"] == "F-1")
        assert first["terms"] == {"net_days": None, "discount": None, "instalments": schedule}
        assert [(i["amount"], i["open"], i["days_past_due"]) for i in first["schedule"]] == [
            ("400.00", "0.00", None),  # settled: no days past due
            ("600.00", "600.00", 0),
        ]
        assert (first["paid"], first["credited"], first["open"]) == ("400.00", "0.00", "600.00")
        assert next(i for i in listed if i["number"] == "F-2")["total"] == "297296.00"

        (paid,) = (await http.get("/customers/C-1/payments", headers=viewer)).json()
        assert [(a["number"], a["amount"], a["counts_from"], a["by_hand"]) for a in paid["allocations"]] == [
            ("F-1", "400.00", "2026-02-01", False)
        ]

        # A rate far from the last one needs a second finance director.
        zhou, qian = bearer("finance_director", subject="zhou"), bearer("finance_director", subject="qian")
        await post(http, "/fx-rates", {"currency": "USD", "rate": "7.10", "rate_date": "2026-02-01"}, headers=zhou)
        odd = await http.post(
            "/fx-rates", json={"currency": "USD", "rate": "0.0001", "rate_date": "2026-02-28"}, headers=zhou
        )
        assert odd.status_code == 202
        proposal = odd.json()
        assert (proposal["previous_rate"], proposal["change_percent"]) == ("7.10", "-100.00")
        rates = (await http.get("/fx-rates", headers=viewer)).json()
        assert [r["rate"] for r in rates] == ["7.10"]  # nothing changed yet
        confirm = f"/fx-rates/proposals/{proposal['proposal_id']}/confirmation"
        alone = await http.post(confirm, headers=bearer("finance_director", subject="ZHOU"))
        assert alone.status_code == 422
        assert "another person confirms it" in alone.json()["detail"]
        confirmed = await post(http, confirm, {}, headers=qian)
        assert (confirmed["confirmed_by"], confirmed["recorded_by"]) == ("qian", "zhou")
        assert [r["rate"] for r in (await http.get("/fx-rates", headers=viewer)).json()] == ["0.0001", "7.10"]
        assert (await http.get("/fx-rates/proposals", headers=viewer)).json() == []
        nearby = await http.post(
            "/fx-rates", json={"currency": "USD", "rate": "0.00011", "rate_date": "2026-03-01"}, headers=zhou
        )
        assert nearby.status_code == 201  # within 20 % of the rate now in force


async def test_kpis_of_a_quarter_as_reported_and_as_known_now_differ_by_exactly_a_late_payment(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with ledger(new_database, broker) as (http, kit):
        settings = kit.settings
        await send(settings, "profiles.events", customer_registered("C-2", "K-2", "厦门鹭岛电子有限公司"))
        pool = await create_pool(settings.database_url, min_size=1, max_size=1)

        async def both() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM customers") == 2)

        await eventually(both, what="both customers in the directory")
        await pool.close()
        clock(kit).set(date(2026, 6, 30))  # the quarter's documents, all recorded by its end
        await post(http, "/erp/invoices", invoice("I-A", "FP-A", "6200.00", "2026-03-15"))  # due 04-14
        await post(http, "/erp/invoices", invoice("I-B", "FP-B", "4000.00", "2026-04-10"))  # due 05-10
        await post(
            http, "/erp/invoices", {**invoice("I-C", "FP-C", "3890.00", "2026-05-20"), "customer_erp_id": "K-2"}
        )  # due 06-19
        await post(http, "/erp/invoices", invoice("I-D", "FP-D", "3000.00", "2026-06-15"))  # due 07-15
        await post(
            http, "/erp/payments", payment("P-1", "6200.00", "2026-04-20", remittance=[{"invoice_number": "FP-A"}])
        )
        await post(
            http, "/erp/payments", payment("P-2", "2500.00", "2026-05-30", remittance=[{"invoice_number": "FP-B"}])
        )
        # Three days after the quarter, a payment of 25 June is posted late.
        clock(kit).set(date(2026, 7, 3))
        late = {
            **payment("P-3", "890.00", "2026-06-25", remittance=[{"invoice_number": "FP-C"}]),
            "customer_erp_id": "K-2",
        }
        await post(http, "/erp/payments", late)
        quarter = "/kpis?from=2026-04-01&to=2026-06-30&by=month"
        folded = await http.get(quarter, headers=bearer("credit_manager"))
        assert folded.status_code == 200, folded.text

        async def kept() -> bool:  # the month-end positions, once folded, answer the same quarter
            found = (await http.get(quarter, headers=bearer("credit_manager"))).json()
            return bool(found["computed_from"] == "month_end_positions")

        await eventually(kept, within=60, what="the quarter read from the month-end positions")
        found = await http.get(quarter, headers=bearer("credit_manager"))
        kpis = found.json()
        assert {k: v for k, v in kpis.items() if k != "computed_from"} == {
            k: v for k, v in folded.json().items() if k != "computed_from"
        }
        assert (kpis["reported_on"], kpis["known_now_on"], kpis["base_currency"]) == ("2026-06-30", "2026-07-03", "CNY")
        reported, now, moved = (kpis["total"][k] for k in ("as_reported", "as_known_now", "difference"))
        # By hand, as reported: open B 1,500 (51 days past due), C 3,890 (11 days), D 3,000 (current).
        assert reported == {
            "receivables": "8390.00",
            "current": "3000.00",
            "credit_sales": "10890.00",
            "dso_simple": "70.11",  # 8,390 / 10,890 x 91
            "dso_count_back": "72.25",  # June 3,000: 30, May 3,890: 31, April 1,500 / 4,000 x 30
            "count_back_exhausted": True,
            "best_possible_dso": "25.07",  # 3,000 / 10,890 x 91
            "add_dso": "45.04",
            "add_weighted": "22.13",  # (1,500 x 51 + 3,890 x 11) / 5,390
            "cei_s_over_n": "21.08",  # (6,200 + 3,630 - 8,390) / (6,200 + 3,630 - 3,000)
            "cei_s_whole": "61.75",  # (6,200 + 10,890 - 8,390) / (6,200 + 10,890 - 3,000)
            "percent_current": "35.76",
            "percent_over_90": "0.00",
            "cash_collected": "8700.00",
            "fell_due": "14090.00",  # A, B and C fell due in the quarter
            "collected_to_fell_due": "61.75",
            "at_risk_rate": None,  # 90 days after the quarter have not passed
            "promised": "0.00",
            "collection_progress": "0.00",
        }
        # Known now, the late payment restates the quarter by exactly its amount.
        assert (now["receivables"], now["cash_collected"], now["dso_simple"]) == ("7500.00", "9590.00", "62.67")
        assert (moved["receivables"], moved["cash_collected"], moved["credit_sales"]) == ("-890.00", "890.00", "0.00")
        assert moved["dso_simple"] == "-7.44"
        months = {r["key"]: r["as_known_now"] for r in kpis["rows"]}
        assert [(k, m["credit_sales"], m["receivables"]) for k, m in months.items()] == [
            ("2026-04", "4000.00", "4000.00"),
            ("2026-05", "3890.00", "5390.00"),
            ("2026-06", "3000.00", "7500.00"),
        ]
        by_customer = (
            await http.get("/kpis?from=2026-04-01&to=2026-06-30&by=customer", headers=bearer("viewer"))
        ).json()
        names = {r["key"]: (r["legal_name"], r["as_reported"]["receivables"]) for r in by_customer["rows"]}
        assert names == {"C-1": (NAME, "4500.00"), "C-2": ("厦门鹭岛电子有限公司", "3890.00")}
        # By grade and by collector: what each customer had at the period's end.
        scored = {"score": "70", "components": {}, "weights": {}, "policy_version": "1", "cause": "test"}
        inputs = {"as_of": "2026-06-20"}
        await send(
            settings,
            "scoring.events",
            _dated("scoring.CustomerScored", "C-1", "2026-06-20", {**scored, "grade": "B", "inputs": inputs}),
            _dated("scoring.CustomerScored", "C-1", "2026-07-02", {**scored, "grade": "D", "inputs": inputs}),
        )
        await send(
            settings,
            "collections.events",
            _dated(
                "collections.CollectorAssigned", "C-2", "2026-06-01", {"collector": "mei", "by": "wang", "rule": ""}
            ),
        )

        async def segments(by: str, expected: dict[str, str]) -> bool:
            found = (await http.get(f"/kpis?from=2026-04-01&to=2026-06-30&by={by}", headers=bearer("viewer"))).json()
            return {r["key"]: r["as_reported"]["receivables"] for r in found["rows"]} == expected

        await eventually(lambda: segments("grade", {"B": "4500.00", "unrated": "3890.00"}), what="the rows by grade")
        await eventually(
            lambda: segments("collector", {"mei": "3890.00", "unassigned": "4500.00"}), what="by collector"
        )
        # A promise made on 10 June reaches receivables on 1 July: known now, not as reported.
        promise = {"promise_id": "PR-1", "amount": money("1000.00"), "due_date": "2026-07-10", "tolerance_days": 3}
        promise |= {"by": "mei", "made_on": "2026-06-10"}
        await send(settings, "collections.events", _dated("collections.PromiseMade", "C-2", "2026-07-01", promise))

        async def promised() -> bool:
            found = (await http.get("/kpis?from=2026-04-01&to=2026-06-30", headers=bearer("viewer"))).json()["total"]
            return bool(found["as_known_now"]["promised"] == "1000.00")

        await eventually(promised, what="the promise among the KPIs")
        total = (await http.get("/kpis?from=2026-04-01&to=2026-06-30", headers=bearer("viewer"))).json()["total"]
        assert total["as_reported"]["promised"] == "0.00"
        # Past due at the quarter's end, known now: B 1,500 and C 3,000.
        assert total["as_known_now"]["collection_progress"] == "22.22"
        assert total["difference"]["promised"] == "1000.00"
        # Behind the figures: the documents, as reported and as known now, the late payment among them.
        then = (
            await http.get("/kpis/invoices?from=2026-04-01&to=2026-06-30&known_on=2026-06-30", headers=bearer("viewer"))
        ).json()
        behind = (await http.get("/kpis/invoices?from=2026-04-01&to=2026-06-30", headers=bearer("viewer"))).json()
        assert [i["number"] for i in behind["credit_sales"]] == ["FP-B", "FP-C", "FP-D"]
        assert [(i["number"], i["in_base"], i["days_past_due"]) for i in then["open_at_end"]] == [
            ("FP-B", "1500.00", 51),
            ("FP-C", "3890.00", 11),
            ("FP-D", "3000.00", -15),
        ]
        assert [p["document_id"] for p in behind["cash_collected"]] == [
            p["document_id"] for p in then["cash_collected"]
        ] + [behind["cash_collected"][-1]["document_id"]]
        assert sum(Decimal(p["in_base"]) for p in behind["cash_collected"]) == Decimal("9590.00")
        ahead = await http.get("/kpis?from=2026-04-01&to=2026-07-04", headers=bearer("viewer"))
        assert ahead.status_code == 422, ahead.text
        assert "to 2026-07-04 is after today's business date 2026-07-03" in ahead.json()["detail"]


async def test_a_provision_matrix_by_roll_rates_matches_the_hand_calculation_is_reproduced_and_segmented(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    manager = bearer("credit_manager", subject="wang")
    async with ledger(new_database, broker) as (http, kit):

        async def on(day: str) -> None:
            clock(kit).set(date.fromisoformat(day))

        async def write_off(invoice_id: str, amount: str) -> None:
            body = {"amount": amount, "reason": "客户破产清算"}
            await post(http, f"/customers/C-1/invoices/{invoice_id}/write-off", body, headers=manager)

        await on("2026-04-15")
        for doc, net, issued in (
            ("I-0", "300.00", "2025-11-01"),  # due 12-01: 61-90 at Feb's end, over 90 from March
            ("I-1", "1000.00", "2026-01-15"),  # due 02-14
            ("I-2", "2000.00", "2026-02-20"),  # due 03-22, paid 04-10
            ("I-3", "500.00", "2026-03-25"),  # due 04-24
        ):
            await post(http, "/erp/invoices", invoice(doc, doc, net, issued))
        await post(
            http, "/erp/payments", payment("P-2", "2000.00", "2026-04-10", remittance=[{"invoice_number": "I-2"}])
        )
        await write_off("I-0", "150.00")
        await on("2026-05-10")
        await write_off("I-0", "150.00")
        await on("2026-05-15")
        await post(
            http, "/erp/payments", payment("P-3", "200.00", "2026-05-15", remittance=[{"invoice_number": "I-3"}])
        )
        await on("2026-05-20")
        await write_off("I-1", "400.00")
        await on("2026-06-01")
        request = {"month_end": "2026-05-31", "method": "roll_rates", "look_back_months": 3, "known_on": "2026-06-01"}
        computed = await post(http, "/provisions", request, headers=manager)
        # Month ends Feb 28, Mar 31, Apr 30, May 31; per band, what was there and what rolled a month later:
        # current: I-2 2,000 (Feb) + I-3 500 (Mar), all rolled;  1-30: I-1 1,000 + I-2 2,000 + I-3 500, rolled
        # 1,000 + 0 + 300;  31-60: I-1 1,000, rolled;  61-90: I-0 300 + I-1 1,000, rolled 300 + 600;
        # over 90: I-0 300 + 150, written off 150 + 150.
        assert computed["history"] == {
            "balances": ["2500.00", "3500.00", "1000.00", "1300.00", "450.00"],
            "rolled": ["2500.00", "1300.00", "1000.00", "900.00", "300.00"],
        }
        bands = {b["band"]: b for b in computed["bands"]}
        # Roll rates 100 / 37.1429 / 100 / 69.2308 / 66.6667 %, multiplied to write-off:
        assert [bands[b]["loss_rate"] for b in ("current", "1-30", "31-60", "61-90", "over 90")] == [
            "17.1429",
            "17.1429",
            "46.1539",
            "46.1539",
            "66.6667",
        ]
        # Applied at May's end: I-3 300 in 31-60 and I-1 600 over 90: 138.46 + 400.00.
        assert (bands["31-60"]["balance"]["amount"], bands["31-60"]["expected_loss"]["amount"]) == ("300.00", "138.46")
        assert (bands["over 90"]["balance"]["amount"], bands["over 90"]["expected_loss"]["amount"]) == (
            "600.00",
            "400.00",
        )
        assert computed["expected_loss"] == {"amount": "538.46", "currency": "CNY"}
        recorded = (await http.get(f"/provisions/{computed['matrix_id']}", headers=bearer("viewer"))).json()
        assert recorded == computed

        # A payment of 25 May posted on 5 June: May's matrix as known on 1 June is the same to the byte;
        # as known now it is not.
        await on("2026-06-05")
        await post(
            http, "/erp/payments", payment("P-4", "100.00", "2026-05-25", remittance=[{"invoice_number": "I-3"}])
        )
        again = await post(http, "/provisions", request, headers=manager)
        kept = ("bands", "expected_loss", "history", "known_on", "month_end", "method")
        assert json.dumps({k: again[k] for k in kept}) == json.dumps({k: computed[k] for k in kept})
        now = await post(http, "/provisions", {**request, "known_on": None}, headers=manager)
        assert now["history"]["rolled"][1] == "1200.00"  # I-3 rolled 200, not 300
        with_overlay = {**request, "overlay_percent": "10"}
        refused = await http.post("/provisions", json=with_overlay, headers=manager)
        assert refused.status_code == 422, refused.text
        assert "rationale" in refused.text
        not_an_end = await http.post("/provisions", json={**request, "month_end": "2026-05-30"}, headers=manager)
        assert not_an_end.status_code == 422, not_an_end.text
        assert len((await http.get("/provisions", headers=bearer("viewer"))).json()) == 3

        # The at-risk rate: of January's billing (I-1) all is unpaid 90 days after January (1 May);
        # of February's (I-2) nothing on 29 May; of both, 1,000 of 3,000.
        kpis = (await http.get("/kpis?from=2026-01-01&to=2026-02-28&by=month", headers=bearer("viewer"))).json()
        assert [(r["key"], r["as_known_now"]["at_risk_rate"]) for r in kpis["rows"]] == [
            ("2026-01", "100.00"),
            ("2026-02", "0.00"),
        ]
        assert kpis["total"]["as_known_now"]["at_risk_rate"] == "33.33"
        assert kpis["total"]["as_reported"]["at_risk_rate"] is None  # as known on 28 February: not yet

        # Segmented: C-1 insured (its cover cancelled only from June) and graded B; C-2, whose cover
        # expired in April, uninsured and unrated, with I-8 (300, due 31 Dec) and I-9 (800, due 31 Mar)
        # recorded late. Each segment's rates come from its own history.
        settings = kit.settings
        cover = {"insurer": "中国出口信用保险公司", "insured_limit": money("5000.00")}
        scored = {"score": "70", "components": {}, "weights": {}, "policy_version": "1", "cause": "test"}
        await send(
            settings,
            "profiles.events",
            customer_registered("C-2", "K-2", "厦门鹭岛电子有限公司"),
            _dated(
                "profiles.InsuranceCoverRecorded",
                "C-1",
                "2026-03-01",
                {**cover, "policy_number": "SC-1", "expires_on": "2026-12-31"},
            ),
            _dated(
                "profiles.InsuranceCoverCancelled",
                "C-1",
                "2026-06-05",
                {
                    "insurer": cover["insurer"],
                    "policy_number": "SC-1",
                    "cancelled_on": "2026-06-01",
                    "reason": "未续保",
                },
            ),
            _dated(
                "profiles.InsuranceCoverRecorded",
                "C-2",
                "2026-03-01",
                {**cover, "policy_number": "SC-2", "expires_on": "2026-04-30"},
            ),
        )
        await send(
            settings,
            "scoring.events",
            _dated(
                "scoring.CustomerScored",
                "C-1",
                "2026-05-01",
                {**scored, "grade": "B", "inputs": {"as_of": "2026-05-01"}},
            ),
        )
        pool = await create_pool(settings.database_url, min_size=1, max_size=1)

        async def projected() -> bool:
            counts = await pool.fetchrow(
                "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM insurance_covers),"
                " (SELECT count(*) FROM customer_segments)"
            )
            return counts is not None and tuple(counts) == (2, 3, 1)

        await eventually(projected, what="the second customer, the covers and the grade")
        await pool.close()
        for doc, net, issued in (("I-8", "300.00", "2025-12-01"), ("I-9", "800.00", "2026-03-01")):
            await post(http, "/erp/invoices", {**invoice(doc, doc, net, issued), "customer_erp_id": "K-2"})
        by_insurance = await post(
            http, "/provisions", {**request, "known_on": None, "segment_by": "insurance"}, headers=manager
        )
        segments = {s["segment"]: s for s in by_insurance["segments"]}
        assert [(s["segment"], s["customers"]) for s in by_insurance["segments"]] == [("insured", 1), ("uninsured", 1)]
        # The insured segment is C-1 alone: the matrix of the whole book before C-2's invoices.
        assert (segments["insured"]["bands"], segments["insured"]["history"]) == (now["bands"], now["history"])
        # C-2: current I-9 800 (Mar); 1-30 I-9 800 (Apr); 31-60 I-8 300 (Feb); 61-90 I-8 300 (Mar); over 90
        # I-8 300 (Apr), of which nothing written off in May: every loss rate 0.
        assert segments["uninsured"]["history"] == {
            "balances": ["800.00", "800.00", "300.00", "300.00", "300.00"],
            "rolled": ["800.00", "800.00", "300.00", "300.00", "0.00"],
        }
        assert {b["loss_rate"] for b in segments["uninsured"]["bands"]} == {"0.0000"}
        assert segments["uninsured"]["expected_loss"]["amount"] == "0.00"
        totals = {b["band"]: b for b in by_insurance["bands"]}
        # The book's bands: both segments' balances, the insured segment's loss, the effective rate.
        assert totals["61-90"]["balance"]["amount"] == "800.00"  # I-9
        assert totals["over 90"]["balance"]["amount"] == "900.00"  # I-1 600 and I-8 300
        assert totals["over 90"]["expected_loss"] == segments["insured"]["bands"][4]["expected_loss"]
        over_90 = Decimal(totals["over 90"]["expected_loss"]["amount"]) / Decimal("900.00") * 100
        assert Decimal(totals["over 90"]["rate"]) == over_90.quantize(Decimal("0.0001"))
        assert by_insurance["expected_loss"] == segments["insured"]["expected_loss"]
        assert by_insurance["history"]["balances"][2] == "1300.00"  # I-1 1,000 and I-8 300 in 31-60
        by_grade = await post(
            http, "/provisions", {**request, "known_on": None, "segment_by": "grade"}, headers=manager
        )
        assert [s["segment"] for s in by_grade["segments"]] == ["B", "unrated"]
        assert by_grade["segments"][0]["bands"] == segments["insured"]["bands"]


def _dated(type_: str, customer_id: str, on: str, data: dict[str, Any]) -> Record:
    """Another service's event, published on the business date ``on``."""
    source = type_.split(".")[0]
    return to_kafka(
        Envelope(
            id=uuid.uuid4(),
            source=source,
            type=type_,
            time=datetime.fromisoformat(f"{on}T09:00:00+00:00"),
            subject=f"{type_}-{customer_id}-{on}",  # a stream of its own: each is applied once
            stream_version=1,
            schema_version=1,
            customer_id=customer_id,
            data={"customer_id": customer_id, **data},
        )
    )
