"""Composition root of scoring."""

from __future__ import annotations

from libs.service.kit import ServiceSpec
from services import directory
from services.profiles.events import registry as profiles_events

spec = ServiceSpec(
    name="scoring",
    description="Scores, grades, credit limits and terms, approvals and the credit check.",
    registry=profiles_events,
    default_port=8103,
    read_model=directory.READ_MODEL,
    consumers=[directory.CONSUMER],
)
