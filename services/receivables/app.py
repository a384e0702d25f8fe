"""Composition root of receivables."""

from __future__ import annotations

from libs.events.contracts import EventRegistry
from libs.service.kit import ConsumerSpec, ServiceSpec
from services import directory
from services.profiles.events import registry as profiles_events
from services.receivables import api, erp, events, projections, reactions, sweeps
from services.receivables.accounts import accounts_of

spec = ServiceSpec(
    name="receivables",
    description="The receivables ledger: invoices, payments, credit notes, disputes, aging, statements.",
    registry=EventRegistry.combine(events.registry, erp.registry, profiles_events),
    default_port=8102,
    read_model=[*directory.READ_MODEL, *projections.READ_MODEL],
    own_projection=projections.project,
    routers=[api.router],
    consumers=[
        ConsumerSpec("customers", ["profiles.events"], batch_handler=reactions.customers_registered),
        ConsumerSpec(
            erp.CONSUMER,
            list(erp.TOPICS),
            make_batch_handler=lambda store: reactions.erp_documents(accounts_of(store), store.clock),
            batch_size=2000,  # a document costs little once its account is in memory; round trips dominate
            revisions_supersede=True,
        ),
    ],
    sweeps=sweeps.sweeps,
)
