"""The routes a service declares, for tests that must cover every one of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.routing import APIRoute


def declared_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app, those hidden from the OpenAPI document too."""
    return list(_routes(app.routes, ""))


def _routes(routes: Iterable[Any], prefix: str) -> Iterable[tuple[str, str]]:
    for route in routes:
        # FastAPI includes routers lazily: the routes stay on the router that declared them,
        # which may itself include others.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield from ((method, prefix + route.path) for method in sorted(route.methods or ()))
