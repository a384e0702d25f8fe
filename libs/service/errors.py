"""Errors as RFC 9457 problem details (application/problem+json).

Every invalid field is named; no stack trace ever reaches a client; a 500 carries the
correlation id, and the same id is in the log line with the traceback.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.events.database import UNAVAILABLE
from libs.events.refusals import Duplicate, NotFound, Refused, StaleVersion
from libs.events.store import ConcurrencyConflict

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://credo.example/problems/"


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    kind: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (kind or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    correlation_id = structlog.contextvars.get_contextvars().get("correlation_id")
    if correlation_id:
        body["correlation_id"] = correlation_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return f"{where}.{'.'.join(rest)}" if rest else where
    return ".".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            kind=exc.kind,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        fields = ", ".join(e["field"] for e in errors)
        return problem_response(
            422,
            "Invalid request",
            f"{len(errors)} invalid field(s): {fields}",
            kind="validation",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}.get(
            exc.status_code, "Request refused"
        )
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return problem_response(
            exc.status_code, title, detail, instance=request.url.path, headers=dict(exc.headers or {})
        )

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        if isinstance(exc, NotFound):
            return problem_response(404, "Not found", str(exc), instance=request.url.path)
        if isinstance(exc, Duplicate):
            return problem_response(
                409, "Duplicate", str(exc), kind="duplicate", instance=request.url.path, **exc.extra
            )
        return problem_response(422, "Refused", str(exc), kind="refused", instance=request.url.path)

    @app.exception_handler(StaleVersion)
    async def _stale(request: Request, exc: StaleVersion) -> JSONResponse:
        return problem_response(
            412,
            "Precondition failed",
            str(exc),
            kind="precondition-failed",
            instance=request.url.path,
            headers={"ETag": f'"{exc.current}"'},
            current_version=exc.current,
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("http.database_unavailable", error=type(exc).__name__, path=request.url.path)
        return unavailable(request.url.path)

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(ConcurrencyConflict)
    async def _conflict(request: Request, exc: ConcurrencyConflict) -> JSONResponse:
        extra: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if exc.actual_version is not None:
            extra["current_version"] = exc.actual_version
            headers["ETag"] = f'"{exc.actual_version}"'
        return problem_response(
            409,
            "Conflict",
            f"{exc.stream_id} was changed by someone else; reload and retry",
            kind="conflict",
            instance=request.url.path,
            headers=headers,
            **extra,
        )


RETRY_AFTER_SECONDS = 5


def unavailable(path: str) -> JSONResponse:
    """The answer while the database cannot be reached: nothing was done; retry later."""
    return problem_response(
        503,
        "Service unavailable",
        "the service cannot reach its database; nothing was changed, retry later",
        kind="unavailable",
        instance=path,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error(path: str) -> JSONResponse:
    """The answer to an unexpected error: no details, only the id to find them in the log."""
    return problem_response(
        500,
        "Internal error",
        "The error was logged with this request's correlation id.",
        kind="internal",
        instance=path,
    )
