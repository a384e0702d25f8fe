"""A scheduled sweep driven by the settable business clock, against a real database."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from libs.events.clock import SettableClock
from libs.events.contracts import Money
from libs.events.store import ConcurrencyConflict, EventStore
from libs.events.sweeps import Sweep, SweepScheduler
from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import Producer


def daily_fee(store: EventStore) -> Sweep:
    """Charges a fee for each business date: version n of the fee stream is day n's fee,
    so running a date again is refused by the store rather than charged twice."""
    first = date(2026, 11, 23)

    async def run(day: date) -> int:
        version = (day - first).days
        try:
            await store.append("fees", version, [tally.Withdrawn(amount=Money.of("1.00", "CNY"))], customer_id="house")
        except ConcurrencyConflict:
            return 0
        return 1

    return Sweep("daily-fee", run)


async def test_sweep_runs_each_business_date_once_in_order(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    clock = SettableClock(date(2026, 11, 23), frozen=True)
    sweep = daily_fee(producer.store)
    scheduler = SweepScheduler(producer.pool, clock, [sweep])

    assert await scheduler.run_due() == {"daily-fee": 1}
    assert await scheduler.run_due() == {"daily-fee": 0}, "the same date was swept twice"

    clock.advance(timedelta(days=3))
    rivals = [SweepScheduler(producer.pool, clock, [sweep]) for _ in range(3)]
    results = await asyncio.gather(*(r.run_due() for r in rivals))
    assert sum(r["daily-fee"] for r in results) == 3, "replicas swept the same dates"
    assert [r.version for r in await producer.store.load("fees")] == [1, 2, 3, 4]
    assert await producer.pool.fetchval("SELECT swept_through FROM sweeps WHERE name = 'daily-fee'") == date(
        2026, 11, 26
    )

    clock.set(date(2026, 11, 20))  # a clock moved back sweeps nothing
    assert await scheduler.run_due() == {"daily-fee": 0}


async def test_a_date_interrupted_after_its_events_is_not_charged_twice(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str, producer: Producer
) -> None:
    clock = SettableClock(date(2026, 11, 23), frozen=True)
    sweep = daily_fee(producer.store)
    await sweep.run(date(2026, 11, 23))  # the events landed, the date was never recorded
    assert await SweepScheduler(producer.pool, clock, [sweep]).run_due() == {"daily-fee": 0}
    assert len(await producer.store.load("fees")) == 1
