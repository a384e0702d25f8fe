"""Benchmark of the profiles service, running as its own process as in production.

    python -m bench.profiles [--customers 10000] [--erp 100000] [--clients 100] [--seconds 10]

Prints: registrations per second through the API; ERP customer-master documents per second
through erp.customers (until every credit file exists); and the latency of GET /customers/{id}
with 10,000 files stored under N concurrent clients. Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import uvloop

from bench import service
from bench.wrk import reads_script, wrk
from contracts import erp as erp_contract
from libs.events.envelope import Envelope, to_kafka
from libs.events.kafka import partition_for
from libs.events.outbox import new_producer
from libs.service.logging import configure_logging


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


async def register(url: str, token: str, count: int, concurrency: int = 16, offset: int = 0) -> float:
    queue = list(range(offset, offset + count))
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            n = queue.pop()
            response = await client.post(
                "/customers",
                json={
                    "legal_name": f"Benchmark Customer {n:06d} 有限公司",
                    "industry": random.choice(["retail", "steel"]),
                    "registration": {"scheme": "OTHER", "number": f"BENCH-{n:06d}", "country": "DE"},
                },
            )
            if response.status_code != 201:
                raise RuntimeError(response.text)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def erp_documents(bootstrap: str, dsn: str, count: int) -> float:
    producer = new_producer(bootstrap)
    await producer.start()
    partitions = len(await producer.partitions_for(erp_contract.CUSTOMERS))
    started = time.perf_counter()
    for start in range(0, count, 5000):
        batches: dict[int, list[object]] = {}
        for n in range(start, min(start + 5000, count)):
            erp_id = f"E{n:07d}"
            record = to_kafka(
                Envelope(
                    id=uuid.uuid4(),
                    source="erp",
                    type="erp.CustomerMaster",
                    time=datetime.now(UTC),
                    subject=f"erp-customer-{erp_id}",
                    stream_version=1,
                    schema_version=1,
                    customer_id=erp_id,
                    data={
                        "erp_id": erp_id,
                        "legal_name": f"ERP Customer {n}",
                        "registration": {"scheme": "OTHER", "number": f"ERP-{n:07d}", "country": "CN"},
                    },
                )
            )
            batches.setdefault(partition_for(record.key, partitions), []).append(record)
        deliveries = []
        for partition, records in batches.items():
            batch = producer.create_batch()
            for r in records:
                while batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:  # type: ignore[attr-defined]
                    deliveries.append(await producer.send_batch(batch, erp_contract.CUSTOMERS, partition=partition))
                    batch = producer.create_batch()
            deliveries.append(await producer.send_batch(batch, erp_contract.CUSTOMERS, partition=partition))
        await asyncio.gather(*deliveries)
    await producer.stop()
    conn = await asyncpg.connect(dsn)
    try:
        query = "SELECT count(*) FROM read_model.customers WHERE erp_id IS NOT NULL"
        while await conn.fetchval(query) < count:  # noqa: ASYNC110 - polling another process's database
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return count / (time.perf_counter() - started)


async def reads(url: str, token: str, ids: list[str], clients: int, seconds: float) -> tuple[float, float, float]:
    """GET latency measured from Python (when wrk is not installed; the client then competes for the CPU)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(f"/customers/{random.choice(ids)}")
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(response.text)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
    ) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    latencies.sort()
    return _percentile(latencies, 0.5), _percentile(latencies, 0.99), len(latencies) / seconds


async def main(customers: int, documents: int, clients: int, seconds: float) -> None:
    async with service.running("profiles", [erp_contract.CUSTOMERS]) as profiles:
        url, token = profiles.url, profiles.token("admin")
        rate = await register(url, token, customers)
        print(
            f"registrations through the API:        {rate:8,.0f} /s   ({customers:,} customers, 16 at once)",
            flush=True,
        )
        ids = [r["customer_id"] for r in await _ids(profiles.dsn)]
        if shutil.which("wrk"):
            found = await asyncio.to_thread(wrk, url, profiles.pids[0], reads_script(ids, token), clients, seconds)
            if found.errors:
                raise RuntimeError(f"wrk saw {found.errors} failed requests")
            p50, p99, throughput = found.p50_ms, found.p99_ms, found.ops_per_second
            tool = "wrk"
        else:
            p50, p99, throughput = await reads(url, token, ids, clients, seconds)
            tool = "Python client; install wrk for a truer figure"
        print(
            f"GET /customers/{{id}}, {clients} clients:       p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"{throughput:,.0f} requests/s ({len(ids):,} files; {tool})",
            flush=True,
        )
        rate = await erp_documents(profiles.bootstrap_servers, profiles.dsn, documents)
        print(
            f"ERP customer documents via the topic: {rate:8,.0f} /s   ({documents:,} documents, each a new file)",
            flush=True,
        )


async def _ids(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch("SELECT customer_id FROM read_model.customers"))
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--erp", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    configure_logging("warning")
    uvloop.run(main(args.customers, args.erp, args.clients, args.seconds))
