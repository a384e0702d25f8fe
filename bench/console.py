"""Benchmark of the console's pages on the ERP simulator's book, under `make dev` as a user runs it.

    python -m bench.console [--customers 5000] [--invoices 100000] [--requests 30]

Starts `make dev`'s supervisor with that demo book in a directory of its own, waits until the book
has reached every service, signs in as a credit manager through the development provider, then asks
each page ``--requests`` times, one at a time. Prints per page the console's own server time (its
``Server-Timing: app``) at p50 and p95, beside the part of it spent waiting on the services
(``upstream``, the time some service call was in flight: the raw limit of the same work) and what
is left for the console itself (rendering and its own work). Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

from bench.receivables import positions_kept
from libs.service.auth import mint_token
from tools.dev import free_base_port

PAGES = ("/", "/portfolio/kpis", "/customers", "/customers/{id}", "/worklist", "/approvals", "/alerts", "/policy")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Stack:
    """`python -m tools.dev` in its own directory; the lines it prints, as they come."""

    def __init__(self, directory: Path, base_port: int, demo: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        env |= {"CREDO_DEV_DIR": str(directory), "CREDO_DEV_BASE_PORT": str(base_port), "CREDO_DEV_DEMO": demo}
        self.base_port = base_port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.dev"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def wait_for(self, pattern: str) -> re.Match[str]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.search(pattern, line)
            if found:
                return found
        raise RuntimeError(f"make dev stopped before printing {pattern!r}")

    def url(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.base_port + offset}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def settled(stack: Stack, token: str, customers: int) -> float:
    """Seconds until every service holds the whole book and nothing moves for ten seconds."""
    started, last, still_since = time.perf_counter(), None, time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=120) as http:
        while True:
            aging = (await http.get(f"{stack.url(2)}/aging")).json()
            portfolio = (await http.get(f"{stack.url(3)}/portfolio")).json()
            worklist = (await http.get(f"{stack.url(4)}/worklist", params={"limit": 500})).json()
            seen = (aging.get("total"), portfolio.get("customers"), len(worklist) if isinstance(worklist, list) else 0)
            if seen != last:
                last, still_since = seen, time.perf_counter()
            elif portfolio.get("customers") == customers and time.perf_counter() - still_since > 10:
                return time.perf_counter() - started
            await asyncio.sleep(2)


async def sign_in(http: httpx.AsyncClient, console: str, user: str) -> None:
    start = await http.get(f"{console}/signin")
    authorize = start.headers["location"]
    page = await http.get(authorize)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    chosen = await http.post(authorize.split("?")[0], data={**fields, "user": user})
    back = await http.get(chosen.headers["location"])
    assert back.status_code == 303, back.text


def _timing(response: httpx.Response) -> tuple[float, float]:
    found = dict(re.findall(r"(\w+);dur=([\d.]+)", response.headers.get("server-timing", "")))
    return float(found["app"]), float(found["upstream"])


async def main(customers: int, invoices: int, requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="credo-bench-console-") as tmp:
        stack = Stack(Path(tmp), free_base_port(), f"{customers},{invoices}")
        try:
            server = stack.wait_for(r"PostgreSQL (\S+) ").group(1)
            ready = float(stack.wait_for(r"ready in ([\d.]+) s").group(1))
            stack.wait_for(r"demo: sent")
            secrets = json.loads((Path(tmp) / "secrets.json").read_text())
            token = mint_token(secrets["jwt_secret"], "bench", ["credit_manager"])
            took = await settled(stack, token, customers)
            receivables_db = (
                server.replace("***", secrets["postgres_password"]).rsplit("/", 1)[0] + "/credo_receivables"
            )
            kept = await positions_kept(receivables_db, date.today().isoformat())
            print(f"make dev ready in {ready:.1f} s; the book of {customers:,} customers, {invoices:,} invoices"
                  f" settled in every service {took:.0f} s after it was sent, its month-end positions"
                  f" {kept:.0f} s later", flush=True)  # fmt: skip
            console = stack.url(0)
            async with httpx.AsyncClient(timeout=120) as browser:
                await sign_in(browser, console, "wang")
                files = await browser.get(
                    f"{stack.url(1)}/customers", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
                )
                ids = [c["customer_id"] for c in files.json()["items"]]
                pick = random.Random(1)
                print(f"{'page':<18} {'server p50':>11} {'p95':>9}   {'upstream p50':>13} {'p95':>9}"
                      f"   {'console own p50':>16} {'p95':>9}   (ms, {requests} requests each)")  # fmt: skip
                for page in PAGES:
                    app, up, own = [], [], []
                    for n in range(requests + 3):
                        path = page.replace("{id}", pick.choice(ids))
                        response = await browser.get(f"{console}{path}")
                        response.raise_for_status()
                        if n < 3:
                            continue  # warm-up
                        whole, upstream = _timing(response)
                        app.append(whole)
                        up.append(upstream)
                        own.append(whole - upstream)
                    print(
                        f"{page:<18} {_percentile(app, 0.5):11.1f} {_percentile(app, 0.95):9.1f}"
                        f"   {_percentile(up, 0.5):13.1f} {_percentile(up, 0.95):9.1f}"
                        f"   {_percentile(own, 0.5):16.1f} {_percentile(own, 0.95):9.1f}",
                        flush=True,
                    )
        finally:
            stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.customers, args.invoices, args.requests))
