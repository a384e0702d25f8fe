"""Event contracts, the committed schemas, and the compatibility rules (no I/O beyond reading files)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from contracts import catalogue
from libs.events.contracts import DomainEvent, EventDecodeError, EventRegistry, Money, UnknownEventType
from libs.events.schema import (
    TopicContract,
    asyncapi_document,
    breaking_changes,
    compatibility_report,
    event_schema,
    generated_files,
)
from tests.support import tally

CONTRACTS = catalogue.CONTRACTS_DIR
ASYNCAPI_SCHEMA = json.loads((CONTRACTS / "vendor" / "asyncapi-3.0.0.schema.json").read_text())


def test_committed_contracts_match_the_code() -> None:
    for relative, text in generated_files(catalogue.topics(), catalogue.CONTRACTS_VERSION).items():
        path = CONTRACTS / relative
        assert path.exists(), f"contracts/{relative} is missing; run `make asyncapi`"
        assert path.read_text() == text, f"contracts/{relative} drifted from the code; run `make asyncapi`"


def test_committed_schemas_have_no_breaking_change() -> None:
    committed = {p.name: json.loads(p.read_text()) for p in (CONTRACTS / "schemas").glob("*.json")}
    registry = catalogue.registry()
    assert compatibility_report(committed, registry, registry.upcasters) == []


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    validator = jsonschema.Draft7Validator(ASYNCAPI_SCHEMA)
    validator.validate(json.loads((CONTRACTS / "asyncapi.json").read_text()))
    with_events = asyncapi_document(
        [TopicContract("tally.events", "tally", "Tally accounts", [tally.Deposited, tally.Withdrawn])], "1.0.0"
    )
    validator.validate(with_events)
    assert with_events["channels"]["tally.events"]["messages"]["Deposited"] == {
        "$ref": "#/components/messages/tally.Deposited"
    }
    broken = {**with_events, "channels": {"x": {"address": 42}}}
    assert not validator.is_valid(broken)


# -- compatibility ---------------------------------------------------------------------


class DepositedWithoutMemo(DomainEvent):
    event_type = "tally.Deposited"
    schema_version = 2
    amount: Money


class DepositedWithNumericMemo(DomainEvent):
    event_type = "tally.Deposited"
    schema_version = 2
    amount: Money
    memo: int


class DepositedWithOptionalNote(DomainEvent):
    event_type = "tally.Deposited"
    schema_version = 2
    amount: Money
    memo: str
    note: str | None = None


class DepositedWithRequiredNote(DomainEvent):
    event_type = "tally.Deposited"
    schema_version = 2
    amount: Money
    memo: str
    note: str


class Amountless(DomainEvent):
    event_type = "tally.Deposited"
    schema_version = 2
    amount: str
    memo: str


def _committed() -> dict[str, dict[str, object]]:
    return {m.event_type: event_schema(m) for m in (tally.Deposited, tally.Withdrawn)}


def test_removing_a_field_breaks_the_contract() -> None:
    registry = EventRegistry([DepositedWithoutMemo, tally.Withdrawn])
    assert compatibility_report(_committed(), registry, []) == ["tally.Deposited v2: field memo was removed"]


def test_retyping_a_field_breaks_the_contract() -> None:
    assert breaking_changes(event_schema(tally.Deposited), event_schema(DepositedWithNumericMemo)) == [
        "field memo changed type from string to integer"
    ]
    assert breaking_changes(event_schema(tally.Deposited), event_schema(Amountless)) == [
        "field amount changed type from object to string"
    ]


def test_a_nested_field_retyped_breaks_the_contract() -> None:
    old = event_schema(tally.Deposited)
    new = json.loads(json.dumps(old))
    new["$defs"]["Money"]["properties"]["currency"] = {"type": "integer"}
    assert breaking_changes(old, new) == ["field amount.currency changed type from string to integer"]


def test_an_optional_field_is_compatible_and_a_required_one_is_not() -> None:
    assert breaking_changes(event_schema(tally.Deposited), event_schema(DepositedWithOptionalNote)) == []
    assert breaking_changes(event_schema(tally.Deposited), event_schema(DepositedWithRequiredNote)) == [
        "field note is newly required"
    ]


def test_a_new_schema_version_needs_an_upcaster_from_the_old_one() -> None:
    committed_v1 = {"tally.Deposited.v1.json": {"x-event-type": "tally.Deposited", "x-schema-version": 1}}
    assert compatibility_report(committed_v1, tally.registry, []) == [
        "tally.Deposited v1: no upcaster from version 1; events stored at it can no longer be read"
    ]
    assert compatibility_report(committed_v1, tally.registry, tally.registry.upcasters) == []
    assert compatibility_report(committed_v1, EventRegistry([tally.Withdrawn]), []) == [
        "tally.Deposited v1: the event type was removed; stored and published events still use it"
    ]


# -- the registry and money ------------------------------------------------------------------


def test_registry_upcasts_old_versions_and_names_what_is_wrong() -> None:
    event = tally.registry.decode("tally.Deposited", 1, {"amount": "3.10"})
    assert event == tally.Deposited(amount=Money.of("3.10", "CNY"), memo="")
    with pytest.raises(EventDecodeError, match=r"amount\.currency: .*ISO 4217"):
        tally.registry.decode("tally.Deposited", 2, {"amount": {"amount": "1", "currency": "XYZ"}, "memo": ""})
    with pytest.raises(EventDecodeError, match="newer than the version 2"):
        tally.registry.decode("tally.Deposited", 3, {})
    with pytest.raises(UnknownEventType):
        tally.registry.decode("tally.Vanished", 1, {})


def test_registry_refuses_two_models_for_one_type_name() -> None:
    with pytest.raises(ValueError, match="already registered"):
        EventRegistry([tally.Deposited, DepositedWithoutMemo])


def test_events_are_frozen_and_tolerate_unknown_fields() -> None:
    event = tally.registry.decode("tally.Withdrawn", 1, {"amount": {"amount": "2", "currency": "EUR"}, "later": 1})
    assert event == tally.Withdrawn(amount=Money.of("2", "EUR"))
    with pytest.raises(ValidationError):
        event.amount = Money.of("3", "EUR")  # type: ignore[misc]


def test_money_is_decimal_text_with_an_iso_currency() -> None:
    money = Money.of("1234.50", "CNY")
    assert money.model_dump(mode="json") == {"amount": "1234.50", "currency": "CNY"}
    assert Money.model_validate_json('{"amount": "0.10", "currency": "USD"}').amount == Decimal("0.10")
    assert money + Money.of("0.50", "CNY") == Money.of("1235.00", "CNY")
    with pytest.raises(ValidationError, match="not floating-point"):
        Money.model_validate({"amount": 0.1, "currency": "USD"})
    with pytest.raises(ValidationError, match="not floating-point"):
        Money.model_validate_json('{"amount": 0.1, "currency": "USD"}')
    with pytest.raises(ValidationError, match="ISO 4217"):
        Money.of("1", "RMB")
    with pytest.raises(ValidationError, match="finite"):
        Money.of("NaN", "CNY")
    with pytest.raises(ValueError, match="cannot combine CNY with USD"):
        _ = money + Money.of("1", "USD")


def test_catalogue_names_every_service_dead_letter_topic() -> None:
    assert {t.topic for t in catalogue.topics()} >= {f"{s}.dlq" for s in catalogue.SERVICES}
    assert Path(CONTRACTS / "asyncapi.json").exists()


def test_money_never_travels_in_exponent_form() -> None:
    assert Money(amount=Decimal("8.0E+5"), currency="CNY").model_dump(mode="json") == {
        "amount": "800000",
        "currency": "CNY",
    }
