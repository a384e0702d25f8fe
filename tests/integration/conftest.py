"""The tally aggregate wired onto the real backbone, opened and closed for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support.backbone import Producer, Reader, open_producer, open_reader


@pytest.fixture
async def producer(new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str) -> AsyncIterator[Producer]:
    """The service owning the tally streams, with its own database and topic."""
    opened = await open_producer(await new_database(), broker.bootstrap_servers, f"{topic_prefix}.tally")
    yield opened
    await opened.pool.close()


@pytest.fixture
async def reader(new_database: NewDatabase, broker: BrokerHandle, producer: Producer) -> AsyncIterator[Reader]:
    """Another service projecting the producer's topic into its own database."""
    opened = await open_reader(await new_database(), broker.bootstrap_servers, producer.topic)
    yield opened
    await opened.pool.close()
