"""Benchmark of the scoring service in its own process.

    python -m bench.scoring [--customers 10000] [--rates 100,200,300,500] [--seconds 10] [--replicas 1]

Feeds scoring a book as profiles and receivables publish it (each customer registered, with a
bureau report, invoices and their payments on receivables.events) and gives every customer a
limit through the approval API. Then prints:
- the credit check's latency, p50/p99/max, at each steady rate of POST /credit-checks on
  random customers (measured by the client, so it includes HTTP on both sides);
- the time from a late payment's events being sent to the customer's new score being readable
  through the API, idle and under the check load.
Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import service
from contracts.profiles import BureauReportRecorded, CustomerRegistered, Registration
from contracts.receivables import (
    Allocation,
    Instalment,
    InvoiceIssued,
    InvoiceSettled,
    PaymentAllocated,
    PaymentReceived,
    Terms,
)
from libs.events.contracts import DomainEvent, Money
from libs.service.logging import configure_logging
from tools import erp_simulator

TODAY = date(2026, 1, 1)
TOPICS = ("profiles.events", "receivables.events", "scoring.events", "scoring.dlq")
LATE_INVOICES = itertools.count(100)  # numbers of the invoices paid late to time a re-score


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _figures(values: list[float]) -> str:
    return f"p50 {_percentile(values, 0.5):7.1f} ms, p99 {_percentile(values, 0.99):7.1f} ms, max {max(values):7.1f} ms"


class Account:
    """One customer's stream on receivables.events, as receivables would number it."""

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.version = 0

    def record(self, event: DomainEvent) -> tuple[str, Any]:
        self.version += 1
        return "receivables.events", erp_simulator.envelope(
            "receivables",
            event.event_type,
            event.schema_version,
            f"account-{self.customer_id}",
            self.version,
            self.customer_id,
            event.payload(),
        )


def paid_invoice(account: Account, number: int, issued: date, late_days: int) -> Iterator[tuple[str, Any]]:
    """An invoice of the customer's, and its payment ``late_days`` after it fell due."""
    customer = account.customer_id
    amount = Money.of(Decimal(random.randint(5, 50) * 1000), "CNY")
    due = issued + timedelta(days=30)
    paid = due + timedelta(days=late_days)
    invoice_id, payment_id = f"{customer}-I{number}", f"{customer}-P{number}"
    common = {"customer_id": customer, "recorded_on": paid}
    yield account.record(
        InvoiceIssued(
            customer_id=customer,
            recorded_on=issued,
            invoice_id=invoice_id,
            number=invoice_id,
            net=amount,
            tax=Money.of(0, "CNY"),
            total=amount,
            issue_date=issued,
            terms=Terms(net_days=30),
            schedule=(Instalment(due_date=due, amount=amount),),
        )
    )
    yield account.record(
        PaymentReceived(**common, payment_id=payment_id, amount=amount, value_date=paid, method="bank_transfer")
    )
    yield account.record(
        PaymentAllocated(
            **common,
            payment_id=payment_id,
            basis="oldest_due",
            allocations=(Allocation(invoice_id=invoice_id, amount=amount),),
            entry_date=paid,
            remainder=Money.of(0, "CNY"),
        )
    )
    yield account.record(InvoiceSettled(**common, invoice_id=invoice_id, settled_on=paid))


def book(customers: int) -> tuple[list[tuple[str, Any]], dict[str, Account]]:
    records: list[tuple[str, Any]] = []
    accounts = {}
    for n in range(customers):
        customer = f"C-{n:05d}"
        registration = Registration(scheme="OTHER", number=f"REG-{n}", country="CN")
        for version, event in enumerate(
            (
                CustomerRegistered(
                    customer_id=customer,
                    legal_name=f"客户 {n}",
                    registration=registration,
                    customer_since=date(2020, 1, 1),
                ),
                BureauReportRecorded(
                    customer_id=customer,
                    report_id=f"B-{n}",
                    provider="bench",
                    report_date=date(2025, 12, 1),
                    score=random.randint(40, 95),
                ),
            ),
            start=1,
        ):
            records.append(
                (
                    "profiles.events",
                    erp_simulator.envelope(
                        "profiles", event.event_type, event.schema_version, f"customer-{customer}", version,
                        customer, event.payload(),
                    ),
                )
            )  # fmt: skip
        account = accounts[customer] = Account(customer)
        for i in range(3):
            records += paid_invoice(account, i, date(2025, 9, 1) + timedelta(days=20 * i), random.choice((-5, 0, 10)))
    return records, accounts


async def _caught_up(conn: asyncpg.Connection, total: int) -> None:
    started = time.perf_counter()
    while True:
        done = int(
            await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM read_model.consumer_positions"
                " WHERE consumer = 'scoring.facts'"
            )
        )
        if done >= total:
            return
        if time.perf_counter() - started > 5:
            print(f"  {done:,} of {total:,} events consumed", flush=True)
            started = time.perf_counter()
        await asyncio.sleep(0.25)


async def set_limits(url: str, running: service.Running, customers: int) -> None:
    analyst = {"Authorization": f"Bearer {running.token('credit_analyst')}"}
    manager = {"Authorization": f"Bearer {running.token('credit_manager', subject='approver')}"}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(customers):
        queue.put_nowait(f"C-{n:05d}")

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            customer = queue.get_nowait()
            body = {"kind": "new", "amount": "500000", "currency": "CNY", "reason": "benchmark"}
            asked = await http.post(f"/customers/{customer}/limit-requests", json=body, headers=analyst)
            asked.raise_for_status()
            request_id = asked.json()["pending_requests"][0]["request_id"]
            approval = f"/customers/{customer}/requests/{request_id}/approval"
            (await http.post(approval, json={}, headers=manager)).raise_for_status()

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(16)))


async def checks(
    urls: tuple[str, ...], token: str, customers: int, rate: int, seconds: float
) -> tuple[list[float], int]:
    """POST /credit-checks at ``rate`` per second, open loop, spread over the replicas; each
    request's latency, and errors. The client is aiohttp: httpx's pool costs more CPU per
    request than the service does."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=400)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def one(n: int) -> None:
            nonlocal errors
            body = {
                "customer_id": f"C-{random.randrange(customers):05d}",
                "amount": f"{random.randint(1, 20) * 100}.00",
                "currency": "CNY",
                "order_ref": f"SO-{n}",
            }
            started = time.perf_counter()
            async with http.post(f"{urls[n % len(urls)]}/credit-checks", json=body) as response:
                await response.read()
                errors += response.status != 201
            latencies.append((time.perf_counter() - started) * 1000)

        tasks = []
        started = time.perf_counter()
        for n in range(int(rate * seconds)):
            if (pause := started + n / rate - time.perf_counter()) > 0:
                await asyncio.sleep(pause)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return latencies, errors


class Feed:
    """scoring.events read as the ERP reads it: when each customer's events of each type arrived."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.arrived: dict[tuple[str, str], float] = {}
        self._news = asyncio.Event()  # set, and replaced, after each fetch

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
        await consumer.start()
        try:
            partitions = [
                TopicPartition("scoring.events", p) for p in consumer.partitions_for_topic("scoring.events") or {0}
            ]
            consumer.assign(partitions)
            for tp in partitions:
                consumer.seek(tp, 0)
            while True:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    now = time.perf_counter()
                    for record in records:
                        kind = dict(record.headers)["ce_type"].decode()
                        self.arrived[(record.key or b"").decode(), kind] = now
                self._news.set()
                self._news = asyncio.Event()
        finally:
            await consumer.stop()

    async def arrival(self, customer: str, kind: str, after: float) -> float:
        while self.arrived.get((customer, kind), 0.0) < after:
            await self._news.wait()
        return self.arrived[customer, kind]


async def _latest_version(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> int:
    return int((await http.get(path, headers=headers, params={"limit": 1})).json()["scores"][0]["version"])


async def rescores(
    bootstrap: str, url: str, token: str, accounts: dict[str, Account], runs: int, feed: Feed
) -> tuple[list[float], list[float]]:
    """From sending a late payment's events until the customer's new score is readable through
    the API, and until its CustomerScored reaches the ERP on scoring.events."""
    times: list[float] = []
    published: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {token}"}
        for customer in random.sample(sorted(accounts), runs):
            path = f"/customers/{customer}/scores"
            before = await _latest_version(http, path, headers)
            records = list(paid_invoice(accounts[customer], next(LATE_INVOICES), date(2025, 10, 1), 45))
            started = time.perf_counter()
            await erp_simulator.publish(bootstrap, iter(records))
            # Polled, as a front-end would: the service is in another process.
            while await _latest_version(http, path, headers) == before:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            times.append((time.perf_counter() - started) * 1000)
            published.append((await feed.arrival(customer, "scoring.CustomerScored", started) - started) * 1000)
    return times, published


async def main(customers: int, rates: list[int], seconds: float, runs: int, replicas: int) -> None:
    random.seed(11)
    records, accounts = book(customers)
    print(f"book: {customers:,} customers, {len(records):,} events on profiles.events and receivables.events")
    settings = {"CREDO_BUSINESS_DATE": TODAY.isoformat()}
    async with service.running("scoring", TOPICS, replicas, **settings) as running:
        conn = await asyncpg.connect(running.dsn)
        started = time.perf_counter()
        await erp_simulator.publish(running.bootstrap_servers, iter(records))
        await _caught_up(conn, len(records))
        took = time.perf_counter() - started
        print(f"book consumed and scored: {took:.1f} s, {len(records) / took:,.0f} events/s")
        started = time.perf_counter()
        await set_limits(running.url, running, customers)
        print(f"limits requested and approved for {customers:,} customers: {time.perf_counter() - started:.1f} s")
        token = running.token("credit_analyst")
        feed = Feed(running.bootstrap_servers)
        reading = asyncio.create_task(feed.run())
        idle, idle_feed = await rescores(running.bootstrap_servers, running.url, token, accounts, runs, feed)
        print(f"payment event to new score readable, idle:       {_figures(idle)}")
        print(f"  and to CustomerScored on the ERP's feed:       {_figures(idle_feed)}")
        for rate in rates:
            load = asyncio.create_task(checks(running.urls, token, customers, rate, seconds))
            await asyncio.sleep(min(2.0, seconds / 4))
            busy, busy_feed = await rescores(
                running.bootstrap_servers, running.url, token, accounts, max(runs // 5, 1), feed
            )
            latencies, errors = await load
            print(
                f"credit checks at {rate}/s for {seconds:.0f} s, {replicas} replica(s)"
                f" ({len(latencies):,} checks, {errors} errors): {_figures(latencies)}"
            )
            print(f"  payment event to new score readable meanwhile: {_figures(busy)}")
            print(f"  and to CustomerScored on the ERP's feed:       {_figures(busy_feed)}")
            await asyncio.sleep(2)  # the backlog of one rate does not spill into the next
        reading.cancel()
        outcomes = await conn.fetch("SELECT outcome, count(*) FROM read_model.credit_checks GROUP BY 1 ORDER BY 1")
        print("  outcomes: " + ", ".join(f"{r['outcome']} {r['count']:,}" for r in outcomes))
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.scoring", description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rates", default="100,200,300,500", help="credit checks per second, one run each")
    parser.add_argument("--seconds", type=float, default=10, help="of each rate")
    parser.add_argument("--rescores", type=int, default=50, help="payments timed to their new score")
    parser.add_argument("--replicas", type=int, default=1, help="scoring processes sharing the work")
    args = parser.parse_args()
    configure_logging("warning")
    rates = [int(r) for r in args.rates.split(",")]
    uvloop.run(main(args.customers, rates, args.seconds, args.rescores, args.replicas))
