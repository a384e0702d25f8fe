"""Composition root of alerts."""

from __future__ import annotations

from contracts import profiles
from libs.service.directory import READ_MODEL, Directory
from libs.service.kit import ConsumerSpec, ServiceSpec

spec = ServiceSpec(
    name="alerts",
    description="Early-warning alerts to people, dashboards and the ERP.",
    registry=profiles.registry,
    default_port=8105,
    read_model=READ_MODEL,
    consumers=[
        ConsumerSpec("customers", ["profiles.events"], batch_handler=Directory(profiles.directory_entry).consumer())
    ],
)
