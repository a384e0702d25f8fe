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
import json
import re
from collections.abc import AsyncIterator, Sequence
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


def canonical(body: bytes) -> bytes:
    """A JSON body in one spelling (keys sorted, no spaces), so that a retry serialised by another
    client library is the same request; a body that is not JSON as it is."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return body
    return json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), canonical(body)])).hexdigest()


@dataclass(frozen=True)
class Claim:
    """A caller's Idempotency-Key on one request."""

    principal: str
    key: str
    method: str
    path: str
    fingerprint: str
    raw_fingerprint: str = ""  # over the bytes as sent: how keys stored before canonical JSON were taken


async def claim_of(request: Request, caller: Principal) -> Claim | None:
    """The request's claim, or None without a key; a malformed key is refused."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID_KEY.match(key):
        raise Problem(
            400,
            "Invalid Idempotency-Key",
            "the key must be 1 to 255 visible ASCII characters",
            kind="invalid-idempotency-key",
        )
    body = await request.body()
    fingerprint = request_fingerprint(request.method, request.url.path, body)
    raw = hashlib.sha256(b"\0".join([request.method.encode(), request.url.path.encode(), body])).hexdigest()
    return Claim(caller.subject, key, request.method, request.url.path, fingerprint, raw)


async def claim_all(conn: Connection, claims: Sequence[Claim]) -> set[Claim]:
    """Claim the keys in one statement; answers those claimed now. A key claimed by a
    transaction still running is waited for, and then not claimed: replay it."""
    if not claims:
        return set()
    rows = await conn.fetch(
        "INSERT INTO idempotency_keys (principal, key, method, path, request_hash)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
        " ON CONFLICT (principal, key) DO NOTHING RETURNING principal, key",
        [c.principal for c in claims],
        [c.key for c in claims],
        [c.method for c in claims],
        [c.path for c in claims],
        [c.fingerprint for c in claims],
    )
    claimed = {(r["principal"], r["key"]) for r in rows}
    return {c for c in claims if (c.principal, c.key) in claimed}


async def keep_all(conn: Connection, answers: Sequence[tuple[Claim, Response]]) -> None:
    """Store the answers of claimed keys for replays (only answers below 500 are kept)."""
    for _, response in answers:
        if response.status_code >= 500:
            raise RuntimeError("an idempotent command keeps only answers below 500")
    await conn.executemany(
        "UPDATE idempotency_keys SET status_code = $3, response_body = $4, content_type = $5"
        " WHERE principal = $1 AND key = $2",
        [(c.principal, c.key, r.status_code, bytes(r.body), r.headers.get("content-type")) for c, r in answers],
    )


async def release_all(conn: Connection, claims: Sequence[Claim]) -> None:
    """Give up claims whose request was refused, so that a corrected retry may use the key."""
    await conn.executemany(
        "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2", [(c.principal, c.key) for c in claims]
    )


@asynccontextmanager
async def idempotent(request: Request, caller: Principal) -> AsyncIterator[IdempotentScope]:
    pool = request.app.state.kit.pool
    claim = await claim_of(request, caller)
    async with pool.acquire() as conn, conn.transaction():
        scope = IdempotentScope(conn)
        if claim is None:
            yield scope
            return
        if not await claim_all(conn, [claim]):
            scope.replay = await replay(conn, claim)
            yield scope
            return
        yield scope
        if scope.kept is None:
            raise RuntimeError("an idempotent command must keep its answer with scope.keep(response)")
        await keep_all(conn, [(claim, scope.kept)])


async def replay(conn: Connection, claim: Claim) -> Response:
    """The stored answer to a key claimed before; the same key on a different request is refused."""
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response_body, content_type FROM idempotency_keys"
        " WHERE principal = $1 AND key = $2",
        claim.principal,
        claim.key,
    )
    assert row is not None
    if row["request_hash"] not in (claim.fingerprint, claim.raw_fingerprint):
        raise Problem(
            422,
            "Idempotency-Key reused",
            f"the key {claim.key!r} was already used for a different request",
            kind="idempotency-key-reused",
        )
    return Response(
        row["response_body"],
        status_code=row["status_code"],
        media_type=row["content_type"],
        headers={"Idempotent-Replayed": "true"},
    )
