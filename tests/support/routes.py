"""The routes a service declares, for tests that must cover every one of them."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute


def declared_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app, those hidden from the OpenAPI document too."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        # FastAPI includes routers lazily; the routes stay on the router that declared them.
        inner = getattr(route, "original_router", None)
        for declared in inner.routes if inner is not None else [route]:
            if isinstance(declared, APIRoute):
                found += [(method, declared.path) for method in sorted(declared.methods or ())]
    return found
