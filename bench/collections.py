"""Benchmark of the collections service in its own process.

    python -m bench.collections [--customers 5000] [--invoices 500000] [--paid 0] [--samples 20]

Writes a book straight into collections' read model, as its consumer would have projected it:
customers with a billing contact and a grade, invoices falling due from 59 days ago to 10 days
ahead, ``--paid`` percent of them paid (0: every one open, the hardest case). Then prints, each
next to the raw limit of the same I/O measured in the same run:
- the daily dunning run over the whole book (``POST /dunning-run``): its time, against reading
  every open item and appending one event and outbox row per customer with asyncpg alone;
- the worklist (``GET /worklist``) p50/p99 over sequential requests, against its SELECT alone;
- the policy backtest (``POST /policy/what-if``) of the last 30 days for ``--what-if-customers``
  customers, against reading their history's rows alone;
- the time from a payment's events on receivables.events to its promise reading ``kept``.
Notices go to a local SMTP server; how many were sent meanwhile is printed too.
Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import uvloop
from aiokafka import AIOKafkaProducer

from bench import service
from contracts.receivables import Allocation, PaymentAllocated, PaymentReceived
from libs.events.contracts import Money
from libs.infra.embedded import free_port
from libs.infra.mailbox import smtp_server
from tools import erp_simulator

TODAY = date(2026, 6, 1)
TOPICS = ("profiles.events", "receivables.events", "scoring.events", "collections.events", "collections.dlq")


async def _mails(folder: str) -> int:
    return await asyncio.to_thread(lambda: len(list(Path(folder).glob("*.eml"))))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def load_book(dsn: str, customers: int, invoices: int, paid_percent: int) -> None:
    """The read model as the consumer would have written it: one generate_series per table."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "read_model,public"})
    try:
        per = invoices // customers
        await conn.execute(
            "INSERT INTO customers (customer_id, legal_name, country, registered_at, address)"
            " SELECT 'C-' || lpad(n::text, 6, '0'), '客户' || n || '有限公司', 'CN', now(), '福州市' || n || '号'"
            " FROM generate_series(1, $1) n",
            customers,
        )
        await conn.execute(
            "INSERT INTO contacts (customer_id, contact_id, name, email, phone, billing)"
            " SELECT 'C-' || lpad(n::text, 6, '0'), 'P-1', '财务部', 'ap' || n || '@bench.example', '+86 591 0000'"
            " || lpad(n::text, 4, '0'), true FROM generate_series(1, $1) n",
            customers,
        )
        await conn.execute(
            "INSERT INTO standing (customer_id, grade) SELECT 'C-' || lpad(n::text, 6, '0'),"
            " (ARRAY['A','B','C','D','E'])[1 + n % 5] FROM generate_series(1, $1) n",
            customers,
        )
        await conn.execute(
            """
            INSERT INTO items
                   (customer_id, invoice_id, number, currency, total, reduced, issue_date, schedule, first_due,
                    issued_total, recorded_on)
            SELECT 'C-' || lpad((1 + (i - 1) / $2)::text, 6, '0'), 'I-' || i, 'FP' || lpad(i::text, 8, '0'), 'CNY',
                   t.total, CASE WHEN i % 100 < $4 THEN t.total ELSE 0 END, d.due - 30,
                   json_build_array(json_build_array(d.due::text, t.total::text))::jsonb, d.due, t.total, d.due - 30
              FROM generate_series(1, $1) i,
                   LATERAL (SELECT (100 + (i::bigint * 7919) % 90000)::numeric / 1 AS total) t,
                   LATERAL (SELECT $3::date - ((i::bigint * 104729) % 70)::int + 10 AS due) d
            """,
            customers * per,
            per,
            TODAY,
            paid_percent,
        )
        # The paid ones were paid, and recorded, five days before they fell due.
        await conn.execute(
            "INSERT INTO reductions (customer_id, invoice_id, amount, recorded_on, entry_date)"
            " SELECT customer_id, invoice_id, reduced, first_due - 5, first_due - 5 FROM items WHERE reduced > 0"
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def raw_run(dsn: str) -> float:
    """The same I/O as a run, with nothing else: every open item read, in chunks of 200 customers,
    and one event and outbox row appended per customer."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "read_model,public"})
    try:
        started = time.perf_counter()
        customers = [r[0] for r in await conn.fetch("SELECT DISTINCT customer_id FROM items ORDER BY 1")]
        for start in range(0, len(customers), 200):
            chunk = customers[start : start + 200]
            async with conn.transaction():
                rows = await conn.fetch(
                    "SELECT customer_id, invoice_id, total, reduced, schedule FROM items"
                    " WHERE customer_id = ANY($1::text[]) AND total > reduced",
                    chunk,
                )
                by: dict[str, list[str]] = {}
                for r in rows:
                    by.setdefault(r["customer_id"], []).append(r["invoice_id"])
                await conn.executemany(
                    "WITH e AS (INSERT INTO public.events (stream_id, version, event_id, event_type, schema_version,"
                    " customer_id, topic, data, occurred_at) VALUES ($1, 1000000, $2, 'raw', 1, $3, 'raw', $4::jsonb,"
                    " now()) RETURNING position) INSERT INTO public.outbox (position) SELECT position FROM e",
                    [(f"raw-{c}", uuid.uuid4(), c, json.dumps(items)) for c, items in by.items()],
                )
        elapsed = time.perf_counter() - started
        await conn.execute(
            "DELETE FROM public.outbox WHERE position IN (SELECT position FROM public.events WHERE event_type = 'raw')"
        )
        await conn.execute("DELETE FROM public.events WHERE event_type = 'raw'")
        return elapsed
    finally:
        await conn.close()


async def what_if(running: service.Running, customers: int) -> tuple[float, float, dict[str, int]]:
    """The policy in force backtested over the last 30 days for the first ``customers`` customers,
    against reading their history's rows alone."""
    chosen = [f"C-{n:06d}" for n in range(1, customers + 1)]
    conn = await asyncpg.connect(running.dsn, server_settings={"search_path": "read_model,public"})
    try:
        started = time.perf_counter()
        for table in ("items", "reductions", "disputes", "standing_history"):
            await conn.fetch(f"SELECT * FROM {table} WHERE customer_id = ANY($1::text[])", chosen)
        raw = time.perf_counter() - started
    finally:
        await conn.close()
    body = {"from": (TODAY - timedelta(days=29)).isoformat(), "to": TODAY.isoformat(), "customers": chosen}
    token = running.token("credit_manager")
    async with httpx.AsyncClient(
        base_url=running.url, timeout=3600, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        started = time.perf_counter()
        answer = await http.post("/policy/what-if", json=body)
        ours = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return ours, raw, answer.json()["notices"]


async def worklist(running: service.Running, samples: int) -> tuple[list[float], list[float]]:
    token = running.token("collector")
    api: list[float] = []
    async with httpx.AsyncClient(base_url=running.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(samples):
            started = time.perf_counter()
            answer = await http.get("/worklist", params={"limit": 50})
            api.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
    conn = await asyncpg.connect(running.dsn, server_settings={"search_path": "read_model,public"})
    raw: list[float] = []
    try:
        for _ in range(samples):
            started = time.perf_counter()
            await conn.fetch(
                "SELECT w.*, d.legal_name, k.collector, k.level FROM worklist w"
                " JOIN customers d ON d.customer_id = w.customer_id LEFT JOIN cases k ON k.customer_id = w.customer_id"
                " ORDER BY w.priority DESC, w.overdue_in_base DESC, w.customer_id LIMIT 50"
            )
            raw.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return api, raw


async def promise_valuation(running: service.Running, samples: int) -> list[float]:
    """Promise, then the payment's events as receivables publishes them; until the case says kept."""
    token = running.token("collector")
    headers = {"Authorization": f"Bearer {token}"}
    producer = AIOKafkaProducer(bootstrap_servers=running.bootstrap_servers)
    await producer.start()
    found: list[float] = []
    rng = random.Random(7)
    versions: dict[str, int] = {}  # of each account stream, as receivables numbers them
    try:
        async with httpx.AsyncClient(base_url=running.url, headers=headers) as http:
            for n in range(samples):
                customer = f"C-{rng.randrange(1, 200):06d}"
                case = (await http.get(f"/cases/{customer}")).json()
                item = case["items"][0]
                amount = item["open"]["amount"]
                body = {
                    "amount": {"amount": "1.00", "currency": "CNY"},
                    "due_date": TODAY.isoformat(),
                    "invoices": [item["invoice_id"]],
                }
                answer = await http.post(f"/cases/{customer}/promises", json=body)
                assert answer.status_code == 201, answer.text
                promise = answer.json()["promises"][-1]["promise_id"]
                payment = f"PB-{n}"
                events = [
                    PaymentReceived(
                        customer_id=customer,
                        recorded_on=TODAY,
                        payment_id=payment,
                        amount=Money(amount=amount, currency="CNY"),
                        value_date=TODAY,
                        method="bank",
                    ),
                    PaymentAllocated(
                        customer_id=customer,
                        recorded_on=TODAY,
                        payment_id=payment,
                        basis="remittance",
                        allocations=(
                            Allocation(invoice_id=item["invoice_id"], amount=Money(amount=amount, currency="CNY")),
                        ),
                        entry_date=TODAY,
                        remainder=Money(amount="0.00", currency="CNY"),
                    ),
                ]
                started = time.perf_counter()
                for event in events:
                    versions[customer] = v = versions.get(customer, 0) + 1
                    record = erp_simulator.envelope(
                        "receivables",
                        event.event_type,
                        event.schema_version,
                        f"account-{customer}",
                        v,
                        customer,
                        event.payload(),
                    )
                    await producer.send_and_wait(
                        "receivables.events", record.value, key=record.key, headers=record.headers
                    )
                while True:
                    promises = (await http.get(f"/cases/{customer}")).json()["promises"]
                    if next(p for p in promises if p["promise_id"] == promise)["outcome"] == "kept":
                        break
                    await asyncio.sleep(0.005)
                found.append((time.perf_counter() - started) * 1000)
    finally:
        await producer.stop()
    return found


async def main(customers: int, invoices: int, paid: int, samples: int, what_if_customers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="credo-bench-mail-") as mail:
        smtp_port = free_port()
        controller = smtp_server(Path(mail), smtp_port)
        settings = {
            "CREDO_BUSINESS_DATE": TODAY.isoformat(),
            "CREDO_COLLECTIONS_SMTP_HOST": "127.0.0.1",
            "CREDO_COLLECTIONS_SMTP_PORT": str(smtp_port),
        }
        try:
            async with service.running("collections", TOPICS, 1, **settings) as running:
                started = time.perf_counter()
                await load_book(running.dsn, customers, invoices, paid)
                print(
                    f"book: {customers:,} customers, {invoices:,} invoices ({100 - paid} % open) written in "
                    f"{time.perf_counter() - started:.1f} s\n"
                )
                raw = await raw_run(running.dsn)
                token = running.token("collector")
                async with httpx.AsyncClient(
                    base_url=running.url, timeout=600, headers={"Authorization": f"Bearer {token}"}
                ) as http:
                    started = time.perf_counter()
                    answer = await http.post("/dunning-run")
                    run = time.perf_counter() - started
                assert answer.status_code == 200, answer.text
                result = answer.json()
                sent = await _mails(mail)
                print("operation                        credo            raw (same I/O)   ratio")
                print(
                    f"dunning run, whole book          {run:8.1f} s       {raw:8.1f} s       {run / raw:5.1f}x"
                    f"   ({result['customers']:,} customers, {result['events']:,} events; goal < 60 s)"
                )
                api, raw_sql = await worklist(running, max(samples * 5, 50))
                for name, share, goal in (("p50", 0.5, ""), ("p99", 0.99, "   (goal < 50 ms)")):
                    ours, bare = _percentile(api, share), _percentile(raw_sql, share)
                    print(f"worklist {name:<24}{ours:8.1f} ms      {bare:8.1f} ms      {ours / bare:5.1f}x{goal}")
                ours, bare, notices = await what_if(running, what_if_customers)
                print(
                    f"what-if, 30 days, {what_if_customers:,} customers {ours:8.1f} s       {bare:8.3f} s     "
                    f"{ours / bare:6.0f}x   ({notices['proposed']:,} notices; recorded {notices['recorded']:,})"
                )
                valued = await promise_valuation(running, samples)
                print(f"payment to promise kept p50      {_percentile(valued, 0.5):8.1f} ms")
                print(
                    f"payment to promise kept p99      {_percentile(valued, 0.99):8.1f} ms"
                    "                        (goal < 1,000 ms)"
                )
                print(f"mails received by the SMTP server: {sent:,} as the run answered, {await _mails(mail):,} by now")
        finally:
            controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--invoices", type=int, default=500_000)
    parser.add_argument("--paid", type=int, default=0, help="percent of the invoices already paid (0: all open)")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--what-if-customers", type=int, default=200, help="customers the backtest replays")
    args = parser.parse_args()
    uvloop.run(main(args.customers, args.invoices, args.paid, args.samples, args.what_if_customers))
