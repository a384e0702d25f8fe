"""Composition root of scoring."""

from __future__ import annotations

from libs.events.contracts import EventRegistry
from libs.service.kit import ConsumerSpec, ServiceSpec
from services import directory
from services.profiles.events import registry as profiles_events
from services.receivables.events import registry as receivables_events
from services.scoring import api, events, projections, reactions, sweeps

spec = ServiceSpec(
    name="scoring",
    description="Scores, grades, credit limits and terms, approvals and the credit check.",
    registry=EventRegistry.combine(events.registry, profiles_events, receivables_events),
    default_port=8103,
    read_model=[*directory.READ_MODEL, *projections.READ_MODEL],
    own_projection=projections.project,
    routers=[api.router],
    hot_routes=api.HOT_ROUTES,
    consumers=[
        ConsumerSpec(
            "facts",
            ["profiles.events", "receivables.events"],
            make_batch_handler=lambda store: reactions.make_reaction(store, store.clock),
            batch_size=1000,
        )
    ],
    sweeps=sweeps.sweeps,
)
