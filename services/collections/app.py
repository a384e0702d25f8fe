"""Composition root of collections."""

from __future__ import annotations

from libs.service.kit import ServiceSpec
from services import directory
from services.profiles.events import registry as profiles_events

spec = ServiceSpec(
    name="collections",
    description="Dunning, worklists, promises to pay, payment plans and escalation.",
    registry=profiles_events,
    default_port=8104,
    read_model=directory.READ_MODEL,
    consumers=[directory.CONSUMER],
)
