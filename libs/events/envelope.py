"""CloudEvents 1.0 envelope in Kafka binary content mode.

Attributes travel as ``ce_*`` headers, the event data as the JSON message value, and the
Kafka key is the customer id so that one customer's events keep their order in a topic.
Credo's extensions: ``streamversion`` and ``schemaversion`` (integers), ``partitionkey``
(the customer id, from the CloudEvents partitioning extension), ``correlationid``,
``causationid``, the distributed-tracing ``traceparent``, and ``actor``: who made the change (a
person or machine client, or the service whose event caused it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = list[tuple[str, bytes]]


class EnvelopeError(ValueError):
    """A Kafka record that is not a valid Credo CloudEvent, with the reason."""


@dataclass(frozen=True, slots=True)
class Envelope:
    id: UUID
    source: str
    type: str
    time: datetime
    subject: str  # the stream id
    stream_version: int
    schema_version: int
    customer_id: str
    data: dict[str, Any]
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    actor: str | None = None
    extra_headers: tuple[tuple[str, bytes], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    key: bytes
    value: bytes
    headers: Headers


def encode_data(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def to_kafka(envelope: Envelope, *, data_json: bytes | None = None) -> KafkaRecord:
    headers: Headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(envelope.id).encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_type", envelope.type.encode()),
        ("ce_time", envelope.time.astimezone(UTC).isoformat().replace("+00:00", "Z").encode()),
        ("ce_subject", envelope.subject.encode()),
        ("ce_streamversion", str(envelope.stream_version).encode()),
        ("ce_schemaversion", str(envelope.schema_version).encode()),
        ("ce_partitionkey", envelope.customer_id.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    for name, optional in (
        ("ce_correlationid", envelope.correlation_id),
        ("ce_causationid", envelope.causation_id),
        ("ce_traceparent", envelope.traceparent),
        ("ce_actor", envelope.actor),
    ):
        if optional:
            headers.append((name, optional.encode()))
    headers.extend(envelope.extra_headers)
    value = data_json if data_json is not None else encode_data(envelope.data)
    return KafkaRecord(key=envelope.customer_id.encode(), value=value, headers=headers)


REQUIRED_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "ce_streamversion",
    "ce_schemaversion",
)
_KNOWN = {
    *REQUIRED_HEADERS,
    "ce_partitionkey",
    "ce_correlationid",
    "ce_causationid",
    "ce_traceparent",
    "ce_actor",
    "content-type",
}


def header_map(headers: Headers | tuple[tuple[str, bytes], ...] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, raw in headers or ():
        try:
            result[name] = raw.decode() if raw is not None else ""
        except UnicodeDecodeError:
            result[name] = raw.decode("latin-1")
    return result


def from_kafka(
    key: bytes | None, value: bytes | None, headers: Headers | tuple[tuple[str, bytes], ...] | None
) -> Envelope:
    """Parse a Kafka record into an envelope; raise ``EnvelopeError`` naming every problem."""
    h = header_map(headers)
    problems = [f"missing header {name}" for name in REQUIRED_HEADERS if not h.get(name)]
    if key is None or not key:
        problems.append("missing Kafka key (the customer id)")
    if problems:
        raise EnvelopeError("; ".join(problems))
    assert key is not None
    if h["ce_specversion"] != SPEC_VERSION:
        problems.append(f"ce_specversion is {h['ce_specversion']!r}, expected {SPEC_VERSION}")
    if h.get("content-type", CONTENT_TYPE).split(";")[0].strip() != CONTENT_TYPE:
        problems.append(f"content-type is {h['content-type']!r}, expected {CONTENT_TYPE}")
    event_id = _parse(problems, "ce_id", h["ce_id"], UUID)
    time = _parse(problems, "ce_time", h["ce_time"], _parse_time)
    stream_version = _parse(problems, "ce_streamversion", h["ce_streamversion"], _positive_int)
    schema_version = _parse(problems, "ce_schemaversion", h["ce_schemaversion"], _positive_int)
    customer_id = key.decode("utf-8", errors="replace")
    if h.get("ce_partitionkey") and h["ce_partitionkey"] != customer_id:
        problems.append(f"ce_partitionkey {h['ce_partitionkey']!r} differs from the key {customer_id!r}")
    data: Any = None
    try:
        data = json.loads(value or b"")
    except ValueError as exc:
        problems.append(f"value is not JSON: {exc}")
    else:
        if not isinstance(data, dict):
            problems.append("value is not a JSON object")
    if problems:
        raise EnvelopeError("; ".join(problems))
    return Envelope(
        id=event_id,
        source=h["ce_source"],
        type=h["ce_type"],
        time=time,
        subject=h["ce_subject"],
        stream_version=stream_version,
        schema_version=schema_version,
        customer_id=customer_id,
        data=data,
        correlation_id=h.get("ce_correlationid") or None,
        causation_id=h.get("ce_causationid") or None,
        traceparent=h.get("ce_traceparent") or None,
        actor=h.get("ce_actor") or None,
        extra_headers=tuple((n, v) for n, v in headers or () if n not in _KNOWN),
    )


def _parse(problems: list[str], name: str, raw: str, parse: Any) -> Any:
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        problems.append(f"{name} {raw!r} is invalid: {exc}")
        return None


def _parse_time(raw: str) -> datetime:
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a time zone offset is required")
    return parsed


def _positive_int(raw: str) -> int:
    number = int(raw)
    if number < 1:
        raise ValueError("must be a positive integer")
    return number
