"""The relay and a consumer as separate processes, killed with SIGKILL at random moments
while eight writers append: the read model still ends equal to the events, each applied once."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess

import pytest

from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.support import tally
from tests.support.backbone import eventually, open_producer, open_reader
from tests.support.processes import spawn

pytestmark = pytest.mark.system


async def test_random_kills_of_relay_and_consumer_lose_and_double_nothing(
    new_database: NewDatabase, broker: BrokerHandle, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.tally"
    producer = await open_producer(await new_database(), broker.bootstrap_servers, topic)
    reader = await open_reader(await new_database(), broker.bootstrap_servers, topic)
    rng = random.Random(20261123)
    chaos_done = asyncio.Event()

    async def writer(w: int) -> None:
        n = 0
        while n < 100 or not chaos_done.is_set():
            await producer.store.append(
                f"w{w}-{n % 10}", n // 10, [tally.deposit(f"{w}.{n:03d}")], customer_id=f"cust-{w}-{n % 10}"
            )
            n += 1
            await asyncio.sleep(rng.random() / 200)

    def start(kind: str) -> subprocess.Popen[bytes]:
        if kind == "relay":
            return spawn("relay", producer.dsn, broker.bootstrap_servers)
        return spawn("consumer", reader.dsn, broker.bootstrap_servers, topic)

    processes = {"relay": start("relay"), "consumer": start("consumer")}
    killed = {"relay": 0, "consumer": 0}

    async def chaos() -> None:
        for victim in ["relay", "consumer"] * 3:
            await asyncio.sleep(rng.uniform(0.4, 1.0))
            processes[victim].send_signal(signal.SIGKILL)
            await asyncio.to_thread(processes[victim].wait)
            killed[victim] += 1
            processes[victim] = start(victim)
        chaos_done.set()

    try:
        await asyncio.gather(chaos(), *(writer(w) for w in range(8)))
        total = int(await producer.pool.fetchval("SELECT count(*) FROM events"))
        await eventually(lambda: _applied(reader.pool, total), within=120, what="every event projected")
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.wait(30)

    assert killed == {"relay": 3, "consumer": 3}
    assert await tally.balances(reader.pool) == await tally.expected_from_events(producer.pool)
    await producer.pool.close()
    await reader.pool.close()


async def _applied(pool, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return int(await pool.fetchval("SELECT coalesce(sum(applied), 0) FROM balances")) >= expected
