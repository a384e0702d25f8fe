"""Composition root of profiles: the service's parts, built once, and how they are wired."""

from __future__ import annotations

from contracts import erp as erp_documents
from contracts import profiles as events
from contracts import scoring as scoring_events
from libs.events.contracts import EventRegistry
from libs.service.kit import ConsumerSpec, Kit, ServiceSpec
from services.profiles import adapters, api, handlers, projections, queries, reactions, sweeps
from services.profiles.settings import BureauSettings


def assemble(kit: Kit) -> handlers.Parts:
    return handlers.Parts(
        store=kit.store,
        files=handlers.credit_files(kit.store),
        clock=kit.clock,
        registrations=queries.ReadModelRegistrations(),
        bureau=adapters.configured_bureau(BureauSettings()),
    )


spec = ServiceSpec(
    name="profiles",
    description="Customer credit files: identity, contacts, financial statements, bureau reports, cover.",
    registry=EventRegistry.combine(events.registry, erp_documents.customers, scoring_events.registry),
    default_port=8101,
    read_model=projections.READ_MODEL,
    own_projection=projections.project,
    routers=[api.router],
    hot_routes=api.HOT_ROUTES,
    assemble=assemble,
    consumers=[
        ConsumerSpec(
            "erp-customers",
            [erp_documents.CUSTOMERS],
            make_batch_handler=lambda kit: reactions.customer_master(kit.parts),
            revisions_supersede=True,
        ),
        ConsumerSpec("credit-standing", [projections.STANDING_TOPIC], batch_handler=projections.project_standing),
    ],
    sweeps=sweeps.sweeps,
)
