"""Hot routes: endpoints whose latency is a promise, answered before FastAPI's routing and
dependency solving.

On a busy service those two cost more CPU than a credit check's own work. A hot route is an
endpoint function taking the Starlette request; it authorizes with ``caller`` and reads its body
with ``body_of``, which refuse exactly as the FastAPI dependencies do, and its errors go to the
app's own exception handlers, so a client cannot tell which way it was answered. The route is
still declared on its router, for the OpenAPI document.
"""

from __future__ import annotations

import email.message
import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from libs.service.auth import Principal, admit, authenticate

Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class HotRoute:
    method: str
    path: str  # as declared on the router: "/customers/{customer_id}" matches one path segment
    endpoint: Endpoint
    plain: bool = False  # taken only without a query string (the others go to FastAPI's route)

    def match(self, scope: Scope) -> dict[str, str] | None:
        """The path parameters when ``scope`` is a request for this route, else None."""
        if scope["method"] != self.method or (self.plain and scope.get("query_string")):
            return None
        found = _pattern(self.path).fullmatch(scope["path"])
        return None if found is None else found.groupdict()


@functools.cache
def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", path)  # literal, name, literal, name, ...
    return re.compile("".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>[^/]+)" for n, part in enumerate(parts)))


def caller(request: Request, *roles: str) -> Principal:
    """The authenticated caller holding one of ``roles``; 401 or 403 as problems otherwise."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = credentials if scheme.lower() == "bearer" and credentials else None
    found = authenticate(request.app.state.kit.auth, bearer, request.headers.get("x-api-key"))
    return admit(found, roles)


async def body_of(request: Request, model: type[M]) -> M:
    """The JSON body as ``model``; a refusal names every invalid field as FastAPI names it."""
    raw = await request.body()
    is_json = _is_json(request.headers.get("content-type"))
    if is_json:
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            pass
    # Refused: read again the way FastAPI reads a body, so the errors match every other route's.
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    data: Any = raw  # a body not declared JSON is validated as the bytes it is
    if is_json:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as bad:
            error = {"type": "json_invalid", "loc": ("body", bad.pos), "msg": "JSON decode error", "input": {}}
            raise RequestValidationError([{**error, "ctx": {"error": bad.msg}}]) from None
        except (ValueError, RecursionError):  # too deep, or an integer of thousands of digits
            raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return model.model_validate(data, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as invalid:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in invalid.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _is_json(content_type: str | None) -> bool:
    """As FastAPI decides it: application/json or application/*+json, parameters aside."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class HotRoutes:
    """ASGI middleware answering the hot routes itself and passing every other request on."""

    def __init__(self, app: ASGIApp, routes: Sequence[HotRoute]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route, params = None, None
        if scope["type"] == "http":
            route, params = next(((r, p) for r in self.routes if (p := r.match(scope)) is not None), (None, None))
        if route is None or params is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # for the request log, as a routed request has it
        scope["path_params"] = params
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:  # answered by the handler the app registered for it, if any
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


def _handler_for(handlers: Mapping[Any, Any], exc: Exception) -> Any:
    for kind in type(exc).__mro__:
        if kind in handlers:
            return handlers[kind]
    return None
