"""Composition root of receivables."""

from __future__ import annotations

from libs.service.kit import ServiceSpec
from services import directory
from services.profiles.events import registry as profiles_events

spec = ServiceSpec(
    name="receivables",
    description="The receivables ledger: invoices, payments, credit notes, disputes, aging, statements.",
    registry=profiles_events,
    default_port=8102,
    read_model=directory.READ_MODEL,
    consumers=[directory.CONSUMER],
)
