"""What profiles does when others' events arrive: the ERP's customer master opens or updates a file.

The ERP publishes CloudEvents like Credo's own: the subject is its customer id, the stream
version the document's revision. So the same revision delivered twice is applied once, and a
correction (a higher revision) updates the file. The reaction runs in the consumer's
transaction: the credit file's events and the consumer's offset commit together.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.erp import CustomerMaster
from libs.events.consumer import BatchHandler, Delivery
from libs.events.database import Connection
from libs.events.store import EventContext
from services.profiles import handlers


def customer_master(parts: handlers.Parts) -> BatchHandler:
    async def apply_customer_master(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            master = delivery.event
            assert isinstance(master, CustomerMaster)
            command = handlers.ApplyCustomerMaster(master, EventContext.caused_by(delivery.envelope))
            await handlers.apply_customer_master(parts, conn, command)

    return apply_customer_master
