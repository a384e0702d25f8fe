"""Raw ERP document pipeline: consume a batch of the ERP's documents -> one multi-row insert each of
the events with their outbox rows, the read-model rows and the consumer's offsets -> commit, the
offsets stored in the same transaction as what they caused. Its own tables, in the database
receivables uses.

    python -m bench.raw.erp_batch <receivables database URL> <bootstrap servers> <documents>

Reads the ERP's three topics from the beginning, batches as large as receivables' ERP consumer
takes, until <documents> are stored; then prints one JSON line: documents per second from the first
fetched to the last committed, and the CPU milliseconds per document of this process.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from contracts import erp
from libs.events.kafka import FETCH_MAX_WAIT_MS

BATCH = 2000  # as receivables' ERP consumer

TABLES = """
CREATE TABLE IF NOT EXISTS raw_erp_events (
    position bigserial PRIMARY KEY, event_id uuid NOT NULL, stream_id text NOT NULL, version int NOT NULL,
    event_type text NOT NULL, payload jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS raw_erp_outbox (position bigint PRIMARY KEY);
CREATE TABLE IF NOT EXISTS raw_erp_documents (
    document_id text PRIMARY KEY, customer_id text NOT NULL, kind text NOT NULL, revision int NOT NULL,
    amount numeric NOT NULL, currency text NOT NULL, document_date date NOT NULL
);
CREATE TABLE IF NOT EXISTS raw_erp_positions (
    topic text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (topic, partition)
);
"""

EVENTS = (
    "WITH e AS (INSERT INTO raw_erp_events (event_id, stream_id, version, event_type, payload)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::jsonb[]) RETURNING position)"
    " INSERT INTO raw_erp_outbox SELECT position FROM e"
)
DOCUMENTS = (
    "INSERT INTO raw_erp_documents"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::numeric[], $6::text[], $7::date[])"
    " ON CONFLICT (document_id) DO UPDATE SET revision = excluded.revision, amount = excluded.amount,"
    " document_date = excluded.document_date WHERE raw_erp_documents.revision < excluded.revision"
)
POSITIONS = (
    "INSERT INTO raw_erp_positions SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])"
    " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset"
)


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


def _document(data: dict[str, Any]) -> tuple[str, Decimal, date]:
    """A document's currency, amount (an invoice's net plus tax) and date."""
    if "net" in data:
        amount = Decimal(data["net"]["amount"]) + Decimal(data["tax"]["amount"])
        return data["net"]["currency"], amount, date.fromisoformat(data["issue_date"])
    on = data.get("issue_date") or data["value_date"]
    return data["amount"]["currency"], Decimal(data["amount"]["amount"]), date.fromisoformat(on)


async def apply(conn: asyncpg.Connection, records: list[ConsumerRecord[bytes, bytes]]) -> None:
    events: list[tuple[Any, ...]] = []
    documents: dict[str, tuple[Any, ...]] = {}
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        headers = _headers(record)
        assert record.key is not None
        assert record.value is not None
        data = json.loads(record.value)
        subject, revision = headers["ce_subject"], int(headers["ce_streamversion"])
        events.append((uuid.uuid4(), f"doc-{subject}", revision, headers["ce_type"], record.value.decode()))
        currency, amount, on = _document(data)
        if subject not in documents or documents[subject][3] < revision:
            documents[subject] = (subject, record.key.decode(), record.topic, revision, amount, currency, on)
        offsets[(record.topic, record.partition)] = record.offset + 1
    async with conn.transaction():
        await conn.execute(EVENTS, *map(list, zip(*events, strict=True)))
        await conn.execute(DOCUMENTS, *map(list, zip(*documents.values(), strict=True)))
        await conn.execute(POSITIONS, [t for t, _ in offsets], [p for _, p in offsets], list(offsets.values()))


async def main(dsn: str, bootstrap: str, documents: int) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute(TABLES)
    consumer = AIOKafkaConsumer(
        *erp.DOCUMENTS,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        max_poll_records=BATCH,
    )
    await consumer.start()
    stored, started, cpu = 0, 0.0, 0.0
    try:
        while stored < documents:
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            records = [r for batch in batches.values() for r in batch]
            if not records:
                continue
            if not stored:
                started, cpu = time.perf_counter(), time.process_time()
            await apply(conn, records)
            stored += len(records)
        took, spent = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await consumer.stop()
        await conn.close()
    print(json.dumps({"ops_per_second": stored / took, "cpu_ms_per_op": spent * 1000 / stored}))


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
