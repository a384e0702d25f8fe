"""Refusals every route shares, made before any route runs: text with the NUL character.

PostgreSQL stores no NUL (U+0000) in text or JSON, and no credit file, invoice or query has a
use for one; a request carrying it in its path, a query parameter or a JSON string is refused
with 422 naming where, as a field refused by a route's own model is named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.service.errors import problem_response

NUL = "\x00"
NOT_NUL = "text must not contain the NUL character (U+0000)"
_ESCAPED_NUL = b"\\u0000"  # the only way a NUL can stand in valid JSON


def nul_fields(value: Any, where: str) -> Iterator[str]:
    """The places in a decoded JSON value whose text (a key or a string) holds a NUL."""
    if isinstance(value, str):
        if NUL in value:
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield where
            yield from nul_fields(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nul_fields(item, f"{where}.{index}")


def _query_fields(query_string: bytes) -> list[str]:
    if b"%00" not in query_string and b"\x00" not in query_string:
        return []
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")
    return [f"query.{name.replace(NUL, '')}" for name, value in pairs if NUL in name or NUL in value]


def _body_fields(body: bytes) -> list[str]:
    if _ESCAPED_NUL not in body:
        return []
    try:
        decoded = json.loads(body)
    except ValueError:  # not JSON: the route refuses it as every other malformed body
        return []
    return list(nul_fields(decoded, "body"))


class RefuseNul:
    """ASGI middleware refusing requests whose path, query or JSON body holds a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields = (["path"] if NUL in scope["path"] else []) + _query_fields(scope.get("query_string", b""))
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body, receive = await _buffered(receive)
            fields += _body_fields(body)
        if fields:
            await _refusal(scope, fields)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a receive that hands it on as if it were read for the first time."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"", receive
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body, handed = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal handed
        if handed:
            return await receive()
        handed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _refusal(scope: Scope, fields: list[str]) -> Any:
    errors = [{"field": field, "message": NOT_NUL} for field in fields]
    return problem_response(
        422,
        "Invalid request",
        f"{len(errors)} invalid field(s): {', '.join(fields)}",
        kind="validation",
        instance=Request(scope).url.path.replace(NUL, ""),
        errors=errors,
    )
