"""The OpenAPI document, made to say every refusal an operation can answer.

FastAPI documents the answers a route declares and a 422 of its own shape. Credo refuses with
problem documents (``application/problem+json``) from shared code — authentication, validation,
the event store's concurrency check, If-Match, a database that cannot be reached — so which
refusals an operation can give follows from what it is, and is added here to every operation:

- every operation: 422 (a field, or a NUL in the path or a query) and 503 (the database cannot be
  reached; ``Retry-After``), except the process's liveness and its metrics, which touch nothing;
- an operation that needs credentials: 401 and 403;
- an operation with path parameters, and every POST, PUT or PATCH: 404 (what the path or the
  command names does not exist);
- an operation with a request body: 400 (a body that cannot be parsed, a malformed
  Idempotency-Key or If-Match);
- a POST, PUT or PATCH: 409 (someone else changed it, or a duplicate) and 412 (a stale If-Match).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.service.errors import PROBLEM_JSON

TOUCHES_NOTHING = ("/health/live", "/metrics")
WRITES = ("post", "put", "patch")


class FieldError(BaseModel):
    field: str  # body.amount, query.as_of, path
    message: str


class Problem(BaseModel):
    """A refusal, as RFC 9457 has it; some carry more members (current_version, your_roles …)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    correlation_id: str | None = None
    errors: list[FieldError] | None = None


WHY = {
    400: "the body, an Idempotency-Key or an If-Match cannot be read",
    401: "no valid credentials",
    403: "the caller's roles do not allow this",
    404: "what the path or the command names does not exist",
    409: "changed by someone else meanwhile, or a duplicate",
    412: "If-Match names a version that is no longer the current one",
    422: "a field is invalid (each is named), or the request is refused by the rules",
    428: "If-Match is required",
    503: "the database cannot be reached: nothing was done; retry after Retry-After seconds",
}


def refusals(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The problem statuses an operation can answer, by what it is."""
    statuses = {422}
    if path not in TOUCHES_NOTHING:
        statuses.add(503)
    if operation.get("security"):
        statuses |= {401, 403}
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.add(404)
    if "requestBody" in operation:
        statuses.add(400)
    if method in WRITES:
        statuses |= {404, 409, 412}
    return sorted(statuses)


def with_refusals(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every operation's refusals declared as problem documents, in place of
    FastAPI's own validation error shapes."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["FieldError"] = FieldError.model_json_schema()
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Problem"].pop("$defs", None)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            # Refusals a route declares itself (e.g. 428 where If-Match is required) are problems too.
            declared_refusals = {int(s) for s, r in responses.items() if s[0] in "45" and not _has_own_body(r)}
            for status in sorted(declared_refusals | set(refusals(path, method, operation))):
                declared = responses.get(str(status), {})
                if _has_own_body(declared):
                    continue  # e.g. readiness answers 503 with its own checks
                answer: dict[str, Any] = {"description": declared.get("description") or WHY[status]}
                answer["content"] = problem
                if status == 503:
                    answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
                responses[str(status)] = answer
    return document


def _has_own_body(response: dict[str, Any]) -> bool:
    """A declared answer with a schema of its own, not a problem document nor FastAPI's 422."""
    content = response.get("content", {})
    if PROBLEM_JSON in content or not content:
        return False
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return not ref.endswith("/HTTPValidationError")


def truthful(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """An ``app.openapi`` that adds the refusals to what FastAPI generates, once."""
    made: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not made:
            made.update(with_refusals(generate()))
        return made

    return openapi
