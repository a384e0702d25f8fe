"""Raw credit check: HTTP POST -> SELECT ... FOR UPDATE of the customer's account row -> insert the
decision event and its outbox row, and the reservation -> commit -> JSON answer. Its own tables, in
the database scoring uses, one account per customer with scoring's limit.

    python -m bench.raw.credit_check <scoring database URL> <port>
"""

from __future__ import annotations

import json
import sys
import uuid
from decimal import Decimal

import asyncpg

from bench.raw.serve import app_of, dumps, serve

TABLES = """
CREATE TABLE IF NOT EXISTS raw_accounts (
    customer_id text PRIMARY KEY, credit_limit numeric NOT NULL, reserved numeric NOT NULL, version int NOT NULL
);
CREATE TABLE IF NOT EXISTS raw_events (
    position bigserial PRIMARY KEY, event_id uuid NOT NULL, stream_id text NOT NULL, version int NOT NULL,
    event_type text NOT NULL, payload jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS raw_outbox (position bigint PRIMARY KEY);
"""


async def prepare(pool: asyncpg.Pool) -> None:
    """The accounts of scoring's customers with their limits, once."""
    await pool.execute(TABLES)
    await pool.execute(
        "INSERT INTO raw_accounts SELECT customer_id, coalesce(limit_amount, 0), 0, 0"
        " FROM read_model.credit_accounts ON CONFLICT DO NOTHING"
    )


async def handle(pool: asyncpg.Pool, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    asked = json.loads(body)
    amount = Decimal(asked["amount"])
    async with pool.acquire() as conn, conn.transaction():
        account = await conn.fetchrow(
            "SELECT credit_limit, reserved, version FROM raw_accounts WHERE customer_id = $1 FOR UPDATE",
            asked["customer_id"],
        )
        if account is None:
            return 404, b'{"detail": "no customer"}'
        available = account["credit_limit"] - account["reserved"]
        outcome = "approve" if amount <= available else "refer"
        decision = {"decision_id": str(uuid.uuid4()), "outcome": outcome, "available": str(available), **asked}
        position = await conn.fetchval(
            "INSERT INTO raw_events (event_id, stream_id, version, event_type, payload)"
            " VALUES ($1, $2, $3, 'CreditChecked', $4) RETURNING position",
            uuid.uuid4(),
            f"check-{decision['decision_id']}",
            1,
            json.dumps(decision),
        )
        await conn.execute("INSERT INTO raw_outbox VALUES ($1)", position)
        if outcome == "approve":
            await conn.execute(
                "UPDATE raw_accounts SET reserved = reserved + $2, version = version + 1 WHERE customer_id = $1",
                asked["customer_id"],
                amount,
            )
    return 201, dumps(decision)


if __name__ == "__main__":
    dsn, port = sys.argv[1], int(sys.argv[2])
    serve(app_of(dsn, handle, prepare), port)
