"""Composition root of alerts."""

from __future__ import annotations

from libs.service.kit import ServiceSpec
from services import directory
from services.profiles.events import registry as profiles_events

spec = ServiceSpec(
    name="alerts",
    description="Early-warning alerts to people, dashboards and the ERP.",
    registry=profiles_events,
    default_port=8105,
    read_model=directory.READ_MODEL,
    consumers=[directory.CONSUMER],
)
