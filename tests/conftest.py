"""Real PostgreSQL and a real Kafka-protocol broker for every test that needs them.

The servers start once per test session, by the three paths of DESIGN.md §6 (see
libs.infra.provision). Each test gets its own databases and its own topic names.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import structlog

from libs.infra.provision import BrokerHandle, PostgresHandle, kafka_broker, postgres_server


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def postgres(infra_dir: Path) -> Iterator[PostgresHandle]:
    with postgres_server(infra_dir, durable=False) as handle:
        yield handle


@pytest.fixture(scope="session")
def broker(infra_dir: Path) -> Iterator[BrokerHandle]:
    with kafka_broker(infra_dir) as handle:
        yield handle


NewDatabase = Callable[[], Awaitable[str]]
Logs = list[MutableMapping[str, Any]]


@pytest.fixture
async def new_database(postgres: PostgresHandle) -> AsyncIterator[NewDatabase]:
    """Creates empty databases for this test (one per service it plays) and drops them after."""
    created: list[str] = []

    async def create() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(postgres.url)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()
        created.append(name)
        return database_url(postgres.url, name)

    yield create
    conn = await asyncpg.connect(postgres.url)
    try:
        for name in created:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Log entries as the services' configuration produces them, with the bound context."""
    capture = structlog.testing.LogCapture()
    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),  # the services' level
        cache_logger_on_first_use=False,
    )
    try:
        yield capture.entries
    finally:
        structlog.configure(**previous)
