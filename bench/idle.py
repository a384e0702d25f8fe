"""The dev stack at rest, and how fast one change travels through it.

    python -m bench.idle [--seconds 30] [--trips 20]

Starts ``make dev``'s supervisor (``tools.dev``) in a directory of its own, waits until every
service is ready and a few seconds more, then prints:
- the CPU the whole stack uses while nothing happens, from the processes' own CPU time over
  ``--seconds`` (supervisor, services, broker, PostgreSQL and its backends), in % of one core;
- the time from registering one customer at profiles until scoring knows the customer (HTTP
  → event store → relay → broker → scoring's consumer → its read model), one at a time, p50 and
  max over ``--trips``, half a second apart and then each after a quiet spell (when the consumers
  fetch with the long wait): the latency a quiet stack gives a single change.
Assertions: none; these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from pathlib import Path

import httpx

from libs.events.kafka import IDLE_AFTER_SECONDS
from tests.support.devstack import DevStack, free_base_port

TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def _cpu_seconds(pid: int) -> tuple[str, float] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return cmdline, (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _role(cmdline: str) -> str:
    if found := re.search(r"-m services\.(\w+)", cmdline):
        return found.group(1)
    if "tansu" in cmdline:
        return "broker"
    if "postgres" in cmdline:
        return "postgresql"
    return "supervisor" if "tools.dev" in cmdline else "other"


def _stack_pids(dev: int, directory: Path) -> list[int]:
    pids = _tree(dev)
    postmaster = directory / "postgres" / "postmaster.pid"
    if postmaster.exists():  # PostgreSQL runs detached from the supervisor
        pids += _tree(int(postmaster.read_text().split()[0]))
    return pids


def _by_role(dev: int, directory: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for pid in _stack_pids(dev, directory):
        found = _cpu_seconds(pid)
        if found is not None:
            role = _role(found[0])
            totals[role] = totals.get(role, 0.0) + found[1]
    return totals


async def trips(base_port: int, token: str, count: int, gap: float) -> list[float]:
    profiles, scoring = f"http://127.0.0.1:{base_port + 1}", f"http://127.0.0.1:{base_port + 3}"
    took = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        for n in range(count):
            started = time.perf_counter()
            body = {"legal_name": f"Trip {n}", "registration": {"scheme": "OTHER", "number": f"T-{n}", "country": "CN"}}
            created = (await http.post(f"{profiles}/customers", json=body)).json()
            while (await http.get(f"{scoring}/customers/{created['customer_id']}/credit")).status_code != 200:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
            took.append(time.perf_counter() - started)
            await asyncio.sleep(gap)  # quiet again before the next one
    return took


async def main(seconds: float, count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="credo-idle-") as tmp:
        directory = Path(tmp)
        stack = DevStack(directory, free_base_port())
        try:
            await asyncio.to_thread(stack.wait_for, r"ready in", 600)
            token = (await asyncio.to_thread(stack.wait_for, r"token \(admin, 8 h\): (\S+)", 10)).group(1)
            await asyncio.sleep(5)  # past the start's own work
            before = _by_role(stack.process.pid, directory)
            await asyncio.sleep(seconds)
            after = _by_role(stack.process.pid, directory)
            used = {role: (after[role] - before.get(role, 0.0)) / seconds * 100 for role in after}
            print(f"dev stack at rest over {seconds:.0f} s: {sum(used.values()):.1f} % of one core")
            for role, share in sorted(used.items(), key=lambda item: -item[1]):
                print(f"  {role:<12} {share:5.1f} %")
            for gap, label in ((IDLE_AFTER_SECONDS + 1, "each after a quiet spell"), (0.5, "0.5 s apart")):
                took = sorted(await trips(stack.base_port, token, count, gap))
                print(
                    f"one registration until scoring knows it, {label} ({count} trips): "
                    f"p50 {took[len(took) // 2] * 1000:.1f} ms, max {took[-1] * 1000:.1f} ms"
                )
        finally:
            await asyncio.to_thread(stack.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--trips", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.trips))
