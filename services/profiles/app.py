"""Composition root of profiles."""

from __future__ import annotations

from libs.events.contracts import EventRegistry
from libs.service.kit import ConsumerSpec, ServiceSpec
from services.profiles import api, credit_standing, erp, events, projections, sweeps

spec = ServiceSpec(
    name="profiles",
    description="Customer credit files: identity, contacts, financial statements, bureau reports, cover.",
    registry=EventRegistry.combine(events.registry, erp.registry, credit_standing.registry),
    default_port=8101,
    read_model=projections.READ_MODEL,
    own_projection=projections.project,
    routers=[api.router],
    consumers=[
        ConsumerSpec("erp-customers", [erp.TOPIC], make_batch_handler=erp.make_reaction, revisions_supersede=True),
        credit_standing.CONSUMER,
    ],
    sweeps=sweeps.sweeps,
)
