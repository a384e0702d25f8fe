"""The payment-date model on the simulator's book, through receivables and scoring on the real
backbone: trained and recorded, beating the due-date baseline on the rolling-origin backtest;
every open invoice predicted; a stored prediction unchanged by the payment that came later and
scored against it; the cash-in forecast adding up to what is open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from libs.events.database import create_pool
from libs.events.dead_letters import list_dead_letters
from libs.infra.provision import BrokerHandle
from services.receivables.app import spec as receivables
from services.scoring.app import spec as scoring
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.serving import bearer
from tests.support.stack import all_at, stack
from tools import erp_simulator

WANG = ("wang", "credit_manager")


async def test_the_model_beats_the_due_date_on_the_simulators_book(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    book = erp_simulator.generate(seed=5, customers=30, invoices=3000)
    async with stack(new_database, broker, receivables, scoring, day="2025-11-30") as services:
        ledger, credit = services["receivables"], services["scoring"]
        prefix = ledger.settings.topic_prefix
        bootstrap = ledger.settings.kafka_bootstrap_servers
        # The book up to the day: what the ERP had sent by the close of 2025-11-30.
        day = "2025-11-30"
        sent = [d for d in book.documents if d.day.isoformat() <= day]
        later = [d for d in book.documents if day < d.day.isoformat() <= "2025-12-20"]
        ledger_pool = await create_pool(ledger.settings.database_url, min_size=1, max_size=1)
        credit_pool = await create_pool(credit.settings.database_url, min_size=1, max_size=1)
        await erp_simulator.publish(bootstrap, erp_simulator.customer_records(book, True), prefix)

        async def customers_known() -> bool:
            return bool(await ledger_pool.fetchval("SELECT count(*) = $1 FROM customers", len(book.customers)))

        await eventually(customers_known, what="the customers known")
        await erp_simulator.publish(bootstrap, _records(sent), prefix)

        async def scoring_has_all() -> bool:
            published = await ledger_pool.fetchval("SELECT count(*) FROM events WHERE topic LIKE '%receivables.events'")
            consumed = await credit_pool.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_positions WHERE topic = $1",
                f"{prefix}receivables.events",
            )
            documents = await ledger_pool.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_positions WHERE consumer = $1",
                "receivables.erp-documents",
            )
            return int(documents) == len(sent) and published > 0 and int(consumed) == published

        await eventually(scoring_has_all, within=240, what="every document through receivables to scoring")
        assert await list_dead_letters(ledger_pool) == []
        assert await list_dead_letters(credit_pool) == []

        refused = await credit.send("/models/payment-date/trainings", {}, ("ana", "credit_analyst"))
        assert refused.status_code == 403
        answer = await credit.http.post(
            "/models/payment-date/trainings", headers=bearer("credit_manager", subject="wang"), timeout=300
        )
        assert answer.status_code == 201, answer.text
        trained = answer.json()
        assert trained["version"] == 1
        assert trained["trained_on"] == day
        assert trained["samples"] > 1000
        report = await credit.get("/models/payment-date")
        overall = report["backtest"]["overall"]
        model, due_date = overall["model"], overall["due_date"]
        assert model["paid"] == due_date["paid"] > 500  # the same invoices judged
        assert model["mae_days"] < due_date["mae_days"]
        assert model["within_7_days"] > due_date["within_7_days"]
        assert model["auc"] > 0.75
        assert due_date["auc"] == 0.5
        assert len(report["backtest"]["origins"]) == 3
        assert report["model_digest"] == trained["model_digest"]
        assert report["model_kept"]

        # Every open invoice predicted at the close of the day, none before the next.
        predicted = await credit_pool.fetch("SELECT * FROM payment_predictions WHERE predicted_on = $1", _d(day))
        open_ = await credit_pool.fetchval("SELECT count(*) FROM invoices WHERE open > 0")
        assert len(predicted) == open_ > 0
        assert all(r["low"] <= r["paid_on"] <= r["high"] and r["paid_on"] > _d(day) for r in predicted)
        assert {r["model_version"] for r in predicted} == {1}

        # The forecast: the 13 weeks and what comes later add up to what is open, in CNY here.
        forecast = await credit.get("/cash-forecast")
        assert forecast["made_on"] == day
        assert len(forecast["weeks"]) == 13
        weeks = sum(Decimal(w["total"]) for w in forecast["weeks"]) + Decimal(forecast["later"])
        rates = {
            r["currency"]: r["rate"]
            for r in await credit_pool.fetch(
                "SELECT DISTINCT ON (currency) currency, rate FROM fx_rates ORDER BY currency, rate_date DESC"
            )
        }
        rates["CNY"] = Decimal(1)
        open_in_base = sum(r["open_amount"] * rates[r["currency"]] for r in predicted if r["currency"] in rates)
        assert abs(weeks - open_in_base) <= Decimal("0.01") * 14  # each week rounded once
        four = await credit.get("/cash-forecast?weeks=4")
        assert four["weeks"] == forecast["weeks"][:4]
        assert Decimal(four["later"]) + sum(Decimal(w["total"]) for w in four["weeks"]) == weeks

        # The rest of the book arrives: the stored predictions stand, and are scored against it.
        customer = predicted[0]["customer_id"]
        before = await credit.get(f"/customers/{customer}/payment-predictions?on={day}")
        await all_at(services, "2025-12-20")
        await erp_simulator.publish(bootstrap, _records(later), prefix)
        sent += later
        await eventually(scoring_has_all, within=240, what="the rest of the book through to scoring")
        after = await credit.get(f"/customers/{customer}/payment-predictions?on={day}")
        assert [(i["invoice_id"], i["predicted_payment_date"], i["interval"]) for i in after["invoices"]] == [
            (i["invoice_id"], i["predicted_payment_date"], i["interval"]) for i in before["invoices"]
        ]

        async def scored() -> bool:
            live = (await credit.get("/models/payment-date"))["live"]
            return bool(live["predictions_scored"] > 0 and Decimal(live["mae_days"]) >= 0)

        await eventually(scored, what="the stored predictions scored against the payments")
        await ledger_pool.close()
        await credit_pool.close()


def _d(day: str) -> date:
    return date.fromisoformat(day)


def _records(documents: list[erp_simulator.Document]) -> Iterator[tuple[str, Any]]:
    return erp_simulator.document_records(erp_simulator.Book(customers=[], documents=documents))
