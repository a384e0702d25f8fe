"""Exactly-once application: what each consumer has applied, written in the transaction that
applies it.

Per stream, the last version applied (a duplicate is dropped, a gap logged and counted); per
partition, the next offset to read and the id of the last event read there (to recognise the
log again after a restart); and the counters of duplicates and gaps.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field

from libs.events.consumer.messages import Message
from libs.events.database import Connection


@dataclass
class Batch:
    """What one transaction changed, applied to memory only after it commits."""

    versions: dict[str, int]
    changed: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    outcomes: Tally[str] = field(default_factory=Tally)
    dead_letters: int = 0


async def begin(conn: Connection, consumer: str, messages: Sequence[Message]) -> Batch:
    """A batch knowing the last version applied of each stream the messages belong to."""
    streams = list({m.delivery.stream_id for m in messages if m.delivery is not None})
    rows = await conn.fetch(
        "SELECT stream_id, last_version FROM stream_positions WHERE consumer = $1 AND stream_id = ANY($2::text[])",
        consumer,
        streams,
    )
    return Batch({r["stream_id"]: r["last_version"] for r in rows})


async def finish(conn: Connection, consumer: str, lasts: Sequence[Message], batch: Batch) -> None:
    """Record what the transaction applied: stream versions, the offset reached, counters."""
    if batch.changed:
        streams = sorted(batch.changed)
        await conn.execute(
            "INSERT INTO stream_positions (consumer, stream_id, last_version)"
            " SELECT $1, s, v FROM unnest($2::text[], $3::int[]) AS t(s, v)"
            " ON CONFLICT (consumer, stream_id) DO UPDATE SET last_version = excluded.last_version",
            consumer,
            streams,
            [batch.versions[s] for s in streams],
        )
    if lasts:
        await conn.execute(
            "INSERT INTO consumer_positions (consumer, topic, partition, next_offset, last_event_id)"
            " SELECT $1, t, p, o, e FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[]) AS x(t, p, o, e)"
            " ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = excluded.next_offset,"
            " last_event_id = excluded.last_event_id, updated_at = now()",
            consumer,
            [m.topic for m in lasts],
            [m.partition for m in lasts],
            [m.offset + 1 for m in lasts],
            [m.event_id for m in lasts],
        )
    counted = {k: v for k, v in batch.outcomes.items() if k in ("gap", "duplicate") and v}
    if counted:
        await conn.execute(
            "INSERT INTO tracking_counters (consumer, counter, value)"
            " SELECT $1, c, v FROM unnest($2::text[], $3::bigint[]) AS t(c, v)"
            " ON CONFLICT (consumer, counter) DO UPDATE SET value = tracking_counters.value + excluded.value",
            consumer,
            list(counted),
            list(counted.values()),
        )


def last_of_each_partition(messages: Sequence[Message]) -> list[Message]:
    last: dict[tuple[str, int], Message] = {}
    for message in messages:
        last[(message.topic, message.partition)] = message
    return list(last.values())
