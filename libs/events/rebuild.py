"""Rebuild a read model from the events: the service's own store plus the topics it consumes.

The rebuild goes into a schema of its own, so it can run beside the live read model while
the service keeps answering reads from it; ``swap_read_model`` then puts the rebuilt one
in its place in one transaction. Stop the service's writers and consumers for the swap
(consumers re-seek to the rebuilt schema's offsets when they start again). Rebuilding
straight into the live schema, with the service stopped, is the same call with
``schema`` set to the live name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from libs.events.consumer import ConsumerRunner, Handler
from libs.events.contracts import EventRegistry
from libs.events.database import Migration, create_pool, identifier, migrate, read_model_tracking
from libs.events.store import EventStore, InlineProjection

log = structlog.get_logger(__name__)

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class TopicProjection:
    """A consumer whose read-model writes are part of what is being rebuilt."""

    name: str
    topics: Sequence[str]
    handler: Handler


@dataclass(frozen=True)
class RebuildReport:
    schema: str
    own_events: int
    seconds: float


async def rebuild_read_model(
    dsn: str,
    *,
    schema: str,
    migrations: Sequence[Migration],
    registry: EventRegistry,
    source: str,
    own_projection: InlineProjection | None = None,
    topic_projections: Sequence[TopicProjection] = (),
    bootstrap_servers: str | None = None,
    service: str = "",
    progress: Progress | None = None,
    chunk: int = 2000,
) -> RebuildReport:
    """Build ``schema`` afresh: drop it, apply the read-model migrations, replay everything."""
    started = time.monotonic()
    schema = identifier(schema)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await migrate(conn, schema, [read_model_tracking(), *migrations])
    finally:
        await conn.close()
    pool = await create_pool(dsn, read_model_schema=schema)
    try:
        own = 0
        if own_projection is not None:
            own = await _replay_own(pool, registry, source, own_projection, progress, chunk)
        if topic_projections:
            if bootstrap_servers is None:
                raise ValueError("topic projections need the broker's bootstrap servers")
            for projection in topic_projections:
                runner = ConsumerRunner(
                    pool,
                    bootstrap_servers,
                    name=projection.name,
                    service=service,
                    topics=projection.topics,
                    registry=registry,
                    handler=projection.handler,
                )
                await runner.catch_up()
                if progress:
                    progress(projection.name, -1)
    finally:
        await pool.close()
    report = RebuildReport(schema, own, time.monotonic() - started)
    log.info("rebuild.done", schema=schema, own_events=own, seconds=round(report.seconds, 2))
    return report


async def _replay_own(
    pool: asyncpg.Pool,
    registry: EventRegistry,
    source: str,
    projection: InlineProjection,
    progress: Progress | None,
    chunk: int,
) -> int:
    # Reading by position is safe here: the rebuild reads a store that is not being written.
    store = EventStore(pool, source=source, topic="", registry=registry)
    position, count = 0, 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            events = await store.read_all(position, chunk, conn)
            if not events:
                return count
            await projection(conn, events)
        position = events[-1].position
        count += len(events)
        if progress:
            progress("own events", count)


async def swap_read_model(dsn: str, *, live: str, rebuilt: str) -> None:
    """Put the rebuilt schema in place of the live one, atomically; the old one is dropped."""
    live, rebuilt = identifier(live), identifier(rebuilt)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"DROP SCHEMA IF EXISTS {live}_replaced CASCADE")
            await conn.execute(f"ALTER SCHEMA {live} RENAME TO {live}_replaced")
            await conn.execute(f"ALTER SCHEMA {rebuilt} RENAME TO {live}")
            await conn.execute(f"DROP SCHEMA {live}_replaced CASCADE")
    finally:
        await conn.close()
