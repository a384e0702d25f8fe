"""Credo's hot paths next to the raw limit of the same work, measured side by side in one run.

    python -m bench.ratios [--customers 2000] [--seconds 10] [--read-clients 100] [--check-clients 16]

For each operation, Credo's service and its raw baseline (``bench/raw/``: the same I/O on the same
server and the same PostgreSQL, with nothing else) are loaded in turn by wrk at the same number of
connections. Each gives: operations per second, p50 and p99 latency, and the CPU milliseconds per
operation of its own process (from /proc; Credo's includes its relay and consumers, idle here);
then the ratio Credo ÷ raw and the goal it is held to:

- credit-file read, ``GET /customers/{id}`` on profiles: throughput ≥ ½ of raw, p99 ≤ 2× raw;
- credit check, ``POST /credit-checks`` on scoring: throughput ≥ ½ of raw, CPU per check ≤ 2× raw.

Absolute figures on a shared machine move from run to run; the ratios, measured minutes apart on
the same machine, do not move as much. The table is written to ``bench/results/<date>.json`` and
compared with the latest earlier file there. Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import asyncpg
import uvloop

from bench import profiles as profiles_bench
from bench import scoring as scoring_bench
from bench import service
from bench.wrk import Figures, reads_script, wrk
from libs.infra.embedded import free_port
from libs.service.logging import configure_logging
from tools import erp_simulator

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Goal:
    what: str  # the figure compared: "throughput", "p99" or "cpu"
    bound: float  # Credo ÷ raw must be at least this (throughput) or at most this (p99, cpu)

    def met(self, credo: Figures, raw: Figures) -> bool:
        ratio = _ratios(credo, raw)[self.what]
        return ratio >= self.bound if self.what == "throughput" else ratio <= self.bound

    def __str__(self) -> str:
        return f"{self.what} {'≥' if self.what == 'throughput' else '≤'} {self.bound:g}× raw"


GOALS = {
    "credit-file read": (Goal("throughput", 0.5), Goal("p99", 2.0)),
    "credit check": (Goal("throughput", 0.5), Goal("cpu", 2.0)),
}


def _ratios(credo: Figures, raw: Figures) -> dict[str, float]:
    return {
        "throughput": credo.ops_per_second / raw.ops_per_second,
        "p99": credo.p99_ms / raw.p99_ms,
        "cpu": credo.cpu_ms_per_op / raw.cpu_ms_per_op,
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


def table(found: dict[str, tuple[Figures, Figures]], clients: dict[str, int]) -> str:
    lines = [
        f"{'operation':<18}{'':>6}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/op':>11}{'errors':>8}",
    ]
    for name, (credo, baseline) in found.items():
        for label, f in (("credo", credo), ("raw", baseline)):
            lines.append(
                f"{name if label == 'credo' else '':<18}{label:>6}{f.ops_per_second:>9,.0f}{f.p50_ms:>9.2f}"
                f"{f.p99_ms:>9.2f}{f.cpu_ms_per_op:>11.2f}{f.errors:>8}"
            )
        r = _ratios(credo, baseline)
        goals = "; ".join(f"{g}: {'met' if g.met(credo, baseline) else 'NOT met'}" for g in GOALS[name])
        lines.append(
            f"{'':<18}{'ratio':>6}{r['throughput']:>9.2f}{'':>9}{r['p99']:>9.2f}{r['cpu']:>11.2f}"
            f"   ({clients[name]} connections; {goals})"
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


async def main(customers: int, seconds: float, read_clients: int, check_clients: int) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.ratios needs wrk (Debian's package wrk; `make bench` installs it)")
    found = {
        "credit-file read": await credit_file_reads(customers, read_clients, seconds),
        "credit check": await credit_checks(customers, check_clients, seconds),
    }
    clients = {"credit-file read": read_clients, "credit check": check_clients}
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
    args = parser.parse_args()
    configure_logging("warning")
    uvloop.run(main(args.customers, args.seconds, args.read_clients, args.check_clients))
