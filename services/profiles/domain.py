"""The credit file as pure functions: decide(state, command) -> events, evolve(state, event)."""

from __future__ import annotations

from dataclasses import dataclass

from libs.events.contracts import DomainEvent
from services.profiles.events import CustomerRegistered, ProfileUpdated


class Refused(Exception):
    """A command the credit file does not accept, with the reason."""


@dataclass(frozen=True)
class CreditFile:
    registered: bool = False
    legal_name: str = ""


@dataclass(frozen=True)
class RegisterCustomer:
    customer_id: str
    legal_name: str
    registration_number: str
    country: str


def stream_id(customer_id: str) -> str:
    return f"customer-{customer_id}"


def register(state: CreditFile, command: RegisterCustomer) -> list[DomainEvent]:
    if state.registered:
        raise Refused(f"customer {command.customer_id} is already registered")
    return [
        CustomerRegistered(
            customer_id=command.customer_id,
            legal_name=command.legal_name,
            registration_number=command.registration_number,
            country=command.country,
        )
    ]


@dataclass(frozen=True)
class UpdateProfile:
    customer_id: str
    legal_name: str


def update(state: CreditFile, command: UpdateProfile) -> list[DomainEvent]:
    if not state.registered:
        raise Refused(f"customer {command.customer_id} is not registered")
    if command.legal_name == state.legal_name:
        return []
    return [ProfileUpdated(customer_id=command.customer_id, legal_name=command.legal_name)]


def evolve(state: CreditFile, event: DomainEvent) -> CreditFile:
    if isinstance(event, CustomerRegistered):
        return CreditFile(registered=True, legal_name=event.legal_name)
    if isinstance(event, ProfileUpdated):
        return CreditFile(registered=True, legal_name=event.legal_name)
    return state
