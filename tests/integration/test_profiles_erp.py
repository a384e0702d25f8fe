"""The ERP's customer master on erp.customers: applied once, corrected once, dead-lettered with the reason."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from contracts import erp as erp_documents
from libs.events.dead_letters import list_dead_letters
from libs.events.dead_letters import main as dead_letters_cli
from libs.events.envelope import Envelope, to_kafka
from libs.infra.provision import BrokerHandle
from services.profiles.app import spec as profiles
from services.profiles.domain import customer_id_for
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
            settings.topic_name(erp_documents.CUSTOMERS),
            first,
            first,
            correction,
            first,
            broken_check,
            broken_contract,
            master("K-2", 2),
            master("K-4", 1),
        )

        k1, k2, k4 = (customer_id_for(k) for k in ("K-1", "K-2", "K-4"))

        async def settled() -> bool:
            return len(await events_of(k4)) == 1 and len(await events_of(k2)) == 1

        await eventually(settled, what="all documents handled")
        assert await events_of(k1) == ["profiles.CustomerRegistered", "profiles.ProfileUpdated"]
        file = (await http.get(f"/customers/{k1}")).json()
        assert (file["legal_name"], file["erp_id"], file["version"]) == ("Customer K-1 GmbH", "K-1", 2)

        # K-2's broken revision 1 is superseded by the ERP's corrected revision 2, which is applied.
        everything = {
            (d.customer_id, d.stream_version): d for d in await list_dead_letters(pool, include_resolved=True)
        }
        superseded = everything[("K-2", 1)]
        assert superseded.status == "superseded"
        assert "the first 17 characters require '3'" in superseded.reason
        assert superseded.resolution is not None
        assert superseded.resolution.startswith("superseded by revision 2")
        assert (await http.get(f"/customers/{k2}")).json()["registration"]["number"] == "REG-K-2"

        # K-3 cannot be applied and never will: a person discards it, with the reason, and the
        # customer's next revision flows.
        (dead,) = await list_dead_letters(pool)
        assert (dead.customer_id, dead.status) == ("K-3", "dead")
        assert "legal_name" in dead.reason
        discard = ["discard", "--database-url", dsn, "--id", str(dead.id), "--reason", "test record, never real"]
        assert await asyncio.to_thread(dead_letters_cli, [*discard, "--by", "ops"]) == 0
        assert await list_dead_letters(pool) == []
        (discarded,) = [d for d in await list_dead_letters(pool, include_resolved=True) if d.customer_id == "K-3"]
        assert (discarded.status, discarded.resolution, discarded.resolved_by) == (
            "discarded",
            "test record, never real",
            "ops",
        )
        assert await asyncio.to_thread(dead_letters_cli, discard) == 1  # only a dead letter waiting can be
        await _send(settings.kafka_bootstrap_servers, settings.topic_name(erp_documents.CUSTOMERS), master("K-3", 2))
        await eventually(lambda: _registered(events_of, "K-3"), what="K-3's next revision applied")
        await pool.close()


async def _registered(events_of: Any, erp_id: str) -> bool:
    return bool(await events_of(customer_id_for(erp_id)))


async def test_the_masters_billing_contact_is_the_files_billing_contact(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    dsn = await new_database()
    settings = settings_for(profiles, dsn, broker.bootstrap_servers)
    async with serving(profiles, settings) as url, httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
        contact = {"name": "财务部", "email": "ap@k1.example", "phone": "+86 591 1234 5678"}
        moved = {**contact, "email": "finance@k1.example"}
        await _send(
            settings.kafka_bootstrap_servers,
            settings.topic_name(erp_documents.CUSTOMERS),
            master("K-1", 1, billing_contact=contact),
            master("K-1", 2, billing_contact=moved),
        )
        customer = customer_id_for("K-1")

        async def contacts() -> list[dict[str, Any]]:
            answer = await http.get(f"/customers/{customer}")
            return list(answer.json()["contacts"]) if answer.status_code == 200 else []

        async def moved_on() -> bool:
            return [c.get("email") for c in await contacts()] == ["finance@k1.example"]

        await eventually(moved_on, what="the contact of revision 2")
        (only,) = await contacts()
        assert (only["contact_id"], only["billing"], only["phone"]) == ("P-ERP-BILLING", True, "+86 591 1234 5678")


async def test_every_file_keeps_its_own_billing_contact_of_the_same_id(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    """Every master's billing contact is P-ERP-BILLING in its own file; one file's never replaces another's."""
    dsn = await new_database()
    settings = settings_for(profiles, dsn, broker.bootstrap_servers)
    async with serving(profiles, settings) as url, httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
        masters = [
            master(
                f"K-{n}",
                1,
                billing_contact={"name": f"财务部 {n}", "email": f"ap@k{n}.example", "phone": f"+86 591 0000 000{n}"},
            )
            for n in (1, 2, 3)
        ]
        await _send(settings.kafka_bootstrap_servers, settings.topic_name(erp_documents.CUSTOMERS), *masters)

        async def emails() -> list[list[str]]:
            found = []
            for n in (1, 2, 3):
                answer = await http.get(f"/customers/{customer_id_for(f'K-{n}')}")
                found.append([c["email"] for c in answer.json()["contacts"]] if answer.status_code == 200 else [])
            return found

        async def each_its_own() -> bool:
            return await emails() == [["ap@k1.example"], ["ap@k2.example"], ["ap@k3.example"]]

        await eventually(each_its_own, what="each file with its own billing contact")
