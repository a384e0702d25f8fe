"""What receivables does when others' events arrive: the ERP's documents become ledger events,
and a customer registered in profiles lets the documents that waited for it be applied."""

from __future__ import annotations

from collections.abc import Sequence

from libs.events.clock import BusinessClock
from libs.events.consumer import BatchHandler, Delivery
from libs.events.database import Connection
from libs.events.dead_letters import request_redrive
from libs.events.store import EventContext
from services import directory
from services.receivables import erp, handlers
from services.receivables.accounts import Accounts

ERP_CONSUMER = f"receivables.{erp.CONSUMER}"  # the kit names consumers <service>.<name>


def erp_documents(accounts: Accounts, clock: BusinessClock) -> BatchHandler:
    async def apply_erp_documents(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        received = [
            handlers.ErpDocumentReceived(erp.document_of(d), d.stream_id, d.version, EventContext.caused_by(d.envelope))
            for d in deliveries
        ]
        await handlers.receive_erp_documents(conn, accounts, received, clock.today())

    return apply_erp_documents


async def customers_registered(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    """The customer directory; an ERP document that waited for its customer is re-driven when it arrives."""
    await directory.project(conn, deliveries)
    for erp_id in directory.erp_ids(deliveries):
        await request_redrive(conn, consumer=ERP_CONSUMER, customer_id=erp_id)
