"""Composition root of collections."""

from __future__ import annotations

from contracts import profiles
from libs.service.directory import READ_MODEL, Directory
from libs.service.kit import ConsumerSpec, ServiceSpec

spec = ServiceSpec(
    name="collections",
    description="Dunning, worklists, promises to pay, payment plans and escalation.",
    registry=profiles.registry,
    default_port=8104,
    read_model=READ_MODEL,
    consumers=[
        ConsumerSpec("customers", ["profiles.events"], batch_handler=Directory(profiles.directory_entry).consumer())
    ],
)
