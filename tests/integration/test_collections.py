"""collections on the real backbone with a real SMTP server and a real HTTP SMS provider: items
walking up the levels in one notice per customer, the minimum amount and interval, the reminder
before due, mails received in Chinese, promises and plans valued against the ledger's cash, an SMS
provider that fails before it succeeds, and every recorded step decided again from its inputs."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from libs.events.dead_letters import list_dead_letters
from libs.infra.embedded import free_port
from libs.infra.mailbox import messages, smtp_server
from libs.infra.provision import BrokerHandle
from libs.service.settings import ServiceSettings
from services.collections.app import spec as collections
from services.profiles.app import spec as profiles
from services.receivables.app import spec as receivables
from services.scoring.app import spec as scoring
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.ledger import send
from tests.support.serving import bearer, settings_for
from tests.support.stack import Service, all_at, cny, erp_invoice, erp_payment, known_everywhere, stack
from tools.erp_simulator import envelope

ANA = ("ana", "credit_analyst")
MEI = ("mei", "collector")
WANG = ("wang", "credit_manager")


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real SMTP server on localhost; collections started in the test send through it."""
    folder = tmp_path / "mail"
    port = free_port()
    controller = smtp_server(folder, port)
    monkeypatch.setenv("CREDO_COLLECTIONS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CREDO_COLLECTIONS_SMTP_PORT", str(port))
    monkeypatch.setenv("CREDO_COLLECTIONS_RETRY_SECONDS", "0.2")
    try:
        yield folder
    finally:
        controller.stop()


class SmsProvider:
    """An SMS provider over HTTP that answers 503 to the first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if len(self.requests) <= self.failures:
            return web.json_response({"error": "try later"}, status=503)
        if all(d["id"] != body["id"] for d in self.delivered):  # the provider drops a repeated id
            self.delivered.append(body)
        return web.json_response({"accepted": body["id"]})


@contextlib.asynccontextmanager
async def sms_provider(monkeypatch: pytest.MonkeyPatch, failures: int) -> AsyncIterator[SmsProvider]:
    provider = SmsProvider(failures)
    app = web.Application()
    app.add_routes([web.post("/sms", provider.handle)])
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("CREDO_COLLECTIONS_SMS_URL", f"http://127.0.0.1:{port}/sms")
    try:
        yield provider
    finally:
        await runner.cleanup()


async def open_file(
    services: dict[str, Service], name: str, erp_id: str, email_address: str | None = "ap@minjiang.example"
) -> str:
    """A credit file with a billing contact, known to every service before the ERP invoices it."""
    files = services["profiles"]
    opened = await files.post(
        "/customers",
        {
            "legal_name": name,
            "registration": {"scheme": "OTHER", "number": f"REG-{erp_id}", "country": "CN"},
            "erp_id": erp_id,
            "address": "福建省福州市台江区江滨中大道 100 号",
        },
        ANA,
    )
    customer: str = opened["customer_id"]
    if email_address is not None:
        contact = {"name": "陈会计", "email": email_address, "phone": "+86 591 8765 4321", "billing": True}
        await files.post(f"/customers/{customer}/contacts", contact, ANA)
    await known_everywhere(services, customer)
    return customer


async def one_invoice(services: dict[str, Service]) -> str:
    """福建闽江贸易有限公司 with its billing contact and INV-1 of 10,000.00 CNY dated 03-01 (due 03-31),
    known to collections."""
    customer = await open_file(services, "福建闽江贸易有限公司", "K-1")
    await erp_invoice(services["receivables"], "D-1", "INV-1", "10000.00", "2026-03-01")
    await items_known(services["collections"], 1)
    return customer


async def items_known(dunning: Service, count: int) -> None:
    async def known() -> bool:
        return bool(await dunning.kit.pool.fetchval("SELECT count(*) = $1 FROM items", count))

    await eventually(known, what=f"{count} items in collections")


def mails(folder: Path) -> list[email.message.EmailMessage]:
    found = []
    for entry in reversed(messages(folder)):
        message = email.message_from_bytes((folder / entry["file"]).read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        found.append(message)
    return found


async def mail_count(folder: Path, count: int) -> None:
    async def arrived() -> bool:
        return len(await asyncio.to_thread(messages, folder)) >= count

    await eventually(arrived, what=f"{count} mails")


async def test_items_walk_up_the_levels_in_one_consolidated_notice_per_customer(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-03-01") as services:
        ledger, dunning = services["receivables"], services["collections"]
        minjiang = await open_file(services, "福建闽江贸易有限公司", "K-1")
        small = await open_file(services, "厦门小额商行", "K-2", "pay@xiaoe.example")
        await erp_invoice(ledger, "D-1", "INV-1", "10000.00", "2026-03-01")  # due 03-31
        await erp_invoice(ledger, "D-2", "INV-2", "5000.00", "2026-03-05")  # due 04-04
        await erp_invoice(
            ledger, "D-9", "INV-9", "50.00", "2026-03-01", customer_erp_id="K-2"
        )  # below the minimum of 100.00 CNY
        await items_known(dunning, 3)

        # Unrated customers get the tight strategy: a reminder 5 days before due, level 1 a day after it.
        await all_at(services, "2026-03-26")
        await mail_count(mailbox, 1)
        reminder = mails(mailbox)[0]
        assert reminder["To"].addresses[0].addr_spec == "ap@minjiang.example"
        assert reminder["Subject"] == "付款提醒：福州闽江供应链有限公司 的发票即将到期"
        text = reminder.get_content()
        assert "福建闽江贸易有限公司" in text
        assert "INV-1" in text
        assert "10,000.00 CNY" in text
        assert "INV-2" not in text  # due 04-04: nine days away
        assert reminder["Message-ID"].startswith(f"<{minjiang}-2026-03-26-email@")

        # 03-30: INV-2 reaches its reminder, but the customer was written to four days ago (minimum 7).
        await all_at(services, "2026-03-30")
        case = await dunning.get(f"/cases/{minjiang}")
        assert [s["business_date"] for s in case["steps"]] == ["2026-03-26"]

        # 04-02: INV-1 is 2 days overdue (level 1), INV-2 reaches its reminder: one notice lists both.
        await all_at(services, "2026-04-02")
        await mail_count(mailbox, 2)
        notice = mails(mailbox)[1]
        assert notice["Subject"] == "逾期付款通知：福州闽江供应链有限公司"
        body = notice.get_content()
        assert "INV-1  到期日 2026-03-31  逾期 2 天  未付 10,000.00 CNY" in body
        assert "INV-2  到期日 2026-04-04  逾期 0 天  未付 5,000.00 CNY" in body
        assert "合计未付 15,000.00 CNY" in body
        assert "请汇款至：中国工商银行福州五四支行  账号 1402 0211 0900 1234 567" in body

        async def both_recorded() -> bool:  # the mail arrives a moment before its record
            notices = (await dunning.get(f"/cases/{minjiang}"))["notices"]
            return [(n["channel"], n["status"]) for n in notices] == [("email", "sent"), ("email", "sent")]

        await eventually(both_recorded, what="both notices recorded as sent")
        case = await dunning.get(f"/cases/{minjiang}")
        assert {i["number"]: i["level"] for i in case["items"]} == {"INV-1": 1, "INV-2": 0}

        # Nothing ever went to the customer below the minimum amount.
        assert (await dunning.get(f"/cases/{small}"))["steps"] == []
        assert all("xiaoe" not in str(m["To"]) for m in mails(mailbox))

        # Every recorded step comes out the same when decided again from its inputs.
        for step in case["steps"]:
            again = await dunning.get(f"/steps/{step['step_id']}/replay")
            assert again["same"], again

        # The policy in force, replayed over the recorded history, sends what was sent; one with 3 days
        # between contacts would have sent INV-2's reminder on 03-30 as well. Nothing changes.
        period = {"from": "2026-03-01", "to": "2026-04-02"}
        same = await dunning.post("/policy/what-if", period, WANG)
        assert [(d["date"], d["proposed"], d["recorded"]) for d in same["days"]] == [
            ("2026-03-26", {"0": 1}, {"0": 1}),
            ("2026-04-02", {"1": 1}, {"1": 1}),
        ]
        assert (same["from"], same["customers_considered"], same["notices"]) == (
            "2026-03-01",
            2,
            {"proposed": 2, "recorded": 2},
        )
        policy = (await dunning.get("/policy"))["policy"]
        closer = await dunning.post(
            "/policy/what-if", {**period, "policy": {**policy, "minimum_days_between_contacts": 3}}, WANG
        )
        assert [(d["date"], d["proposed"]) for d in closer["days"]] == [
            ("2026-03-26", {"0": 1}),
            ("2026-03-30", {"0": 1}),
            ("2026-04-02", {"1": 1}),
        ]
        contacted = [
            (c["customer_id"], c["legal_name"], c["notices"], c["highest_level"]) for c in closer["customers_contacted"]
        ]
        assert contacted == [(minjiang, "福建闽江贸易有限公司", 3, 1)]
        future = await dunning.http.post(
            "/policy/what-if", json={**period, "to": "2026-04-03"}, headers=bearer("credit_manager")
        )
        assert future.status_code == 422, future.text
        assert "to: 2026-04-03 is after today" in future.json()["detail"]
        assert len((await dunning.get(f"/cases/{minjiang}"))["steps"]) == 2
        assert (await dunning.get("/policy"))["version"] == 1

        worklist = await dunning.get("/worklist")
        assert [row["customer_id"] for row in worklist] == [minjiang, small]
        top = worklist[0]
        assert top["overdue"] == [cny("10000.00")]
        assert top["oldest_days_past_due"] == 2
        assert top["parts"]["grade"] == "8.00"  # unrated
        assert sum(float(v) for v in top["parts"].values()) == pytest.approx(float(top["priority"]))


async def test_a_dispute_pauses_only_its_item_and_a_promise_is_kept_then_reopened_by_a_reversal(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    everything = (profiles, receivables, scoring, collections)
    async with stack(new_database, broker, *everything, day="2026-03-01") as services:
        ledger, dunning = services["receivables"], services["collections"]
        customer = await open_file(services, "福建闽江贸易有限公司", "K-1")
        await erp_invoice(ledger, "D-1", "INV-1", "10000.00", "2026-03-01")  # due 03-31
        await erp_invoice(ledger, "D-2", "INV-2", "4000.00", "2026-03-01")  # due 03-31
        await items_known(dunning, 2)
        invoices = {i["number"]: i["invoice_id"] for i in await ledger.get(f"/customers/{customer}/invoices")}

        # INV-2 is disputed from 04-01 to 04-11: its dunning clock stops, INV-1's runs on.
        await all_at(services, "2026-04-01")
        dispute = await ledger.post(
            f"/customers/{customer}/disputes",
            {"invoice_id": invoices["INV-2"], "amount": "4000.00", "reason": "货物短少", "owner": "ana"},
            ANA,
        )

        async def paused() -> bool:
            case = await dunning.get(f"/cases/{customer}")
            return {i["number"]: i["paused"] for i in case["items"]} == {"INV-1": None, "INV-2": "disputed"}

        await eventually(paused, what="INV-2 paused by its dispute")
        await all_at(services, "2026-04-11")
        await ledger.post(
            f"/customers/{customer}/disputes/{dispute['dispute_id']}/resolution",
            {"outcome": "rejected", "note": "数量无误"},
            WANG,
        )
        await all_at(services, "2026-04-16")
        case = await dunning.get(f"/cases/{customer}")
        clocks = {i["number"]: (i["days_past_due"], i["dunning_days"], i["paused"]) for i in case["items"]}
        assert clocks == {"INV-1": (16, 16, None), "INV-2": (16, 6, None)}  # 10 days of INV-2 were paused
        # INV-2 rose to level 1 on 04-12, two days after its clock ran again; INV-1's level 2 (15 days)
        # waits for the minimum interval of 7 days after that notice.
        assert [x["business_date"] for x in case["steps"]] == ["2026-03-26", "2026-04-02", "2026-04-12"]
        assert {i["number"]: i["level"] for i in case["items"]} == {"INV-1": 1, "INV-2": 1}
        second = case["steps"][1]["items"]
        assert [(i["number"], i["paused"], i["level_after"]) for i in second] == [
            ("INV-1", None, 1),
            ("INV-2", "disputed", 0),
        ]

        # A promise of the whole 14,000.00 by 04-20 pauses both and is kept by a payment on 04-18.
        promised = await dunning.post(
            f"/cases/{customer}/contacts",
            {
                "channel": "call",
                "outcome": "promises_to_pay",
                "note": "财务说周五付款",
                "promise": {"amount": cny("14000.00"), "due_date": "2026-04-20"},
            },
            MEI,
        )
        [contact] = promised["contacts"]
        assert (contact["channel"], contact["outcome"], contact["note"], contact["by"]) == (
            "call",
            "promises_to_pay",
            "财务说周五付款",
            "mei",
        )
        promise = promised["promises"][0]
        assert promise["outcome"] == "open"
        assert promise["deadline"] == "2026-04-23"
        assert {i["paused"] for i in promised["items"]} == {"promise"}
        await all_at(services, "2026-04-18")
        await erp_payment(ledger, "P-1", "14000.00", "2026-04-18", ["INV-1", "INV-2"])

        async def valued(outcome: str) -> bool:
            case = await dunning.get(f"/cases/{customer}")
            return bool(case["promises"][0]["outcome"] == outcome)

        await eventually(lambda: valued("kept"), what="the promise kept by the payment")

        # The bank returns the payment: the promise is reopened, and broken once its deadline passes.
        reversal = {"reason": "退票"}
        await ledger.post(f"/customers/{customer}/payments/P-1/reversal", reversal, WANG)
        await eventually(lambda: valued("reopened"), what="the promise reopened by the reversal")
        await all_at(services, "2026-04-24")
        await eventually(lambda: valued("broken"), what="the promise broken after its deadline")
        case = await dunning.get(f"/cases/{customer}")
        assert case["broken_promises"] == 1

        # Scoring hears of it: payment behaviour loses 10 points for the broken promise, and says why.
        credit = services["scoring"]

        async def rescored() -> bool:
            latest = (await credit.get(f"/customers/{customer}/scores"))["scores"][0]
            return bool(latest["inputs"]["broken_promises"] == 1)

        await eventually(rescored, what="the customer scored again after the broken promise")
        latest = (await credit.get(f"/customers/{customer}/scores"))["scores"][0]
        assert latest["components"]["payment_behaviour"] == "40.00"  # no payments yet: 50 less 10
        assert "payment_behaviour" in latest["reasons"]
        assert any("1 promise(s) to pay broken" in note for note in latest["notes"])


async def test_a_plan_misses_an_instalment_is_cured_and_another_defaults_and_escalates(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-03-01") as services:
        ledger, dunning = services["receivables"], services["collections"]
        customer = await open_file(services, "福建闽江贸易有限公司", "K-1")
        await erp_invoice(ledger, "D-1", "INV-1", "9000.00", "2026-03-01")
        await items_known(dunning, 1)
        invoices = {i["number"]: i["invoice_id"] for i in await ledger.get(f"/customers/{customer}/invoices")}
        await all_at(services, "2026-05-01")
        plan = {
            "invoices": [invoices["INV-1"]],
            "instalments": [
                {"due_date": "2026-05-10", "amount": cny("3000.00")},
                {"due_date": "2026-06-10", "amount": cny("3000.00")},
                {"due_date": "2026-07-10", "amount": cny("3000.00")},
            ],
        }
        case = await dunning.post(f"/cases/{customer}/plans", plan, MEI)
        assert case["plans"][0]["status"] == "active"
        assert {i["paused"] for i in case["items"]} == {"plan"}

        # Nothing by 05-10 + 5 grace days: missed on 05-16. Paid on 05-20: cured.
        await all_at(services, "2026-05-16")
        case = await dunning.get(f"/cases/{customer}")
        assert case["plans"][0]["missed"] == [1]
        assert case["plans"][0]["in_arrears"]
        await all_at(services, "2026-05-20")
        await erp_payment(ledger, "P-1", "3000.00", "2026-05-20", ["INV-1"])

        async def cured() -> bool:
            return not (await dunning.get(f"/cases/{customer}"))["plans"][0]["in_arrears"]

        await eventually(cured, what="the plan cured by the late instalment")

        # Nothing more: the second instalment is missed on 06-16, the plan defaults and goes to legal.
        await all_at(services, "2026-06-16")
        case = await dunning.get(f"/cases/{customer}")
        assert case["plans"][0]["missed"] == [1, 2]
        assert case["plans"][0]["status"] == "defaulted"
        assert case["status"] == "escalated"
        assert case["escalation"]["to"] == "legal"
        assert dunning.kit.pool is not None
        reported = await dunning.http.post(
            f"/cases/{customer}/escalation/report",
            json={"result": "partly_recovered", "recovered": cny("2000.00"), "note": "和解"},
            headers=bearer("collector", subject="mei"),
        )
        assert reported.status_code == 200, reported.text
        assert reported.json()["escalation"]["result"] == "partly_recovered"


async def test_an_sms_provider_failing_twice_delivers_the_notice_once(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        sms_provider(monkeypatch, failures=2) as provider,
        stack(new_database, broker, profiles, receivables, collections, day="2026-03-01") as services,
    ):
        dunning = services["collections"]
        customer = await one_invoice(services)  # INV-1 due 03-31
        await all_at(services, "2026-04-15")  # 15 days overdue: level 2, by email and SMS

        async def sent() -> bool:
            case = await dunning.get(f"/cases/{customer}")
            level_2 = [n for n in case["notices"] if n["business_date"] == "2026-04-15"]
            return [(n["channel"], n["status"]) for n in level_2] == [("email", "sent"), ("sms", "sent")]

        await eventually(sent, what="the level 2 notice by email and SMS")
        assert len(provider.requests) == 3
        assert len(provider.delivered) == 1
        sms = provider.delivered[0]
        assert sms["to"] == "+86 591 8765 4321"
        assert "10,000.00 CNY" in sms["text"]
        case = await dunning.get(f"/cases/{customer}")
        assert next(n for n in case["notices"] if n["channel"] == "sms")["attempts"] == 3


async def test_a_customer_without_an_email_address_gets_a_letter_and_a_call(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-03-01") as services:
        ledger, dunning = services["receivables"], services["collections"]
        customer = await open_file(services, "福建闽江贸易有限公司", "K-1", email_address=None)
        await erp_invoice(ledger, "D-1", "INV-1", "10000.00", "2026-03-01")
        await items_known(dunning, 1)
        await all_at(services, "2026-04-02")

        async def fell_back() -> bool:
            case = await dunning.get(f"/cases/{customer}")
            return {(n["channel"], n["status"]) for n in case["notices"]} == {
                ("email", "failed"),
                ("letter", "sent"),
                ("phone", "failed"),
            }

        await eventually(fell_back, what="a letter instead of the mail")
        case = await dunning.get(f"/cases/{customer}")
        email_notice = next(n for n in case["notices"] if n["channel"] == "email")
        assert email_notice["error"] == "no email address for the billing contact"
        letter = next(n for n in case["notices"] if n["channel"] == "letter")
        pdf = await dunning.http.get(f"/notices/{letter['notice_id']}/letter", headers=bearer("viewer"))
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")


async def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-03-01") as services:
        ledger, dunning = services["receivables"], services["collections"]
        customer = await open_file(services, "福建闽江贸易有限公司", "K-1")
        await erp_invoice(ledger, "D-1", "INV-1", "9000.00", "2026-03-01")
        await items_known(dunning, 1)
        invoice_id = (await ledger.get(f"/customers/{customer}/invoices"))[0]["invoice_id"]
        as_mei = bearer("collector", subject="mei")

        async def refused(path: str, body: dict[str, Any], words: str) -> None:
            answer = await dunning.http.post(path, json=body, headers=as_mei)
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert words in answer.text, answer.text

        await refused(f"/cases/{customer}/promises", {"amount": cny("100.00"), "due_date": "2026-02-01"}, "due_date")
        await refused(
            f"/cases/{customer}/promises",
            {"amount": {"amount": 100.5, "currency": "CNY"}, "due_date": "2026-03-09"},
            "amount",
        )
        await refused(
            f"/cases/{customer}/plans",
            {"invoices": [invoice_id], "instalments": [{"due_date": "2026-04-01", "amount": cny("8000.00")}]},
            "add up to 8000.00 CNY, the invoices' open amount is 9000.00 CNY",
        )
        policy = (await dunning.get("/policy"))["policy"]
        policy["templates"]["first"]["body"]["zh"] = "{{ customer_name }} {{ no_such_thing }}"
        answer = await dunning.http.post(
            "/policy", json={"policy": policy, "reason": "试一试"}, headers=bearer("credit_manager")
        )
        assert answer.status_code == 422, answer.text
        assert "templates.first" in answer.text

        async def backtest_refused(body: dict[str, Any], words: str) -> None:
            answer = await dunning.http.post("/policy/what-if", json=body, headers=bearer("credit_manager"))
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert words in answer.text, answer.text

        await backtest_refused({"from": "2026-03-01", "to": "2026-02-01"}, "from: 2026-03-01 is after to (2026-02-01)")
        await backtest_refused({"from": "2025-01-01", "to": "2026-03-01"}, "to: at most 366 days from 2025-01-01")
        await backtest_refused({"from": "2026-02-01", "to": "2026-03-01", "basis": "booked"}, "body.basis")
        await backtest_refused({"from": "2026-02-01", "to": "2026-03-01", "policy": policy}, "templates.first")
        case = await dunning.get(f"/cases/{customer}")
        assert case["promises"] == []
        assert case["plans"] == []
        assert (await dunning.get("/policy"))["version"] == 1


def environment(settings: ServiceSettings, **extra: str) -> dict[str, str]:
    """The settings of a service as the environment of its own process."""
    values = {
        f"CREDO_{name.upper()}": value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }
    return {**os.environ, **values, "CREDO_LOG_FORMAT": "console", **extra}


async def test_a_crash_between_sending_and_recording_repeats_that_notice_once_with_its_message_id(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, day="2026-03-01") as services:
        ledger = services["receivables"]
        settings = settings_for(
            collections,
            await new_database(),
            broker.bootstrap_servers,
            topic_prefix=ledger.settings.topic_prefix,
            business_date="2026-03-01",
        )
        collections_db = await asyncpg.connect(
            settings.database_url, server_settings={"search_path": "read_model,public"}
        )

        def start(day: str, **extra: str) -> subprocess.Popen[bytes]:
            env = environment(settings, CREDO_BUSINESS_DATE=day, CREDO_COLLECTIONS_CLAIM_SECONDS="1", **extra)
            return subprocess.Popen([sys.executable, "-m", "services.collections"], env=env)

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"http://127.0.0.1:{settings.port}/health/ready")).status_code == 200
            except httpx.TransportError:
                return False

        process = start("2026-03-01")
        try:
            await eventually(ready, within=60, what="collections ready in its own process")
            customer = await open_file(services, "福建闽江贸易有限公司", "K-1")

            async def known() -> bool:
                return bool(
                    await collections_db.fetchval("SELECT count(*) FROM contacts WHERE customer_id = $1", customer)
                )

            await eventually(known, what="the customer and contact in collections")
            await erp_invoice(ledger, "D-1", "INV-1", "10000.00", "2026-03-01")  # due 03-31

            async def item_known() -> bool:
                return bool(await collections_db.fetchval("SELECT count(*) FROM items"))

            await eventually(item_known, what="the invoice in collections")
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 30)

            # The business date moves to 03-26 (the reminder is due) with the sender armed to die
            # right after the SMTP server accepts the mail.
            process = start("2026-03-26", CREDO_FAILPOINTS="notices.after_send")
            await mail_count(mailbox, 1)
            assert await asyncio.to_thread(process.wait, 30) == -signal.SIGKILL
            process = start("2026-03-26")

            async def recorded() -> bool:
                status = await collections_db.fetchval("SELECT status FROM notices WHERE channel = 'email'")
                return bool(status == "sent")

            await eventually(recorded, what="the notice recorded after the restart")
            received = mails(mailbox)
            assert len(received) == 2  # once before the crash, once after: never more
            assert (
                received[0]["Message-ID"] == received[1]["Message-ID"] == f"<{customer}-2026-03-26-email@credo.local>"
            )
            sent = await collections_db.fetchval(
                "SELECT count(*) FROM events WHERE event_type = 'collections.NoticeSent'"
            )
            assert sent == 1
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 30)
            await collections_db.close()


async def test_under_review_a_step_waits_for_a_collector_and_a_block_pauses_its_item(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-03-01") as services:
        ledger, dunning = services["receivables"], services["collections"]
        customer = await one_invoice(services)  # INV-1 due 03-31
        policy = (await dunning.get("/policy"))["policy"]
        released = await dunning.post(
            "/policy", {"policy": {**policy, "review_before_sending": True}, "reason": "先审后发"}, WANG
        )
        assert (released["version"], released["released_by"]) == (2, "wang")

        await all_at(services, "2026-03-26")
        (proposed,) = await dunning.get("/steps?date=2026-03-26&status=proposed")
        assert (proposed["policy_version"], proposed["level"]) == (2, 0)
        assert mails(mailbox) == []  # nothing goes out before the review
        await dunning.post(f"/steps/{proposed['step_id']}/review", {"decision": "approve", "note": "可以"}, MEI)
        await mail_count(mailbox, 1)

        # A block on INV-1 until 04-20: its dunning clock stops, and the case says why.
        invoice_id = (await ledger.get(f"/customers/{customer}/invoices"))[0]["invoice_id"]
        await all_at(services, "2026-04-05")
        blocked = await dunning.post(
            f"/cases/{customer}/blocks", {"invoice_id": invoice_id, "reason": "客户重组中", "until": "2026-04-20"}, MEI
        )
        assert blocked["items"][0]["paused"] == "blocked"
        (step,) = await dunning.get("/steps?date=2026-04-02&status=proposed")  # level 1 proposed on 04-02
        await dunning.post(f"/steps/{step['step_id']}/review", {"decision": "skip"}, MEI)
        await all_at(services, "2026-04-20")
        case = await dunning.get(f"/cases/{customer}")
        assert [s["status"] for s in case["steps"]] == ["approved", "skipped"]
        assert case["items"][0]["paused"] == "blocked"
        assert case["items"][0]["dunning_days"] == 20 - 15  # 04-05 to 04-19 blocked
        await all_at(services, "2026-04-21")
        assert (await dunning.get(f"/cases/{customer}"))["items"][0]["paused"] is None
        assert len(mails(mailbox)) == 1


async def test_a_contact_that_disputes_an_invoice_opens_the_dispute_in_receivables(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-04-05") as services:
        ledger, dunning = services["receivables"], services["collections"]
        customer = await one_invoice(services)  # INV-1 due 03-31
        invoice_id = (await ledger.get(f"/customers/{customer}/invoices"))[0]["invoice_id"]
        too_much = {"invoice_id": invoice_id, "amount": cny("10000.01"), "reason": "货物破损"}
        body = {"channel": "call", "outcome": "disputes_it", "note": "说货物破损", "dispute": too_much}
        refused = await dunning.http.post(f"/cases/{customer}/contacts", json=body, headers=bearer("collector"))
        assert refused.status_code == 422, refused.text
        assert "dispute.amount" in refused.text
        body["dispute"] = {**too_much, "amount": cny("3000.00")}
        await dunning.post(f"/cases/{customer}/contacts", body, MEI)

        async def opened() -> bool:
            disputes = await ledger.get(f"/customers/{customer}/disputes")
            return [(d["invoice_id"], d["amount"], d["currency"], d["reason"], d["owner"]) for d in disputes] == [
                (invoice_id, "3000.00", "CNY", "货物破损", "mei")
            ]

        await eventually(opened, what="the dispute opened in receivables")

        async def paused() -> bool:
            return bool((await dunning.get(f"/cases/{customer}"))["items"][0]["paused"] == "disputed")

        await eventually(paused, what="the item paused by its dispute")


async def test_portfolio_rules_assign_collectors_and_a_hand_assignment_stays(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-04-05") as services:
        dunning = services["collections"]
        customer = await one_invoice(services)  # INV-1 due 03-31
        policy = (await dunning.get("/policy"))["policy"]
        portfolios = [
            {"collector": "wang", "minimum_overdue": {"CNY": "50000.00"}},
            {"collector": "mei", "grades": ["D", "E", "unrated"], "countries": ["CN"]},
        ]
        await dunning.post("/policy", {"policy": {**policy, "portfolios": portfolios}, "reason": "按组合分配"}, WANG)
        await all_at(services, "2026-04-06")
        assert (await dunning.get(f"/cases/{customer}"))["collector"] == "mei"
        assert [r["customer_id"] for r in await dunning.get("/worklist?collector=mei")] == [customer]
        assert await dunning.get("/worklist?collector=li") == []

        answer = await dunning.http.put(
            f"/cases/{customer}/collector", json={"collector": "li"}, headers=bearer("credit_manager", subject="wang")
        )
        assert answer.status_code == 200, answer.text
        await all_at(services, "2026-04-07")
        assert (await dunning.get(f"/cases/{customer}"))["collector"] == "li"  # by hand: the rules leave it


async def test_fees_and_interest_are_booked_by_receivables_and_visible_in_the_account_and_aging(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    async with stack(new_database, broker, profiles, receivables, collections, day="2026-03-01") as services:
        ledger, dunning = services["receivables"], services["collections"]
        customer = await one_invoice(services)  # INV-1 due 03-31
        policy = (await dunning.get("/policy"))["policy"]
        levels = [
            {**level, "fee": {"CNY": "50.00"}} if level["level"] == 1
            else {**level, "channels": ["email"]} if level["level"] == 2
            else level
            for level in policy["levels"]
        ]  # fmt: skip
        changed = {**policy, "levels": levels, "interest_percent_a_year": "12"}
        await dunning.post("/policy", {"policy": changed, "reason": "逾期收费"}, WANG)

        # The daily runs catch up day by day: the reminder on 03-26; level 1 on 04-02 (the minimum of 7
        # days after the reminder), INV-1 2 days overdue: the fee of 50.00 and interest of
        # 10,000.00 x 12% x 2/365 = 6.575... -> 6.58, on the notice and on the account.
        await all_at(services, "2026-04-02")
        await mail_count(mailbox, 2)
        body = mails(mailbox)[1].get_content()
        assert "本次通知另计入贵司账户：" in body
        assert "催收费用  50.00 CNY" in body
        assert "逾期利息  6.58 CNY" in body
        assert "本次通知另计" not in mails(mailbox)[0].get_content()  # the reminder before due charges nothing

        async def charges_booked(count: int) -> list[dict[str, Any]]:
            async def booked() -> bool:
                invoices = await ledger.get(f"/customers/{customer}/invoices")
                return sum(1 for i in invoices if i["charge"]) == count

            await eventually(booked, what=f"{count} charges booked by receivables")
            return [i for i in await ledger.get(f"/customers/{customer}/invoices") if i["charge"]]

        first = await charges_booked(2)
        assert sorted((i["number"], i["open"], i["charge"]["kind"], i["schedule"][0]["due_date"]) for i in first) == [
            ("FEE-20260402-CNY", "50.00", "fee", "2026-04-02"),
            ("INT-20260402-CNY", "6.58", "interest", "2026-04-02"),
        ]
        account = await ledger.get(f"/customers/{customer}/account")
        assert [(b["currency"], b["balance"], b["overdue"]) for b in account["balances"]] == [
            ("CNY", "10056.58", "10000.00")
        ]

        # 04-15: level 2 (15 dunning days) charges interest again from the last notice only:
        # 10,000.00 x 12% x 13/365 = 42.739... -> 42.74, and no fee (level 2 has none).
        await all_at(services, "2026-04-15")
        assert {i["number"]: i["open"] for i in await charges_booked(3)}["INT-20260415-CNY"] == "42.74"
        aging = await ledger.get(f"/customers/{customer}/aging")
        assert aging["by_currency"]["CNY"]["buckets"]["current"] == "42.74"  # due today
        assert aging["by_currency"]["CNY"]["buckets"]["1-30"] == "10056.58"  # INV-1 15 days, the first charges 13
        assert aging["by_currency"]["CNY"]["total"] == "10099.32"
        movements = (await ledger.get(f"/customers/{customer}/movements"))["movements"]
        assert [m["kind"] for m in movements].count("charge") == 3

        # The charges are receivables, not items collections duns: its case lists INV-1 alone.
        assert [i["number"] for i in (await dunning.get(f"/cases/{customer}"))["items"]] == ["INV-1"]

        # Cash without detail pays the invoice and the charges (the order is the ledger's rule: oldest due first).
        await erp_payment(ledger, "P-1", "10099.32", "2026-04-15", [])

        async def settled() -> bool:
            return bool(await ledger.get(f"/customers/{customer}/invoices") == [])

        await eventually(settled, what="the invoice and its charges paid")
        (payment,) = await ledger.get(f"/customers/{customer}/payments")
        assert {a["number"]: a["amount"] for a in payment["allocations"]} == {
            "INV-1": "10000.00",
            "FEE-20260402-CNY": "50.00",
            "INT-20260402-CNY": "6.58",
            "INT-20260415-CNY": "42.74",
        }

        # A posting receivables cannot book (an amount finer than the fen) is set aside with its
        # reason, and the account stays as it was.
        bad = {"customer_id": customer, "step_id": f"{customer}-2026-04-15-x", "business_date": "2026-04-15",
               "charges": [{"kind": "fee", "amount": cny("5.001"), "description": "first notice"}]}  # fmt: skip
        record = envelope(
            "collections", "collections.ChargesPosted", 1, f"collection-case-{customer}", 1000, customer, bad
        )
        await send(ledger.settings, "collections.events", record)
        ledger_db = await asyncpg.connect(ledger.settings.database_url)
        try:

            async def set_aside() -> list[Any]:
                return [d for d in await list_dead_letters(ledger_db) if d.event_type == "collections.ChargesPosted"]

            async def dead_lettered() -> bool:
                return bool(await set_aside())

            await eventually(dead_lettered, what="the posting dead-lettered")
            (dead,) = await set_aside()
            assert "minor unit" in dead.reason, dead.reason
        finally:
            await ledger_db.close()
        assert await ledger.get(f"/customers/{customer}/invoices") == []
