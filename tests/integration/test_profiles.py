"""The credit file through the profiles HTTP API, with the real database and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.profiles import PUBLISHED
from libs.events.clock import SettableClock
from libs.events.envelope import from_kafka
from libs.infra.provision import BrokerHandle
from services.profiles.adapters import HttpBureau
from services.profiles.app import spec as profiles
from services.profiles.settings import BureauSettings
from services.receivables.app import spec as receivables
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.bureau_server import KEY, bureau
from tests.support.serving import bearer, serving, serving_kit, settings_for
from tests.support.statements import HEALTHY

FUJIAN = {
    "legal_name": "福建某某贸易有限公司",
    "registration": {"scheme": "CN-USCC", "number": "91350100m000100y43", "country": "CN"},
    "industry": "wholesale",
    "size": "medium",
    "address": "福州市鼓楼区五四路 100 号",
    "customer_since": "2019-04-01",
    "erp_id": "ERP-0042",
}


@pytest.fixture
async def api(new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(
        profiles,
        await new_database(),
        broker.bootstrap_servers,
        business_date="2026-11-23",
        topic_prefix=f"{topic_prefix}.",
    )
    async with (
        serving_kit(profiles, settings) as (url, kit),
        httpx.AsyncClient(base_url=url, headers=bearer("credit_analyst")) as http,
    ):
        http.dsn = settings.database_url  # type: ignore[attr-defined]
        http.kit = kit  # type: ignore[attr-defined]
        yield http


async def _events(http: httpx.AsyncClient) -> int:
    conn = await asyncpg.connect(http.dsn)  # type: ignore[attr-defined]
    try:
        return int(await conn.fetchval("SELECT count(*) FROM events"))
    finally:
        await conn.close()


async def _register(http: httpx.AsyncClient, body: dict[str, Any] = FUJIAN) -> dict[str, Any]:
    response = await http.post("/customers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_register_and_read_the_whole_file(api: httpx.AsyncClient) -> None:
    created = await _register(api)
    assert created["registration"] == {"scheme": "CN-USCC", "number": "91350100M000100Y43", "country": "CN"}
    file = (await api.get(f"/customers/{created['customer_id']}")).json()
    assert file == created
    assert (file["status"], file["customer_since"], file["erp_id"], file["version"]) == (
        "active",
        "2019-04-01",
        "ERP-0042",
        1,
    )
    assert file["credit"] == {
        "grade": None, "score": None, "reasons": [], "scored_at": None, "limit": None, "terms": None, "holds": []
    }  # fmt: skip


async def test_a_wrong_check_character_is_refused(api: httpx.AsyncClient) -> None:
    body = {**FUJIAN, "registration": {"scheme": "CN-USCC", "number": "91350100M000100Y44", "country": "CN"}}
    response = await api.post("/customers", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == "the check character is '4' but the first 17 characters require '3'"
    assert await _events(api) == 0


async def test_a_duplicate_registration_number_is_refused(api: httpx.AsyncClient) -> None:
    first = await _register(api)
    again = await api.post("/customers", json={**FUJIAN, "legal_name": "Copycat", "erp_id": None})
    assert again.status_code == 409
    assert again.json()["customer_id"] == first["customer_id"]
    assert first["customer_id"] in again.json()["detail"]
    same_erp = await api.post(
        "/customers", json={**FUJIAN, "registration": {"scheme": "OTHER", "number": "HRB 1", "country": "DE"}}
    )
    assert same_erp.status_code == 409
    assert "ERP id" in same_erp.json()["detail"]
    assert await _events(api) == 1


async def test_contacts(api: httpx.AsyncClient) -> None:
    customer = (await _register(api))["customer_id"]
    path = f"/customers/{customer}/contacts"
    no_phone = await api.post(path, json={"name": "王芳", "email": "wang.fang@example.cn", "billing": True})
    assert no_phone.status_code == 422
    assert "needs an email address and a phone number" in no_phone.json()["detail"]
    billing = await api.post(
        path,
        json={
            "name": "王芳",
            "role": "AP manager",
            "email": "wang.fang@example.cn",
            "phone": "+86 591 8888 0000",
            "billing": True,
        },
    )
    assert billing.status_code == 201
    contact = billing.json()["contact_id"]
    changed = await api.put(
        f"{path}/{contact}",
        json={"name": "王芳", "email": "fang@example.cn", "phone": "+86 591 8888 0001", "billing": True},
    )
    assert changed.status_code == 200
    assert changed.json()["contacts"][0]["email"] == "fang@example.cn"
    retired = await api.post(f"{path}/{contact}/retirement", json={"reason": "left the company"})
    assert retired.status_code == 200
    assert retired.json()["contacts"] == []
    assert (await api.post(f"{path}/{contact}/retirement", json={"reason": "again"})).status_code == 422
    assert (await api.post(f"{path}/P-NOBODY/retirement", json={"reason": "x"})).status_code == 404


async def test_status_changes_need_a_manager_and_a_reason(api: httpx.AsyncClient) -> None:
    customer = (await _register(api))["customer_id"]
    path = f"/customers/{customer}/status"
    assert (await api.post(path, json={"status": "on_hold", "reason": "cheque bounced"})).status_code == 403
    manager = bearer("credit_manager")
    assert (await api.post(path, json={"status": "on_hold"}, headers=manager)).status_code == 422
    held = await api.post(path, json={"status": "on_hold", "reason": "cheque bounced"}, headers=manager)
    assert held.status_code == 200
    assert (held.json()["status"], held.json()["status_reason"]) == ("on_hold", "cheque bounced")
    again = await api.post(path, json={"status": "on_hold", "reason": "still"}, headers=manager)
    assert again.status_code == 422
    assert again.json()["detail"] == f"customer {customer} is already on hold"


async def test_statements_balance_or_are_refused_naming_the_difference(api: httpx.AsyncClient) -> None:
    customer = (await _register(api))["customer_id"]
    path = f"/customers/{customer}/statements"
    before = await _events(api)
    unbalanced = await api.post(
        path,
        json={
            "period_end": "2025-12-31",
            "period_months": 12,
            "currency": "CNY",
            "items": {**HEALTHY, "equity": "440000.00"},
        },
    )
    assert unbalanced.status_code == 422
    assert "differ from total liabilities plus equity 990000.00 by 10000.00" in unbalanced.json()["detail"]
    floats = await api.post(
        path,
        json={
            "period_end": "2025-12-31",
            "period_months": 12,
            "currency": "CNY",
            "items": {**HEALTHY, "ebit": 80000.5},
        },
    )
    assert floats.status_code == 422
    assert "not floating-point numbers: ebit" in floats.text
    future = await api.post(
        path, json={"period_end": "2026-12-31", "period_months": 12, "currency": "CNY", "items": HEALTHY}
    )
    assert future.status_code == 422
    assert await _events(api) == before

    recorded = await api.post(
        path,
        json={"period_end": "2025-12-31", "period_months": 12, "currency": "CNY", "items": HEALTHY, "audited": True},
    )
    assert recorded.status_code == 201
    assert recorded.json()["ratios"] == {
        "current_ratio": "1.6000",
        "debt_ratio": "0.5500",
        "working_capital": "150000.00",
        "altman_z": "3.03",
        "altman_zone": "safe",
    }
    file = (await api.get(f"/customers/{customer}")).json()
    assert file["statements"][0]["items"]["ebit"] == "80000.00"


async def test_the_timeline_shows_every_change_in_order(api: httpx.AsyncClient) -> None:
    customer = (await _register(api))["customer_id"]
    await api.patch(f"/customers/{customer}", json={"legal_name": "福建新名称有限公司"}, headers={"If-Match": '"1"'})
    await api.post(
        f"/customers/{customer}/status",
        json={"status": "closed", "reason": "ceased trading"},
        headers=bearer("finance_director"),
    )
    timeline = (await api.get(f"/customers/{customer}/timeline")).json()
    assert [(e["version"], e["type"]) for e in timeline] == [
        (1, "profiles.CustomerRegistered"),
        (2, "profiles.ProfileUpdated"),
        (3, "profiles.CustomerStatusChanged"),
    ]
    assert timeline[1]["data"]["legal_name"] == "福建新名称有限公司"
    assert (await api.get("/customers/C-NOBODY/timeline")).status_code == 404


async def test_events_reach_a_consumer_in_another_database(
    new_database: NewDatabase, broker: BrokerHandle, api: httpx.AsyncClient, topic_prefix: str
) -> None:
    other = await new_database()
    receiving = settings_for(receivables, other, broker.bootstrap_servers, topic_prefix=f"{topic_prefix}.")
    async with serving(receivables, receiving):
        created = await _register(api)
        await api.patch(
            f"/customers/{created['customer_id']}", json={"legal_name": "Renamed Ltd"}, headers={"If-Match": '"1"'}
        )

        async def projected() -> bool:
            conn = await asyncpg.connect(other)
            try:
                name = await conn.fetchval(
                    "SELECT legal_name FROM read_model.customers WHERE customer_id = $1", created["customer_id"]
                )
            finally:
                await conn.close()
            return bool(name == "Renamed Ltd")

        await eventually(projected, what="receivables' copy of the customer")


async def test_review_date_trade_references_and_insurance_cover(api: httpx.AsyncClient) -> None:
    customer = (await _register(api))["customer_id"]
    assert (await api.put(f"/customers/{customer}/review-date", json={"review_on": "2026-11-01"})).status_code == 422
    reviewed = await api.put(f"/customers/{customer}/review-date", json={"review_on": "2027-05-31"})
    assert (reviewed.json()["review_on"], reviewed.json()["review_overdue"]) == ("2027-05-31", False)

    reference = await api.post(
        f"/customers/{customer}/trade-references",
        json={
            "supplier": "江苏钢材供应公司",
            "trading_since": "2020-01-01",
            "credit_limit": {"amount": "500000.00", "currency": "CNY"},
            "payment_experience": "slow",
            "notes": "pays 15 days late on average",
        },
    )
    assert reference.status_code == 201
    assert reference.json()["credit_limit"] == {"amount": "500000.00", "currency": "CNY"}
    bad_limit = await api.post(
        f"/customers/{customer}/trade-references",
        json={"supplier": "X", "credit_limit": {"amount": 1.5, "currency": "CNY"}, "payment_experience": "prompt"},
    )
    assert bad_limit.status_code == 422

    expired = await api.post(
        f"/customers/{customer}/insurance-covers",
        json={
            "insurer": "中国出口信用保险公司",
            "policy_number": "SINO-1",
            "insured_limit": {"amount": "800000", "currency": "CNY"},
            "expires_on": "2026-01-31",
        },
    )
    assert expired.status_code == 422
    assert "expired" in expired.json()["detail"]
    cover = await api.post(
        f"/customers/{customer}/insurance-covers",
        json={
            "insurer": "中国出口信用保险公司",
            "policy_number": "SINO-1",
            "insured_limit": {"amount": "800000", "currency": "CNY"},
            "expires_on": "2027-01-31",
        },
    )
    assert cover.status_code == 201
    assert cover.json()["in_force"] is True
    file = (await api.get(f"/customers/{customer}")).json()
    assert [r["supplier"] for r in file["trade_references"]] == ["江苏钢材供应公司"]
    assert file["insurance_covers"][0]["insured_limit"] == {"amount": "800000.00", "currency": "CNY"}

    # The insurer cancels it: no longer in force, with the day and why; another policy, or a day to
    # come, is refused.
    insurer = {"insurer": "中国出口信用保险公司", "reason": "买方信用恶化，保险人撤销限额"}
    unknown = await api.post(
        f"/customers/{customer}/insurance-covers/SINO-9/cancellation", json={**insurer, "cancelled_on": "2026-11-23"}
    )
    assert unknown.status_code == 404, unknown.text
    ahead = await api.post(
        f"/customers/{customer}/insurance-covers/SINO-1/cancellation", json={**insurer, "cancelled_on": "2026-11-24"}
    )
    assert ahead.status_code == 422, ahead.text
    assert "cancelled_on: 2026-11-24 is after today" in ahead.json()["detail"]
    cancelled = await api.post(
        f"/customers/{customer}/insurance-covers/SINO-1/cancellation", json={**insurer, "cancelled_on": "2026-11-23"}
    )
    assert cancelled.status_code == 201, cancelled.text
    assert (cancelled.json()["in_force"], cancelled.json()["cancelled_on"]) == (False, "2026-11-23")
    assert cancelled.json()["cancellation_reason"] == "买方信用恶化，保险人撤销限额"
    again = await api.post(
        f"/customers/{customer}/insurance-covers/SINO-1/cancellation", json={**insurer, "cancelled_on": "2026-11-23"}
    )
    assert again.status_code == 404, again.text  # cancelled already: no cover under it


async def test_a_sweep_raises_credit_review_due_once_the_date_has_passed(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    settings = settings_for(profiles, await new_database(), broker.bootstrap_servers, business_date="2026-11-23")
    async with (
        serving_kit(profiles, settings) as (url, kit),
        httpx.AsyncClient(base_url=url, headers=bearer("credit_analyst")) as http,
    ):
        customer = (await _register(http))["customer_id"]
        await http.put(f"/customers/{customer}/review-date", json={"review_on": "2026-11-30"})
        assert kit.sweeper is not None

        async def types() -> list[str]:
            return [e["type"] for e in (await http.get(f"/customers/{customer}/timeline")).json()]

        assert isinstance(kit.clock, SettableClock)
        kit.clock.set(date(2026, 11, 30))  # on the review date: not yet passed
        await kit.sweeper.run_due()
        assert "profiles.CreditReviewDue" not in await types()
        kit.clock.set(date(2026, 12, 3))
        assert await kit.sweeper.run_due() == {"profiles.credit-reviews-due": 1}
        assert (await types())[-1] == "profiles.CreditReviewDue"
        assert await kit.sweeper.run_due() == {"profiles.credit-reviews-due": 0}
        assert (await http.get(f"/customers/{customer}")).json()["review_overdue"] is True


async def test_the_file_as_it_stood_on_a_past_date(new_database: NewDatabase, broker: BrokerHandle) -> None:
    settings = settings_for(profiles, await new_database(), broker.bootstrap_servers, business_date="2026-11-23")
    async with (
        serving_kit(profiles, settings) as (url, kit),
        httpx.AsyncClient(base_url=url, headers=bearer("credit_manager")) as http,
    ):
        assert isinstance(kit.clock, SettableClock)
        customer = (await _register(http))["customer_id"]
        await http.post(
            f"/customers/{customer}/statements",
            json={"period_end": "2025-12-31", "period_months": 12, "currency": "CNY", "items": HEALTHY},
        )
        kit.clock.set(date(2026, 12, 1))
        await http.patch(
            f"/customers/{customer}", json={"legal_name": "后来的名字有限公司"}, headers={"If-Match": '"2"'}
        )
        await http.post(f"/customers/{customer}/status", json={"status": "on_hold", "reason": "overdue"})

        then = (await http.get(f"/customers/{customer}", params={"as_of": "2026-11-25"})).json()
        assert (then["legal_name"], then["status"], then["version"]) == (FUJIAN["legal_name"], "active", 2)
        assert then["statements"][0]["ratios"]["altman_z"] == "3.03"
        now = (await http.get(f"/customers/{customer}")).json()
        assert (now["legal_name"], now["status"], now["version"]) == ("后来的名字有限公司", "on_hold", 4)
        assert (await http.get(f"/customers/{customer}", params={"as_of": "2026-12-01"})).json() == {
            **now,
            "review_overdue": False,
        }
        before = await http.get(f"/customers/{customer}", params={"as_of": "2026-11-01"})
        assert before.status_code == 404


async def test_search_and_pages(api: httpx.AsyncClient) -> None:
    names = ["Alpha Tools GmbH", "alpine Foods AG", "Beta Freight Ltd", "华南电子有限公司", "Gamma_Steel"]
    ids = {}
    for n, name in enumerate(names):
        body = {
            "legal_name": name,
            "industry": "food" if "Foods" in name else "industry",
            "registration": {"scheme": "OTHER", "number": f"hrb-{n}00{n}", "country": "DE"},
        }
        ids[name] = (await _register(api, body))["customer_id"]

    async def names_for(**params: Any) -> list[str]:
        response = await api.get("/customers", params=params)
        assert response.status_code == 200, response.text
        return [item["legal_name"] for item in response.json()["items"]]

    assert await names_for(q="alp") == ["Alpha Tools GmbH", "alpine Foods AG"]
    assert await names_for(q="电子") == ["华南电子有限公司"]
    assert await names_for(q="HRB-3") == ["华南电子有限公司"]
    assert await names_for(q="a_s") == ["Gamma_Steel"]  # "_" is a character, not a wildcard
    assert await names_for(industry="food") == ["alpine Foods AG"]
    await api.post(
        f"/customers/{ids['Beta Freight Ltd']}/status",
        json={"status": "closed", "reason": "sold"},
        headers=bearer("credit_manager"),
    )
    assert await names_for(status="closed") == ["Beta Freight Ltd"]

    seen, cursor = [], None
    while True:
        page = (await api.get("/customers", params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        seen += [item["legal_name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(names, key=str.lower)
    bad = await api.get("/customers", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"


async def test_bureau_reports_by_hand_and_pulled_from_the_bureau(
    api: httpx.AsyncClient,
) -> None:
    customer = (await _register(api))["customer_id"]
    by_hand = await api.post(
        f"/customers/{customer}/bureau-reports",
        json={
            "provider": "中诚信",
            "report_date": "2026-10-01",
            "score": 640,
            "score_range": {"min": 300, "max": 850},
            "rating": "BB",
            "adverse_records": [
                {"kind": "tax_arrears", "date": "2026-06-30", "amount": {"amount": "35000.00", "currency": "CNY"}}
            ],
        },
    )
    assert by_hand.status_code == 201, by_hand.text
    assert by_hand.json()["adverse_records"][0]["kind"] == "tax_arrears"
    assert by_hand.json()["score_range"] == {"min": 300, "max": 850}
    # A score means nothing without its scale, and must lie on it.
    for scale, message in ((None, "give the provider's min and max"), ({"min": 0, "max": 100}, "outside its range")):
        unscaled = await api.post(
            f"/customers/{customer}/bureau-reports",
            json={"provider": "中诚信", "report_date": "2026-10-01", "score": 640, "score_range": scale},
        )
        assert unscaled.status_code == 422
        (error,) = unscaled.json()["errors"]
        assert error["field"] == "body.score_range"
        assert message in error["message"]

    reports: dict[str, dict[str, Any]] = {
        "91350100M000100Y43": {
            "reference": "CCX-77",
            "report_date": "2026-11-20",
            "score": 72,
            "rating": "BBB",
            "internal": "kept",
            "adverse_records": [
                {
                    "kind": "lawsuit",
                    "date": "2025-03-01",
                    "amount": {"amount": "120000.00", "currency": "CNY"},
                    "description": "合同纠纷",
                }
            ],
        },
        "REG-BROKEN": {"reference": "X", "score": "very good"},
    }
    parts = api.kit.parts  # type: ignore[attr-defined]

    def configure(**settings: Any) -> None:  # the composition root's bureau, as configuration would make it
        parts.bureau = HttpBureau(BureauSettings(url=url, name="test-bureau", **settings))

    async with bureau(reports) as url:
        configure(api_key="wrong")
        refused = await api.post(f"/customers/{customer}/bureau-reports/pull")
        assert (refused.status_code, refused.json()["detail"]) == (502, "test-bureau answered 401")

        configure(api_key=KEY)
        scaleless = await api.post(f"/customers/{customer}/bureau-reports/pull")
        assert scaleless.status_code == 502
        assert "without a scale it fits" in scaleless.json()["detail"]
        configure(api_key=KEY, score_min=0, score_max=100)  # the bureau's scale, as its contract says
        pulled = await api.post(f"/customers/{customer}/bureau-reports/pull")
        assert pulled.status_code == 201, pulled.text
        assert (pulled.json()["provider"], pulled.json()["score"], pulled.json()["rating"]) == (
            "test-bureau",
            72,
            "BBB",
        )
        assert pulled.json()["score_range"] == {"min": 0, "max": 100}
        raw = await api.get(f"/customers/{customer}/bureau-reports/{pulled.json()['report_id']}/raw")
        assert raw.json() == reports["91350100M000100Y43"]  # kept as received, unknown fields too

        other = (
            await _register(
                api,
                {
                    "legal_name": "Nobody Known",
                    "registration": {"scheme": "OTHER", "number": "REG-NONE", "country": "DE"},
                },
            )
        )["customer_id"]
        assert (await api.post(f"/customers/{other}/bureau-reports/pull")).status_code == 404
        broken = (
            await _register(
                api,
                {
                    "legal_name": "Broken Data",
                    "registration": {"scheme": "OTHER", "number": "REG-BROKEN", "country": "DE"},
                },
            )
        )["customer_id"]
        outside = await api.post(f"/customers/{broken}/bureau-reports/pull")
        assert outside.status_code == 502
        assert "report_date: Field required" in outside.json()["detail"]
        assert "score: Input should be a valid integer" in outside.json()["detail"]
    down = await api.post(f"/customers/{customer}/bureau-reports/pull")
    assert (down.status_code, down.json()["detail"]) == (502, "test-bureau could not be reached: ConnectError")
    file = (await api.get(f"/customers/{customer}")).json()
    assert [r["provider"] for r in file["bureau_reports"]] == ["test-bureau", "中诚信"]


async def test_every_event_type_is_published_to_profiles_events(
    api: httpx.AsyncClient, broker: BrokerHandle, topic_prefix: str
) -> None:
    customer = (await _register(api))["customer_id"]
    manager = bearer("credit_manager")
    contact = await api.post(f"/customers/{customer}/contacts", json={"name": "李强", "email": "li@example.cn"})
    for response in [
        await api.patch(f"/customers/{customer}", json={"legal_name": "新名字"}, headers={"If-Match": '"2"'}),
        await api.put(
            f"/customers/{customer}/contacts/{contact.json()['contact_id']}",
            json={"name": "李强", "email": "qiang@example.cn"},
        ),
        await api.post(
            f"/customers/{customer}/contacts/{contact.json()['contact_id']}/retirement", json={"reason": "left"}
        ),
        await api.post(f"/customers/{customer}/status", json={"status": "on_hold", "reason": "x"}, headers=manager),
        await api.post(
            f"/customers/{customer}/statements",
            json={"period_end": "2025-12-31", "period_months": 12, "currency": "CNY", "items": HEALTHY},
        ),
        await api.put(f"/customers/{customer}/review-date", json={"review_on": "2027-01-31"}),
        await api.post(
            f"/customers/{customer}/trade-references", json={"supplier": "S", "payment_experience": "prompt"}
        ),
        await api.post(
            f"/customers/{customer}/insurance-covers",
            json={
                "insurer": "I",
                "policy_number": "P",
                "insured_limit": {"amount": "1", "currency": "CNY"},
                "expires_on": "2027-12-31",
            },
        ),
        await api.post(
            f"/customers/{customer}/insurance-covers/P/cancellation",
            json={"insurer": "I", "cancelled_on": "2026-11-23", "reason": "R"},
        ),
        await api.post(f"/customers/{customer}/bureau-reports", json={"provider": "B", "report_date": "2026-11-01"}),
    ]:
        assert response.status_code in (200, 201), response.text
    published = {"profiles.CreditReviewDue"}  # raised only by the sweep; tested above

    async def read_topic() -> bool:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        await consumer.start()
        try:
            topic = f"{topic_prefix}.profiles.events"
            await consumer.topics()
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(partitions)
            for tp in partitions:
                consumer.seek(tp, 0)
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = from_kafka(record.key, record.value, record.headers)
                    assert envelope.customer_id == customer
                    published.add(envelope.type)
        finally:
            await consumer.stop()
        return published >= {model.event_type for model in PUBLISHED}

    await eventually(read_topic, what="every event type on profiles.events")


async def test_a_patch_merges_and_the_timeline_says_who(api: httpx.AsyncClient) -> None:
    customer = (await _register(api))["customer_id"]
    patched = await api.patch(
        f"/customers/{customer}",
        json={"legal_name": "福建新名称有限公司", "industry": "logistics"},
        headers={
            "If-Match": '"1"',
            "Content-Type": "application/merge-patch+json",
            **bearer("credit_analyst", subject="ana"),
        },
    )
    assert patched.status_code == 200, patched.text
    file = patched.json()
    # What the patch left out is kept: the link to the ERP's documents above all.
    assert (file["legal_name"], file["industry"], file["size"], file["address"], file["erp_id"]) == (
        "福建新名称有限公司",
        "logistics",
        "medium",
        FUJIAN["address"],
        "ERP-0042",
    )
    cleared = await api.patch(f"/customers/{customer}", json={"address": None}, headers={"If-Match": '"2"'})
    assert (cleared.json()["address"], cleared.json()["erp_id"]) == (None, "ERP-0042")  # null clears
    nameless = await api.patch(f"/customers/{customer}", json={"legal_name": None}, headers={"If-Match": '"3"'})
    assert nameless.status_code == 422
    assert "legal_name cannot be cleared" in nameless.text
    await api.post(
        f"/customers/{customer}/status",
        json={"status": "on_hold", "reason": "review"},
        headers=bearer("credit_manager", subject="wang"),
    )
    timeline = (await api.get(f"/customers/{customer}/timeline")).json()
    assert [(e["type"], e["by"]) for e in timeline] == [
        ("profiles.CustomerRegistered", "tester"),
        ("profiles.ProfileUpdated", "ana"),
        ("profiles.ProfileUpdated", "tester"),
        ("profiles.CustomerStatusChanged", "wang"),
    ]
