"""Raw credit-file read: HTTP GET -> the one SELECT profiles reads a file with -> JSON.

python -m bench.raw.read <profiles database URL> <port>
"""

from __future__ import annotations

import sys

import asyncpg

from bench.raw.serve import app_of, dumps, serve
from services.profiles.queries import _CREDIT_FILE


async def handle(pool: asyncpg.Pool, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(_CREDIT_FILE, path.rpartition("/")[2])
    return (404, b"{}") if row is None else (200, dumps(dict(row)))


if __name__ == "__main__":
    dsn, port = sys.argv[1], int(sys.argv[2])
    serve(app_of(dsn, handle), port)
