"""A service split into its roles (CREDO_ROLE): the API process answers with its database alone and
runs no relay, consumer or sweep; the worker process, on the same database, publishes what the API
wrote."""

from __future__ import annotations

import asyncpg
import httpx

from libs.events.envelope import from_kafka
from libs.infra.provision import BrokerHandle
from services.profiles.app import spec as profiles
from tests.conftest import NewDatabase
from tests.integration.test_profiles import FUJIAN
from tests.support.backbone import eventually, records_of
from tests.support.serving import bearer, serving_kit, settings_for


async def _published(bootstrap: str, topic: str) -> list[tuple[str, str]]:
    envelopes = [from_kafka(r.key, r.value, r.headers) for r in await records_of(bootstrap, topic)]
    return [(e.customer_id, e.type) for e in envelopes]


async def test_the_api_role_answers_alone_and_the_worker_publishes_what_it_wrote(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str
) -> None:
    dsn = await new_database()
    prefix = f"{topic_prefix}."
    api = settings_for(profiles, dsn, broker.bootstrap_servers, role="api", topic_prefix=prefix)
    async with (
        serving_kit(profiles, api) as (url, kit),
        httpx.AsyncClient(base_url=url, headers=bearer("credit_analyst")) as http,
    ):
        ready = await http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}  # no broker, relay or consumer
        assert (kit.consumers, kit.sweeper, kit.relay_running()) == ([], None, False)
        created = await http.post("/customers", json=FUJIAN)
        assert created.status_code == 201, created.text
        customer = created.json()["customer_id"]
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 1  # written, and waiting for a worker
            worker = settings_for(profiles, dsn, broker.bootstrap_servers, role="worker", topic_prefix=prefix)
            async with serving_kit(profiles, worker) as (worker_url, _):
                async with httpx.AsyncClient(base_url=worker_url) as probe:
                    checks = (await probe.get("/health/ready")).json()["checks"]
                assert {"database", "broker", "relay"} <= set(checks)
                assert any(name.startswith("consumer ") for name in checks)

                async def relayed() -> bool:
                    return bool(await conn.fetchval("SELECT count(*) FROM outbox") == 0)

                await eventually(relayed, what="the worker's relay publishing the API's event")
                assert (customer, "profiles.CustomerRegistered") in await _published(
                    broker.bootstrap_servers, f"{prefix}profiles.events"
                )
        finally:
            await conn.close()
