"""Credo's hot paths next to the raw limit of the same work, measured side by side in one run.

    python -m bench.ratios [--customers 2000] [--seconds 10] [--read-clients 100] [--check-clients 16]
                           [--erp-invoices 40000] [--events 40000]

For each operation, Credo's service and its raw baseline (``bench/raw/``: the same I/O on the same
server and the same PostgreSQL, with nothing else) are loaded in turn by wrk at the same number of
connections. Each gives: operations per second, p50 and p99 latency, and the CPU milliseconds per
operation of its own process (from /proc; Credo's includes its relay and consumers, idle here);
then the ratio Credo ÷ raw and the goal it is held to:

- credit-file read, ``GET /customers/{id}`` on profiles: throughput ≥ ½ of raw, p99 ≤ 2× raw;
- credit check, ``POST /credit-checks`` on scoring: throughput ≥ ½ of raw, CPU per check ≤ 2× raw;
- ERP documents, the simulator's book sent to the ERP's topics and applied by receivables, next to
  ``bench.raw.erp_batch`` storing the same documents (a batch -> one multi-row insert each of
  events with their outbox rows, read-model rows and offsets -> commit): documents per second ≥ ½
  of raw, and ≥ 3,000/s (Credo's CPU includes its relay publishing the events meanwhile);
- event append, 8 concurrent writers through the event store (event, projection and outbox row in
  one transaction each), next to the same rows written by hand with asyncpg, one transaction an
  append, 8 writers: no goal;
- backbone end to end with writers (append -> relay -> Kafka -> a consumer process -> projection),
  next to the slowest of the appends by hand, raw aiokafka produce and raw consume of the same
  records: ≥ ⅓ of raw.

The last two come from ``bench.backbone``, on servers of their own; they have no latency or CPU
figures here (``bench.backbone`` gives the lag at a steady rate).

Absolute figures on a shared machine move from run to run; the ratios, measured minutes apart on
the same machine, do not move as much. The table is written to ``bench/results/<date>.json`` and
compared with the latest earlier file there. Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import asyncpg
import uvloop

from bench import backbone as backbone_bench
from bench import profiles as profiles_bench
from bench import receivables as receivables_bench
from bench import scoring as scoring_bench
from bench import service
from bench.wrk import Figures, cpu_seconds, reads_script, wrk
from contracts import erp
from libs.infra.embedded import free_port
from libs.service.logging import configure_logging
from tools import erp_simulator

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Goal:
    what: str  # the figure compared: "throughput", "p99", "cpu", or "per second" (Credo's own)
    bound: float  # Credo ÷ raw (Credo's own rate) must be at least this (throughput), at most this (p99, cpu)

    def met(self, credo: Figures, raw: Figures) -> bool:
        if self.what == "per second":
            return credo.ops_per_second >= self.bound
        ratio = _ratios(credo, raw)[self.what]
        assert ratio is not None, self
        return ratio >= self.bound if self.what == "throughput" else ratio <= self.bound

    def __str__(self) -> str:
        if self.what == "per second":
            return f"≥ {self.bound:,.0f}/s"
        return f"{self.what} {'≥' if self.what == 'throughput' else '≤'} {self.bound:.2g}× raw"


GOALS = {
    "credit-file read": (Goal("throughput", 0.5), Goal("p99", 2.0)),
    "credit check": (Goal("throughput", 0.5), Goal("cpu", 2.0)),
    "ERP documents": (Goal("throughput", 0.5), Goal("per second", 3000)),
    "event append": (),
    "backbone e2e": (Goal("throughput", 1 / 3),),
}


def _ratios(credo: Figures, raw: Figures) -> dict[str, float | None]:
    return {
        "throughput": credo.ops_per_second / raw.ops_per_second,
        "p99": credo.p99_ms / raw.p99_ms if credo.p99_ms and raw.p99_ms else None,
        "cpu": credo.cpu_ms_per_op / raw.cpu_ms_per_op if credo.cpu_ms_per_op and raw.cpu_ms_per_op else None,
    }


def _checks(customers: int, token: str | None) -> str:
    auth = f'["Authorization"] = "Bearer {token}", ' if token else ""
    return (
        "math.randomseed(os.time())\n"
        "request = function()\n"
        '  local body = string.format(\'{"customer_id": "C-%05d", "amount": "%d.00", "currency": "CNY",'
        ' "order_ref": "SO-%d"}\','
        f" math.random(0, {customers - 1}), math.random(1, 20) * 100, math.random(1, 2000000000))\n"
        f'  return wrk.format("POST", "/credit-checks", {{{auth}["Content-Type"] = "application/json"}}, body)\n'
        "end\n"
    )


@contextlib.contextmanager
def raw(module: str, dsn: str) -> Iterator[tuple[str, int]]:
    """``bench.raw.<module>`` serving ``dsn``: its URL and process id, once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", f"bench.raw.{module}", dsn, str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bench.raw.{module} did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


async def credit_file_reads(customers: int, clients: int, seconds: float) -> tuple[Figures, Figures]:
    async with service.running("profiles", ["profiles.events"]) as running:
        await profiles_bench.register(running.url, running.token("credit_analyst"), customers)
        ids = [r["customer_id"] for r in await profiles_bench._ids(running.dsn)]
        token = running.token("viewer")
        wrk(running.url, running.pids[0], reads_script(ids, token), clients, 2)  # warm both before measuring
        credo = wrk(running.url, running.pids[0], reads_script(ids, token), clients, seconds)
        with raw("read", running.dsn) as (url, pid):
            wrk(url, pid, reads_script(ids, None), clients, 2)
            baseline = wrk(url, pid, reads_script(ids, None), clients, seconds)
    return credo, baseline


async def credit_checks(customers: int, clients: int, seconds: float) -> tuple[Figures, Figures]:
    records, _ = scoring_bench.book(customers)
    settings = {"CREDO_BUSINESS_DATE": scoring_bench.TODAY.isoformat()}
    async with service.running("scoring", scoring_bench.TOPICS, 1, **settings) as running:
        conn = await asyncpg.connect(running.dsn)
        try:
            await erp_simulator.publish(running.bootstrap_servers, iter(records))
            await scoring_bench._caught_up(conn, len(records))
        finally:
            await conn.close()
        await scoring_bench.set_limits(running.url, running, customers)
        token = running.token("erp", subject="erp")
        wrk(running.url, running.pids[0], _checks(customers, token), clients, 2)
        credo = wrk(running.url, running.pids[0], _checks(customers, token), clients, seconds)
        with raw("credit_check", running.dsn) as (url, pid):
            wrk(url, pid, _checks(customers, None), clients, 2)
            baseline = wrk(url, pid, _checks(customers, None), clients, seconds)
    return credo, baseline


async def erp_documents(customers: int, invoices: int) -> tuple[Figures, Figures]:
    book = erp_simulator.generate(seed=7, customers=customers, invoices=invoices)
    count = len(book.documents)
    topics = [*erp.DOCUMENTS, "profiles.events"]
    today = receivables_bench.last_day(book)
    async with service.running("receivables", topics, 1, CREDO_BUSINESS_DATE=today) as running:
        await erp_simulator.publish(running.bootstrap_servers, erp_simulator.customer_records(book, True))
        conn = await asyncpg.connect(running.dsn)
        while await conn.fetchval("SELECT count(*) FROM read_model.customers") < customers:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await conn.close()
        before = cpu_seconds(running.pids[0])
        applied, _ = await receivables_bench.bulk(running.bootstrap_servers, running.dsn, book)
        # The CPU until the relay has published every event the documents caused.
        credo = Figures(applied, None, None, (cpu_seconds(running.pids[0]) - before) * 1000 / count, 0)
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bench.raw.erp_batch", running.dsn, running.bootstrap_servers, str(count)),
            stdout=subprocess.PIPE,
        )
        out, _ = await process.communicate()
        if process.returncode:
            raise RuntimeError(f"bench.raw.erp_batch exited with {process.returncode}")
        figures = json.loads(out.splitlines()[-1])
        baseline = Figures(figures["ops_per_second"], None, None, figures["cpu_ms_per_op"], 0)
    return credo, baseline


async def backbone_figures(events: int) -> dict[str, tuple[Figures, Figures]]:
    def rate(per_second: float) -> Figures:
        return Figures(per_second, None, None, None, 0)

    with backbone_bench._infra() as (server, bootstrap):
        produce, consume = await backbone_bench.raw_kafka(bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}", events)
        by_hand = await backbone_bench.raw_appends(await backbone_bench._database(server), events)
        async with backbone_bench.backbone(server, bootstrap) as parts:
            append, e2e = await backbone_bench.appends_then_end_to_end(parts, events)
    return {
        "event append": (rate(append.rate), rate(by_hand.rate)),
        "backbone e2e": (rate(e2e.rate), rate(min(by_hand.rate, produce.rate, consume.rate))),
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table(found: dict[str, tuple[Figures, Figures]], clients: dict[str, str]) -> str:
    lines = [
        f"{'operation':<18}{'':>6}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/op':>11}{'errors':>8}",
    ]
    for name, (credo, baseline) in found.items():
        for label, f in (("credo", credo), ("raw", baseline)):
            lines.append(
                f"{name if label == 'credo' else '':<18}{label:>6}{f.ops_per_second:>9,.0f}{_ms(f.p50_ms):>9}"
                f"{_ms(f.p99_ms):>9}{_ms(f.cpu_ms_per_op):>11}{f.errors:>8}"
            )
        r = _ratios(credo, baseline)
        goals = "; ".join(f"{g}: {'met' if g.met(credo, baseline) else 'NOT met'}" for g in GOALS[name]) or "no goal"
        lines.append(
            f"{'':<18}{'ratio':>6}{_ms(r['throughput']):>9}{'':>9}{_ms(r['p99']):>9}{_ms(r['cpu']):>11}"
            f"   ({clients[name]}; {goals})"
        )
    return "\n".join(lines)


def previous() -> tuple[str, dict[str, dict[str, dict[str, float]]]] | None:
    """The latest results written before this run: an earlier date's file, or today's before it is replaced."""
    files = sorted(RESULTS.glob("*.json"))
    if not files:
        return None
    latest = files[-1]
    return latest.stem, json.loads(latest.read_text(encoding="utf-8"))["operations"]


def changes(found: dict[str, dict[str, dict[str, float]]], before: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = []
    for name, now in found.items():
        was = before.get(name)
        if was is None:
            continue
        for part, figure in (("credo", "ops_per_second"), ("raw", "ops_per_second"), ("ratio", "throughput")):
            a, b = was[part][figure], now[part][figure]
            lines.append(f"  {name:<18}{part:>6} {figure:<15}{a:>10.2f} -> {b:>10.2f}  ({(b - a) / a * 100:+.0f} %)")
    return "\n".join(lines)


async def main(
    customers: int, seconds: float, read_clients: int, check_clients: int, erp_invoices: int, events: int
) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.ratios needs wrk (Debian's package wrk; `make bench` installs it)")
    found = {
        "credit-file read": await credit_file_reads(customers, read_clients, seconds),
        "credit check": await credit_checks(customers, check_clients, seconds),
        "ERP documents": await erp_documents(customers, erp_invoices),
        **await backbone_figures(events),
    }
    clients = {
        "credit-file read": f"{read_clients} connections",
        "credit check": f"{check_clients} connections",
        "ERP documents": f"{erp_invoices:,} invoices with their payments and credit notes",
        "event append": f"{events:,} events",
        "backbone e2e": f"{events:,} events",
    }
    print(f"\n{os.cpu_count()} CPUs; {customers:,} customers; wrk, {seconds:.0f} s each\n")
    print(table(found, clients))
    written = {
        name: {"credo": asdict(credo), "raw": asdict(baseline), "ratio": _ratios(credo, baseline)}
        for name, (credo, baseline) in found.items()
    }
    today = date.today().isoformat()
    earlier = previous()
    if earlier is not None:
        print(f"\nchange from {earlier[0]}:\n{changes(written, earlier[1])}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{today}.json"
    document = {"date": today, "cpus": os.cpu_count(), "customers": customers, "operations": written}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.ratios", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--read-clients", type=int, default=100)
    parser.add_argument("--check-clients", type=int, default=16)
    parser.add_argument("--erp-invoices", type=int, default=40_000, help="invoices in the ERP's book")
    parser.add_argument("--events", type=int, default=40_000, help="events appended and sent through the backbone")
    args = parser.parse_args()
    configure_logging("warning")
    uvloop.run(
        main(args.customers, args.seconds, args.read_clients, args.check_clients, args.erp_invoices, args.events)
    )
