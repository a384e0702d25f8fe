"""Idempotency-Key on POST: a retry gets the first answer and nothing happens twice.

The key is claimed, the command's events are appended and the answer is stored in one
transaction. A concurrent retry with the same key waits for that transaction, then
replays the stored answer; the same key with a different request is refused.

    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        recorded = await store.append(..., conn=scope.conn)
        return scope.keep(JSONResponse(..., status_code=201))
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Request, Response

from libs.events.database import Connection, Migration
from libs.service.auth import Principal
from libs.service.errors import Problem

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def migration() -> Migration:
    from importlib import resources

    return Migration(
        "service/001_idempotency.sql",
        resources.files("libs.service").joinpath("sql", "001_idempotency.sql").read_text(),
    )


@dataclass
class IdempotentScope:
    conn: Connection
    replay: Response | None = None
    kept: Response | None = field(default=None, repr=False)

    def keep(self, response: Response) -> Response:
        """Store this answer for replays (only answers below 500 are kept)."""
        self.kept = response
        return response


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


@asynccontextmanager
async def idempotent(request: Request, caller: Principal) -> AsyncIterator[IdempotentScope]:
    pool = request.app.state.kit.pool
    key = request.headers.get(HEADER)
    if key is not None and not _VALID_KEY.match(key):
        raise Problem(
            400,
            "Invalid Idempotency-Key",
            "the key must be 1 to 255 visible ASCII characters",
            kind="invalid-idempotency-key",
        )
    fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
    async with pool.acquire() as conn, conn.transaction():
        scope = IdempotentScope(conn)
        if key is None:
            yield scope
            return
        claimed = await conn.fetchval(
            "INSERT INTO idempotency_keys (principal, key, method, path, request_hash) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (principal, key) DO NOTHING RETURNING true",
            caller.subject,
            key,
            request.method,
            request.url.path,
            fingerprint,
        )
        if not claimed:
            scope.replay = await _replay(conn, caller, key, fingerprint)
            yield scope
            return
        yield scope
        kept = scope.kept
        if kept is None or kept.status_code >= 500:
            raise RuntimeError("an idempotent command must keep its answer with scope.keep(response)")
        await conn.execute(
            "UPDATE idempotency_keys SET status_code = $3, response_body = $4, content_type = $5"
            " WHERE principal = $1 AND key = $2",
            caller.subject,
            key,
            kept.status_code,
            bytes(kept.body),
            kept.headers.get("content-type"),
        )


async def _replay(conn: Connection, caller: Principal, key: str, fingerprint: str) -> Response:
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response_body, content_type FROM idempotency_keys"
        " WHERE principal = $1 AND key = $2",
        caller.subject,
        key,
    )
    assert row is not None
    if row["request_hash"] != fingerprint:
        raise Problem(
            422,
            "Idempotency-Key reused",
            f"the key {key!r} was already used for a different request",
            kind="idempotency-key-reused",
        )
    return Response(
        row["response_body"],
        status_code=row["status_code"],
        media_type=row["content_type"],
        headers={"Idempotent-Replayed": "true"},
    )
