"""The event store's contract, which the PostgreSQL store and the in-memory one both keep: what
use cases rely on, whichever store they run on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from libs.events.commands import FoldedStreams, run
from libs.events.contracts import DomainEvent
from libs.events.memory import MemoryEventStore
from libs.events.store import Append, ConcurrencyConflict, EventContext, Store
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import open_producer


@pytest.fixture(params=["postgres", "memory"])
async def store(
    request: pytest.FixtureRequest, new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str
) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryEventStore(source=tally.SOURCE, topic="tally.events", registry=tally.registry)
        return
    opened = await open_producer(await new_database(), broker.bootstrap_servers, f"{topic_prefix}.tally")
    yield opened.store
    await opened.pool.close()


def tallies(store: Store, capacity: int = 0) -> FoldedStreams[tally.Account]:
    return FoldedStreams(
        store, stream_of=lambda key: f"tally-{key}", initial=lambda _: tally.Account(), evolve=tally.evolve,
        capacity=capacity,
    )  # fmt: skip


async def test_appended_events_are_read_back_in_order_with_their_context(store: Store) -> None:
    recorded = await store.append(
        "s", 0, [tally.deposit("1.10", "a"), tally.deposit("2.20")], customer_id="c", context=EventContext("req-1")
    )
    assert [r.version for r in recorded] == [1, 2]
    loaded = await store.load("s")
    assert [r.event for r in loaded] == [tally.deposit("1.10", "a"), tally.deposit("2.20")]
    assert [(r.customer_id, r.correlation_id, r.data["memo"]) for r in loaded] == [
        ("c", "req-1", "a"),
        ("c", "req-1", ""),
    ]
    assert [r.version for r in await store.load("s", after=1)] == [2]
    assert await store.current_version("s") == 2
    assert await store.current_version("nothing") == 0
    assert await store.heads(["s", "nothing"]) == {"s": (2, loaded[-1].event_id)}
    assert await store.event_id_at("s", 1) == loaded[0].event_id
    assert await store.event_id_at("s", 3) is None
    positions = [r.position for r in await store.read_all()]
    assert positions == sorted(positions)
    assert len(positions) == 2


async def test_a_stale_expected_version_is_a_conflict_naming_the_current_one(store: Store) -> None:
    await store.append("s", 0, [tally.deposit("1")], customer_id="c")
    with pytest.raises(ConcurrencyConflict) as stale:
        await store.append("s", 0, [tally.deposit("2")], customer_id="c")
    assert (stale.value.stream_id, stale.value.actual_version) == ("s", 1)
    assert [r.version for r in await store.load("s")] == [1]


async def test_appends_to_several_streams_are_all_or_none(store: Store) -> None:
    await store.append("taken", 0, [tally.deposit("1")], customer_id="c")
    async with store.transaction() as conn:
        with pytest.raises(ConcurrencyConflict):
            await store.append_all(
                conn,
                [Append("fresh", 0, [tally.deposit("5")], "c"), Append("taken", 0, [tally.deposit("6")], "c")],
            )
        appended = await store.append_all(
            conn, [Append("fresh", 0, [tally.deposit("5")], "c"), Append("taken", 1, [tally.deposit("6")], "c")]
        )  # the same transaction goes on after the conflict
    assert [[r.version for r in a] for a in appended] == [[1], [2]]
    assert [r.version for r in await store.load("taken")] == [1, 2]


async def test_a_transaction_reads_its_own_appends_and_others_see_them_only_once_committed(store: Store) -> None:
    async with store.transaction() as conn:
        await store.append("s", 0, [tally.deposit("1")], customer_id="c", conn=conn)
        assert [r.version for r in await store.load("s", conn)] == [1]
        assert await store.load("s") == []
    assert [r.version for r in await store.load("s")] == [1]


async def failing(store: Store, stream_id: str, version: int, why: str) -> None:
    """A use case that appends in its transaction and then fails."""
    async with store.transaction() as conn:
        await store.append(stream_id, version, [tally.deposit("4")], customer_id="c", conn=conn)
        raise RuntimeError(why)


async def test_a_failed_transaction_stores_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="the use case failed"):
        await failing(store, "s", 0, "the use case failed")
    assert await store.load("s") == []
    assert await store.current_version("s") == 0


async def test_an_event_outside_the_registry_is_refused(store: Store) -> None:
    class Stranger(DomainEvent):
        event_type = "elsewhere.Stranger"

    with pytest.raises(ValueError, match="not in this store's event registry"):
        await store.append("s", 0, [Stranger()], customer_id="c")
    assert await store.load("s") == []


async def test_a_command_lost_to_a_race_is_decided_again_on_fresh_state(store: Store) -> None:
    calls = 0

    def decide(state: tally.Account) -> list[DomainEvent]:
        nonlocal calls
        calls += 1
        return [tally.deposit(str(state.events + 1))]

    async def one() -> None:
        async with store.transaction() as conn:
            await run(tallies(store), conn, "k", decide)

    await asyncio.gather(*(one() for _ in range(4)))
    history = await store.load("tally-k")
    assert [r.version for r in history] == [1, 2, 3, 4]
    assert [r.event.amount.amount for r in history] == [1, 2, 3, 4]  # type: ignore[attr-defined]
    assert calls >= 4


async def test_a_command_with_an_expected_version_is_not_retried(store: Store) -> None:
    streams = tallies(store)
    async with store.transaction() as conn:
        await run(streams, conn, "k", lambda _: [tally.deposit("1")])
    with pytest.raises(Exception, match="version 1, not 0"):
        async with store.transaction() as conn:
            await run(streams, conn, "k", lambda _: [tally.deposit("2")], expected_version=0)
    assert await store.current_version("tally-k") == 1


async def failing_command(store: Store, streams: FoldedStreams[tally.Account]) -> None:
    async with store.transaction() as conn:
        await run(streams, conn, "k", lambda _: [tally.deposit("4")])
        raise RuntimeError("rolled back after the state was remembered")


async def test_remembered_state_follows_the_stream_whoever_wrote_it(store: Store) -> None:
    remembering = tallies(store, capacity=10)
    async with store.transaction() as conn:
        await run(remembering, conn, "k", lambda _: [tally.deposit("1")])
    await store.append("tally-k", 1, [tally.deposit("2")], customer_id="k")  # another writer
    async with store.transaction() as conn:
        loaded = await remembering.load(conn, "k")
    assert (loaded.version, loaded.state.balance) == (2, Decimal(3))
    with pytest.raises(RuntimeError, match="rolled back"):
        await failing_command(store, remembering)
    async with store.transaction() as conn:
        loaded = await remembering.load(conn, "k")
    assert (loaded.version, loaded.state.balance) == (2, Decimal(3))
