"""What a consumer receives: a parsed message, and the event it delivers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from libs.events.contracts import DomainEvent, EventDecodeError, EventRegistry, UnknownEventType
from libs.events.database import Connection
from libs.events.envelope import Envelope, EnvelopeError, from_kafka


@dataclass(frozen=True)
class Delivery:
    """One event as a consumer receives it."""

    topic: str
    partition: int
    offset: int
    envelope: Envelope
    event: DomainEvent

    @property
    def customer_id(self) -> str:
        return self.envelope.customer_id

    @property
    def stream_id(self) -> str:
        return self.envelope.subject

    @property
    def version(self) -> int:
        return self.envelope.stream_version


Handler = Callable[[Connection, Delivery], Awaitable[None]]
# A handler that takes a batch in order, so a projection can write it in few round trips.
BatchHandler = Callable[[Connection, Sequence[Delivery]], Awaitable[None]]


@dataclass(frozen=True)
class Message:
    """A raw record and what parsing it gave: a delivery, or the reason it is unusable."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    delivery: Delivery | None
    error: str | None
    error_type: str | None

    @property
    def customer_id(self) -> str | None:
        if self.delivery is not None:
            return self.delivery.customer_id
        return self.key.decode("utf-8", errors="replace") if self.key else None

    @property
    def event_id(self) -> str | None:
        return str(self.delivery.envelope.id) if self.delivery else header(self.headers, "ce_id")


def parse(
    registry: EventRegistry,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
) -> Message:
    headers = tuple(headers or ())
    try:
        envelope = from_kafka(key, value, headers)
        event = registry.decode(envelope.type, envelope.schema_version, envelope.data)
    except (EnvelopeError, EventDecodeError, UnknownEventType) as exc:
        return Message(topic, partition, offset, key, value, headers, None, str(exc), type(exc).__name__)
    delivery = Delivery(topic, partition, offset, envelope, event)
    return Message(topic, partition, offset, key, value, headers, delivery, None, None)


def header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for n, v in headers:
        if n == name and v is not None:
            return v.decode("utf-8", errors="replace")
    return None


def headers_json(headers: Sequence[tuple[str, bytes]]) -> str:
    return json.dumps([[n, v.decode("utf-8", errors="replace") if v is not None else None] for n, v in headers])


def headers_from_json(raw: str | list[Any]) -> list[tuple[str, bytes]]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [(n, v.encode() if v is not None else b"") for n, v in items]
