"""Benchmark of the receivables service with the ERP simulator's book, the service in its own process.

    python -m bench.receivables [--customers 5000] [--invoices 500000] [--rate 1000] [--seconds 15]

Prints: ERP documents per second end to end (from the first sent until the last is in the
read model), with the whole book sent at once; the lag from sending a document to its
events being stored, p50 and p99, at a steady rate afterwards; and the time of a whole-book
aging report today, of an as-of aging report for one customer, and of a whole-book as-of
report folded from the events; the time the keeper takes to fold the month-end positions the load
marked, the year's KPIs by month read from them and the same year folded from the events (from
2 January); and a provision matrix by each method from the positions, three times each (the first
call reads cold pages), and one folded from the events.
Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import service
from contracts import erp
from libs.service.logging import configure_logging
from services.receivables.domain.positions import position_days
from tools import erp_simulator


def last_day(*books: erp_simulator.Book) -> str:
    """The latest date of any document: the bench's business date, so that nothing counts from
    later than today and today's aging comes from the read model (the book covers 2025; its last
    payments reach into 2026)."""
    return max(str(d.data.get("issue_date") or d.data["value_date"]) for book in books for d in book.documents)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def _consumed(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM read_model.consumer_positions WHERE consumer = $1",
            "receivables.erp-documents",
        )
    )


async def bulk(bootstrap: str, dsn: str, book: erp_simulator.Book) -> tuple[float, float]:
    """Documents per second from the first sent until the last is applied to the read model,
    and until every event they caused is published on receivables.events."""
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    sender = asyncio.create_task(erp_simulator.publish(bootstrap, erp_simulator.document_records(book)))
    last_report = started
    while (done := await _consumed(conn)) < len(book.documents):
        if sender.done() and sender.exception():
            raise sender.exception()  # type: ignore[misc]
        if time.perf_counter() - last_report > 15:
            last_report = time.perf_counter()
            print(f"  {done:,} of {len(book.documents):,} applied, {done / (last_report - started):,.0f}/s", flush=True)
        await asyncio.sleep(0.25)
    applied = time.perf_counter() - started
    await sender
    while await conn.fetchval("SELECT count(*) FROM outbox"):  # noqa: ASYNC110 - the service's relay drains it
        await asyncio.sleep(0.25)
    published = time.perf_counter() - started
    await conn.close()
    return len(book.documents) / applied, len(book.documents) / published


async def steady(bootstrap: str, book: erp_simulator.Book, rate: int, seconds: float) -> list[float]:
    """Send documents at ``rate`` per second. The lag of each is from its sending until the first
    event it caused is published on receivables.events (the broker's timestamp of that record):
    what an ERP subscribed to the topic would see."""
    records = list(erp_simulator.document_records(book))[: int(rate * seconds)]
    published: dict[str, float] = {}
    reader = AIOKafkaConsumer(
        "receivables.events", bootstrap_servers=bootstrap, auto_offset_reset="latest", enable_auto_commit=False
    )
    await reader.start()
    await reader.seek_to_end()

    async def read() -> None:
        while True:
            for batch in (await reader.getmany(timeout_ms=100)).values():
                for record in batch:
                    cause = dict(record.headers).get("ce_causationid", b"").decode()
                    published.setdefault(cause, record.timestamp / 1000)

    reading = asyncio.create_task(read())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    sent: dict[str, float] = {}
    started = time.time()
    for n, (topic, record) in enumerate(records):
        if (pause := started + n / rate - time.time()) > 0:
            await asyncio.sleep(pause)
        sent[dict(record.headers)["ce_id"].decode()] = time.time()
        await producer.send(topic, record.value, key=record.key, headers=record.headers)
    await producer.flush()
    await producer.stop()
    deadline = time.time() + 120
    while time.time() < deadline and not set(sent) <= set(published):  # noqa: ASYNC110 - polling another process
        await asyncio.sleep(0.2)
    reading.cancel()
    await reader.stop()
    return [(published[i] - at) * 1000 for i, at in sent.items() if i in published]


async def timed_get(client: httpx.AsyncClient, path: str, runs: int, **params: str) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    return times


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def positions_kept(dsn: str, today: str) -> float:
    """Seconds until the keeper has folded every month-end position the load marked."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "read_model,public"})
    first = await conn.fetchval("SELECT min(entry_date) FROM movements")
    days = len(position_days(first, date.fromisoformat(today) - timedelta(days=1)))
    while (  # noqa: ASYNC110
        await conn.fetchval("SELECT count(*) FROM kpi_position_days") < days
        or await conn.fetchval("SELECT count(*) FROM kpi_marks") > 0
    ):
        await asyncio.sleep(0.5)
    await conn.close()
    return time.perf_counter() - started


async def main(customers: int, invoices: int, rate: int, seconds: float, replicas: int) -> None:
    started = time.perf_counter()
    book = erp_simulator.generate(seed=7, customers=customers, invoices=invoices)
    later = erp_simulator.generate(
        seed=8, customers=customers, invoices=max(customers, rate * int(seconds)), prefix="L"
    )
    print(
        f"simulated book: {customers:,} customers, {len(book.documents):,} documents {book.counts()}"
        f" (generated in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    topics = [*erp.DOCUMENTS, "profiles.events"]
    async with (
        service.running("receivables", topics, replicas, CREDO_BUSINESS_DATE=last_day(book, later)) as receivables,
        httpx.AsyncClient(
            base_url=receivables.url, headers={"Authorization": f"Bearer {receivables.token('viewer')}"}, timeout=3600
        ) as http,
    ):
        bootstrap, dsn = receivables.bootstrap_servers, receivables.dsn
        await erp_simulator.publish(bootstrap, erp_simulator.customer_records(book, True))
        conn = await asyncpg.connect(dsn)
        while await conn.fetchval("SELECT count(*) FROM read_model.customers") < customers:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await conn.close()

        throughput, published = await bulk(bootstrap, dsn, book)
        print(f"ERP documents applied (whole book at once):    {throughput:8,.0f} /s", flush=True)
        print(f"  ... and their events published on the topic:  {published:8,.0f} /s", flush=True)
        lags = await steady(bootstrap, later, rate, seconds)
        print(
            f"lag, sent to published on the topic, {rate:,}/s: p50 {_percentile(lags, 0.5):6.1f} ms,"
            f" p99 {_percentile(lags, 0.99):6.1f} ms  ({len(lags):,} documents)",
            flush=True,
        )
        memory = sum(_rss_mib(pid) for pid in receivables.pids)
        print(f"service memory (RSS, {replicas} process(es)):            {memory:8,.0f} MiB", flush=True)

        finance = {"Authorization": f"Bearer {receivables.token('finance_director')}"}
        for currency, fx in (("USD", "7.10"), ("EUR", "7.80")):
            rate_body = {"currency": currency, "rate": fx, "rate_date": "2025-01-01"}
            (await http.post("/fx-rates", json=rate_body, headers=finance)).raise_for_status()
        book_today = await timed_get(http, "/aging", 20)
        print(
            f"whole-book aging today (read model):           p50 {_percentile(book_today, 0.5):6.1f} ms,"
            f" max {max(book_today):6.1f} ms",
            flush=True,
        )
        ids = [c.customer_id for c in random.Random(1).sample(book.customers, min(50, customers))]
        one = [t for cid in ids for t in await timed_get(http, f"/customers/{cid}/aging", 1, as_of="2025-09-30")]
        print(
            f"as-of aging for one customer (from events):    p50 {_percentile(one, 0.5):6.1f} ms,"
            f" p99 {_percentile(one, 0.99):6.1f} ms  ({len(one)} customers)",
            flush=True,
        )
        whole = await timed_get(http, "/aging", 1, as_of="2025-09-30")
        print(f"whole-book as-of aging (folded from events):   {whole[0] / 1000:6.1f} s", flush=True)
        kept = await positions_kept(dsn, last_day(book, later))
        print(f"month-end positions kept, from the load:       {kept:6.1f} s", flush=True)
        year = {"from": "2025-01-01", "to": "2025-12-31", "by": "month"}
        kpis = await timed_get(http, "/kpis", 5, **year)
        print(
            f"KPIs of 2025 by month, as reported and now:    {_percentile(kpis, 0.5) / 1000:6.3f} s"
            f"   (goal < 1 s; from the month-end positions)",
            flush=True,
        )
        manager = {"Authorization": f"Bearer {receivables.token('credit_manager')}"}
        for method in ("roll_rates", "cohorts"):
            body = {"month_end": "2025-12-31", "method": method, "look_back_months": 12}
            took = []
            for _ in range(3):  # the first call reads the positions from disk, the later ones from cache
                started = time.perf_counter()
                (await http.post("/provisions", json=body, headers=manager)).raise_for_status()
                took.append(time.perf_counter() - started)
            print(
                f"provision matrix, {method:<10}, 12 months:     {took[0]:6.1f} s first, then"
                f" {' and '.join(f'{t:.1f} s' for t in took[1:])}   (goal < 5 s; from the positions)",
                flush=True,
            )
        # The same work folded from the events, after what the positions answer.
        folded = await timed_get(http, "/kpis", 1, **{**year, "from": "2025-01-02"})
        print(f"KPIs of 2025 from 2 January, folded:            {folded[0] / 1000:6.1f} s", flush=True)
        started = time.perf_counter()  # known the day before the month end: folded from the events
        body = {"month_end": "2025-12-31", "method": "roll_rates", "look_back_months": 12, "known_on": "2025-12-30"}
        (await http.post("/provisions", json=body, headers=manager)).raise_for_status()
        print(f"  ... roll_rates as known on 30 December, folded: {time.perf_counter() - started:6.1f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--invoices", type=int, default=500_000)
    parser.add_argument("--rate", type=int, default=1_000, help="documents per second for the lag measurement")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--replicas", type=int, default=1, help="service processes sharing the ERP's partitions")
    args = parser.parse_args()
    configure_logging("warning")
    uvloop.run(main(args.customers, args.invoices, args.rate, args.seconds, args.replicas))
