"""Composition root of scoring: the service's parts, built once, and how they are wired."""

from __future__ import annotations

from contracts import collections as collections_events
from contracts import scoring as events
from contracts.profiles import registry as profiles_events
from contracts.receivables import registry as receivables_events
from libs.events.contracts import EventRegistry
from libs.service.directory import READ_MODEL as DIRECTORY_READ_MODEL
from libs.service.directory import DirectoryCustomers
from libs.service.kit import ConsumerSpec, Kit, ServiceSpec
from services.scoring import api, handlers, payment_dates_api, projections, reactions, sweeps
from services.scoring.settings import ScoringSettings, policies_from


def assemble(kit: Kit) -> handlers.Parts:
    own = ScoringSettings()
    policies = policies_from(own)
    base = kit.settings.base_currency
    return handlers.Parts(
        store=kit.store,
        accounts=handlers.credit_accounts(kit.store),
        clock=kit.clock,
        customers=DirectoryCustomers(),
        base_currency=base,
        policies=policies,
        desk=handlers.CheckDesk(kit.store, policies, base, own.reservation_days),
    )


spec = ServiceSpec(
    name="scoring",
    description="Scores, grades, credit limits and terms, approvals and the credit check.",
    registry=EventRegistry.combine(events.registry, profiles_events, receivables_events, collections_events.registry),
    default_port=8103,
    read_model=[*DIRECTORY_READ_MODEL, *projections.READ_MODEL],
    own_projection=projections.project,
    routers=[api.router, payment_dates_api.router],
    hot_routes=api.HOT_ROUTES,
    assemble=assemble,
    consumers=[
        ConsumerSpec(
            "facts",
            ["profiles.events", "receivables.events", "collections.events"],
            make_batch_handler=lambda kit: reactions.facts_and_scores(kit.parts),
            batch_size=1000,
        )
    ],
    sweeps=sweeps.sweeps,
)
