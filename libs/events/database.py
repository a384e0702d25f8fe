"""Connections and schema migrations for a service's own database.

A service database has two parts. The ``public`` schema holds what cannot be recomputed:
the event store, the outbox, dead letters and sweep progress. The read-model schema holds
everything projected from events, with the tracking that says what it has applied; it can
be dropped and rebuilt, or rebuilt beside the live one under another name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own or one borrowed from a pool: the code takes either.
if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection | PoolConnectionProxy

READ_MODEL_SCHEMA = "read_model"

# What reaching the database throws while it is down, restarting or full: a request may be retried
# once it is back. (asyncpg raises OSError itself when no address of the server answers.)
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


def identifier(name: str) -> str:
    """A schema or channel name checked to be a plain lower-case SQL identifier."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier")
    return name


def _backbone_sql(name: str) -> str:
    return resources.files("libs.events").joinpath("sql", name).read_text()


def event_store_migrations() -> list[Migration]:
    return [
        Migration(f"backbone/{name}", _backbone_sql(name))
        for name in ("001_event_store.sql", "002_dead_letters_set_aside.sql", "003_actor.sql")
    ]


def read_model_tracking() -> Migration:
    return Migration("backbone/read_model_tracking.sql", _backbone_sql("read_model_tracking.sql"))


def migrations_in(directory: Path) -> list[Migration]:
    """Every ``*.sql`` file of a directory, in name order."""
    return [Migration(p.name, p.read_text()) for p in sorted(directory.glob("*.sql"))]


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from a name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


async def migrate(conn: Connection, schema: str, migrations: Sequence[Migration]) -> list[str]:
    """Apply, in order and once each, the migrations not yet applied to ``schema``.

    Serialised by an advisory lock so that several replicas starting at once are safe.
    Returns the names applied now.
    """
    schema = identifier(schema)
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(f"migrate:{schema}"))
        await _create_if_missing(conn, f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await _create_if_missing(
            conn,
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {schema}.schema_migrations")}
        await conn.execute(f"SET LOCAL search_path TO {schema}")
        for migration in migrations:
            if migration.name in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(f"INSERT INTO {schema}.schema_migrations (name) VALUES ($1)", migration.name)
            applied_now.append(migration.name)
    return applied_now


async def _create_if_missing(conn: Connection, sql: str) -> None:
    """``IF NOT EXISTS`` may still collide with another replica's creation that committed while
    this one waited for the lock (the catalog it checks against can predate the wait); the
    object then exists, which is all that is wanted."""
    try:
        async with conn.transaction():
            await conn.execute(sql)
    except asyncpg.UniqueViolationError:
        pass


async def prepare_service_database(
    conn: Connection,
    read_model: Sequence[Migration] = (),
    *,
    read_model_schema: str = READ_MODEL_SCHEMA,
) -> None:
    """Bring the event store and the read model of a service database up to date."""
    await migrate(conn, "public", event_store_migrations())
    await migrate(conn, read_model_schema, [read_model_tracking(), *read_model])


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Skip the reset query on every release: pooled connections never LISTEN, SET, or keep
    advisory locks past their use, and asyncpg still rolls back any open transaction.
    It saves one round trip per borrowed connection."""


async def create_pool(
    dsn: str,
    *,
    read_model_schema: str = READ_MODEL_SCHEMA,
    min_size: int = 2,
    max_size: int = 10,
) -> asyncpg.Pool:
    """A pool whose connections see the read model first, then the event store."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": f"{identifier(read_model_schema)},public"},
        reset=_keep_session,
    )
    assert pool is not None
    return pool
