"""The ERP's customer master, arriving on erp.customers, applied to the credit files.

The ERP publishes CloudEvents like Credo's own: the subject is its customer id, the stream
version the document's revision. So the same revision delivered twice is applied once, and
a correction (a higher revision) updates the file. The reaction runs in the consumer's
transaction: the credit file's events and the consumer's offset commit together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

from libs.events.consumer import BatchHandler, Delivery
from libs.events.contracts import DomainEvent, EventRegistry
from libs.events.database import Connection
from libs.events.store import EventContext, EventStore
from services.profiles import domain
from services.profiles.events import CompanySize, Registration
from services.profiles.registration import normalise

TOPIC = "erp.customers"


class CustomerMaster(DomainEvent):
    """The ERP's record of a customer; every revision carries the whole record."""

    event_type = "erp.CustomerMaster"
    schema_version = 1

    erp_id: str
    legal_name: str
    registration: Registration
    industry: str | None = None
    size: CompanySize | None = None
    address: str | None = None
    customer_since: date | None = None


registry = EventRegistry([CustomerMaster])


def customer_id_for(erp_id: str) -> str:
    """The same ERP customer always becomes the same credit file, however often it arrives."""
    return "C-" + hashlib.sha256(f"erp:{erp_id}".encode()).hexdigest()[:12].upper()


def make_reaction(store: EventStore) -> BatchHandler:
    async def apply_customer_master(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            master = delivery.event
            assert isinstance(master, CustomerMaster)
            await _apply(store, conn, master, EventContext.caused_by(delivery.envelope))

    return apply_customer_master


async def _apply(store: EventStore, conn: Connection, master: CustomerMaster, context: EventContext) -> None:
    number = normalise(master.registration.scheme, master.registration.number)
    row = await conn.fetchrow(
        "SELECT customer_id, erp_id FROM customers WHERE erp_id = $1"
        " OR (scheme = $2 AND country = $3 AND registration_number = $4) ORDER BY erp_id = $1 DESC LIMIT 1",
        master.erp_id,
        master.registration.scheme,
        master.registration.country,
        number,
    )
    if row is not None and row["erp_id"] not in (None, master.erp_id):
        raise domain.Refused(
            f"registration {number} belongs to customer {row['customer_id']}, which is ERP "
            f"customer {row['erp_id']}, not {master.erp_id}"
        )
    # A file opened by hand for the same registration is linked to the ERP's record.
    customer_id = row["customer_id"] if row is not None else customer_id_for(master.erp_id)
    stream = domain.stream_id(customer_id)
    history = await store.load(stream, conn)
    state = domain.CreditFile()
    for recorded in history:
        state = domain.evolve(state, recorded.event)
    profile = domain.Profile(master.legal_name, master.industry, master.size, master.address, master.erp_id)
    if state.registered:
        events = domain.update_profile(state, domain.UpdateProfile(profile))
    else:
        events = domain.register(
            state, domain.RegisterCustomer(customer_id, profile, master.registration, master.customer_since)
        )
    await store.append(
        stream, history[-1].version if history else 0, events, customer_id=customer_id, context=context, conn=conn
    )
