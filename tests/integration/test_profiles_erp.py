"""The ERP's customer master on erp.customers: applied once, corrected once, dead-lettered with the reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from libs.events.dead_letters import list_dead_letters, request_redrive
from libs.events.envelope import Envelope, to_kafka
from libs.infra.provision import BrokerHandle
from services.profiles import erp
from services.profiles.app import spec as profiles
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.serving import bearer, serving, settings_for


def master(erp_id: str, revision: int, **fields: Any) -> Any:
    data = {
        "erp_id": erp_id,
        "legal_name": f"Customer {erp_id}",
        "registration": {"scheme": "OTHER", "number": f"REG-{erp_id}", "country": "DE"},
        **fields,
    }
    return to_kafka(
        Envelope(
            id=uuid.uuid4(),
            source="erp",
            type="erp.CustomerMaster",
            time=datetime.now(UTC),
            subject=f"erp-customer-{erp_id}",
            stream_version=revision,
            schema_version=1,
            customer_id=erp_id,
            data=data,
        )
    )


async def _send(bootstrap: str, topic: str, *records: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


async def test_erp_documents_applied_once_corrected_once_and_dead_lettered_once(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    dsn = await new_database()
    settings = settings_for(profiles, dsn, broker.bootstrap_servers)
    async with serving(profiles, settings) as url, httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        assert pool is not None

        async def events_of(customer_id: str) -> list[str]:
            rows = await pool.fetch(
                "SELECT event_type FROM events WHERE customer_id = $1 ORDER BY version", customer_id
            )
            return [r["event_type"] for r in rows]

        first, correction = master("K-1", 1), master("K-1", 2, legal_name="Customer K-1 GmbH")
        broken_check = master(
            "K-2", 1, registration={"scheme": "CN-USCC", "number": "91350100M000100Y44", "country": "CN"}
        )
        broken_contract = master("K-3", 1, legal_name=None)
        # Twice, out of order with its correction, and two that do not fit.
        await _send(
            settings.kafka_bootstrap_servers,
            settings.topic_name(erp.TOPIC),
            first,
            first,
            correction,
            first,
            broken_check,
            broken_contract,
            master("K-2", 2),
            master("K-4", 1),
        )

        k1, k4 = erp.customer_id_for("K-1"), erp.customer_id_for("K-4")

        async def settled() -> bool:
            return len(await events_of(k4)) == 1 and len(await list_dead_letters(pool)) == 3

        await eventually(settled, what="all documents handled")
        assert await events_of(k1) == ["profiles.CustomerRegistered", "profiles.ProfileUpdated"]
        file = (await http.get(f"/customers/{k1}")).json()
        assert (file["legal_name"], file["erp_id"], file["version"]) == ("Customer K-1 GmbH", "K-1", 2)

        letters = await list_dead_letters(pool)
        reasons = {d.customer_id: (d.status, d.reason) for d in letters if d.status == "dead"}
        assert "the first 17 characters require '3'" in reasons["K-2"][1]
        assert "legal_name" in reasons["K-3"][1]
        assert [d.stream_version for d in letters if d.status == "waiting"] == [2]  # K-2's next revision waits
        assert await events_of(erp.customer_id_for("K-2")) == []

        # Nothing was fixed: a re-drive fails again for the same reason, and revision 2 keeps waiting.
        assert await request_redrive(pool, customer_id="K-2") == 1
        await eventually(lambda: _dead_again(pool, "K-2"), what="the re-drive attempted")
        assert [(d.status, d.stream_version) for d in await list_dead_letters(pool) if d.customer_id == "K-2"] == [
            ("dead", 1),
            ("waiting", 2),
        ]
        await pool.close()


async def _dead_again(pool: asyncpg.Pool, erp_id: str) -> bool:
    rows = await pool.fetch("SELECT status, attempts FROM dead_letters WHERE customer_id = $1 ORDER BY id", erp_id)
    return bool(rows) and rows[0]["status"] == "dead" and rows[0]["attempts"] > 3
