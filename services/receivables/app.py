"""Composition root of receivables."""

from __future__ import annotations

from collections.abc import Sequence

from libs.events.consumer import Delivery
from libs.events.contracts import EventRegistry
from libs.events.database import Connection
from libs.events.dead_letters import request_redrive
from libs.service.kit import ConsumerSpec, ServiceSpec
from services import directory
from services.profiles.events import registry as profiles_events
from services.receivables import api, erp, events, projections, sweeps
from services.receivables.accounts import accounts_of

ERP_CONSUMER = "receivables.erp-documents"  # the kit names consumers <service>.<name>


async def project_directory(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    """The customer directory; an ERP document that waited for its customer is re-driven when it arrives."""
    await directory.project(conn, deliveries)
    for erp_id in directory.erp_ids(deliveries):
        await request_redrive(conn, consumer=ERP_CONSUMER, customer_id=erp_id)


spec = ServiceSpec(
    name="receivables",
    description="The receivables ledger: invoices, payments, credit notes, disputes, aging, statements.",
    registry=EventRegistry.combine(events.registry, erp.registry, profiles_events),
    default_port=8102,
    read_model=[*directory.READ_MODEL, *projections.READ_MODEL],
    own_projection=projections.project,
    routers=[api.router],
    consumers=[
        ConsumerSpec("customers", ["profiles.events"], batch_handler=project_directory),
        ConsumerSpec(
            ERP_CONSUMER.split(".", 1)[1],
            list(erp.TOPICS),
            make_batch_handler=lambda store: erp.make_reaction(accounts_of(store)),
            batch_size=2000,  # a document costs little once its account is in memory; round trips dominate
        ),
    ],
    sweeps=sweeps.sweeps,
)
