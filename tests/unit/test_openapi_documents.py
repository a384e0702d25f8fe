"""Each service's OpenAPI document describes what every operation answers: a JSON answer has its
schema, anything else its media type. (Integration tests hold every answer they get to it.)"""

from __future__ import annotations

from typing import Any

import pytest

from libs.service.kit import ServiceSpec, create_app
from libs.service.settings import ServiceSettings
from services.alerts.app import spec as alerts
from services.collections.app import spec as collections
from services.profiles.app import spec as profiles
from services.receivables.app import spec as receivables
from services.scoring.app import spec as scoring

SECRET = "a-signing-secret-of-at-least-32-characters"


@pytest.mark.parametrize("spec", [profiles, receivables, scoring, collections, alerts], ids=lambda s: s.name)
def test_every_operation_declares_what_it_answers(spec: ServiceSpec) -> None:
    settings = ServiceSettings(service=spec.name, database_url="postgresql://unused/x", jwt_secret=SECRET)
    document = create_app(spec, settings).openapi()
    undescribed = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
            for status, response in successes.items():
                content = response.get("content", {})
                json_schema = content.get("application/json", {}).get("schema")
                described = bool(json_schema) or any(media != "application/json" for media in content)
                if not described:
                    undescribed.append(f"{method.upper()} {path} {status}")
            if not successes:
                undescribed.append(f"{method.upper()} {path}: no success answer")
    assert undescribed == []


def _documents() -> list[dict[str, Any]]:
    return [
        create_app(spec, ServiceSettings(service=spec.name, database_url="postgresql://unused/x", jwt_secret=SECRET))
        .openapi()
        for spec in (profiles, receivables, scoring, collections, alerts)
    ]  # fmt: skip


def test_every_operation_declares_its_refusals_as_problem_documents() -> None:
    missing = []
    for document in _documents():
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                responses = operation["responses"]
                expected = {"422"} | ({"401", "403"} if operation.get("security") else set())
                if method in ("post", "put", "patch"):
                    expected |= {"400", "404", "409", "412"} if "requestBody" in operation else {"404", "409", "412"}
                for status in sorted(expected - set(responses)):
                    missing.append(f"{method.upper()} {path} {status}")
                for status, response in responses.items():
                    if status[0] == "4" and list(response.get("content", {})) != ["application/problem+json"]:
                        missing.append(f"{method.upper()} {path} {status} is not a problem document")
    assert missing == []
    assert not any("HTTPValidationError" in d["components"]["schemas"] for d in _documents())


def test_amounts_are_documented_as_decimal_strings_and_currencies_as_iso_codes() -> None:
    (_, receivables_doc, scoring_doc, *_) = _documents()
    check = scoring_doc["components"]["schemas"]["CreditCheck"]["properties"]
    assert check["amount"]["type"] == "string"
    assert check["amount"]["pattern"] == r"^-?\d{1,15}(\.\d{1,12})?$"
    assert "CNY" in check["currency"]["enum"]
    assert "XAU" not in check["currency"]["enum"]
    money = receivables_doc["components"]["schemas"]["Money"]["properties"]
    assert money["amount"]["type"] == "string"
