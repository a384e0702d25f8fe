"""Dead letters as a consumer writes them: a message that cannot be applied is recorded with the
reason, later messages of the same customer wait behind it, and it is copied to the service's
``.dlq`` topic once. Re-driving applies a customer's dead letter and what waits behind it in
order. (Operators list, re-drive and discard them with ``libs.events.dead_letters``.)
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from libs.events.consumer.messages import Message, header, headers_from_json, headers_json
from libs.events.database import Connection

OPEN = ("dead", "waiting", "redrive")  # a customer with any of these does not flow


async def record(
    conn: Connection, consumer: str, message: Message, reason: str, error_type: str, attempts: int
) -> None:
    delivery = message.delivery
    await conn.execute(
        'INSERT INTO dead_letters (consumer, topic, partition, "offset", customer_id, event_id, event_type,'
        " stream_id, stream_version, key, value, headers, status, reason, error_type, attempts)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12::jsonb,'dead',$13,$14,$15)"
        ' ON CONFLICT (consumer, topic, partition, "offset") DO UPDATE'
        " SET status = 'dead', reason = excluded.reason, error_type = excluded.error_type,"
        "     attempts = dead_letters.attempts + excluded.attempts, published = false, updated_at = now()",
        consumer,
        message.topic,
        message.partition,
        message.offset,
        message.customer_id,
        message.event_id,
        delivery.envelope.type if delivery else header(message.headers, "ce_type"),
        delivery.stream_id if delivery else header(message.headers, "ce_subject"),
        delivery.version if delivery else None,
        message.key,
        message.value,
        headers_json(message.headers),
        reason,
        error_type,
        attempts,
    )


async def park(conn: Connection, consumer: str, message: Message) -> None:
    """A message waiting behind an earlier dead letter of its customer."""
    await conn.execute(
        'INSERT INTO dead_letters (consumer, topic, partition, "offset", customer_id, event_id, event_type,'
        " stream_id, stream_version, key, value, headers, status, reason, error_type, published)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12::jsonb,'waiting',"
        " 'waiting behind an earlier dead letter of the same customer','Waiting', true)"
        ' ON CONFLICT (consumer, topic, partition, "offset") DO NOTHING',
        consumer,
        message.topic,
        message.partition,
        message.offset,
        message.customer_id,
        message.event_id,
        message.delivery.envelope.type if message.delivery else None,
        message.delivery.stream_id if message.delivery else None,
        message.delivery.version if message.delivery else None,
        message.key,
        message.value,
        headers_json(message.headers),
    )


async def blocked_customers(pool: asyncpg.Pool, consumer: str, among: list[str] | None = None) -> set[str]:
    """The customers with an open dead letter (of those named in ``among``, when given)."""
    rows = await pool.fetch(
        "SELECT DISTINCT customer_id FROM dead_letters WHERE consumer = $1 AND status = ANY($2::text[])"
        " AND customer_id IS NOT NULL AND ($3::text[] IS NULL OR customer_id = ANY($3::text[]))",
        consumer,
        list(OPEN),
        among,
    )
    return {r["customer_id"] for r in rows}


async def publish(pool: asyncpg.Pool, producer: AIOKafkaProducer, consumer: str, topic: str) -> None:
    """Copy dead letters to the ``<service>.dlq`` topic, once each, with the reason in headers."""
    rows = await pool.fetch(
        "SELECT * FROM dead_letters WHERE consumer = $1 AND status = 'dead' AND NOT published ORDER BY id", consumer
    )
    if not rows:
        return
    for row in rows:
        headers = [
            *headers_from_json(row["headers"]),
            ("dlq_reason", row["reason"].encode()),
            ("dlq_error_type", row["error_type"].encode()),
            ("dlq_consumer", consumer.encode()),
            ("dlq_topic", row["topic"].encode()),
            ("dlq_partition", str(row["partition"]).encode()),
            ("dlq_offset", str(row["offset"]).encode()),
            ("dlq_id", str(row["id"]).encode()),
        ]
        await producer.send_and_wait(topic, row["value"], key=row["key"], headers=headers)
    await pool.execute("UPDATE dead_letters SET published = true WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])


async def mark_unblocked_waiting(pool: asyncpg.Pool, consumer: str) -> None:
    """Messages left waiting with nothing ahead of them (the dead letter was discarded or
    superseded meanwhile) are marked for re-drive, the first of each customer."""
    await pool.execute(
        "UPDATE dead_letters SET status = 'redrive', updated_at = now() WHERE id IN ("
        " SELECT min(w.id) FROM dead_letters w WHERE w.consumer = $1 AND w.status = 'waiting'"
        " AND NOT EXISTS (SELECT FROM dead_letters d WHERE d.consumer = $1 AND d.customer_id = w.customer_id"
        "                 AND d.status IN ('dead', 'redrive')) GROUP BY w.customer_id)",
        consumer,
    )


async def marked_for_redrive(pool: asyncpg.Pool, consumer: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT id, customer_id FROM dead_letters WHERE consumer = $1 AND status = 'redrive' ORDER BY id", consumer
        )
    )


async def letters_to_redrive(pool: asyncpg.Pool, consumer: str, customer_id: str | None, first_id: int) -> list[Any]:
    """The dead letter ``first_id`` and, for a customer, every open letter of theirs in order."""
    if customer_id is None:
        return list(await pool.fetch("SELECT * FROM dead_letters WHERE id = $1", first_id))
    return list(
        await pool.fetch(
            "SELECT * FROM dead_letters WHERE consumer = $1 AND customer_id = $2 AND status = ANY($3::text[])"
            " ORDER BY id",
            consumer,
            customer_id,
            list(OPEN),
        )
    )


async def resolved(conn: Connection, letter_id: int) -> None:
    await conn.execute("UPDATE dead_letters SET status = 'resolved', updated_at = now() WHERE id = $1", letter_id)


async def failed_again(
    pool: asyncpg.Pool, consumer: str, letter_id: int, customer_id: str | None, error: tuple[str, str], attempts: int
) -> None:
    """The re-driven letter is dead again, with the new reason; what was behind it waits again."""
    await pool.execute(
        "UPDATE dead_letters SET status = 'dead', reason = $2, error_type = $3,"
        " attempts = attempts + $4, published = false, updated_at = now() WHERE id = $1",
        letter_id,
        error[0],
        error[1],
        attempts,
    )
    await pool.execute(
        "UPDATE dead_letters SET status = 'waiting', updated_at = now()"
        " WHERE consumer = $1 AND customer_id = $2 AND status IN ('redrive', 'dead') AND id <> $3",
        consumer,
        customer_id,
        letter_id,
    )


async def supersede(conn: Connection, consumer: str, message: Message) -> bool:
    """A later revision of a dead-lettered document sets the dead letter aside: the ERP corrected
    it. When that was the customer's only dead letter, its waiting messages (the new revision
    among them) are marked for re-drive. Returns whether any dead letter was superseded."""
    delivery = message.delivery
    if delivery is None or message.customer_id is None:
        return False
    superseded = await conn.fetch(
        "UPDATE dead_letters SET status = 'superseded', updated_at = now(), resolution = $5"
        " WHERE consumer = $1 AND customer_id = $2 AND stream_id = $3 AND stream_version < $4 AND status = 'dead'"
        " RETURNING stream_version",
        consumer,
        message.customer_id,
        delivery.stream_id,
        delivery.version,
        f"superseded by revision {delivery.version} ({message.topic} offset {message.offset})",
    )
    if not superseded:
        return False
    await set_aside(conn, consumer, message.customer_id, delivery.stream_id, max(r[0] for r in superseded))
    return True


async def set_aside(
    conn: Connection, consumer: str, customer_id: str, stream_id: str | None, version: int | None
) -> None:
    """After a dead letter is superseded or discarded: its version counts as seen (a later one is no
    gap), and if the customer has no other dead letter, what waited behind it is re-driven."""
    if stream_id is not None and version is not None:
        await conn.execute(
            "INSERT INTO stream_positions (consumer, stream_id, last_version) VALUES ($1, $2, $3)"
            " ON CONFLICT (consumer, stream_id) DO UPDATE"
            " SET last_version = greatest(stream_positions.last_version, excluded.last_version)",
            consumer,
            stream_id,
            version,
        )
    still_dead = await conn.fetchval(
        "SELECT count(*) FROM dead_letters WHERE consumer = $1 AND customer_id = $2 AND status IN ('dead', 'redrive')",
        consumer,
        customer_id,
    )
    if not still_dead:
        await conn.execute(
            "UPDATE dead_letters SET status = 'redrive', updated_at = now() WHERE id = ("
            " SELECT min(id) FROM dead_letters WHERE consumer = $1 AND customer_id = $2 AND status = 'waiting')",
            consumer,
            customer_id,
        )
