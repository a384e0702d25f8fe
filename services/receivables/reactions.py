"""What receivables does when others' events arrive: the ERP's documents become ledger events, a
customer registered in profiles lets the documents that waited for it be applied, a dispute a
collector recorded is opened on its invoice, credit-insurance covers are kept for the provision's
segments, and the fees and interest of a notice are booked."""

from __future__ import annotations

from collections.abc import Sequence

from contracts import erp
from contracts.collections import ChargesPosted, CollectorAssigned, DisputeRequested, PromiseMade
from contracts.profiles import InsuranceCoverCancelled, InsuranceCoverRecorded
from contracts.scoring import CustomerScored
from libs.events.consumer import BatchHandler, Delivery
from libs.events.database import Connection
from libs.events.dead_letters import request_redrive
from libs.events.store import EventContext
from libs.service.directory import Directory
from services.receivables import handlers

ERP_DOCUMENTS = "erp-documents"  # the consumer of the ERP's topics
ERP_CONSUMER = f"receivables.{ERP_DOCUMENTS}"  # the kit names consumers <service>.<name>


def erp_documents(parts: handlers.Parts) -> BatchHandler:
    async def apply_erp_documents(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        received = [
            handlers.ErpDocumentReceived(_document(d), d.stream_id, d.version, EventContext.caused_by(d.envelope))
            for d in deliveries
        ]
        await handlers.receive_erp_documents(parts, conn, received)

    return apply_erp_documents


def _document(delivery: Delivery) -> erp.ErpDocument:
    event = delivery.event
    assert isinstance(event, erp.ErpInvoice | erp.ErpPayment | erp.ErpCreditNote), event
    if delivery.version < 1:
        raise ValueError(f"document {delivery.stream_id} has revision {delivery.version}; revisions start at 1")
    return event


async def record_segment(conn: Connection, delivery: Delivery, kind: str, value: str) -> None:
    """A customer's grade or collector from the business date of the event that gave it."""
    await conn.execute(
        "INSERT INTO customer_segments (customer_id, kind, value, since) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (customer_id, kind, since) DO UPDATE SET value = excluded.value",
        delivery.customer_id,
        kind,
        value,
        delivery.envelope.time.date(),
    )


async def record_cover(
    conn: Connection, delivery: Delivery, event: InsuranceCoverRecorded | InsuranceCoverCancelled
) -> None:
    """A cover recorded (or renewed) or cancelled, from the business date of the event (the latest
    of a day under a policy stands)."""
    if isinstance(event, InsuranceCoverRecorded):
        kind, expires_on, cancelled_on = "recorded", event.expires_on, None
    else:
        kind, expires_on, cancelled_on = "cancelled", None, event.cancelled_on
    await conn.execute(
        "INSERT INTO insurance_covers (customer_id, policy_number, recorded_on, kind, expires_on, cancelled_on)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id, policy_number, recorded_on, kind)"
        " DO UPDATE SET expires_on = excluded.expires_on, cancelled_on = excluded.cancelled_on",
        event.customer_id,
        event.policy_number,
        delivery.envelope.time.date(),
        kind,
        expires_on,
        cancelled_on,
    )


def grades() -> BatchHandler:
    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            if isinstance(delivery.event, CustomerScored):
                await record_segment(conn, delivery, "grade", delivery.event.grade)

    return react


def customers_and_collections(parts: handlers.Parts, directory: Directory) -> BatchHandler:
    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        """The customer directory (an ERP document that waited for its customer is re-driven when it
        arrives); the disputes collectors record on their contacts, opened on the invoice; the
        charges of the notices that go out, booked on the account."""
        for entry in await directory.project(conn, deliveries):
            if entry.erp_id is not None:
                await request_redrive(conn, consumer=ERP_CONSUMER, customer_id=entry.erp_id)
        for delivery in deliveries:
            event = delivery.event
            command: handlers.AccountCommand
            match event:
                case CollectorAssigned():
                    await record_segment(conn, delivery, "collector", event.collector)
                    continue
                case InsuranceCoverRecorded() | InsuranceCoverCancelled():
                    await record_cover(conn, delivery, event)
                    continue
                case PromiseMade():
                    await conn.execute(
                        "INSERT INTO promises_made (customer_id, promise_id, amount, currency, made_on, recorded_on)"
                        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        event.customer_id,
                        event.promise_id,
                        event.amount.amount,
                        event.amount.currency,
                        event.made_on,
                        delivery.envelope.time.date(),
                    )
                    continue
                case DisputeRequested():
                    amount = event.amount.amount
                    command = handlers.OpenDispute(
                        event.customer_id, event.request_id, event.invoice_id, amount, event.reason, event.by
                    )
                case ChargesPosted():
                    command = handlers.BookCharges(event.customer_id, event.step_id, event.business_date, event.charges)
                case _:
                    continue
            await handlers.on_account(parts, conn, command)

    return react
