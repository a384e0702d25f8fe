"""Benchmark of alerts in its own process: from the event that causes an alert reaching its topic to
the alert on the live stream, under load.

    python -m bench.alerts [--customers 5000] [--load 500] [--samples 100]

A producer keeps ``--load`` CustomerScored events a second flowing onto scoring.events (every rule
looks at them; none is met). Meanwhile a CreditHoldPlaced every 100 ms raises (or repeats) an alert;
an SSE client of ``GET /alerts/stream`` notes when the alert carrying that hold arrives. Beside it,
in the same run and under the same load, the raw limit of the same path: a bare consumer of the
topic that inserts each hold into a table and notifies, received by a bare listener.
Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from httpx_sse import aconnect_sse

from bench import service
from contracts.scoring import CreditHoldPlaced, CustomerScored, ScoreInputs
from libs.events.contracts import DomainEvent
from libs.events.kafka import FETCH_MAX_WAIT_MS
from tools import erp_simulator

TODAY = date(2026, 6, 1)
TOPIC = "scoring.events"
TOPICS = (
    "profiles.events",
    "scoring.events",
    "collections.events",
    "receivables.events",
    "alerts.events",
    *(f"{s}.dlq" for s in ("profiles", "scoring", "receivables", "collections", "alerts")),
)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Streams:
    """Each customer's scoring stream, numbered as scoring would."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    def record(self, customer: str, event: DomainEvent) -> Any:
        self.versions[customer] = v = self.versions.get(customer, 0) + 1
        return erp_simulator.envelope(
            "scoring",
            event.event_type,
            event.schema_version,
            f"credit-account-{customer}",
            v,
            customer,
            event.payload(),
        )


def scored(customer: str, rng: random.Random) -> CustomerScored:
    return CustomerScored(
        customer_id=customer,
        score=Decimal(rng.randrange(60, 62)),
        grade="B",
        previous_grade="B",
        components={},
        weights={},
        policy_version="bench",
        inputs=ScoreInputs(as_of=TODAY, balance=Decimal(rng.randrange(1000, 2000)), overdue=Decimal(0)),
        cause="bench",
    )


async def load(producer: AIOKafkaProducer, streams: Streams, customers: int, rate: int, stop: asyncio.Event) -> int:
    """``rate`` unremarkable scores a second until ``stop``."""
    rng, sent = random.Random(3), 0
    started = time.perf_counter()
    while not stop.is_set():
        due = int((time.perf_counter() - started) * rate) - sent
        for _ in range(max(due, 0)):
            customer = f"C-{rng.randrange(customers):06d}"
            record = streams.record(customer, scored(customer, rng))
            await producer.send(TOPIC, record.value, key=record.key, headers=record.headers)
            sent += 1
        await asyncio.sleep(0.01)
    return sent


async def holds(
    producer: AIOKafkaProducer,
    streams: Streams,
    customers: int,
    samples: int,
    arrived: Callable[[str], Awaitable[float]],
) -> list[float]:
    """A hold every 100 ms; each one's time from its topic to ``arrived``."""
    rng, found = random.Random(5), []
    for n in range(samples):
        customer = f"C-{rng.randrange(customers):06d}"
        hold = f"H-{n}-{rng.randrange(10**9)}"
        record = streams.record(
            customer, CreditHoldPlaced(customer_id=customer, hold_id=hold, reason="bench", by="bench")
        )
        waiting = asyncio.ensure_future(arrived(hold))
        await producer.send_and_wait(TOPIC, record.value, key=record.key, headers=record.headers)
        on_topic = time.perf_counter()
        found.append((await asyncio.wait_for(waiting, 30) - on_topic) * 1000)
        await asyncio.sleep(0.1)
    return found


class Arrivals:
    """When each awaited key arrived (perf_counter), as a listener sees them."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, key: str) -> asyncio.Future[float]:
        return self.waiting.setdefault(key, asyncio.get_running_loop().create_future())

    def seen(self, key: str) -> None:
        future = self.waiting.get(key)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())


async def sse_client(running: service.Running, arrivals: Arrivals, connected: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {running.token('credit_manager')}"}
    async with (
        httpx.AsyncClient(base_url=running.url, timeout=None) as client,
        aconnect_sse(client, "GET", "/alerts/stream", headers=headers) as source,
    ):
        connected.set()
        async for event in source.aiter_sse():
            if not event.event.startswith("Alert"):
                continue  # a keep-alive
            for fact in json.loads(event.data)["facts"]:
                if fact["name"] == "hold_id":
                    arrivals.seen(fact["value"])


async def raw_path(running: service.Running, arrivals: Arrivals, connected: asyncio.Event) -> None:
    """The same I/O bare: consume, insert and notify in one transaction, hear it on a listener."""
    conn = await asyncpg.connect(running.dsn)
    listener = await asyncpg.connect(running.dsn)
    await conn.execute("CREATE TABLE IF NOT EXISTS raw_holds (hold_id text PRIMARY KEY)")
    await listener.add_listener("raw_holds", lambda *a: arrivals.seen(a[3]))
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=running.bootstrap_servers,
        auto_offset_reset="latest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=500)
        connected.set()
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    headers = dict(record.headers)
                    if headers.get("ce_type") != CreditHoldPlaced.event_type.encode():
                        continue
                    hold = json.loads(record.value)["hold_id"]
                    async with conn.transaction():
                        await conn.execute("INSERT INTO raw_holds VALUES ($1) ON CONFLICT DO NOTHING", hold)
                        await conn.execute("SELECT pg_notify('raw_holds', $1)", hold)
    finally:
        await consumer.stop()
        await conn.close()
        await listener.close()


async def measured(
    running: service.Running,
    client: Callable[..., Coroutine[Any, Any, None]],
    customers: int,
    rate: int,
    samples: int,
) -> tuple[list[float], int, float]:
    producer = AIOKafkaProducer(bootstrap_servers=running.bootstrap_servers, linger_ms=2)
    await producer.start()
    streams, arrivals, connected, stop = Streams(), Arrivals(), asyncio.Event(), asyncio.Event()
    listening = asyncio.create_task(client(running, arrivals, connected))
    await asyncio.wait_for(connected.wait(), 30)
    loading = asyncio.create_task(load(producer, streams, customers, rate, stop))
    started = time.perf_counter()
    try:
        await asyncio.sleep(2)  # the load under way
        found = await holds(producer, streams, customers, samples, lambda h: arrivals.expect(h))
    finally:
        stop.set()
        sent = await loading
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await producer.stop()
    return found, sent, time.perf_counter() - started


async def main(customers: int, rate: int, samples: int) -> None:
    settings = {"CREDO_BUSINESS_DATE": TODAY.isoformat()}
    async with service.running("alerts", TOPICS, 1, **settings) as running:
        credo, sent, seconds = await measured(running, sse_client, customers, rate, samples)
        raw, raw_sent, raw_seconds = await measured(running, raw_path, customers, rate, samples)
        print(
            f"load: {sent:,} scores in {seconds:.0f} s ({sent / seconds:,.0f}/s) beside the holds; raw run: "
            f"{raw_sent:,} in {raw_seconds:.0f} s"
        )
        print("operation                              credo          raw (same I/O)   ratio")
        for name, share, goal in (("p50", 0.5, ""), ("p99", 0.99, "   (goal < 1,000 ms)")):
            ours, bare = _percentile(credo, share), _percentile(raw, share)
            print(
                f"hold on its topic to alert on SSE {name} {ours:8.1f} ms     {bare:8.1f} ms"
                f"      {ours / bare:5.1f}x{goal}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--load", type=int, default=1000, help="unremarkable scores a second meanwhile")
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    uvloop.run(main(args.customers, args.load, args.samples))
