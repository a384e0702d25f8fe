"""Messages that receivables consumes: customers from profiles.events, documents from the ERP."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from contracts import erp
from libs.service.settings import ServiceSettings
from tools.erp_simulator import envelope

Record = Any


def customer_registered(customer_id: str, erp_id: str | None, name: str) -> Record:
    data = {
        "customer_id": customer_id,
        "legal_name": name,
        "registration": {"scheme": "OTHER", "number": f"REG-{customer_id}", "country": "CN"},
        "erp_id": erp_id,
    }
    return envelope("profiles", "profiles.CustomerRegistered", 2, f"customer-{customer_id}", 1, customer_id, data)


def document(kind: type[erp.ErpDocument], document_id: str, revision: int, erp_customer: str, **data: Any) -> Record:
    """An ERP document as the ERP publishes it: keyed by its customer, the revision as stream version."""
    return envelope(
        "erp", kind.event_type, 1, document_id, revision, erp_customer, {"customer_erp_id": erp_customer, **data}
    )


async def send(settings: ServiceSettings, topic: str, *records: Record) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                settings.topic_name(topic), record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


def money(amount: str, currency: str = "CNY") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def invoice_data(
    number: str, net: str, issued: str, *, tax: str = "0.00", currency: str = "CNY", **terms: Any
) -> dict[str, Any]:
    return {
        "number": number,
        "net": money(net, currency),
        "tax": money(tax, currency),
        "issue_date": issued,
        "terms": terms or {"net_days": 30},
    }
