"""The contract of profiles.events: what other services and the ERP may rely on."""

from __future__ import annotations

from libs.events.contracts import DomainEvent, EventRegistry


class CustomerRegistered(DomainEvent):
    """A customer's credit file was opened."""

    event_type = "profiles.CustomerRegistered"
    schema_version = 1

    customer_id: str
    legal_name: str
    registration_number: str
    country: str  # ISO 3166-1 alpha-2


class ProfileUpdated(DomainEvent):
    """A customer's identity details were corrected or changed."""

    event_type = "profiles.ProfileUpdated"
    schema_version = 1

    customer_id: str
    legal_name: str


PUBLISHED: list[type[DomainEvent]] = [CustomerRegistered, ProfileUpdated]
registry = EventRegistry(PUBLISHED)
