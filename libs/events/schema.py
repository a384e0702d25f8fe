"""Published contracts: JSON Schema for every event, an AsyncAPI 3 document for every topic,
and the compatibility rules that keep consumers working when an event changes.

A change is breaking when a consumer built against the committed contract could no longer
read an event: a field removed, a field's type changed, a field newly required, or a
schema version dropped without an upcaster from it. Adding an optional field is not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libs.events.contracts import DomainEvent, EventRegistry, Money
from libs.events.envelope import REQUIRED_HEADERS
from libs.events.topics import DEFAULT_PARTITIONS

JsonSchema = dict[str, Any]


@dataclass(frozen=True)
class TopicContract:
    topic: str
    service: str
    description: str
    events: Sequence[type[DomainEvent]] = ()
    dead_letter: bool = False
    registry: EventRegistry | None = None  # the publisher's, with its upcasters


def schema_file_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def event_schema(model: type[DomainEvent]) -> JsonSchema:
    schema = model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:credo:event:{model.event_type}:v{model.schema_version}",
        "x-event-type": model.event_type,
        "x-schema-version": model.schema_version,
        **schema,
        "title": model.event_type,
    }


def _headers_schema() -> JsonSchema:
    def text(description: str, **extra: Any) -> JsonSchema:
        return {"type": "string", "description": description, **extra}

    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode, plus Credo's extensions.",
        "required": [*REQUIRED_HEADERS, "content-type"],
        "properties": {
            "ce_specversion": text("CloudEvents version", const="1.0"),
            "ce_id": text("Unique id of the event", format="uuid"),
            "ce_source": text("The service that decided the event, e.g. receivables"),
            "ce_type": text("Stable event type name, e.g. receivables.InvoiceIssued"),
            "ce_time": text("When it happened, RFC 3339", format="date-time"),
            "ce_subject": text("The stream (aggregate) id"),
            "ce_streamversion": text("Version of the event in its stream, a positive integer", pattern="^[1-9][0-9]*$"),
            "ce_schemaversion": text("Schema version of the payload", pattern="^[1-9][0-9]*$"),
            "ce_partitionkey": text("The customer id; equal to the Kafka key"),
            "ce_correlationid": text("The request or message that started the chain"),
            "ce_causationid": text("The event that directly caused this one"),
            "ce_traceparent": text("W3C trace context"),
            "content-type": text("Media type of the value", const="application/json"),
        },
    }


def _dead_letter_headers() -> JsonSchema:
    return {
        "type": "object",
        "description": "The original message's key, value and headers, with the reason it was set aside.",
        "required": ["dlq_reason", "dlq_error_type", "dlq_consumer", "dlq_topic", "dlq_partition", "dlq_offset"],
        "properties": {
            "dlq_reason": {"type": "string", "description": "What is wrong, naming the fields"},
            "dlq_error_type": {"type": "string"},
            "dlq_consumer": {"type": "string", "description": "The consumer that could not apply it"},
            "dlq_topic": {"type": "string"},
            "dlq_partition": {"type": "string"},
            "dlq_offset": {"type": "string"},
            "dlq_id": {"type": "string", "description": "Dead letter id, for re-driving"},
        },
    }


def asyncapi_document(topics: Sequence[TopicContract], version: str) -> JsonSchema:
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "CloudEventHeaders": _headers_schema(),
        "DeadLetterHeaders": _dead_letter_headers(),
        "Money": Money.model_json_schema(),
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    key_binding = {"kafka": {"key": {"type": "string", "description": "The customer id"}, "bindingVersion": "0.5.0"}}
    for contract in topics:
        channel_messages: dict[str, Any] = {}
        if contract.dead_letter:
            messages[f"{contract.topic}.entry"] = {
                "name": "DeadLetter",
                "title": f"A message {contract.service} could not apply",
                "contentType": "application/json",
                "headers": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CloudEventHeaders"},
                        {"$ref": "#/components/schemas/DeadLetterHeaders"},
                    ]
                },
                "payload": {"description": "The original value, unchanged"},
                "bindings": key_binding,
            }
            channel_messages["DeadLetter"] = {"$ref": f"#/components/messages/{contract.topic}.entry"}
        for model in contract.events:
            name = model.event_type
            messages[name] = {
                "name": name.split(".", 1)[-1],
                "title": name,
                "summary": (model.__doc__ or "").strip().split("\n")[0],
                "contentType": "application/json",
                "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
                "payload": {"$ref": f"schemas/{schema_file_name(name, model.schema_version)}"},
                "bindings": key_binding,
                "x-schema-version": model.schema_version,
            }
            channel_messages[name.split(".", 1)[-1]] = {"$ref": f"#/components/messages/{name}"}
        channels[contract.topic] = {
            "address": contract.topic,
            "description": contract.description,
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "topic": contract.topic,
                    "partitions": DEFAULT_PARTITIONS,
                    "topicConfiguration": {"retention.ms": -1},
                    "bindingVersion": "0.5.0",
                }
            },
        }
        operations[f"{contract.service}.publishes.{contract.topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{contract.topic}"},
            "summary": f"{contract.service} publishes to {contract.topic}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Credo domain events",
            "version": version,
            "description": (
                "Every topic Credo's services publish. Each message is a CloudEvent in Kafka binary mode; "
                "the key is the customer id, so one customer's events keep their order within a topic. "
                "Money is a decimal string with an ISO 4217 code, never a float."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "localhost:9092", "protocol": "kafka", "description": "make dev's broker"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def generated_files(topics: Sequence[TopicContract], version: str) -> dict[str, str]:
    """Every file ``make asyncapi`` writes under contracts/, by relative path."""
    files = {"asyncapi.json": render(asyncapi_document(topics, version))}
    for contract in topics:
        for model in contract.events:
            files[f"schemas/{schema_file_name(model.event_type, model.schema_version)}"] = render(event_schema(model))
    return files


def write(directory: Path, files: dict[str, str]) -> list[str]:
    changed = []
    for relative, text in files.items():
        path = directory / relative
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(relative)
    return changed


# -- compatibility ------------------------------------------------------------------------


def _resolve(schema: JsonSchema, root: JsonSchema) -> JsonSchema:
    while "$ref" in schema and schema["$ref"].startswith("#/$defs/"):
        schema = root.get("$defs", {})[schema["$ref"].removeprefix("#/$defs/")]
    return schema


def _shape(schema: JsonSchema, root: JsonSchema) -> str:
    """A short description of what values a schema admits, for comparing types."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return " | ".join(sorted(_shape(s, root) for s in schema["anyOf"]))
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array<{_shape(schema.get('items', {}), root)}>"
    if kind == "object" and "properties" in schema:
        return "object"
    fmt = schema.get("format")
    return f"{kind}:{fmt}" if fmt else str(kind)


def breaking_changes(
    old: JsonSchema,
    new: JsonSchema,
    path: str = "",
    old_root: JsonSchema | None = None,
    new_root: JsonSchema | None = None,
) -> list[str]:
    """What a consumer of ``old`` would trip over in ``new``; empty when compatible."""
    old_root = old_root or old
    new_root = new_root or new
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_field in old_props.items():
        where = f"{path}{name}"
        if name not in new_props:
            problems.append(f"field {where} was removed")
            continue
        old_shape, new_shape = _shape(old_field, old_root), _shape(new_props[name], new_root)
        if old_shape != new_shape:
            problems.append(f"field {where} changed type from {old_shape} to {new_shape}")
        elif old_shape == "object":
            problems += breaking_changes(old_field, new_props[name], f"{where}.", old_root, new_root)
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"field {path}{name} is newly required")
    return problems


def compatibility_report(
    committed: dict[str, JsonSchema], registry: EventRegistry, upcasters: Iterable[tuple[str, int]]
) -> list[str]:
    """Every breaking change of the code's contracts against the committed schemas."""
    current = {(m.event_type, m.schema_version): event_schema(m) for m in registry.models.values()}
    have_upcaster = set(upcasters)
    problems = []
    for schema in committed.values():
        key = (schema["x-event-type"], schema["x-schema-version"])
        label = f"{key[0]} v{key[1]}"
        if key in current:
            problems += [f"{label}: {p}" for p in breaking_changes(schema, current[key])]
        elif not registry.knows(key[0]):
            problems.append(f"{label}: the event type was removed; stored and published events still use it")
        elif key[1] > registry.model(key[0]).schema_version:
            problems.append(f"{label}: the code went back to an older schema version")
        elif key not in have_upcaster:
            problems.append(f"{label}: no upcaster from version {key[1]}; events stored at it can no longer be read")
    return problems
