"""Services of the kit on one topic prefix, each with its own database, on one business date; the
ERP's documents and what the services published, as a test drives and reads them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events.clock import SettableClock
from libs.events.database import create_pool
from libs.infra.provision import BrokerHandle
from libs.service.kit import Kit
from libs.service.settings import ServiceSettings
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.ledger import invoice_data, money
from tests.support.serving import ERP_KEY, bearer, serving_kit, settings_for


@dataclass
class Service:
    http: httpx.AsyncClient
    kit: Kit
    settings: ServiceSettings

    async def post(self, path: str, body: dict[str, Any] | None = None, by: tuple[str, str] | None = None) -> Any:
        """POST as the person ``by`` (name, role), or else as the ERP; answers the body of a 2xx."""
        response = await self.send(path, body, by)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def send(self, path: str, body: dict[str, Any] | None = None, by: tuple[str, str] | None = None) -> Any:
        headers = bearer(by[1], subject=by[0]) if by else {}
        return await self.http.post(path, json=body or {}, headers=headers)

    async def get(self, path: str) -> Any:
        return await self.get_as(path, ("tester", "viewer"))

    async def get_as(self, path: str, by: tuple[str, str]) -> Any:
        """GET as the person ``by`` (name, role); answers the body of a 200."""
        response = await self.http.get(path, headers=bearer(by[1], subject=by[0]))
        assert response.status_code == 200, response.text
        return response.json()

    async def at(self, day: str) -> None:
        self.set_clock(day)
        await self.sweep()

    def set_clock(self, day: str) -> None:
        clock = self.kit.clock
        assert isinstance(clock, SettableClock)
        clock.set(date.fromisoformat(day))

    async def sweep(self) -> None:
        if self.kit.sweeper is not None:
            await self.kit.sweeper.run_due()


@contextlib.asynccontextmanager
async def stack(
    new_database: NewDatabase, broker: BrokerHandle, *specs: Any, day: str
) -> AsyncIterator[dict[str, Service]]:
    """The named services on one topic prefix, each with its own database, on the same business date."""
    prefix = f"t{id(specs) % 10**8}{date.today():%j}."
    async with contextlib.AsyncExitStack() as stack:
        running: dict[str, Service] = {}
        for spec in specs:
            settings = settings_for(
                spec,
                await new_database(),
                broker.bootstrap_servers,
                business_date=day,
                topic_prefix=prefix,
                api_keys=f"erp:{ERP_KEY}:erp",
            )
            url, kit = await stack.enter_async_context(serving_kit(spec, settings))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, headers={"X-API-Key": ERP_KEY}))
            running[spec.name] = Service(http, kit, settings)
        yield running


async def all_at(services: dict[str, Service], day: str) -> None:
    """One business date for the whole stack: every clock moves before any sweep runs, so no
    service reacts to another's sweep while its own clock is still on the day before."""
    for service in services.values():
        service.set_clock(day)
    for service in services.values():
        await service.sweep()


async def topic_events(settings: ServiceSettings, topic: str, types: set[str], count: int) -> list[dict[str, Any]]:
    """The first ``count`` events of these types on a topic, read from its start as the ERP would."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        name = settings.topic_name(topic)
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or {0})]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        found: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if headers["ce_type"] in types:
                        found.append(
                            {"type": headers["ce_type"], "time": headers["ce_time"], **json.loads(record.value)}
                        )
        return found
    finally:
        await consumer.stop()


def cny(amount: str) -> dict[str, str]:
    return money(amount, "CNY")


async def erp_invoice(ledger: Service, doc: str, number: str, net: str, issued: str, **kw: Any) -> None:
    body = {"document_id": doc, "revision": 1, "customer_erp_id": "K-1", **invoice_data(number, net, issued), **kw}
    await ledger.post("/erp/invoices", body)


async def erp_payment(
    ledger: Service, doc: str, amount: str, on: str, invoices: list[str], erp_id: str = "K-1"
) -> None:
    remittance = [{"invoice_number": n} for n in invoices]
    body = {
        "document_id": doc,
        "revision": 1,
        "customer_erp_id": erp_id,
        "amount": cny(amount),
        "value_date": on,
        "method": "bank_transfer",
        "remittance": remittance,
    }
    await ledger.post("/erp/payments", body)


async def known_everywhere(services: dict[str, Service], customer_id: str | None = None) -> None:
    """Every service in the stack knows a customer (``customer_id``, or any)."""
    for service in services.values():
        pool = await create_pool(service.settings.database_url, min_size=1, max_size=1)

        async def known(pool: Any = pool) -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM customers WHERE $1::text IS NULL OR customer_id = $1", customer_id
                )
            )

        await eventually(known, what=f"the customer in {service.kit.spec.name}")
        await pool.close()
