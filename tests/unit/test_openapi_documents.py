"""Each service's OpenAPI document describes what every operation answers: a JSON answer has its
schema, anything else its media type. (Integration tests hold every answer they get to it.)"""

from __future__ import annotations

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
