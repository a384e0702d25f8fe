"""The scoring service on the real backbone: scores that follow the ledger's events, the approval
chain, credit checks with reservations, the ERP's feed on scoring.events, the credit file in
profiles, and the policy what-if."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from decimal import Decimal
from typing import Any

import httpx

from contracts.scoring import ScoreInputs
from libs.events.database import create_pool
from libs.events.store import EventContext, EventStore
from libs.infra.provision import BrokerHandle
from services.profiles.app import spec as profiles
from services.receivables.app import spec as receivables
from services.scoring.app import spec as scoring
from services.scoring.domain import scorecard
from services.scoring.handlers import CheckDesk, CheckRequest
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.ledger import customer_registered, invoice_data, send
from tests.support.serving import ERP_KEY, bearer, serving_kit, settings_for
from tests.support.stack import Service, all_at, cny, erp_invoice, erp_payment, known_everywhere, stack, topic_events
from tests.support.statements import HEALTHY

# The credit team: two analysts, a manager and the finance director.
ANA, LI, WANG, ZHOU = (
    ("ana", "credit_analyst"),
    ("li", "credit_analyst"),
    ("wang", "credit_manager"),
    ("zhou", "finance_director"),
)


async def test_a_customer_that_starts_paying_late_drifts_down_a_grade(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, profiles, receivables, scoring, day="2026-01-05") as services:
        files, ledger, credit = services["profiles"], services["receivables"], services["scoring"]
        opened = await files.post(
            "/customers",
            {
                "legal_name": "福建闽江贸易有限公司",
                "registration": {"scheme": "OTHER", "number": "FJ-1", "country": "CN"},
                "customer_since": "2021-01-01",
                "erp_id": "K-1",
            },
            ANA,
        )
        customer = opened["customer_id"]
        await known_everywhere(services)
        await files.post(
            f"/customers/{customer}/statements",
            {"period_end": "2025-09-30", "period_months": 12, "currency": "CNY", "items": HEALTHY},
            ANA,
        )
        await files.post(
            f"/customers/{customer}/bureau-reports",
            {"provider": "bureau-cn", "report_date": "2025-12-20", "score": 85, "score_range": {"min": 0, "max": 100}},
            ANA,
        )

        # Six invoices paid on their due date: on terms.
        numbers = [f"INV-{n}" for n in range(1, 7)]
        for n, number in enumerate(numbers, start=1):
            await erp_invoice(ledger, f"D-{n}", number, "10000.00", "2026-01-05")
        await all_at(services, "2026-02-04")
        await erp_payment(ledger, "P-1", "60000.00", "2026-02-04", numbers)
        await eventually(lambda: _paydex_counts(credit, customer, 6), what="six payments scored")
        on_terms = await credit.get(f"/customers/{customer}/credit")
        assert on_terms["grade"] == "A", on_terms
        assert on_terms["components"]["payment_behaviour"] == "80.00"  # paid on terms
        assert on_terms["left_out"] == []

        # Six more, paid 64 days late: overdue first (a hold at 61 days), then paid.
        late = [f"INV-{n}" for n in range(7, 13)]
        for n, number in enumerate(late, start=7):
            await erp_invoice(ledger, f"D-{n}", number, "10000.00", "2026-02-05")
        await all_at(services, "2026-05-10")  # due 7 March: 64 days past due; receivables' sweep reports it

        async def held_and_rescored() -> bool:
            # The daily sweep may place the hold before receivables' overdue events are scored.
            found = await credit.get(f"/customers/{customer}/credit")
            latest = (await credit.get(f"/customers/{customer}/scores"))["scores"][0]
            seen = latest["inputs"]["oldest_days_past_due"] == 64
            return seen and any(h["hold_id"] == "overdue" for h in found["holds"])

        await eventually(held_and_rescored, what="the overdue hold and a score that saw the overdue")
        overdue = await credit.get(f"/customers/{customer}/credit")
        assert overdue["reasons"][0] == "delinquency", overdue
        assert overdue["exposure"]["oldest_days_past_due"] == 64
        assert overdue["exposure"]["overdue"] == cny("60000.00")

        await erp_payment(ledger, "P-2", "60000.00", "2026-05-10", late)
        await eventually(lambda: _paydex_counts(credit, customer, 12), what="twelve payments scored")
        after = await credit.get(f"/customers/{customer}/credit")
        assert after["holds"] == []  # released by policy once nothing is overdue
        assert after["grade"] == "B"
        assert after["reasons"][0] == "payment_behaviour"
        # 60,000 on terms and 60,000 64 days late: 32 days on average, between 50 (30) and 40 (60).
        assert Decimal(after["components"]["payment_behaviour"]) == Decimal("49.33")
        # 120,000 invoiced in the year is 10,000 a month; grade B carries 1.2 x 45 days of it
        # (18,000), below 15% of the statement's tangible net worth of 450,000 (67,500).
        assert after["recommended_limit"]["amount"] == cny("18000.00")
        assert after["recommended_limit"]["calculation"][-1] == (
            "recommended: 18000.00 CNY (the lowest, in whole thousands)"
        )

        history = (await credit.get(f"/customers/{customer}/scores"))["scores"]
        charted = (await credit.get(f"/customers/{customer}/scores?inputs=false"))["scores"]
        assert charted == [{**s, "inputs": None} for s in history]  # the same scores, without what they read
        oldest_first = list(reversed(history))
        grades = [s["grade"] for s in oldest_first]
        assert grades[-1] == "B"
        assert "A" in grades
        for older, newer in itertools.pairwise(oldest_first):  # each score knows the grade it replaced
            assert newer["previous_grade"] == older["grade"]
        for recorded in history:  # the stored inputs, previous grade and policy give the same score again
            again = scorecard.score(ScoreInputs.model_validate(recorded["inputs"]), previous=recorded["previous_grade"])
            assert recorded["policy_version"] == again.policy_version
            assert (Decimal(recorded["score"]), recorded["grade"], recorded["reasons"]) == (
                again.score,
                again.grade,
                list(again.reasons),
            )

        rescored = await credit.post(f"/customers/{customer}/rescore", {}, ANA)
        assert rescored["recorded"] == []  # the same inputs under the same policy: no new score

        # The credit file in profiles shows what scoring decided, from scoring.events.
        async def filed() -> bool:
            found = await files.get(f"/customers/{customer}")
            return bool(found["credit"]["grade"] == "B" and found["credit"]["score"] == after["score"])

        await eventually(filed, what="the grade in the credit file")

        # What if grade A started at 70? Nothing live changes.
        before = await credit.get(f"/customers/{customer}/scores")
        report = await credit.post("/policy/what-if", {"grade_floors": {"A": "70"}}, WANG)
        assert report["grades"]["moved"] == {"B->A": 1}
        assert report["history"]["scores_replayed"] == len(history)
        assert report["changed"][0]["customer_id"] == customer
        assert report["changed"][0]["grade"] == {"now": "B", "what_if": "A"}
        assert await credit.get(f"/customers/{customer}/scores") == before
        refused = await credit.send("/policy/what-if", {"grade_floors": {"A": "40"}}, WANG)
        assert refused.status_code == 422
        assert "grade floors run from A down to D" in refused.json()["detail"]


async def _paydex_counts(credit: Service, customer: str, payments: int) -> bool:
    scores = (await credit.get(f"/customers/{customer}/scores"))["scores"]
    return bool(scores) and len(scores[0]["inputs"]["payments"]) == payments


async def registered(services: dict[str, Service], customer: str = "C-1") -> None:
    """The customer as profiles publishes it, seen by every service in the stack."""
    any_service = next(iter(services.values()))
    await send(any_service.settings, "profiles.events", customer_registered(customer, "K-1", "福州华信贸易有限公司"))
    await known_everywhere(services)


async def with_limit(credit: Service, amount: str, customer: str = "C-1") -> None:
    """A customer's first limit, asked for by Ana and approved by Li (an analyst may approve up to 100,000)."""
    body = {"kind": "new", "amount": amount, "currency": "CNY", "reason": "opening the account"}
    asked = await credit.post(f"/customers/{customer}/limit-requests", body, ANA)
    request_id = asked["pending_requests"][0]["request_id"]
    await credit.post(f"/customers/{customer}/requests/{request_id}/approval", {}, LI)


async def test_limits_go_up_the_approval_chain_and_a_temporary_one_expires(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, scoring, day="2026-01-05") as services:
        credit = services["scoring"]
        await registered(services)
        asked = await credit.post(
            "/customers/C-1/limit-requests",
            {"kind": "new", "amount": "2000000", "currency": "CNY", "reason": "new distributor"},
            ANA,
        )
        [request] = asked["pending_requests"]
        assert request["waiting_for"] == "credit_analyst"
        approval = f"/customers/C-1/requests/{request['request_id']}/approval"

        own = await credit.send(approval, {}, ANA)
        assert own.status_code == 422
        assert own.json()["detail"] == "the requester cannot approve their own request"
        endorsed = await credit.post(approval, {"note": "good references"}, LI)  # 100,000 is li's authority
        assert endorsed["recorded"] == ["scoring.CreditLimitEscalated"]
        assert endorsed["pending_requests"][0]["waiting_for"] == "credit_manager"
        too_junior = await credit.send(approval, {}, LI)
        assert "waits for a credit_manager" in too_junior.json()["detail"]
        await credit.post(approval, {}, WANG)  # 1,000,000: up again
        approved = await credit.post(approval, {"note": "within group exposure"}, ZHOU)
        assert approved["recorded"] == ["scoring.CreditLimitApproved", "scoring.CreditLimitSet"]
        assert approved["limit"]["in_force"] == cny("2000000.00")
        assert approved["pending_requests"] == []
        steps = (await credit.get("/customers/C-1/requests"))["requests"][0]["steps"]
        assert [(s["step"], s["by"]) for s in steps] == [
            ("requested", "ana"),
            ("endorsed", "li"),
            ("endorsed", "wang"),
            ("approved (finance_director)", "zhou"),
        ]

        temporary = await credit.post(
            "/customers/C-1/limit-requests",
            {
                "kind": "temporary",
                "amount": "2500000",
                "currency": "CNY",
                "expires_on": "2026-02-01",
                "reason": "spring festival stock",
            },
            WANG,
        )
        await credit.post(
            f"/customers/C-1/requests/{temporary['pending_requests'][0]['request_id']}/approval", {}, ZHOU
        )
        assert (await credit.get("/customers/C-1/credit"))["limit"]["in_force"] == cny("2500000.00")
        await credit.at("2026-02-01")  # the sweep ends it
        ended = await credit.get("/customers/C-1/credit")
        assert (ended["limit"]["in_force"], ended["limit"]["temporary_until"]) == (cny("2000000.00"), None)

        # The ERP's feed: every limit change on scoring.events, in order.
        feed = await topic_events(credit.settings, "scoring.events", {"scoring.CreditLimitSet"}, 3)
        assert [(e["limit"]["amount"], e["expires_on"]) for e in feed] == [
            ("2000000", None),
            ("2500000", "2026-02-01"),
            ("2000000", None),
        ]
        assert feed[2]["reason"] == "the temporary limit expired on 2026-02-01"

        # Terms beyond the default of an ungraded customer (grade C's 30 days) need a credit manager.
        terms = await credit.post(
            "/customers/C-1/terms-requests",
            {"credit_days": 60, "discount_percent": "2", "discount_days": 10, "reason": "seasonal"},
            ANA,
        )
        terms_request = terms["pending_requests"][0]["request_id"]
        queue = await credit.get("/requests?waiting_for=credit_manager")
        assert [r["request_id"] for r in queue["requests"]] == [terms_request]
        assert (await credit.http.get("/requests?waiting_for=cashier", headers=bearer("viewer"))).status_code == 422
        assert (await credit.send(f"/customers/C-1/requests/{terms_request}/approval", {}, LI)).status_code == 422
        agreed = await credit.post(f"/customers/C-1/requests/{terms_request}/approval", {}, WANG)
        assert agreed["terms"] == {"credit_days": 60, "discount_percent": "2", "discount_days": 10, "source": "set"}
        authority = (await credit.get("/policy"))["limits"]["authority"]
        assert authority[0] == {"role": "credit_analyst", "up_to": "100000"}

        wrong = await credit.send(
            "/customers/C-1/limit-requests", {"kind": "increase", "amount": 3000000.0, "currency": "CNY"}, ANA
        )
        assert wrong.status_code == 422
        assert {e["field"] for e in wrong.json()["errors"]} >= {"body.amount", "body.reason"}


async def test_credit_checks_reserve_until_the_invoice_and_never_overrun_the_limit(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, receivables, scoring, day="2026-03-02") as services:
        ledger, credit = services["receivables"], services["scoring"]
        await registered(services)
        await with_limit(credit, "100000")

        def check(amount: str, order: str, currency: str = "CNY") -> dict[str, Any]:
            return {"customer_id": "C-1", "amount": amount, "currency": currency, "order_ref": order}

        first = await credit.post("/credit-checks", check("60000.00", "SO-1"))
        assert (first["outcome"], first["available"], first["reserved_until"]) == (
            "approve",
            cny("100000.00"),
            "2026-04-01",
        )
        over = await credit.post("/credit-checks", check("55000.00", "SO-2"))
        assert over["outcome"] == "hold"
        assert over["reserved"] == cny("60000.00")
        assert over["reasons"] == ["the order exceeds available credit (40000.00 of 100000) by 15000.00"]

        # SO-1 is invoiced: the reservation gives way to the receivable.
        await erp_invoice(ledger, "D-1", "INV-1", "60000.00", "2026-03-02", order_ref="SO-1")

        async def released() -> bool:
            return not (await credit.get(f"/credit-checks/{first['decision_id']}"))["reserving"]

        await eventually(released, what="the reservation released by the invoice")
        assert (await credit.get(f"/credit-checks/{first['decision_id']}"))["released_reason"] == "invoice INV-1 issued"
        exposure = (await credit.get("/customers/C-1/credit"))["exposure"]
        assert (exposure["open_receivables"], exposure["reserved"], exposure["available"]) == (
            cny("60000.00"),
            cny("0.00"),
            cny("40000.00"),
        )
        second = await credit.post("/credit-checks", check("30000.00", "SO-3"))
        assert second["outcome"] == "approve"

        # Twenty orders of 1,000 at once against 10,000 available: exactly ten are approved.
        answers = await asyncio.gather(
            *(credit.post("/credit-checks", check("1000.00", f"SO-R{n}")) for n in range(20))
        )
        approved = [a for a in answers if a["outcome"] == "approve"]
        assert len(approved) == 10
        assert {a["outcome"] for a in answers if a not in approved} == {"review"}  # within the 10% tolerance
        assert (await credit.get("/customers/C-1/credit"))["exposure"]["available"] == cny("0.00")

        # A re-check of the same order replaces its reservation rather than adding to it.
        again = await credit.post("/credit-checks", check("25000.00", "SO-3"))
        assert (again["outcome"], again["replaces"]) == ("approve", second["decision_id"])

        # A hold by hand stops every order; its release lets them through again.
        held = await credit.post("/customers/C-1/holds", {"reason": "cheque bounced"}, WANG)
        [hold] = held["holds"]
        small = await credit.post("/credit-checks", check("10.00", "SO-4"))
        assert (small["outcome"], small["reasons"]) == ("hold", ["credit hold: cheque bounced"])
        await credit.post(f"/customers/C-1/holds/{hold['hold_id']}/release", {"reason": "cleared"}, WANG)
        assert (await credit.post("/credit-checks", check("10.00", "SO-5")))["outcome"] == "approve"

        # Lowering the limit below what is owed puts the account on hold by policy, at once.
        lower = await credit.post(
            "/customers/C-1/limit-requests",
            {"kind": "decrease", "amount": "50000", "currency": "CNY", "reason": "y"},
            ANA,
        )
        lowered = await credit.post(
            f"/customers/C-1/requests/{lower['pending_requests'][0]['request_id']}/approval", {}, LI
        )
        assert [(h["hold_id"], h["by"]) for h in lowered["holds"]] == [("over-limit", "policy")]

        # The ERP may retry with its Idempotency-Key: the same answer, and one decision.
        keyed = {"Idempotency-Key": "erp-SO-7"}
        first_try = await credit.http.post("/credit-checks", json=check("100.00", "SO-7"), headers=keyed)
        retried = await credit.http.post("/credit-checks", json=check("100.00", "SO-7"), headers=keyed)
        assert (first_try.status_code, retried.status_code) == (201, 201)
        assert retried.json() == first_try.json()
        assert retried.headers["Idempotent-Replayed"] == "true"
        reused = await credit.http.post("/credit-checks", json=check("200.00", "SO-7"), headers=keyed)
        assert (reused.status_code, reused.json()["title"]) == (422, "Idempotency-Key reused")
        refused = await credit.http.post(
            "/credit-checks", json=check("1.00", "SO-8") | {"customer_id": "C-404"}, headers={"Idempotency-Key": "k8"}
        )
        assert refused.status_code == 404
        corrected = await credit.http.post(
            "/credit-checks", json=check("1.00", "SO-8"), headers={"Idempotency-Key": "k8"}
        )
        assert corrected.status_code == 201  # a refused check leaves its key free for the corrected one

        # Bad input is named, and changes nothing.
        bad = await credit.send(
            "/credit-checks", {"customer_id": "C-1", "amount": 5.5, "currency": "CNY", "order_ref": ""}
        )
        assert {e["field"] for e in bad.json()["errors"]} == {"body.amount", "body.order_ref"}
        unknown = await credit.send("/credit-checks", check("1.00", "SO-9") | {"customer_id": "C-404"})
        assert unknown.status_code == 404
        no_rate = await credit.send("/credit-checks", check("1.00", "SO-9", "USD"))
        assert (no_rate.status_code, no_rate.json()["detail"]) == (422, "no rate from USD to CNY is recorded")
        decided = await topic_events(credit.settings, "scoring.events", {"scoring.CreditCheckDecided"}, 28)
        assert len(decided) == 28


async def test_checks_in_two_processes_never_approve_more_than_is_available(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, scoring, day="2026-03-02") as services:
        credit = services["scoring"]
        await registered(services)
        await with_limit(credit, "10000")
        # A second desk with its own connections to the same database, as another replica has.
        kit = credit.kit
        pool = await create_pool(credit.settings.database_url, max_size=4)
        try:
            parts = kit.parts
            other = CheckDesk(  # as a second replica's composition root builds it: its own pool and store
                EventStore(
                    pool,
                    source="scoring",
                    topic=kit.store.topic,
                    registry=kit.store.registry,
                    clock=kit.clock,
                    projection=kit.store.projection,
                ),
                parts.policies,
                parts.base_currency,
                parts.desk.reservation_days,
            )
            desks = [parts.desk, other]

            def order(n: int) -> CheckRequest:
                return CheckRequest("C-1", Decimal(1000), "CNY", f"SO-{n}", "erp", None, EventContext())

            answers = await asyncio.gather(*(desks[n % 2].check(order(n)) for n in range(24)))
        finally:
            await pool.close()
        outcomes = [json.loads(bytes(a.body))["outcome"] for a in answers]
        assert outcomes.count("approve") == 10
        assert (await credit.get("/customers/C-1/credit"))["exposure"]["reserved"] == cny("10000.00")


async def test_the_hot_credit_check_answers_as_its_declared_route_would(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    """POST /credit-checks is answered before FastAPI's routing; its refusals are the declared route's."""
    valid = {"customer_id": "C-404", "amount": "10.00", "currency": "CNY", "order_ref": "SO-1"}
    erp = {"X-API-Key": ERP_KEY}
    asked: list[tuple[dict[str, str], str]] = [
        ({}, json.dumps(valid)),
        ({"X-API-Key": "unknown"}, json.dumps(valid)),
        ({"Authorization": "Bearer not-a-token"}, json.dumps(valid)),
        (bearer("viewer"), json.dumps(valid)),
        (erp, json.dumps(valid)),  # no such customer
        (erp, json.dumps(valid | {"amount": 5.5, "order_ref": ""})),
        (erp, json.dumps(valid | {"extra": 1})),
        (erp, json.dumps({"amount": "ten"})),
        (erp, "[1]"),
        (erp, "{"),
        (erp, ""),
        (erp | {"Idempotency-Key": "k" * 300}, json.dumps(valid)),
    ]
    answered = []
    for spec in (scoring, dataclasses.replace(scoring, hot_routes=())):
        database = await new_database()
        settings = settings_for(spec, database, broker.bootstrap_servers, api_keys=f"erp:{ERP_KEY}:admin")
        async with serving_kit(spec, settings) as (url, _), httpx.AsyncClient(base_url=url) as http:
            answers = []
            for headers, body in asked:
                response = await http.post(
                    "/credit-checks", content=body, headers=headers | {"Content-Type": "application/json"}
                )
                problem = response.json()
                del problem["correlation_id"]
                answers.append((response.status_code, response.headers["content-type"], problem))
            metrics = (await http.get("/metrics")).text
        answered.append(answers)
        assert 'handler="/credit-checks",method="POST",status="4xx"' in metrics  # counted either way

    hot, declared = answered
    assert hot == declared
    assert [status for status, _, _ in hot] == [401, 401, 401, 403, 404, 422, 422, 422, 422, 422, 422, 400]
    assert {kind for _, kind, _ in hot} == {"application/problem+json"}
    assert hot[5][2]["detail"] == "2 invalid field(s): body.amount, body.order_ref"


async def test_what_a_credit_team_expects_of_the_file_status_cash_and_credit(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, profiles, receivables, scoring, day="2026-03-02") as services:
        files, ledger, credit = services["profiles"], services["receivables"], services["scoring"]
        opened = await files.post(
            "/customers",
            {
                "legal_name": "福州华信贸易有限公司",
                "registration": {"scheme": "OTHER", "number": "FZ-9", "country": "CN"},
                "customer_since": "2024-01-01",
                "erp_id": "K-1",
            },
            ANA,
        )
        customer = opened["customer_id"]
        await known_everywhere(services)
        await with_limit(credit, "100000", customer)

        def check(order: str) -> dict[str, Any]:
            return {"customer_id": customer, "amount": "1000.00", "currency": "CNY", "order_ref": order}

        # A credit note that settles an invoice is not a payment: only cash weighs on behaviour.
        await erp_invoice(ledger, "D-1", "INV-1", "8000.00", "2026-01-10")
        credit_note = {
            "document_id": "CN-1",
            "revision": 1,
            "customer_erp_id": "K-1",
            "number": "CN-1",
            "amount": cny("8000.00"),
            "reason": "goods returned",
            "issue_date": "2026-01-20",
            "invoice_document_id": "D-1",
        }
        await ledger.post("/erp/credit-notes", credit_note)
        await erp_invoice(ledger, "D-2", "INV-2", "15000.00", "2026-01-10")
        await erp_payment(ledger, "P-1", "15000.00", "2026-02-09", ["INV-2"])
        await eventually(lambda: _paydex_counts(credit, customer, 1), what="the one cash payment scored")
        (paid,) = (await credit.get(f"/customers/{customer}/scores"))["scores"][0]["inputs"]["payments"]
        assert (paid["amount"], paid["days_beyond_terms"]) == ("15000.00", 0)

        # Overdue covered by the customer's own credit balance is not delinquency, and holds nothing.
        await erp_invoice(ledger, "D-3", "INV-3", "10000.00", "2025-12-01")  # due 31 December: 61 days

        async def open_receivables(amount: str) -> bool:
            exposure = (await credit.get(f"/customers/{customer}/credit"))["exposure"]
            return bool(exposure["open_receivables"] == cny(amount))

        # The ledger's events of one customer arrive in order: once scoring knows the invoice,
        # a balance back at zero can only be the payment on account that follows it.
        await eventually(lambda: open_receivables("10000.00"), what="the overdue invoice known to scoring")
        await erp_payment(ledger, "P-2", "10000.00", "2026-03-01", ["INV-1"])  # INV-1 was credited: on account
        await all_at(services, "2026-03-03")

        async def covered() -> bool:
            return await open_receivables("0.00")

        await eventually(covered, what="the credit balance netting the receivable")
        found = await credit.get(f"/customers/{customer}/credit")
        assert (found["exposure"]["overdue"], found["exposure"]["oldest_days_past_due"]) == (cny("0.00"), 0)
        assert [h["hold_id"] for h in found["holds"]] == []
        refund = {"source_id": "P-2", "amount": "10000.00", "method": "bank_transfer", "reference": "back"}
        await ledger.post(f"/customers/{customer}/refunds", refund, WANG)

        async def held_for_overdue() -> bool:
            holds = (await credit.get(f"/customers/{customer}/credit"))["holds"]
            return [h["hold_id"] for h in holds] == ["overdue"]

        await eventually(held_for_overdue, what="the overdue hold once the credit is paid back")
        await ledger.post("/erp/payments", _payment("P-3", "10000.00", "2026-03-03", "INV-3"))

        # The credit file put on hold holds every order, with the file's reason; active again, they flow.
        async def checked(outcome: str) -> bool:
            return bool((await credit.post("/credit-checks", check(f"SO-{outcome}")))["outcome"] == outcome)

        await eventually(lambda: checked("approve"), what="orders approved once nothing is overdue")
        await files.post(f"/customers/{customer}/status", {"status": "on_hold", "reason": "under review"}, WANG)
        await eventually(lambda: checked("hold"), what="the credit file's hold reaching scoring")
        held = await credit.post("/credit-checks", check("SO-9"))
        assert held["reasons"] == ["credit hold: the credit file is on hold: under review"]
        analyst = await credit.send(f"/customers/{customer}/holds/credit-file/release", {"reason": "x"}, ANA)
        assert "only a credit manager may release it by hand" in analyst.json()["detail"]
        await files.post(f"/customers/{customer}/status", {"status": "active", "reason": "review done"}, WANG)
        await eventually(lambda: checked("approve"), what="the hold released with the file")


async def test_the_portfolio_counts_every_currency_each_reservation_in_force_and_the_limit_in_force(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, receivables, scoring, day="2026-03-02") as services:
        ledger, credit = services["receivables"], services["scoring"]
        await registered(services)
        await with_limit(credit, "100000")
        rate = {"currency": "USD", "rate": "7.10", "rate_date": "2026-03-01"}
        await ledger.post("/fx-rates", rate, ZHOU)
        await erp_invoice(ledger, "D-1", "INV-1", "50000.00", "2026-03-02")
        for doc, net, currency in (("D-2", "1000.05", "USD"), ("D-3", "10.00", "EUR")):
            invoice = invoice_data(f"INV-{doc}", net, "2026-03-02", currency=currency)
            await ledger.post("/erp/invoices", {"document_id": doc, "revision": 1, "customer_erp_id": "K-1", **invoice})
        check = {"customer_id": "C-1", "amount": "30000.00", "currency": "CNY", "order_ref": "SO-1"}
        assert (await credit.post("/credit-checks", check))["reserved_until"] == "2026-04-01"

        async def book() -> dict[str, Any]:
            return dict(await credit.get("/portfolio"))

        async def priced() -> bool:
            found = await book()
            return bool(found["unpriced_currencies"] == ["EUR"] and found["against_limits"]["near_limit"])

        await eventually(priced, what="the three invoices known to scoring")
        # 50,000 + 1,000.05 × 7.10 = 57,100.355, rounded once to 57,100.36; with the 30,000 reserved
        # the limit of 100,000 is used to 87 %: near it.
        found = await book()
        assert (found["customers"], found["currency"]) == (1, "CNY")
        assert found["against_limits"] == {
            "with_limit": 1,
            "limits": cny("100000.00"),
            "exposure_with_limit": cny("87100.36"),
            "over_limit": 0,
            "over_limit_excess": cny("0.00"),
            "near_limit": 1,
            "without_limit": 0,
            "exposure_without_limit": cny("0.00"),
        }
        assert sum(Decimal(g["exposure"]["amount"]) for g in found["by_grade"]) == Decimal("87100.36")

        # A temporary limit of 80,000 is in force until 1 April, below the exposure.
        asked = await credit.post(
            "/customers/C-1/limit-requests",
            {"kind": "temporary", "amount": "80000", "currency": "CNY", "expires_on": "2026-04-01", "reason": "x"},
            ANA,
        )
        await credit.post(f"/customers/C-1/requests/{asked['pending_requests'][0]['request_id']}/approval", {}, LI)
        over = (await book())["against_limits"]
        assert (over["limits"], over["over_limit"], over["over_limit_excess"]) == (
            cny("80000.00"),
            1,
            cny("7100.36"),
        )
        # The temporary limit ends on 1 April and the reservation, held through 1 April, the day after:
        # the portfolio counts neither on 2 April, even before a sweep runs.
        credit.set_clock("2026-04-02")
        after = (await book())["against_limits"]
        assert (after["limits"], after["exposure_with_limit"], after["near_limit"]) == (
            cny("100000.00"),
            cny("57100.36"),
            0,
        )


def _payment(doc: str, amount: str, on: str, invoice: str) -> dict[str, Any]:
    return {
        "document_id": doc,
        "revision": 1,
        "customer_erp_id": "K-1",
        "amount": cny(amount),
        "value_date": on,
        "method": "bank_transfer",
        "remittance": [{"invoice_number": invoice}],
    }
