"""A credit bureau for tests: a real HTTP server that speaks the provider contract of
services/profiles/bureau.py, with reports held in memory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Header, HTTPException

from libs.infra.embedded import free_port
from tests.support.serving import serve_asgi

KEY = "bureau-test-key"


def bureau_app(reports: dict[str, dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/reports")
    async def report(
        scheme: str, number: str, country: str, authorization: str | None = Header(default=None)
    ) -> dict[str, Any]:
        if authorization != f"Bearer {KEY}":
            raise HTTPException(401, "bad key")
        if number not in reports:
            raise HTTPException(404, "no report")
        return reports[number]

    return app


@contextlib.asynccontextmanager
async def bureau(reports: dict[str, dict[str, Any]]) -> AsyncIterator[str]:
    async with serve_asgi(bureau_app(reports), free_port()) as url:
        yield url
