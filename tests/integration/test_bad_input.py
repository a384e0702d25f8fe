"""Bad input, as a fault campaign sends it: every request below is refused with a 4xx problem
naming what is wrong, never a 500, and nothing stored before is touched."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from libs.infra.embedded import free_port
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.integration.test_authorization import running
from tests.support.ledger import invoice_data, money
from tests.support.serving import ERP_KEY, bearer

ADMIN = bearer("admin")
ERP = {"X-API-Key": ERP_KEY}


def invoice(**changes: Any) -> dict[str, Any]:
    return {
        "document_id": "D-1",
        "revision": 1,
        "customer_erp_id": "K-1",
        **invoice_data("INV-1", "100.00", "2026-01-10"),
        **changes,
    }


def payment(**changes: Any) -> dict[str, Any]:
    return {
        "document_id": "P-1",
        "revision": 1,
        "customer_erp_id": "K-1",
        "amount": money("100.00"),
        "value_date": "2026-01-20",
        "method": "bank_transfer",
        **changes,
    }


CUSTOMER = {"legal_name": "福州华信贸易有限公司", "registration": {"scheme": "OTHER", "number": "X-1", "country": "CN"}}
ITEMS = "current_assets total_assets current_liabilities total_liabilities equity retained_earnings revenue ebit"
STATEMENT_ITEMS = dict.fromkeys([*ITEMS.split(), "net_income"], "1000.00")
STATEMENT = {"period_end": "2025-12-31", "period_months": 12, "currency": "CNY", "items": STATEMENT_ITEMS}
COVER = {"insurer": "中国信保", "policy_number": "P-1", "expires_on": "2027-01-01"}
BUREAU = {"provider": "bureau", "report_date": "2026-01-01", "score_range": {"min": 0, "max": 100}}

# (method, path, JSON body or None, headers, the field the refusal names)
CASES: dict[str, list[tuple[str, str, Any, dict[str, str], str]]] = {
    "profiles": [
        ("GET", "/customers?q=ab%00cd", None, ADMIN, "query.q"),
        ("GET", "/customers/C-1%00", None, ADMIN, "path"),
        ("POST", "/customers", {**CUSTOMER, "legal_name": "华信\u0000贸易"}, ADMIN, "body.legal_name"),
        ("POST", "/customers", {**CUSTOMER, "customer_since": "0001-01-01"}, ADMIN, "body.customer_since"),
        ("POST", "/customers", {**CUSTOMER, "customer_since": "10000-01-01"}, ADMIN, "body.customer_since"),
        ("GET", "/customers/C-1?as_of=9999-12-31", None, ADMIN, "query.as_of"),
        (
            "POST",
            "/customers/C-1/statements",
            {**STATEMENT, "items": {**STATEMENT_ITEMS, "revenue": "1E+999999"}},
            ADMIN,
            "items.revenue",
        ),
        (
            "POST",
            "/customers/C-1/statements",
            {**STATEMENT, "items": {**STATEMENT_ITEMS, "equity": "1" * 40}},
            ADMIN,
            "items.equity",
        ),
        (
            "POST",
            "/customers/C-1/insurance-covers",
            {**COVER, "insured_limit": {"amount": "1000", "currency": "MRJ"}},
            ADMIN,
            "body.insured_limit.currency",
        ),
        (
            "POST",
            "/customers/C-1/insurance-covers",
            {**COVER, "insured_limit": {"amount": "1000", "currency": "XAU"}},
            ADMIN,
            "body.insured_limit.currency",
        ),
        ("POST", "/customers/C-1/bureau-reports", {**BUREAU, "score": 2**63}, ADMIN, "body.score"),
    ],
    "receivables": [
        ("GET", "/fx-rates?currency=a%00b", None, ADMIN, "query.currency"),
        ("POST", "/erp/invoices", invoice(number="INV\u00001"), ERP, "body.number"),
        ("POST", "/erp/invoices", invoice(net=money("1" * 40)), ERP, "body"),
        ("POST", "/erp/invoices", invoice(net={"amount": "1e999999", "currency": "CNY"}), ERP, "body"),
        ("POST", "/erp/invoices", invoice(net=money("100.00", "XAU"), tax=money("0", "XAU")), ERP, "body.net"),
        ("POST", "/erp/invoices", invoice(net=money("100.00", "XXX"), tax=money("0", "XXX")), ERP, "body.net"),
        ("POST", "/erp/invoices", invoice(issue_date="0001-01-01"), ERP, "body.issue_date"),
        ("POST", "/erp/invoices", invoice(revision=2**63), ERP, "body.revision"),
        ("POST", "/erp/payments", payment(value_date="9999-12-31"), ERP, "body.value_date"),
        ("POST", "/fx-rates", {"currency": "USD", "rate": "1e300", "rate_date": "2026-01-01"}, ADMIN, "body.rate"),
        ("POST", "/fx-rates", {"currency": "USD", "rate": "7.1", "rate_date": "9999-12-31"}, ADMIN, "body.rate_date"),
        ("GET", "/customers/C-1/movements?after_version=99999999999999999999", None, ADMIN, "query.after_version"),
        ("GET", "/customers/C-1/payments?offset=99999999999999999999", None, ADMIN, "query.offset"),
        ("GET", "/aging?as_of=0001-01-01", None, ADMIN, "query.as_of"),
    ],
    "scoring": [
        (
            "POST",
            "/credit-checks",
            {"customer_id": "C-1", "amount": "1" * 40, "currency": "CNY", "order_ref": "SO-1"},
            ERP,
            "body.amount",
        ),
        (
            "POST",
            "/credit-checks",
            {"customer_id": "C-1", "amount": "10.005", "currency": "CNY", "order_ref": "SO-1"},
            ERP,
            "body",
        ),
        (
            "POST",
            "/credit-checks",
            {"customer_id": "C\u00001", "amount": "10", "currency": "CNY", "order_ref": "SO-1"},
            ERP,
            "body.customer_id",
        ),
        (
            "POST",
            "/credit-checks",
            {"customer_id": "C-1", "amount": "10", "currency": "XAU", "order_ref": "SO-1"},
            ERP,
            "body.currency",
        ),
    ],
}


@pytest.mark.parametrize("service", sorted(CASES))
async def test_bad_input_is_refused_naming_the_field(
    service: str, new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with running(service, new_database, broker) as (http, _):
        wrong = []
        for method, path, body, headers, field in CASES[service]:
            response = await http.request(method, path, json=body, headers=headers)
            refusal = response.json() if response.headers["content-type"] == "application/problem+json" else {}
            errors = refusal.get("errors", [])
            named = [e["field"] for e in errors] + [e["message"] for e in errors] + [refusal.get("detail", "")]
            if response.status_code != 422 or not any(field in n for n in named):
                wrong.append(f"{method} {path} {str(body)[:60]}: {response.status_code} {response.text[:200]}")
        assert wrong == []


async def test_the_hot_route_refuses_what_cannot_be_parsed_as_every_route_does(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    deep = b'{"a":' * 1000 + b"1" + b"}" * 1000
    huge = b'{"customer_id": "C-1", "amount": ' + b"9" * 5001 + b', "currency": "CNY", "order_ref": "SO-1"}'
    async with running("scoring", new_database, broker) as (http, _):
        for body in (deep, huge):
            answers = []
            for path in ("/credit-checks", "/customers/C-1/holds"):  # the hot route and a declared one
                response = await http.post(path, content=body, headers=ERP | {"Content-Type": "application/json"})
                answers.append((response.status_code, response.headers["content-type"], response.json()["detail"]))
            assert answers[0] == (400, "application/problem+json", "There was an error parsing the body")
            assert answers[1][:2] in ((400, "application/problem+json"), (403, "application/problem+json"))
        plain = b'{"customer_id": "C-1", "amount": "10.00", "currency": "CNY", "order_ref": "SO-1"}'
        response = await http.post("/credit-checks", content=plain, headers=ERP | {"Content-Type": "text/plain"})
        assert (response.status_code, response.headers["content-type"]) == (422, "application/problem+json")


async def test_a_retry_with_its_keys_in_another_order_is_the_same_request(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with running("profiles", new_database, broker) as (http, _):
        headers = ADMIN | {"Idempotency-Key": "reordered", "Content-Type": "application/json"}
        first = await http.post(
            "/customers",
            content=b'{"legal_name": "A", "registration": {"scheme": "OTHER", "number": "R-1", "country": "CN"}}',
            headers=headers,
        )
        again = await http.post(
            "/customers",
            content=b'{"registration":{"country":"CN","number":"R-1","scheme":"OTHER"},"legal_name":"A"}',
            headers=headers,
        )
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json()["customer_id"] == first.json()["customer_id"]
        other = await http.post("/customers", json={**CUSTOMER, "legal_name": "B"}, headers=headers)
        assert other.status_code == 422


async def test_a_duplicate_is_refused_in_the_words_of_the_credit_file(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with running("profiles", new_database, broker) as (http, _):
        assert (await http.post("/customers", json=CUSTOMER, headers=ADMIN)).status_code == 201
        twice = await http.post("/customers", json={**CUSTOMER, "legal_name": "另一家"}, headers=ADMIN)
        assert twice.status_code == 409
        assert "registration" in twice.json()["detail"]
        assert "Key (" not in twice.text
        assert "constraint" not in twice.text


async def test_without_its_database_a_service_answers_503_with_retry_after_and_stays_live(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with running("profiles", new_database, broker) as (http, app):
        kit = app.state.kit
        working = kit.pool
        # Where the database was, nothing answers now: as when PostgreSQL is down.
        kit.pool = await asyncpg.create_pool(f"postgresql://credo@127.0.0.1:{free_port()}/credo", min_size=0)
        try:
            response = await http.get("/customers", headers=ADMIN)
            assert (response.status_code, response.headers["content-type"]) == (503, "application/problem+json")
            assert response.headers["retry-after"] == "5"
            assert (await http.get("/health/live")).status_code == 200
            assert (await http.get("/health/ready")).status_code == 503
        finally:
            await kit.pool.close()
            kit.pool = working
        assert (await http.get("/customers", headers=ADMIN)).status_code == 200
