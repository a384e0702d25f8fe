"""Run kit-built services in-process on real ports, for HTTP tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from jsonschema import Draft202012Validator
from starlette.types import Message, Receive, Scope, Send

from libs.infra.embedded import free_port
from libs.service.auth import mint_token
from libs.service.kit import Kit, ServiceSpec, create_app
from libs.service.settings import ServiceSettings

SECRET = "test-signing-secret-of-at-least-32-characters"
ERP_KEY = "erp-test-key-0123456789"
COMPANY = {
    "company_name": "福州闽江供应链有限公司",
    "company_address": "福建省福州市鼓楼区五四路 88 号",
    "company_phone": "+86 591 8888 0000",
    "company_bank_name": "中国工商银行福州五四支行",
    "company_bank_account": "1402 0211 0900 1234 567",
    "company_tax_id": "91350100MA2Y0F1X2K",
}


def settings_for(spec: ServiceSpec, dsn: str, bootstrap: str, **overrides: Any) -> ServiceSettings:
    """Settings of a service under test; its topics get a prefix of their own unless one is given,
    so that tests sharing the broker never see each other's events."""
    values: dict[str, Any] = {
        "topic_prefix": f"t{uuid.uuid4().hex[:8]}.",
        "service": spec.name,
        "database_url": dsn,
        "kafka_bootstrap_servers": bootstrap,
        "port": free_port(),
        "jwt_secret": SECRET,
        "api_keys": f"erp:{ERP_KEY}:erp",
        **COMPANY,
    }
    return ServiceSettings(**{**values, **overrides})


def token(*roles: str, subject: str = "tester", **claims: Any) -> str:
    return mint_token(SECRET, subject, list(roles), **claims)


def bearer(*roles: str, subject: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles, subject=subject)}"}


@contextlib.asynccontextmanager
async def serving(spec: ServiceSpec, settings: ServiceSettings) -> AsyncIterator[str]:
    """The service listening on 127.0.0.1; yields its base URL."""
    async with serving_kit(spec, settings) as (url, _):
        yield url


@contextlib.asynccontextmanager
async def serving_kit(spec: ServiceSpec, settings: ServiceSettings) -> AsyncIterator[tuple[str, Kit]]:
    """The service listening on 127.0.0.1; yields its base URL and its running parts."""
    app = create_app(spec, settings)
    answers = AnswersAsDeclared(app)
    try:
        async with serve_asgi(answers, settings.port) as url:
            yield url, app.state.kit
    except SystemExit:  # uvicorn's answer to a failed start-up; the log says why
        raise RuntimeError(f"{spec.name} did not start: its lifespan failed (see the log above)") from None
    assert not answers.violations, f"{spec.name} answered other than its OpenAPI document says:\n" + "\n".join(
        answers.violations
    )


class AnswersAsDeclared:
    """Checks every JSON answer a service gives in a test against the response its OpenAPI document
    declares for that route and status: a status it does not declare, or a body outside the schema,
    is a violation, and the test that caused it fails."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.violations: list[str] = []
        self._document: dict[str, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, media, body = 0, "", bytearray()

        async def capture(message: Message) -> None:
            nonlocal status, media
            if message["type"] == "http.response.start":
                status = message["status"]
                media = dict(message.get("headers", [])).get(b"content-type", b"").decode()
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        route = getattr(scope.get("route"), "path", None) or scope["path"]
        if 200 <= status < 300 and media.startswith("application/json"):
            self._check(scope["method"].lower(), route, status, bytes(body))

    def _check(self, method: str, route: str, status: int, body: bytes) -> None:
        if self._document is None:
            self._document = self.app.openapi()
        operation = self._document["paths"].get(route, {}).get(method)
        if operation is None:
            return  # not in the document: the operations routes (health, metrics), or an unrouted path
        declared = operation.get("responses", {}).get(str(status))
        schema = (declared or {}).get("content", {}).get("application/json", {}).get("schema")
        where = f"{method.upper()} {route} {status}"
        if declared is None:
            self.violations.append(f"{where}: the status is not declared")
            return
        if not schema:
            self.violations.append(f"{where}: no schema is declared for the JSON it answers")
            return
        validator = Draft202012Validator({**schema, "components": self._document.get("components", {})})
        errors = sorted(validator.iter_errors(json.loads(body)), key=lambda e: list(e.absolute_path))
        self.violations += [
            f"{where}: {'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors[:5]
        ]


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, port: int) -> AsyncIterator[str]:
    """Any ASGI app on 127.0.0.1:port, for as long as the block runs."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
