"""Composition root of profiles."""

from __future__ import annotations

from libs.service.kit import ServiceSpec
from services.profiles import api, events, projections

spec = ServiceSpec(
    name="profiles",
    description="Customer credit files: identity, contacts, financial statements, bureau reports, cover.",
    registry=events.registry,
    default_port=8101,
    read_model=projections.READ_MODEL,
    own_projection=projections.project,
    routers=[api.router],
)
