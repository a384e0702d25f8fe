"""Topic names every service and the catalogue agree on."""

from __future__ import annotations

DEFAULT_PARTITIONS = 6  # of the topics a service creates


def domain_topic(service: str) -> str:
    """The topic of a service's domain events."""
    return f"{service}.events"


def dead_letter_topic(service: str) -> str:
    """Where a service's consumers set aside what they could not apply."""
    return f"{service}.dlq"
