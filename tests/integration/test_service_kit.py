"""The service kit through real HTTP, with the real database and broker behind it."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time

import asyncpg
import httpx
from fastapi import APIRouter

from libs.infra.provision import BrokerHandle
from services.profiles.app import spec as profiles
from services.receivables.app import spec as receivables
from tests.conftest import Logs, NewDatabase
from tests.support.backbone import eventually
from tests.support.serving import ERP_KEY, bearer, serving, settings_for, token

CRM_KEY = "crm-test-key-0123456789"

ACME = {
    "legal_name": "福建某某有限公司",
    "registration": {"scheme": "CN-USCC", "number": "91350100M000100Y43", "country": "CN"},
}


def company(n: int) -> dict[str, object]:
    return {"legal_name": f"Company {n}", "registration": {"scheme": "OTHER", "number": f"REG-{n}", "country": "DE"}}


ANALYST = bearer("credit_analyst")


async def _events(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM events"))
    finally:
        await conn.close()


async def test_a_replayed_post_returns_the_first_answer_and_stores_nothing_twice(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str
) -> None:
    dsn = await new_database()
    async with (
        serving(profiles, settings_for(profiles, dsn, broker.bootstrap_servers)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        key = {"Idempotency-Key": f"{topic_prefix}-1", **ANALYST}
        first = await http.post("/customers", json=ACME, headers=key)
        again = await http.post("/customers", json=ACME, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"

        racing = await asyncio.gather(
            *(
                http.post("/customers", json=company(4), headers={"Idempotency-Key": f"{topic_prefix}-2", **ANALYST})
                for _ in range(5)
            )
        )
        assert {r.status_code for r in racing} == {201}
        assert len({r.json()["customer_id"] for r in racing}) == 1
        assert await _events(dsn) == 2

        other = await http.post("/customers", json=company(3), headers=key)
        assert other.status_code == 422
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["type"].endswith("/idempotency-key-reused")
        assert await _events(dsn) == 2

        fetched = await http.get(f"/customers/{first.json()['customer_id']}", headers=bearer("viewer"))
        assert fetched.json() == first.json()


async def test_an_invalid_body_gets_problem_json_naming_every_field(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with serving(profiles, settings_for(profiles, await new_database(), broker.bootstrap_servers)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post(
                "/customers",
                json={"legal_name": "", "registration": {"scheme": "CN-USCC", "country": "XX"}, "colour": "red"},
                headers=ANALYST,
            )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == {
        "body.legal_name",
        "body.registration.number",
        "body.registration.country",
        "body.colour",
    }
    assert "ISO 3166-1" in next(e["message"] for e in problem["errors"] if e["field"] == "body.registration.country")


async def test_who_may_do_what(new_database: NewDatabase, broker: BrokerHandle) -> None:
    keys = f"erp:{ERP_KEY}:erp;crm:{CRM_KEY}:credit_analyst"
    async with (
        serving(profiles, settings_for(profiles, await new_database(), broker.bootstrap_servers, api_keys=keys)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        missing = await http.post("/customers", json=ACME)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert missing.headers["content-type"] == "application/problem+json"
        for bad in ("not-a-jwt", token("admin", hours=-1), token("admin") + "x"):
            response = await http.post("/customers", json=ACME, headers={"Authorization": f"Bearer {bad}"})
            assert response.status_code == 401, bad
        assert (await http.post("/customers", json=ACME, headers={"X-API-Key": "wrong"})).status_code == 401

        forbidden = await http.post("/customers", json=ACME, headers=bearer("viewer", "collector"))
        assert forbidden.status_code == 403
        assert forbidden.json()["your_roles"] == ["collector", "viewer"]
        # A machine key has its own role: the CRM's may open credit files, the ERP's may not.
        assert (await http.post("/customers", json=company(1), headers={"X-API-Key": CRM_KEY})).status_code == 201
        assert (await http.post("/customers", json=company(3), headers={"X-API-Key": ERP_KEY})).status_code == 403
        assert (await http.post("/customers", json=company(2), headers=bearer("admin"))).status_code == 201

        assert (await http.get("/info")).status_code == 401
        assert (await http.get("/openapi.json")).status_code == 404  # docs are opt-in: CREDO_API_DOCS
        assert (await http.get("/docs")).status_code == 404
        assert (await http.get("/info", headers=bearer("viewer"))).json()["service"] == "profiles"
        assert (await http.get("/health/live")).status_code == 200
        await eventually(lambda: _ready(http), what="ready")
        assert (await http.get("/nowhere/42")).status_code == 404
        metrics = (await http.get("/metrics")).text
        assert 'credo_http_request_duration_seconds_count{handler="/customers",method="POST"}' in metrics
        assert 'credo_http_requests_total{handler="/customers",method="POST",status="4xx"}' in metrics
        assert 'credo_http_requests_total{handler="none",method="GET",status="4xx"}' in metrics  # not by raw path
        assert "/nowhere/42" not in metrics
        assert 'handler="/metrics"' not in metrics
        assert "credo_events_appended_total" in metrics


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/health/ready")).status_code == 200


async def test_if_match_guards_updates(new_database: NewDatabase, broker: BrokerHandle) -> None:
    async with (
        serving(profiles, settings_for(profiles, await new_database(), broker.bootstrap_servers)) as url,
        httpx.AsyncClient(base_url=url, headers=ANALYST) as http,
    ):
        created = await http.post("/customers", json=ACME)
        path = f"/customers/{created.json()['customer_id']}"
        assert (await http.get(path)).headers["ETag"] == '"1"'
        assert (await http.patch(path, json={"legal_name": "New Name"})).status_code == 428
        changed = await http.patch(path, json={"legal_name": "New Name"}, headers={"If-Match": '"1"'})
        assert changed.status_code == 200
        assert changed.headers["ETag"] == '"2"'
        assert changed.json()["legal_name"] == "New Name"
        stale = await http.patch(path, json={"legal_name": "Old News"}, headers={"If-Match": '"1"'})
        assert stale.status_code == 412
        assert stale.json()["current_version"] == 2
        assert stale.headers["ETag"] == '"2"'
        racing = await asyncio.gather(
            *(http.patch(path, json={"legal_name": f"Racer {n}"}, headers={"If-Match": '"2"'}) for n in range(4))
        )
        assert sorted(r.status_code for r in racing)[0] == 200
        assert [r.status_code for r in racing].count(200) == 1
        for loser in (r for r in racing if r.status_code != 200):
            assert loser.status_code in (409, 412)
            assert loser.json()["current_version"] == 3
        assert (
            await http.patch("/customers/nobody", json={"legal_name": "x"}, headers={"If-Match": '"1"'})
        ).status_code == 404


async def test_a_500_hides_the_error_and_logs_the_correlation_id(
    new_database: NewDatabase, broker: BrokerHandle, logs: Logs
) -> None:
    boom = APIRouter()

    @boom.get("/boom")
    async def explode() -> None:
        raise RuntimeError("secret internals")

    spec = dataclasses.replace(profiles, routers=[*profiles.routers, boom])
    async with serving(spec, settings_for(spec, await new_database(), broker.bootstrap_servers)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/boom", headers={"X-Correlation-ID": "trace-500"})
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.json()["correlation_id"] == "trace-500"
    assert response.headers["X-Correlation-ID"] == "trace-500"
    logged = [e for e in logs if e["event"] == "http.unhandled_error"]
    assert logged, "the 500 was not logged"
    assert logged[0]["correlation_id"] == "trace-500"
    assert logged[0]["exc_info"]


async def test_the_correlation_id_reaches_the_consumer_of_the_event(
    new_database: NewDatabase, broker: BrokerHandle, logs: Logs, topic_prefix: str
) -> None:
    profiles_db, receivables_db = await new_database(), await new_database()
    async with (
        serving(
            profiles, settings_for(profiles, profiles_db, broker.bootstrap_servers, topic_prefix=f"{topic_prefix}.")
        ) as p_url,
        serving(
            receivables,
            settings_for(receivables, receivables_db, broker.bootstrap_servers, topic_prefix=f"{topic_prefix}."),
        ),
    ):
        correlation = f"req-{time.monotonic_ns()}"
        async with httpx.AsyncClient(base_url=p_url) as http:
            created = await http.post("/customers", json=ACME, headers={**ANALYST, "X-Correlation-ID": correlation})
        assert created.status_code == 201

        async def consumed() -> bool:
            return any(
                e["event"] == "consumer.applied"
                and e.get("correlation_id") == correlation
                and e.get("consumer") == "receivables.customers"
                for e in logs
            )

        await eventually(consumed, what="receivables' log line for the event")
    conn = await asyncpg.connect(receivables_db)
    try:
        name = await conn.fetchval(
            "SELECT legal_name FROM read_model.customers WHERE customer_id = $1", created.json()["customer_id"]
        )
    finally:
        await conn.close()
    assert name == ACME["legal_name"]


async def test_the_api_docs_work_offline_and_describe_every_operation(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    settings = settings_for(profiles, await new_database(), broker.bootstrap_servers, api_docs=True)
    async with serving(profiles, settings) as url, httpx.AsyncClient(base_url=url) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets
        assert all(a.startswith("/") for a in assets), f"something is loaded from elsewhere: {assets}"
        for asset in assets:
            assert (await http.get(asset)).status_code == 200, asset
        document = (await http.get("/openapi.json")).json()
        undescribed = [
            f"{method.upper()} {path}"
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if not operation.get("description")
        ]
        assert undescribed == []
